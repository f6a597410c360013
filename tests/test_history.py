"""The demo's history preload goes through the real scrape path, outages included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from memmoat import config as cfg
from memmoat.demo import demo_config
from memmoat.history import preload
from simulator.fleet import default_fleet
from simulator.server import FleetServer
from simulator.workload import Simulation


def test_preload_records_an_engine_restart_as_failed_scrapes_and_goes_on(tmp_path: Path) -> None:
    start = datetime.now(UTC) - timedelta(hours=1)
    sim = Simulation(default_fleet(), start_epoch=start.timestamp(), seed=7)
    with FleetServer(sim) as server:
        server.start()
        targets = [{**t, "cluster": "sim", "labels": {}} for t in server.targets()]
        f = tmp_path / "memmoat.toml"
        f.write_text(demo_config(targets, interval=5, port=8501))
        settings = cfg.load(f, must_exist=True)
        # The simulated support engine restarts 45 min in and answers 503 for 120 s.
        written = preload(settings, server, start=start, step_seconds=60)
    assert written > 0
    con = duckdb.connect(str(settings.store_path), read_only=True)
    try:
        failed = con.execute("SELECT target, count(*) FROM scrapes WHERE error IS NOT NULL GROUP BY target").fetchall()
        ok_rounds = con.execute(
            "SELECT count(DISTINCT started_at) FROM scrapes WHERE target = 'chat-llama70b' AND error IS NULL"
        ).fetchall()[0][0]
    finally:
        con.close()
    assert [t for t, _ in failed] == ["support-mistral7b"]
    assert 1 <= failed[0][1] <= 3  # 120 s down at 60 s steps
    assert ok_rounds >= 55
