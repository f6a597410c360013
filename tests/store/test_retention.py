"""Rollups, retention and compaction on a real DuckDB file fed through the real ingest path.

Expected numbers are computed here from the page values themselves, independently of SQL.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from collector.ingest import Batch, Ingestor
from memmoat.config import Target
from store import compact, retention, rollups
from store.writer import commit_batches, ensure_schema

T0 = datetime(2026, 3, 1, 12, 0, 0)
STEP = 15
GPUS = 2
DCGM = Target(name="node-a", url="http://127.0.0.1/metrics", kind="dcgm")
VLLM = Target(name="engine-a", url="http://127.0.0.1/metrics", kind="vllm")


def util(k: int, g: int) -> int:
    return (k * 7 + g * 13) % 101


def energy_mj(k: int, g: int) -> int:
    # 4.5 kJ per scrape; GPU 1's counter restarts from zero at scrape 30 (a driver reload).
    if g == 1 and k >= 30:
        return (k - 30) * 4_500_000 + 1_000_000
    return 10**9 + g + k * 4_500_000


def prompt_tokens(k: int) -> tuple[int, float]:
    """(counter, _created): the engine restarts at scrape 50 and its counter starts again."""
    if k >= 50:
        return (k - 50) * 100 + 40, 2000.0
    return 5000 + k * 100, 1000.0


def dcgm_page(k: int) -> str:
    lines = []
    rows = (
        ("DCGM_FI_DEV_GPU_UTIL", "gauge", util),
        ("DCGM_FI_DEV_POWER_USAGE", "gauge", lambda k, g: 300 + util(k, g) / 4),
        ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter", energy_mj),
    )
    for name, kind, fn in rows:
        lines += [f"# HELP {name} {name}", f"# TYPE {name} {kind}"]
        for g in range(GPUS):
            labels = f'gpu="{g}",UUID="GPU-{g}",modelName="NVIDIA H100 80GB HBM3",Hostname="node-a",pod="p{g}"'
            lines.append(f"{name}{{{labels}}} {fn(k, g)}")  # type: ignore[operator]
    return "\n".join(lines) + "\n"


def vllm_page(k: int) -> str:
    tokens, created = prompt_tokens(k)
    return (
        "# TYPE vllm:num_requests_running gauge\n"
        f'vllm:num_requests_running{{engine="0",model_name="m"}} {k % 5}\n'
        "# TYPE vllm:prompt_tokens counter\n"
        f'vllm:prompt_tokens_total{{engine="0",model_name="m"}} {tokens}\n'
        f'vllm:prompt_tokens_created{{engine="0",model_name="m"}} {created}\n'
    )


OUTAGE = range(100, 120)  # node-a's exporter is down 12:25:00-12:29:45


def build(path: Path, scrapes: range, start: datetime = T0, dcgm_down: range = range(0)) -> None:
    ensure_schema(path)
    ing = Ingestor()
    batches: list[Batch] = []
    for k in scrapes:
        ts = start + timedelta(seconds=STEP * k)
        if k not in dcgm_down:
            batches.append(ing.ingest(DCGM, ts, dcgm_page(k)))
        batches.append(ing.ingest(VLLM, ts, vllm_page(k)))
    commit_batches(path, batches)


def q(path: Path, sql: str, params: list[object] | None = None) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def expected_minutes(scrapes: list[int]) -> dict[tuple[datetime, int], tuple[int, float, float, float]]:
    """(minute, gpu) -> (scrapes, util avg, util max, energy J) from the page values."""
    out: dict[tuple[datetime, int], list[float]] = {}
    for i, k in enumerate(scrapes):
        minute = (T0 + timedelta(seconds=STEP * k)).replace(second=0)
        for g in range(GPUS):
            acc = out.setdefault((minute, g), [0, 0.0, 0.0, 0.0])
            acc[0] += 1
            acc[1] += util(k, g) / 100
            acc[2] = max(acc[2], util(k, g) / 100)
            if i:  # the increment since the previous scrape, however long ago it was
                prev, cur = energy_mj(scrapes[i - 1], g), energy_mj(k, g)
                acc[3] += (cur if cur < prev else cur - prev) / 1000  # reset: the new value is the increment
    return {key: (int(v[0]), v[1] / v[0], v[2], v[3]) for key, v in out.items()}


def test_rollups_match_the_pages_and_do_not_depend_on_where_runs_stop(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    scrapes = range(0, 260)  # 65 minutes
    build(db, scrapes, dcgm_down=OUTAGE)
    # Runs with awkward stops, one in the middle of the outage, give what one run would.
    for stop in (timedelta(minutes=7, seconds=31), timedelta(minutes=7, seconds=59), timedelta(minutes=27)):
        rollups.run(db, T0 + stop)
    rollups.run(db, T0 + timedelta(hours=2))
    cols = "ts, gpu, scrapes, gpu_util_avg, gpu_util_max, energy_j, resets, pod"
    got = q(db, f"SELECT {cols} FROM gpu_rollup_1m ORDER BY ts, gpu")
    want = expected_minutes([k for k in scrapes if k not in OUTAGE])
    assert len(got) == len(want) == 60 * GPUS
    # The energy used during the outage (21 intervals) counts in the first minute after it.
    assert want[(T0 + timedelta(minutes=30), 0)][3] == pytest.approx((21 + 3) * 4500)
    for ts, gpu, n, avg, mx, energy, resets, pod in got:
        e = want[(ts, gpu)]  # type: ignore[index]
        assert (n, pod) == (e[0], f"p{gpu}")
        assert avg == pytest.approx(e[1]) and mx == pytest.approx(e[2])
        assert (energy or 0.0) == pytest.approx(e[3])
        assert resets == (1 if gpu == 1 and ts == T0 + timedelta(minutes=7) else 0)
    # Same totals as the views that compute increments over the whole table.
    [(view_energy,)] = q(db, "SELECT sum(energy_j) FROM gpu_energy_increments")
    [(rolled_energy,)] = q(db, "SELECT sum(energy_j) FROM gpu_rollup_1m")
    assert rolled_energy == pytest.approx(view_energy)
    [(view_tokens,)] = q(db, "SELECT sum(prompt_tokens) FROM engine_increments")
    [(rolled_tokens, runs, resets)] = q(
        db, "SELECT sum(prompt_tokens), sum(scrapes), sum(resets) FROM engine_rollup_1m"
    )
    want_tokens = sum(
        (c if c < p else c - p) for p, c in ((prompt_tokens(k - 1)[0], prompt_tokens(k)[0]) for k in scrapes[1:])
    )
    assert rolled_tokens == pytest.approx(view_tokens) == pytest.approx(want_tokens)
    assert (runs, resets) == (260, 1)
    # One full hour (12:00-13:00) is rolled up; 13:00-13:05 waits for its hour to end.
    hours = q(db, "SELECT ts, gpu, scrapes, gpu_util_max, energy_j FROM gpu_rollup_1h ORDER BY gpu")
    assert [(h[0], h[2]) for h in hours] == [(T0, 220), (T0, 220)]
    for _, gpu, _, mx, energy in hours:
        minutes = [v for (ts, g), v in want.items() if g == gpu and ts < T0 + timedelta(hours=1)]
        assert len(minutes) == 55
        assert energy == pytest.approx(sum(m[3] for m in minutes))
        assert mx == pytest.approx(max(m[2] for m in minutes))
    [(avg_1h,)] = q(db, "SELECT gpu_util_avg FROM gpu_rollup_1h WHERE gpu = 0")
    up = [k for k in range(240) if k not in OUTAGE]
    assert avg_1h == pytest.approx(sum(util(k, 0) / 100 for k in up) / len(up))
    [(eng_hour,)] = q(db, "SELECT prompt_tokens FROM engine_rollup_1h")
    assert eng_hour == pytest.approx(
        sum(r[0] for r in q(db, "SELECT prompt_tokens FROM engine_rollup_1m WHERE ts < ?", [T0 + timedelta(hours=1)]))
    )  # type: ignore[misc]


def test_rollups_stop_at_the_watermark(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    build(db, range(0, 20))  # 12:00:00-12:04:45
    report = rollups.run(db, T0 + timedelta(minutes=2, seconds=40))  # a round of 12:02:45 is not in yet
    assert report.done_until_1m == T0 + timedelta(minutes=2)
    assert q(db, "SELECT max(ts) FROM gpu_rollup_1m") == [(T0 + timedelta(minutes=1),)]


def test_retention_never_deletes_what_is_not_rolled_up(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    build(db, range(0, 260))
    [(total,)] = q(db, "SELECT count(*) FROM samples")
    now = T0 + timedelta(days=20)
    before = retention.run(db, now, raw_days=14, rollup_1m_days=1)
    assert before.samples_deleted == 0 and q(db, "SELECT count(*) FROM samples") == [(total,)]
    rollups.run(db, T0 + timedelta(minutes=62))
    done = retention.run(db, now, raw_days=14, rollup_1m_days=1)
    # Raw samples are past their 14 days, but only the rolled-up ones (before 13:02) may go.
    assert done.raw_cutoff == T0 + timedelta(minutes=62)
    assert q(db, "SELECT min(ts) FROM samples") == [(T0 + timedelta(minutes=62),)]
    assert done.samples_deleted == total - q(db, "SELECT count(*) FROM samples")[0][0]  # type: ignore[operator]
    assert q(db, "SELECT min(started_at) FROM scrapes") == [(T0 + timedelta(minutes=62),)]
    # 1-minute rollups go once rolled into hours; hourly rollups stay.
    assert q(db, "SELECT min(ts) FROM gpu_rollup_1m") == [(T0 + timedelta(hours=1),)]
    assert q(db, "SELECT count(*) FROM gpu_rollup_1h") == [(GPUS,)]
    # A young store loses nothing.
    young = retention.run(db, T0 + timedelta(days=2), raw_days=14, rollup_1m_days=90)
    assert (young.samples_deleted, young.rollup_rows_deleted) == (0, 0)


def test_compaction_sorts_finished_days_and_keeps_every_sample(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    start = datetime(2026, 3, 1, 23, 50)  # a Sunday
    build(db, range(0, 80), start=start)  # 23:50 -> 00:09:45 on Monday
    checksum = "SELECT count(*), sum(value), sum(series_id * epoch(ts)) FROM samples"
    [before] = q(db, checksum)
    report = compact.run(db, datetime(2026, 3, 2, 0, 5), slice_rows=100)
    assert (report.days, report.done_until) == (1, datetime(2026, 3, 2))
    # Sunday was the last day of its week (Monday to Monday, UTC): the week is merged as well.
    assert (report.weeks, report.weeks_done_until) == (1, datetime(2026, 3, 2))
    assert report.slices > 2 and report.rows == 2 * 40 * 9  # 40 scrapes of 9 series, sorted twice
    assert q(db, checksum) == [before]
    # Physically, the finished day now runs series by series, every other one backwards in time.
    order = q(db, "SELECT series_id, ts FROM samples WHERE ts < '2026-03-02' ORDER BY rowid")
    runs: dict[object, list[object]] = {}
    for sid, ts in order:
        assert not runs or sid == list(runs)[-1] or sid not in runs  # each series in one run
        runs.setdefault(sid, []).append(ts)
    assert list(runs) == sorted(runs)  # type: ignore[type-var]
    for i, stamps in enumerate(runs.values()):
        assert stamps == sorted(stamps, reverse=i % 2 == 1)
    again = compact.run(db, datetime(2026, 3, 2, 0, 5))
    assert (again.days, again.weeks) == (0, 0)  # nothing new to do
    # Views see the same data.
    assert q(db, "SELECT count(*) FROM gpu_metrics") == [(80 * GPUS,)]
