"""Counter increments in SQL: per series, reset-safe, never negative, never counted twice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def v0(generation: float, start: float | None = None) -> str:
    """A V0-style page: counter without _created; optionally the process start time."""
    page = f'# TYPE vllm:generation_tokens_total counter\nvllm:generation_tokens_total{{model_name="m"}} {generation}\n'
    if start is not None:
        page += f"# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds {start}\n"
    return page


def v1(generation: float, created: float | None) -> str:
    """A V1-style page: counter with its _created gauge (unless None: a page missing that line)."""
    labels = 'engine="0",model_name="m"'
    page = f"# TYPE vllm:generation_tokens_total counter\nvllm:generation_tokens_total{{{labels}}} {generation}\n"
    if created is not None:
        page += f"# TYPE vllm:generation_tokens_created gauge\nvllm:generation_tokens_created{{{labels}}} {created}\n"
    return page


def generation_increments(store: Any) -> list[tuple[float, bool]]:
    rows = store.rows("SELECT generation_tokens, reset FROM engine_increments ORDER BY ts")
    return [(r["generation_tokens"], r["reset"]) for r in rows]


def test_restart_sequence_loses_no_tokens(page_store: Any) -> None:
    page_store.add_all("e", [v0(1000), v0(1200), v0(50), v0(80)])
    assert generation_increments(page_store) == [(200.0, False), (50.0, True), (30.0, False)]
    total = page_store.one("SELECT sum(generation_tokens) AS n FROM engine_increments")["n"]
    assert total == 280.0


def test_created_change_with_a_higher_value_is_a_restart(page_store: Any) -> None:
    # restarted between the 2nd and 3rd scrape and generated 1500 tokens since: more than before
    page_store.add_all("e", [v1(1000, 1.70e9), v1(1200, 1.70e9), v1(1500, 1.71e9), v1(1600, 1.71e9)])
    assert generation_increments(page_store) == [(200.0, False), (1500.0, True), (100.0, False)]


def test_a_page_missing_the_created_line_does_not_hide_a_restart(page_store: Any) -> None:
    page_store.add_all("e", [v1(1000, 1.70e9), v1(1200, None), v1(1500, 1.71e9)])
    assert generation_increments(page_store) == [(200.0, False), (1500.0, True)]


def test_v0_page_without_created_uses_the_process_start_time(page_store: Any) -> None:
    starts = [1.70e9, 1.70e9, 1.71e9, 1.71e9]
    page_store.add_all("e", [v0(g, s) for g, s in zip([1000, 1200, 1500, 1600], starts)])
    assert generation_increments(page_store) == [(200.0, False), (1500.0, True), (100.0, False)]


def test_v0_page_without_created_or_start_time_detects_a_drop(page_store: Any) -> None:
    page_store.add_all("e", [v0(1000, None), v0(1200, None), v0(50, None), v0(80, None)])
    assert sum(n for n, _ in generation_increments(page_store)) == 280.0


def histogram_page(count: int, total: float, buckets: tuple[int, int, int]) -> str:
    lines = ["# TYPE vllm:request_prefill_time_seconds histogram"]
    for le, n in zip(("0.3", "1.0", "+Inf"), buckets):
        lines.append(f'vllm:request_prefill_time_seconds_bucket{{le="{le}",model_name="m"}} {n}')
    lines.append(f'vllm:request_prefill_time_seconds_count{{model_name="m"}} {count}')
    lines.append(f'vllm:request_prefill_time_seconds_sum{{model_name="m"}} {total}')
    return "\n".join(lines) + "\n"


def test_histogram_sum_across_a_restart(page_store: Any) -> None:
    # The sum after the restart (30.0) is above the one before it (12.5): only the count and the
    # buckets drop, and the whole histogram restarts with them.
    page_store.add_all("e", [
        histogram_page(4, 10.0, (1, 3, 4)),
        histogram_page(5, 12.5, (1, 3, 5)),
        histogram_page(2, 30.0, (0, 0, 2)),
        histogram_page(3, 31.0, (0, 1, 3)),
    ])  # fmt: skip
    rows = page_store.rows("SELECT prefill_seconds, reset FROM engine_increments ORDER BY ts")
    assert [(r["prefill_seconds"], r["reset"]) for r in rows] == [(2.5, False), (30.0, True), (1.0, False)]
    buckets = page_store.rows(
        "SELECT le, sum(count) AS n FROM engine_histogram_increments WHERE canonical = 'prefill_seconds' "
        "GROUP BY le ORDER BY le"
    )
    # le=0.3: 0 + 0 + 0; le=1.0: 0 + 0 + 1; +Inf: 1 + 2 + 1
    assert [(r["le"], r["n"]) for r in buckets] == [(0.3, 0.0), (1.0, 1.0), (float("inf"), 4.0)]


def test_increments_are_never_negative(page_store: Any) -> None:
    page_store.add_all("e", [v0(100), v0(-5), v0(10)])  # a broken exporter
    rows = page_store.rows("SELECT increment FROM counter_increments ORDER BY ts")
    assert [r["increment"] for r in rows] == [0.0, 15.0]


def test_renamed_counter_is_counted_once_across_an_upgrade(page_store: Any) -> None:
    old = 'vllm:gpu_prefix_cache_hits_total{engine="0",model_name="m"} '
    new = 'vllm:prefix_cache_hits_total{engine="0",model_name="m"} '
    page_store.add_all("e", [
        old + "100\n",
        old + "150\n" + new + "150\n",  # 0.9/0.10 print both names
        new + "200\n",
        new + "260\n",
    ])  # fmt: skip
    rows = page_store.rows("SELECT cached_prompt_tokens AS n FROM engine_increments ORDER BY ts")
    assert [r["n"] for r in rows] == [50.0, 50.0, 60.0]
    gauges = page_store.rows("SELECT cached_prompt_tokens AS n FROM engine_metrics ORDER BY ts")
    assert [r["n"] for r in gauges] == [100.0, 150.0, 200.0, 260.0]


def test_live_vllm_restart_between_real_captures(page_store: Any, test_data_page: Callable[[str], str]) -> None:
    """live -> midflight (same server) -> kvpressure (a new server: _created and start time changed)."""
    page_store.add_all("cpu", [
        test_data_page("vllm-cpu-live.prom"),
        test_data_page("vllm-cpu-live-midflight.prom"),
        test_data_page("vllm-cpu-live-kvpressure.prom"),
    ])  # fmt: skip
    rows = page_store.rows("SELECT * FROM engine_increments ORDER BY ts")
    assert [r["reset"] for r in rows] == [False, True]
    # vllm:prompt_tokens_total 421.0 -> 2083.0 -> 1842.0
    assert [r["prompt_tokens"] for r in rows] == [1662.0, 1842.0]
    # vllm:generation_tokens_total 1680.0 -> 12350.0 -> 12582.0: higher after the restart, so only the
    # changed vllm:generation_tokens_created (1.7952650084458084e+09 -> 1.7952651137308176e+09) tells
    assert [r["generation_tokens"] for r in rows] == [10670.0, 12582.0]
    # vllm:request_success_total{finished_reason="length"} 20.0 -> 68.0 -> 48.0
    assert [r["requests_finished"] for r in rows] == [48.0, 48.0]
    # vllm:num_preemptions_total 0.0 -> 0.0 -> 3.0
    assert [r["preemptions"] for r in rows] == [0.0, 3.0]
    # vllm:time_to_first_token_seconds_count 20.0 -> 76.0 -> 62.0
    assert [r["ttft_count"] for r in rows] == [56.0, 62.0]


def test_energy_of_a_shared_gpu_is_counted_once(page_store: Any) -> None:
    def page(mj: int) -> str:
        return "".join(
            f'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{{gpu="0",UUID="GPU-1",Hostname="n",pod="p{v}",vgpu="{v}"}} {mj}\n'
            for v in (1, 3)
        )

    page_store.add_all("dcgm", [page(1_000_000), page(3_000_000)])
    row = page_store.one("SELECT uuid, energy_j, reset FROM gpu_energy_increments")
    assert row == {"uuid": "GPU-1", "energy_j": 2000.0, "reset": False}  # mJ -> J, once for both pods


@st.composite
def engine_life(draw: st.DrawFn) -> tuple[list[tuple[float, float]], float]:
    """Scrapes of one V1 counter: (value, _created); and the tokens really generated after the first scrape."""
    created, value = 1.7e9, float(draw(st.integers(0, 10_000)))
    scrapes, truth = [(value, created)], 0.0
    for _ in range(draw(st.integers(1, 7))):
        if draw(st.booleans()) and draw(st.booleans()):  # a restart: tokens before it are gone with it
            created += draw(st.integers(1, 1000))
            value = float(draw(st.integers(0, 10_000)))
            truth += value
        else:
            step = float(draw(st.integers(0, 5_000)))
            value += step
            truth += step
        scrapes.append((value, created))
    return scrapes, truth


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(engine_life())
def test_any_restart_pattern_sums_to_the_tokens_generated(
    make_page_store: Callable[[], Any], life: tuple[list[tuple[float, float]], float]
) -> None:
    scrapes, truth = life
    store = make_page_store()
    store.add_all("e", [v1(value, created) for value, created in scrapes])
    got = store.one(
        "SELECT coalesce(sum(generation_tokens), 0) AS n, min(generation_tokens) AS lo FROM engine_increments"
    )
    assert got["n"] == truth
    assert got["lo"] >= 0
