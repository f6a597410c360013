"""No data lost while another real process holds the DuckDB file: rounds wait in the spool,
a warning names the blocking PID, and every sample arrives, exactly once, when it frees."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from collector.service import Collector
from collector.spool import DROPPED
from memmoat import config as cfg
from store.writer import ensure_schema
from tests.support.procs import hold_store, release
from tests.support.servers import DATA, PageServer

VLLM_PAGE = (DATA / "vllm-cpu-live.prom").read_text()
N = 415  # samples on VLLM_PAGE
T0 = datetime(2026, 3, 1, 12, 0, 0)


def config_file(tmp_path: Path, url: str, *, interval: float = 15, spool_max_bytes: int | None = None) -> Path:
    lines = ["[storage]", 'path = "m.duckdb"', 'spool_dir = "spool"']
    if spool_max_bytes:
        lines.append(f"spool_max_bytes = {spool_max_bytes}")
    lines += ["[collector]", f"interval_seconds = {interval}", f"timeout_seconds = {min(2.0, interval / 2)}"]
    lines += ["[[targets]]", 'name = "engine-a"', f'url = "{url}"', 'kind = "vllm"']
    path = tmp_path / "memmoat.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def query(db: Path, sql: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def assert_consistent(db: Path, per_scrape: int) -> tuple[int, int]:
    """Whole scrapes only, no duplicates, no orphans. Returns (good scrapes, samples)."""
    good, samples = query(db, "SELECT count(*) FILTER (WHERE error IS NULL), sum(samples) FROM scrapes")[0]
    assert query(db, "SELECT count(*) FROM samples") == [(samples,)]
    assert samples == per_scrape * good  # type: ignore[operator]
    assert query(
        db, "SELECT count(*) FROM (SELECT target, started_at FROM scrapes GROUP BY ALL HAVING count(*) > 1)"
    ) == [(0,)]
    assert query(db, "SELECT count(*) FROM samples WHERE series_id NOT IN (SELECT series_id FROM series)") == [(0,)]
    assert query(db, "SELECT count(*) FROM (SELECT ts, series_id FROM samples GROUP BY ALL HAVING count(*) > 1)") == [
        (0,)
    ]
    return int(good), int(samples)  # type: ignore[call-overload]


class Clock:
    def __init__(self) -> None:
        self.k = 0

    def __call__(self) -> datetime:
        return T0 + timedelta(seconds=15 * self.k)


def rounds(collector: Collector, clock: Clock, n: int) -> list[object]:
    collector.write_attempts = 3  # give up on the lock after ~0.1 s, not ~1.4 s: a shorter test
    out = []
    for _ in range(n):
        out.append(collector.scrape_round())
        clock.k += 1
    return out


def test_collector_starts_while_the_store_is_locked_and_loses_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "m.duckdb"
    ensure_schema(db)
    holder = hold_store(db, read_only=True, seconds=120)
    clock = Clock()
    try:
        with PageServer() as srv:
            settings = cfg.load(config_file(tmp_path, srv.set("/metrics", VLLM_PAGE)))
            with caplog.at_level(logging.WARNING, logger="memmoat"):
                collector = Collector(settings, clock=clock)  # must not raise
                try:
                    locked = rounds(collector, clock, 3)
                    assert [r.samples_written for r in locked] == [0, 0, 0]  # type: ignore[attr-defined]
                    assert f"process {holder.pid}" in str(locked[0].store_error)  # type: ignore[attr-defined]
                    assert len(list((tmp_path / "spool").glob("*.round"))) == 3  # on disk: survives a crash
                    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
                    assert any(f"locked by process {holder.pid}" in w for w in warnings), warnings
                    release(holder)
                    [freed] = rounds(collector, clock, 1)
                finally:
                    collector.close()
        assert freed.samples_written == 4 * N  # type: ignore[attr-defined]
        assert not list((tmp_path / "spool").glob("*.round"))
        assert assert_consistent(db, N) == (4, 4 * N)
        assert query(db, "SELECT name, detected FROM targets") == [("engine-a", "vllm")]
    finally:
        release(holder)


def test_lock_mid_run_spools_batches_then_writes_them_in_order(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    clock = Clock()
    with PageServer() as srv:
        settings = cfg.load(config_file(tmp_path, srv.set("/metrics", VLLM_PAGE)))
        collector = Collector(settings, clock=clock)
        try:
            rounds(collector, clock, 2)
            assert query(db, "SELECT count(*) FROM samples") == [(2 * N,)]
            holder = hold_store(db, read_only=True, seconds=120)
            try:
                # A new series appears while the store is locked; its registration waits too.
                srv.set("/metrics", VLLM_PAGE + 'vllm:new_gauge{engine="0"} 7\n')
                locked = rounds(collector, clock, 3)
                assert all(r.store_error for r in locked)  # type: ignore[attr-defined]
                assert collector.spool.count() == 3
            finally:
                release(holder)
            rounds(collector, clock, 1)
        finally:
            collector.close()
    assert_consistent_mixed(db, [N, N, N + 1, N + 1, N + 1, N + 1])
    got = query(db, "SELECT started_at FROM scrapes ORDER BY started_at")
    assert [r[0] for r in got] == [T0 + timedelta(seconds=15 * k) for k in range(6)]


def assert_consistent_mixed(db: Path, per_round: list[int]) -> None:
    assert query(db, "SELECT samples FROM scrapes ORDER BY started_at") == [(n,) for n in per_round]
    assert query(db, "SELECT count(*) FROM samples") == [(sum(per_round),)]
    assert query(db, "SELECT count(*) FROM samples WHERE series_id NOT IN (SELECT series_id FROM series)") == [(0,)]


def test_spool_is_bounded_and_keeps_series_registrations(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "m.duckdb"
    clock = Clock()
    with PageServer() as srv:
        settings = cfg.load(config_file(tmp_path, srv.set("/metrics", VLLM_PAGE), spool_max_bytes=20_000))
        collector = Collector(settings, clock=clock)
        try:
            rounds(collector, clock, 1)
            holder = hold_store(db, read_only=True, seconds=120)
            try:
                srv.set("/metrics", VLLM_PAGE + 'vllm:new_gauge{engine="0"} 7\n')  # registered in round 1
                with caplog.at_level(logging.ERROR, logger="memmoat"):
                    rounds(collector, clock, 6)
                files = sorted((tmp_path / "spool").glob("*.round"))
                assert sum(f.stat().st_size for f in files) <= 20_000
                assert any("dropped the samples" in r.getMessage() for r in caplog.records)
            finally:
                release(holder)
            rounds(collector, clock, 1)
        finally:
            collector.close()
    log = query(db, "SELECT samples, error FROM scrapes ORDER BY started_at")
    assert len(log) == 8  # every scrape is in the log, dropped ones say so
    dropped = [r for r in log if r[1] == DROPPED]
    kept = [r for r in log[1:] if r[1] is None]
    assert dropped and len(kept) >= 2 and log[1][1] == DROPPED  # the oldest rounds went first
    assert all(r[0] == N + 1 for r in kept) and all(r[0] == 0 for r in dropped)
    assert query(db, "SELECT count(*) FROM samples") == [(N + (N + 1) * len(kept),)]
    # The series first seen in a dropped round is still registered: later samples refer to it.
    assert query(db, "SELECT count(*) FROM samples WHERE series_id NOT IN (SELECT series_id FROM series)") == [(0,)]
    assert query(db, "SELECT count(*) FROM samples JOIN series USING (series_id) WHERE metric = 'vllm:new_gauge'") == [
        (len(kept),)
    ]


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_real_collector_process_started_on_a_locked_store(tmp_path: Path) -> None:
    """``memmoat collect`` started while another process holds the file: it warns with the
    PID, keeps scraping, and writes every scrape once the file is free."""
    db = tmp_path / "m.duckdb"
    ensure_schema(db)
    holder = hold_store(db, read_only=True, seconds=120)
    proc: subprocess.Popen[str] | None = None
    stderr_path = tmp_path / "collector.err"
    try:
        with PageServer() as srv:
            config = config_file(tmp_path, srv.set("/metrics", VLLM_PAGE), interval=1)
            with open(stderr_path, "w") as err:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "memmoat", "--config", str(config), "collect"],
                    stdout=subprocess.DEVNULL, stderr=err, text=True,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )  # fmt: skip
            wait_for(lambda: srv.hits.get("/metrics", 0) >= 3, 60, "three scrapes while locked")
            assert proc.poll() is None, stderr_path.read_text()
            assert f"locked by process {holder.pid}" in stderr_path.read_text()
            assert query_locked_count(holder, db) is None  # still held: nothing written yet
            release(holder)
            wait_for(lambda: (count_or_none(db) or 0) >= 3 * N, 60, "the spooled rounds to be written")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0, stderr_path.read_text()
            hits = srv.hits["/metrics"]
        # A graceful stop finishes the round in flight: every page served is stored, once.
        assert assert_consistent(db, N) == (hits, hits * N)
        assert "Traceback" not in stderr_path.read_text()
    finally:
        release(holder)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def query_locked_count(holder: subprocess.Popen[str], db: Path) -> int | None:
    return None if holder.poll() is None else count_or_none(db)


def count_or_none(db: Path) -> int | None:
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error:
        return None
    try:
        return int(con.execute("SELECT count(*) FROM samples").fetchall()[0][0])
    finally:
        con.close()


def test_a_round_does_not_queue_behind_this_process_s_own_long_job(tmp_path: Path) -> None:
    """Compaction (or a rollup catch-up) holds the file in another thread: the round spools
    after a short wait instead of missing the next ones, and the next round writes both."""
    import threading

    from store.connection import writer

    db = tmp_path / "m.duckdb"
    clock = Clock()
    with PageServer() as srv:
        collector = Collector(cfg.load(config_file(tmp_path, srv.set("/metrics", VLLM_PAGE))), clock=clock)
        try:
            rounds(collector, clock, 1)
            held, release_it = threading.Event(), threading.Event()

            def long_job() -> None:
                with writer(db):
                    held.set()
                    release_it.wait(30)

            job = threading.Thread(target=long_job)
            job.start()
            try:
                assert held.wait(30)
                t0 = time.monotonic()
                [busy] = rounds(collector, clock, 1)
                assert time.monotonic() - t0 < 10  # waited ~2 s, not for the job
                assert busy.samples_written == 0 and collector.spool.count() == 1  # type: ignore[attr-defined]
            finally:
                release_it.set()
                job.join(30)
            [after] = rounds(collector, clock, 1)
        finally:
            collector.close()
    assert after.samples_written == 2 * N  # type: ignore[attr-defined]
    assert assert_consistent(db, N) == (3, 3 * N)
