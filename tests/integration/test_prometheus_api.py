"""A real Prometheus scrapes evolving pages; memmoat pulls them through its HTTP API, live and by backfill,
and must get the same numbers as when it scrapes the same pages directly."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from memmoat.cli import main
from queries.runner import run_sql
from tests.integration.prom import GPUS, Prometheus, binary, dcgm_page, prometheus, vllm_page
from tests.support.servers import PageServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(binary() is None, reason="the prometheus binary is not installed (apt-get install prometheus)"),
]

STATES = 7
RESTART_AT = 3  # engine a restarts between states 2 and 3: its counters drop and _created changes


def engine_state(engine: str, k: int) -> dict[str, float]:
    if engine == "a":
        since = k - RESTART_AT if k >= RESTART_AT else k
        base = 0 if k >= RESTART_AT else 400
        return {
            "prompt": base + 37.0 * (since + 1), "generation": 8 * (base + 37.0 * (since + 1)),
            "kv": round(0.05 + 0.13 * k, 2), "waiting": float(k % 3), "preemptions": float(since),
            "created": 1.79e9 + (1000.0 if k >= RESTART_AT else 0.0),
        }  # fmt: skip
    return {
        "prompt": 1000.0 + 51 * k, "generation": 5000.0 + 400 * k, "kv": round(0.9 - 0.11 * k, 2),
        "waiting": float(k % 2), "preemptions": 2.0 * k, "created": 1.78e9,
    }  # fmt: skip


def gpu_state(k: int) -> dict[str, Any]:
    return {
        "dram": (round(0.1 + 0.1 * k, 6), round(0.05 * k, 6)),
        "energy_mj": (1_000_000 + 12_345 * k, 2_000_000 + 23_456 * k),
        "util": (10 * k, 5 * k),
    }


def run(args: list[str]) -> str:
    res = CliRunner().invoke(main, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.output


def rows(store: Path, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in run_sql(store, sql, limit=100_000).rows]


def distinct_runs(values: list[Any]) -> list[Any]:
    """A gauge's successive distinct values: what both ways of reading must agree on."""
    out: list[Any] = []
    for v in values:
        if v is not None and (not out or out[-1] != v):
            out.append(v)
    return out


def write_config(path: Path, store: str, prom: str, direct: dict[str, str]) -> Path:
    lines = ["[storage]", f'path = "{store}"', 'spool_dir = "spool"', "[collector]", "interval_seconds = 15"]
    for name, url in direct.items():
        lines += ["[[targets]]", f'name = "{name}"', f'url = "{url}"']
    lines += ["[[prometheus]]", 'name = "prom"', f'url = "{prom}"', "step_seconds = 1", "lag_seconds = 1"]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[tuple[dict[str, PageServer], Prometheus]]:
    with ExitStack() as stack:
        servers = {name: stack.enter_context(PageServer()) for name in ("a", "b", "dcgm")}
        set_state(servers, 0)
        addr = {n: s.base.removeprefix("http://") for n, s in servers.items()}
        jobs = {
            "vllm": [
                (addr["a"], {"namespace": "llm", "pod": "chat-0"}),
                (addr["b"], {"namespace": "llm", "pod": "code-0"}),
            ],
            # The exporter's own pod: Prometheus must rename the page's pod label to exported_pod.
            "dcgm": [(addr["dcgm"], {"namespace": "gpu-operator", "pod": "dcgm-exporter-x7k2p"})],
        }  # fmt: skip
        prom = stack.enter_context(prometheus(tmp_path, jobs))
        yield servers, prom


def set_state(servers: dict[str, PageServer], k: int) -> None:
    for e in ("a", "b"):
        servers[e].set("/metrics", vllm_page(**engine_state(e, k)))
    servers["dcgm"].set("/metrics", dcgm_page(**gpu_state(k)))


