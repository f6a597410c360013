"""docker-compose.yml and deploy/: valid for Debian's docker-compose, obeying DuckDB's single-writer
rule, and the Prometheus profile's config actually working against the simulated fleet."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from memmoat import config
from memmoat.cli import main
from queries.runner import run_sql
from tests.integration.prom import binary, prometheus
from tests.support.servers import REPO

DEPLOY = REPO / "deploy"
COMPOSE = shutil.which("docker-compose")
needs_compose = pytest.mark.skipif(
    COMPOSE is None, reason="docker-compose is not installed (apt-get install docker-compose)"
)


def compose_config(*args: str, env: dict[str, str] | None = None) -> str:
    assert COMPOSE is not None
    res = subprocess.run(
        [COMPOSE, "-f", str(REPO / "docker-compose.yml"), *args, "config"],
        capture_output=True, text=True, timeout=60, cwd=REPO, env={**os.environ, **(env or {})},
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return res.stdout


def services(rendered: str) -> dict[str, list[str]]:
    """service -> its lines, from `docker-compose config` output (canonical YAML, 2-space indents)."""
    out: dict[str, list[str]] = {}
    current = None
    in_services = False
    for line in rendered.splitlines():
        if not line.startswith(" "):
            in_services = line.startswith("services:")
            current = None
            continue
        if in_services and re.match(r"^  [\w-]+:$", line):
            current = line.strip().rstrip(":")
            out[current] = []
        elif in_services and current:
            out[current].append(line.strip())
    return out


@needs_compose
def test_compose_config_is_valid_and_only_the_collector_writes() -> None:
    every = services(compose_config())
    profiles = {n: [lines[i + 1] for i, ln in enumerate(lines) if ln == "profiles:"] for n, lines in every.items()}
    # collector and dashboard always run; the simulated fleet and Prometheus only when asked for
    assert profiles == {"collector": [], "dashboard": [], "simulator": ["- sim"], "prometheus": ["- prometheus"]}
    mounts = {name: [ln for ln in lines if ln.startswith("- memmoat-data:/data")] for name, lines in every.items()}
    writers = [name for name, m in mounts.items() if any(not ln.endswith(":ro") for ln in m)]
    assert writers == ["collector"]
    assert mounts["dashboard"] == ["- memmoat-data:/data:ro"]
    assert any("python" in ln for ln in every["simulator"]) and "- simulator" in every["simulator"]
    # The config file is chosen per profile; each must exist and load.
    sim = services(compose_config("--profile", "sim", env={"MEMMOAT_CONFIG_FILE": "memmoat.sim.toml"}))
    assert "MEMMOAT_CONFIG: /etc/memmoat/memmoat.sim.toml" in sim["collector"]


def test_deploy_files_load_and_match_the_simulated_fleet() -> None:
    for f in sorted(DEPLOY.glob("*.toml")):
        s = config.load(f)
        assert s.storage.path.startswith("/data/"), f  # inside the shared volume
        assert s.dashboard.host == "0.0.0.0", f  # reachable from outside the container
    # The sim files are generated from the simulator's targets: regenerating must not change them.
    sys.path.insert(0, str(DEPLOY))
    try:
        import generate  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(DEPLOY))
    for name, text in generate.files().items():
        assert (DEPLOY / name).read_text() == text, f"deploy/{name} is stale: run deploy/generate.py"
    if shutil.which("promtool"):
        res = subprocess.run(["promtool", "check", "config", str(DEPLOY / "prometheus.yml")], capture_output=True)
        assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.integration
@pytest.mark.skipif(binary() is None, reason="the prometheus binary is not installed (apt-get install prometheus)")
def test_prometheus_profile_reads_the_simulated_fleet(tmp_path: Path) -> None:
    """deploy/prometheus.yml run by a real Prometheus against the real simulator; memmoat pulls it."""
    from simulator.fleet import default_fleet
    from simulator.server import FleetServer
    from simulator.workload import Simulation

    with FleetServer(Simulation(default_fleet(0), time.time(), seed=0, time_scale=60.0)) as sim:
        host = sim.url.removeprefix("http://")
        text = (DEPLOY / "prometheus.yml").read_text().replace("simulator:9400", host)
        text = text.replace("scrape_interval: 15s", "scrape_interval: 1s")
        text = text.replace("scrape_timeout: 10s", "scrape_timeout: 900ms")
        with prometheus(tmp_path, {}, config_text=text) as prom:
            deadline = time.monotonic() + 30
            while len(prom.query("up == 1")) < len(sim.targets()) and time.monotonic() < deadline:
                time.sleep(0.5)
            assert len(prom.query("up == 1")) == len(sim.targets())
            time.sleep(3)  # a few scrapes of every page
            toml = (DEPLOY / "memmoat.sim-prometheus.toml").read_text()
            toml = toml.replace("/data/", f"{tmp_path}/").replace("http://prometheus:9090", prom.url)
            toml = re.sub(r"(lag|step)_seconds = \d+", r"\1_seconds = 1", toml)
            cfg = tmp_path / "memmoat.toml"
            cfg.write_text(toml)
            res = CliRunner().invoke(main, ["--config", str(cfg), "backfill", "--from", "-60s", "--chunk", "30s"])
            assert res.exit_code == 0, res.output
    store = tmp_path / "memmoat.duckdb"
    kinds = dict(run_sql(store, "SELECT detected, count(*) FROM targets WHERE name LIKE 'prom:%' GROUP BY 1").rows)
    assert kinds == {"vllm": 7, "dcgm": 2}
    pods = {r[0] for r in run_sql(store, "SELECT DISTINCT pod FROM engine_metrics WHERE pod IS NOT NULL").rows}
    assert pods == {t["labels"]["pod"] for t in sim.targets() if t["kind"] == "vllm"}  # type: ignore[index]
    clusters = {r[0] for r in run_sql(store, "SELECT DISTINCT cluster FROM gpu_metrics").rows}
    assert clusters == {"sim"}
