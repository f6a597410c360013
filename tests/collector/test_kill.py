"""``kill -9`` of a real collector process (``python -m memmoat --config X collect``) at
arbitrary moments: at most the scrape in flight is lost, the file is never corrupt, and a
restart resumes, also with rounds waiting in the spool."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from store.writer import ensure_schema
from tests.support.procs import hold_store, release
from tests.support.servers import DATA, PageServer

pytestmark = pytest.mark.slow

VLLM_PAGE = (DATA / "vllm-cpu-live.prom").read_text()
PER_PAGE = {"/vllm": 415, "/dcgm": 3 * 8}


def dcgm_page(gpus: int = 8) -> str:
    lines = []
    for name, kind, value in (
        ("DCGM_FI_DEV_GPU_UTIL", "gauge", "57"),
        ("DCGM_FI_DEV_POWER_USAGE", "gauge", "312.25"),
        ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter", "123456789"),
    ):
        lines += [f"# HELP {name} {name}", f"# TYPE {name} {kind}"]
        for g in range(gpus):
            labels = (
                f'gpu="{g}",UUID="GPU-0000-{g}",pci_bus_id="00000000:{g:02X}:00.0",device="nvidia{g}",'
                'modelName="NVIDIA H100 80GB HBM3",Hostname="node-a",container="",namespace="",pod=""'
            )
            lines.append(f"{name}{{{labels}}} {value}")
    return "\n".join(lines) + "\n"


def write_config(tmp_path: Path, srv: PageServer) -> Path:
    text = f"""
[storage]
path = "m.duckdb"
spool_dir = "spool"
[collector]
interval_seconds = 1
timeout_seconds = 0.5
[[targets]]
name = "engine-a"
url = "{srv.set("/vllm", VLLM_PAGE)}"
kind = "vllm"
[[targets]]
name = "node-a"
url = "{srv.set("/dcgm", dcgm_page())}"
kind = "dcgm"
"""
    path = tmp_path / "memmoat.toml"
    path.write_text(text)
    return path


@contextmanager
def collector_process(config: Path, log: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    with open(log, "a") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "memmoat", "--config", str(config), "collect"],
            stdout=subprocess.DEVNULL, stderr=err, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )  # fmt: skip
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def query(db: Path, sql: str) -> list[tuple[object, ...]]:
    for _ in range(200):  # the collector may hold the file for a moment
        try:
            con = duckdb.connect(str(db), read_only=True)
        except duckdb.IOException:
            time.sleep(0.05)
            continue
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()
    raise AssertionError("store stayed locked")


def stored(db: Path) -> dict[str, int]:
    """Scrapes stored per URL path, after checking the file is whole and consistent."""
    per_target = dict(query(db, "SELECT target, count(*) FROM scrapes WHERE error IS NULL GROUP BY 1"))  # type: ignore[arg-type]
    expected = 415 * per_target.get("engine-a", 0) + 24 * per_target.get("node-a", 0)
    assert query(db, "SELECT count(*) FROM samples") == [(expected,)]  # whole scrapes only
    assert query(db, "SELECT coalesce(sum(samples), 0) FROM scrapes") == [(expected,)]
    assert query(
        db, "SELECT count(*) FROM (SELECT target, started_at FROM scrapes GROUP BY ALL HAVING count(*) > 1)"
    ) == [(0,)]
    assert query(db, "SELECT count(*) FROM samples WHERE series_id NOT IN (SELECT series_id FROM series)") == [(0,)]
    assert query(db, "SELECT count(*) FROM (SELECT ts, series_id FROM samples GROUP BY ALL HAVING count(*) > 1)") == [
        (0,)
    ]
    return {"/vllm": per_target.get("engine-a", 0), "/dcgm": per_target.get("node-a", 0)}


@pytest.mark.parametrize("checkpoint", ["at 2 MB of WAL", "after every write"])
def test_kill_9_at_random_moments_loses_at_most_the_scrape_in_flight(tmp_path: Path, checkpoint: str) -> None:
    """Kills land anywhere: mid-scrape, mid-commit, and (second case) mid-checkpoint."""
    db, log = tmp_path / "m.duckdb", tmp_path / "collector.err"
    env = {"MEMMOAT_WAL_CHECKPOINT_BYTES": "0"} if checkpoint == "after every write" else {}
    rng = random.Random(20260301)
    kills = 0
    with PageServer() as srv:
        config = write_config(tmp_path, srv)
        for _ in range(3):
            with collector_process(config, log, env) as proc:
                start = srv.hits.get("/vllm", 0)
                wait_for(lambda start=start: srv.hits.get("/vllm", 0) >= start + 2, 60, "two rounds")  # type: ignore[misc]
                time.sleep(rng.uniform(0.0, 1.0))  # somewhere in a round, or between two
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
                kills += 1
            before = stored(db)  # exact counts right after the kill, before any restart
            hits_before = dict(srv.hits)
            for path, n in before.items():
                assert hits_before[path] - kills <= n <= hits_before[path]
        # A last run resumes on the same file and stops gracefully.
        with collector_process(config, log, env) as proc:
            start = srv.hits["/vllm"]
            wait_for(lambda: srv.hits["/vllm"] >= start + 2, 60, "two rounds after restart")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0, log.read_text()
        after = stored(db)
        hits = dict(srv.hits)
    for path in PER_PAGE:
        # Every kill lost at most the one scrape in flight; the graceful stop lost none.
        assert hits[path] - kills <= after[path] <= hits[path]
        # The resumed run stored exactly the scrapes it made.
        assert after[path] - before[path] == hits[path] - hits_before[path]
    assert "Traceback" not in log.read_text()


def test_kill_9_with_rounds_in_the_spool_then_restart_writes_them(tmp_path: Path) -> None:
    db, log = tmp_path / "m.duckdb", tmp_path / "collector.err"
    ensure_schema(db)
    holder = hold_store(db, read_only=True, seconds=120)
    try:
        with PageServer() as srv:
            config = write_config(tmp_path, srv)
            with collector_process(config, log) as proc:
                wait_for(lambda: len(list((tmp_path / "spool").glob("*.round"))) >= 3, 60, "three spooled rounds")
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
            spooled = len(list((tmp_path / "spool").glob("*.round")))
            assert f"locked by process {holder.pid}" in log.read_text()
            release(holder)
            assert stored(db) == {"/vllm": 0, "/dcgm": 0}
            with collector_process(config, log) as proc:
                wait_for(lambda: not list((tmp_path / "spool").glob("*.round")), 60, "the spool to drain")
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(timeout=30) == 0, log.read_text()
            hits = dict(srv.hits)
        after = stored(db)
        for path in PER_PAGE:
            # Only the round in flight at the kill may be missing; the spooled ones all arrived.
            assert hits[path] - 1 <= after[path] <= hits[path]
            assert after[path] >= spooled
    finally:
        release(holder)
