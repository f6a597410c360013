"""Several dashboard sessions refresh while a real collector process writes every second: the
collector keeps writing (the sample count keeps growing) and no viewer ever sees a lock error."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from memmoat import config as cfg
from memmoat.errors import StoreError
from queries.runner import run_sql
from tests.dashboard.conftest import fleet_targets, run_page, texts, write_config

pytestmark = pytest.mark.slow

App = Callable[[Path], AppTest]


def sample_count(settings: cfg.Settings) -> int:
    try:
        return int(run_sql(settings.store_path, "SELECT count(*) FROM samples", settings=settings).rows[0][0])
    except StoreError:
        return 0


def test_collector_keeps_writing_while_sessions_refresh(app: App, tmp_path: Path) -> None:
    from simulator.fleet import default_fleet
    from simulator.server import FleetServer
    from simulator.workload import Simulation

    sim = Simulation(default_fleet(), start_epoch=datetime.now(UTC).timestamp() - 600, seed=11)
    with FleetServer(sim) as server:
        path = write_config(tmp_path, fleet_targets(server), interval=1)
        path.write_text(path.read_text().replace("refresh_seconds = 2.0", "refresh_seconds = 1.0"))
        settings = cfg.load(path, must_exist=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        collector = subprocess.Popen(
            [sys.executable, "-m", "memmoat", "--config", str(path), "collect"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while sample_count(settings) == 0:
                assert time.monotonic() < deadline, "the collector wrote nothing within 60 s"
                assert collector.poll() is None, collector.communicate()[1]
                time.sleep(0.3)
            counts = [sample_count(settings)]
            sessions = [app(path) for _ in range(3)]
            pages = ["overview", "kv_cache", "health"]
            seen: list[str] = []
            end = time.monotonic() + 10
            i = 0
            while time.monotonic() < end:
                at = sessions[i % len(sessions)]
                page = pages[i % len(pages)]
                run_page(at, page)
                shown = texts(at)
                assert not at.exception, (page, [e.value for e in at.exception])
                assert not at.error, (page, [e.value for e in at.error])
                assert "Store is locked" not in shown and "Could not set lock" not in shown, shown
                seen += [line for line in shown.splitlines() if "Data up to" in line]
                counts.append(sample_count(settings))
                i += 1
        finally:
            collector.terminate()
            _, err = collector.communicate(timeout=30)
    assert collector.returncode == 0, err
    assert "Traceback" not in err and "StoreLockedError" not in err, err
    assert i >= 4, f"only {i} refreshes in 10 s"
    assert counts[-1] > counts[0] > 0, counts
    assert all(b >= a for a, b in itertools.pairwise(counts)), counts
    assert len(set(seen)) > 1, seen  # the freshness line moved: refreshes showed new data
