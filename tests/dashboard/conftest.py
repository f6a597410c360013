"""Real stores for the dashboard tests, built through the real scrape and ingest path.

* ``fleet_config``: the simulated fleet (7 vLLM engines, 2 dcgm nodes with one idle GPU each),
  20 minutes of history scraped over HTTP and ingested by ``memmoat.history.preload``.
* ``degraded_config``: dcgm pages without the profiling (DCP) fields and vLLM pages without
  cache_config_info, scraped by ``memmoat collect --once``-style rounds (Collector).
* ``empty_config``: a store with the schema and no samples; ``missing_config``: no store.

Each test points ``MEMMOAT_CONFIG`` at one of them and runs ``dashboard/app.py`` in AppTest.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from memmoat import config as cfg
from tests.support.servers import REPO, PageServer

APP = REPO / "dashboard" / "app.py"
PAGES = ("overview", "bottlenecks", "kv_cache", "gpus", "chargeback", "cloud", "health", "sql")


def write_config(folder: Path, targets: list[dict[str, object]], *, extra: str = "", interval: float = 60) -> Path:
    from memmoat.demo import demo_config

    folder.mkdir(parents=True, exist_ok=True)
    text = demo_config(targets, interval=interval, port=8501)
    text = text.replace('path = "memmoat.duckdb"', 'path = "store.duckdb"')
    path = folder / "memmoat.toml"
    path.write_text(text + extra, encoding="utf-8")
    return path


def fleet_targets(server: object) -> list[dict[str, object]]:
    out = []
    for t in server.targets():  # type: ignore[attr-defined]
        labels = dict(t.get("labels", {}))
        out.append({**t, "cluster": labels.pop("cluster", "sim"), "labels": labels})
    return out


@pytest.fixture(scope="session")
def fleet_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from memmoat.history import preload
    from simulator.fleet import default_fleet
    from simulator.server import FleetServer
    from simulator.workload import Simulation

    folder = tmp_path_factory.mktemp("fleet")
    start = datetime.now(UTC) - timedelta(minutes=20)
    sim = Simulation(default_fleet(), start_epoch=start.timestamp() - 60, seed=7)
    with FleetServer(sim) as server:
        path = write_config(folder, fleet_targets(server))
        settings = cfg.load(path, must_exist=True)
        preload(settings, server, start=start, step_seconds=60)
        live_round(settings)  # as the collector would: the targets table and one scrape at real time
    return path


def live_round(settings: cfg.Settings) -> None:
    from collector.service import Collector

    collector = Collector(settings)
    try:
        collector.scrape_round()
    finally:
        collector.close()


def _without(text: str, pattern: str) -> str:
    rx = re.compile(pattern)
    return "\n".join(line for line in text.splitlines() if not rx.search(line)) + "\n"


@pytest.fixture(scope="session")
def degraded_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Real simulator pages with fields removed, served statically and collected twice."""
    from simulator.fleet import default_fleet
    from simulator.server import FleetServer
    from simulator.workload import Simulation

    folder = tmp_path_factory.mktemp("degraded")
    sim = Simulation(default_fleet(), start_epoch=datetime.now(UTC).timestamp() - 600, seed=3)
    with FleetServer(sim) as fleet:
        pages = {t["name"]: httpx.get(str(t["url"]), timeout=10).text for t in fleet.targets()}
        targets = fleet_targets(fleet)
    with PageServer() as srv:
        chosen = []
        for t in targets:
            name = str(t["name"])
            if t["kind"] == "dcgm":
                body = _without(pages[name], r"DCGM_FI_PROF_")
            elif name in ("chat-llama70b", "rag-llama8b"):
                body = _without(pages[name], r"cache_config_info")
            else:
                continue
            chosen.append({**t, "url": srv.set(f"/{name}", body), "hostname": t.get("hostname")})
        path = write_config(folder, chosen, interval=15)
        settings = cfg.load(path, must_exist=True)
        live_round(settings)
        live_round(settings)
    yield path


@pytest.fixture(scope="session")
def empty_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from store.writer import ensure_schema

    folder = tmp_path_factory.mktemp("empty")
    path = write_config(folder, [{"name": "nothing-yet", "url": "http://127.0.0.1:9/metrics", "kind": "vllm"}])
    ensure_schema(cfg.load(path, must_exist=True).store_path)
    return path


@pytest.fixture
def missing_config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "missing", [])


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], AppTest]:
    """``app(config_path)`` -> an AppTest of the dashboard reading that settings file."""

    def make(config_path: Path) -> AppTest:
        monkeypatch.setenv(cfg.ENV_PATH, str(config_path))
        return AppTest.from_file(str(APP), default_timeout=60)

    return make


def run_page(at: AppTest, page: str) -> AppTest:
    """Run the dashboard on one page (pages have no custom url_path, so the file name finds them)."""
    at.switch_page(f"views/{page}.py")
    return at.run()


def texts(at: AppTest) -> str:
    """Everything the run wrote as text: titles, markdown, captions, alerts, metric labels/values."""
    parts: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "success", "warning", "error"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    return "\n".join(parts)


def assert_clean(at: AppTest) -> None:
    """No exception and no error box: a traceback or an error here is a bug."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
