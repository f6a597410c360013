"""The memmoat command end to end, against real HTTP servers on 127.0.0.1 and a real DuckDB file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from memmoat.cli import main
from tests.support.servers import DATA, PageServer, dead_url

VLLM_PAGE = (DATA / "vllm-cpu-live.prom").read_text()


def write_config(tmp_path: Path, targets: list[tuple[str, str, str]], extra: str = "", interval: float = 15) -> Path:
    lines = [
        "[storage]",
        'path = "m.duckdb"',
        "[collector]",
        f"interval_seconds = {interval}",
        f"timeout_seconds = {min(2, interval / 2)}",
        extra,
    ]
    for name, url, kind in targets:
        lines += ["[[targets]]", f'name = "{name}"', f'url = "{url}"', f'kind = "{kind}"']
    f = tmp_path / "memmoat.toml"
    f.write_text("\n".join(lines) + "\n")
    return f


def run(args: list[str]) -> tuple[int, str, str]:
    res = CliRunner().invoke(main, args, catch_exceptions=False)
    return res.exit_code, res.stdout, res.stderr


def test_check_config_unknown_key_names_it(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, [], extra="scrape_everything = true")
    code, _out, err = run(["--config", str(cfg), "check-config", "--offline"])
    assert code == 1
    assert "Error: Configuration error" in err
    assert "unknown key 'scrape_everything'" in err
    assert f"memmoat.toml:{cfg.read_text().splitlines().index('scrape_everything = true') + 1}" in err


def test_check_config_unreachable_target_names_it(tmp_path: Path) -> None:
    with PageServer() as srv:
        good = srv.set("/metrics", VLLM_PAGE)
        cfg = write_config(tmp_path, [("engine-a", good, "auto"), ("gone", dead_url(), "dcgm")])
        code, out, err = run(["--config", str(cfg), "check-config"])
    assert code == 1
    assert "engine-a: vllm, 415 samples" in out
    assert "FAIL gone" in out
    assert "1 target(s) unreachable: gone" in err


def test_check_config_passes(tmp_path: Path) -> None:
    with PageServer() as srv:
        cfg = write_config(tmp_path, [("engine-a", srv.set("/metrics", VLLM_PAGE), "vllm")])
        code, out, _ = run(["--config", str(cfg), "check-config"])
    assert code == 0, out
    assert "valid (1 targets" in out


def test_collect_once_then_query_formats(tmp_path: Path) -> None:
    with PageServer() as srv:
        cfg = write_config(
            tmp_path, [("engine-a", srv.set("/metrics", VLLM_PAGE), "auto"), ("gone", dead_url(), "dcgm")]
        )
        code, out, err = run(["--config", str(cfg), "collect", "--once"])
    assert code == 0
    assert "scraped 1 target(s), 1 failed, 415 samples written" in out
    assert "gone" in err
    code, out, _ = run(["--config", str(cfg), "query", "--sql", "SELECT count(*) AS n FROM samples", "--format", "csv"])
    assert code == 0 and out == "n\n415\n"
    code, out, _ = run(["--config", str(cfg), "query", "sample_count", "--format", "json"])
    assert json.loads(out) == [{"n": 415}]
    code, out, _ = run(["--config", str(cfg), "query", "sample_count"])
    assert out.splitlines()[0].strip() == "n" and out.splitlines()[2].strip() == "415"
    code, out, _ = run(["--config", str(cfg), "targets"])
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines()[2:]}
    assert " up " in rows["engine-a"] and " down " in rows["gone"]


def test_query_lists_named_queries_with_params(tmp_path: Path) -> None:
    code, out, _ = run(["query"])
    assert code == 0
    assert "fleet_overview" in out and "--param start=<TIMESTAMP> = -15m" in out


def test_query_errors_go_to_stderr(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, [])
    code, _, err = run(["--config", str(cfg), "query", "sample_count"])
    assert code == 1 and "No store yet" in err
    code, _, err = run(["--config", str(cfg), "query", "no_such_query"])
    assert code == 1 and "Unknown query" in err
    code, _, err = run(["--config", str(cfg), "query", "--sql", "DROP TABLE samples"])
    assert code == 1 and "Query refused" in err and "read-only" in err
    code, _, err = run(["--config", str(cfg), "query", "sample_count", "--param", "x"])
    assert code == 1 and "not K=V" in err


def test_collect_without_targets_is_a_config_error(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, [])
    code, _, err = run(["--config", str(cfg), "collect", "--once"])
    assert code == 1 and "no targets configured" in err


@pytest.mark.slow
def test_queries_while_collector_writes_never_show_a_lock_error(tmp_path: Path) -> None:
    """A real collector process writes every second while real query processes read."""
    with PageServer() as srv:
        cfg = write_config(tmp_path, [("engine-a", srv.set("/metrics", VLLM_PAGE), "vllm")], interval=1)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        collector = subprocess.Popen(
            [sys.executable, "-m", "memmoat", "--config", str(cfg), "collect"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while not (tmp_path / "m.duckdb").exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            counts = []
            for _ in range(8):
                q = subprocess.run(
                    [sys.executable, "-m", "memmoat", "--config", str(cfg), "query", "--sql",
                     "SELECT count(*) AS n FROM samples", "--format", "csv"],
                    capture_output=True, text=True, timeout=60, env=env,
                )  # fmt: skip
                assert q.returncode == 0, q.stderr
                assert "lock" not in q.stderr.lower()
                counts.append(int(q.stdout.splitlines()[1]))
                time.sleep(0.3)
        finally:
            collector.terminate()
            _out, err = collector.communicate(timeout=30)
    assert collector.returncode == 0, err
    assert counts[-1] > counts[0] > 0
    assert all(c % 415 == 0 for c in counts)  # whole scrapes only: never a partial page