def test_numbers_through_the_prometheus_api_equal_direct_scrapes(
    tmp_path: Path, fleet: tuple[dict[str, PageServer], Prometheus], monkeypatch: pytest.MonkeyPatch
) -> None:
    servers, prom = fleet
    inst = {n: s.base.removeprefix("http://") for n, s in servers.items()}
    direct = {"direct-a": servers["a"].url("/metrics"), "direct-b": servers["b"].url("/metrics")}
    direct["direct-dcgm"] = servers["dcgm"].url("/metrics")
    cfg = write_config(tmp_path / "live.toml", "live.duckdb", prom.url, direct)
    started = time.time()
    for k in range(STATES):
        set_state(servers, k)
        expect = {inst[e]: engine_state(e, k)["prompt"] for e in ("a", "b")}
        prom.wait_for("vllm:prompt_tokens_total", expect)
        prom.wait_for("DCGM_FI_PROF_DRAM_ACTIVE{gpu='0'}", {inst["dcgm"]: gpu_state(k)["dram"][0]})
        out = run(["--config", str(cfg), "collect", "--once"])
        assert "scraped 4 target(s), 0 failed" in out  # three pages and the Prometheus source
        time.sleep(2.0)  # the state is held across at least one 1 s grid point beyond the lag
    time.sleep(1.5)
    run(["--config", str(cfg), "collect", "--once"])  # the last pull reaches past the last state
    ended = time.time()
    store = tmp_path / "live.duckdb"
    pulled = {"a": f"prom:vllm:{inst['a']}", "b": f"prom:vllm:{inst['b']}", "dcgm": f"prom:dcgm:{inst['dcgm']}"}
    assert_same_numbers(store, store, pulled)

    # Attribution: pod/namespace of an engine come from Prometheus' target labels; a GPU's from the
    # page's own labels, which Prometheus renamed to exported_* (the target's pod is the exporter's).
    got = dict(rows(store, "SELECT target, max(pod) FROM engine_metrics WHERE target LIKE 'prom:%' GROUP BY 1"))
    assert got == {pulled["a"]: "chat-0", pulled["b"]: "code-0"}
    gpu_pods = dict(rows(store, f"SELECT uuid, max(pod) FROM gpu_metrics WHERE target = '{pulled['dcgm']}' GROUP BY 1"))
    assert gpu_pods == {GPUS[0][1]: "chat-0", GPUS[1][1]: None}
    kinds = dict(rows(store, "SELECT name, detected FROM targets WHERE name LIKE 'prom%'"))
    assert kinds == {"prom": None, pulled["a"]: "vllm", pulled["b"]: "vllm", pulled["dcgm"]: "dcgm"}

    # Backfill the same span into a fresh store, interrupted after two chunks and then resumed.
    back = write_config(tmp_path / "back.toml", "back.duckdb", prom.url, {})
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(started - 5))
    until = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ended + 1))
    time.sleep(max(0.0, ended + 3 - time.time()))  # --to is older than now - lag: the range is final
    from collector.backfill import Backfill

    real_run_chunk = Backfill.run_chunk
    calls = {"n": 0}

    def interrupted(self: Backfill, span: tuple[float, float]) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_run_chunk(self, span)

    monkeypatch.setattr(Backfill, "run_chunk", interrupted)
    args = ["--config", str(back), "backfill", "--from", since, "--to", until, "--chunk", "10s"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code != 0  # aborted
    monkeypatch.setattr(Backfill, "run_chunk", real_run_chunk)
    out = run(args)
    assert "were pulled before and are skipped" in out
    out = run(args)
    assert "in 0 chunk(s)" in out  # all covered: nothing is pulled twice
    assert_same_numbers(store, tmp_path / "back.duckdb", pulled)


def assert_same_numbers(direct_store: Path, pulled_store: Path, pulled: dict[str, str]) -> None:
    doubled = "SELECT count(*) FROM (SELECT series_id, ts FROM samples GROUP BY ALL HAVING count(*) > 1)"
    assert rows(pulled_store, doubled) == [(0,)]  # no window was pulled twice
    for e in ("a", "b"):
        sql = (
            "SELECT sum(prompt_tokens), sum(generation_tokens), sum(preemptions), bool_or(reset) "
            "FROM engine_increments WHERE target = '{}'"
        )
        want = rows(direct_store, sql.format(f"direct-{e}"))
        assert want[0][0] > 0
        assert rows(pulled_store, sql.format(pulled[e])) == want, e
        for col in ("kv_usage", "requests_waiting"):
            sql = f"SELECT {col} FROM engine_metrics WHERE target = '{{}}' ORDER BY ts"
            want_seq = distinct_runs([r[0] for r in rows(direct_store, sql.format(f"direct-{e}"))])
            assert len(want_seq) > 1
            assert distinct_runs([r[0] for r in rows(pulled_store, sql.format(pulled[e]))]) == want_seq, (e, col)
    assert rows(direct_store, "SELECT bool_or(reset) FROM engine_increments WHERE target = 'direct-a'") == [(True,)]
    for _gpu, uuid, _pod in GPUS:
        sql = f"SELECT dram_active FROM gpu_metrics WHERE target = '{{}}' AND uuid = '{uuid}' ORDER BY ts"
        want_seq = distinct_runs([r[0] for r in rows(direct_store, sql.format("direct-dcgm"))])
        assert len(want_seq) == STATES
        assert distinct_runs([r[0] for r in rows(pulled_store, sql.format(pulled["dcgm"]))]) == want_seq
        sql = f"SELECT sum(energy_j) FROM gpu_energy_increments WHERE target = '{{}}' AND uuid = '{uuid}'"
        assert rows(pulled_store, sql.format(pulled["dcgm"])) == rows(direct_store, sql.format("direct-dcgm"))
