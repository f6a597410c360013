"""Collector health against real HTTP servers on 127.0.0.1: every scrape is logged, a dead or
slow target neither slows nor breaks the others, down targets back off and come back."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
from click.testing import CliRunner

from collector.schedule import build
from collector.service import MAX_BACKOFF_INTERVALS, Collector
from memmoat import config as cfg
from memmoat.cli import main
from tests.support.servers import DATA, PageServer, dead_url

VLLM_PAGE = (DATA / "vllm-cpu-live.prom").read_text()
VLLM_SAMPLES = 415
T0 = datetime(2026, 3, 1, 12, 0, 0)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def write_config(tmp_path: Path, targets: list[tuple[str, str]], *, timeout: float = 1.0) -> Path:
    lines = ["[storage]", 'path = "m.duckdb"', 'spool_dir = "spool"', "[collector]", "interval_seconds = 15"]
    lines.append(f"timeout_seconds = {timeout}")
    for name, url in targets:
        lines += ["[[targets]]", f'name = "{name}"', f'url = "{url}"', 'kind = "vllm"']
    path = tmp_path / "memmoat.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_dead_and_slow_targets_do_not_hold_back_the_good_one(tmp_path: Path) -> None:
    with PageServer() as srv:
        config = write_config(
            tmp_path,
            [("good", srv.set("/good", VLLM_PAGE)), ("slow", srv.set("/slow", VLLM_PAGE, delay=30.0)),
             ("dead", dead_url())],
        )  # fmt: skip
        collector = Collector(cfg.load(config))
        try:
            t0 = time.monotonic()
            report = collector.scrape_round()
            took = time.monotonic() - t0
        finally:
            collector.close()
    assert (report.scraped, report.failed, report.samples_written) == (1, 2, VLLM_SAMPLES)
    assert took < 10.0  # bounded by the 1 s timeout, not by the slow target's 30 s
    log = {
        r[0]: r[1:]
        for r in rows(tmp_path / "m.duckdb", "SELECT target, samples, bytes, duration_s, error FROM scrapes")
    }
    assert log["good"][:2] == (VLLM_SAMPLES, len(VLLM_PAGE.encode())) and log["good"][3] is None
    assert log["slow"][0] == 0 and "no answer from" in str(log["slow"][3]) and "within 1 s" in str(log["slow"][3])
    assert log["dead"][0] == 0 and "cannot reach" in str(log["dead"][3])
    assert float(log["slow"][2]) < 5.0  # type: ignore[arg-type]
    assert rows(tmp_path / "m.duckdb", "SELECT count(*) FROM samples") == [(VLLM_SAMPLES,)]


def test_down_target_backs_off_and_recovers_by_itself(tmp_path: Path) -> None:
    clock = Clock()
    with PageServer() as srv:
        flaky = srv.set("/flaky", "unavailable", status=503)
        config = write_config(tmp_path, [("good", srv.set("/good", VLLM_PAGE)), ("flaky", flaky)])
        collector = Collector(cfg.load(config), clock=clock)
        attempted: list[int] = []
        try:
            for k in range(24):  # 24 rounds of 15 s on a hand-driven clock
                clock.now = T0 + timedelta(seconds=15 * k)
                before = srv.hits.get("/flaky", 0)
                if k == 16:
                    srv.set("/flaky", VLLM_PAGE)  # the target comes back
                report = collector.scrape_round()
                if srv.hits.get("/flaky", 0) > before:
                    attempted.append(k)
                assert report.samples_written >= VLLM_SAMPLES  # the good target never misses a round
                if k == 12:
                    code, out, _ = run_cli(config, "targets")
                    assert code == 0 and state_of(out, "flaky") == "down" and state_of(out, "good") == "up"
        finally:
            collector.close()
    # Backoff doubles up to 8 intervals: rounds 0, 1, 3, 7, 15 fail; the target is back at round
    # 16 but is not asked again until its retry at round 23.
    assert attempted == [0, 1, 3, 7, 15, 23]
    assert MAX_BACKOFF_INTERVALS == 8
    assert collector.state["flaky"].up and collector.state["flaky"].failures == 0
    db = tmp_path / "m.duckdb"
    assert rows(db, "SELECT count(*) FROM scrapes WHERE target = 'good' AND error IS NULL") == [(24,)]
    assert rows(db, "SELECT count(*), count(error) FROM scrapes WHERE target = 'flaky'") == [(6, 5)]
    assert rows(db, "SELECT count(*) FROM samples") == [(25 * VLLM_SAMPLES,)]
    code, out, _ = run_cli(config, "targets")
    assert state_of(out, "flaky") == "up"
    # The scrape log is plain SQL.
    code, out, _ = run_cli(
        config, "query", "--sql", "SELECT count(*) AS n FROM scrapes WHERE error LIKE '%HTTP 503%'", "--format", "csv"
    )
    assert code == 0 and out == "n\n5\n"


def test_schedule_choices_are_explicit(tmp_path: Path) -> None:
    config = write_config(tmp_path, [("good", "http://127.0.0.1:9/metrics")])
    settings = cfg.load(config).model_copy(
        update={"report": cfg.ReportSettings(timezone="Europe/Berlin", time="02:30")}
    )
    collector = Collector(settings)
    sched = build(settings, collector, daily_jobs={"daily_report": lambda: None})
    try:
        assert str(sched.timezone) == "Europe/Berlin"
        jobs = {j.id: j for j in sched.get_jobs()}
        assert set(jobs) == {"scrape", "rollup", "maintenance", "daily_report"}
        assert all(j.max_instances == 1 and j.coalesce for j in jobs.values())
        assert jobs["scrape"].misfire_grace_time == 7
        assert jobs["daily_report"].misfire_grace_time == 3600
        assert jobs["scrape"].trigger.interval == timedelta(seconds=15)
        # Scrape firings sit on an epoch-aligned grid of whole seconds.
        nxt = jobs["scrape"].trigger.get_next_fire_time(None, datetime.now(sched.timezone))
        assert nxt.microsecond == 0 and nxt.second % 15 == 0
    finally:
        collector.close()


def run_cli(config: Path, *args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(main, ["--config", str(config), *args], catch_exceptions=False)
    return res.exit_code, res.stdout, res.stderr


def state_of(table: str, target: str) -> str:
    for line in table.splitlines():
        cells = line.split()
        if cells and cells[0] == target:
            for state in ("up", "down", "never"):
                if state in cells:
                    return state
    raise AssertionError(f"{target} not in\n{table}")
