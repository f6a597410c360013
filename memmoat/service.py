"""Long-running processes: the collector service and the dashboard server."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType

from collector.schedule import build
from collector.service import Collector, RoundReport
from memmoat.config import ENV_PATH, Settings

log = logging.getLogger("memmoat")


def collect_once(settings: Settings) -> RoundReport:
    collector = Collector(settings)
    try:
        return collector.scrape_round()
    finally:
        collector.close()


def report_job(settings: Settings) -> None:
    from reports.daily import catch_up

    catch_up(settings)


def start_collector(settings: Settings) -> tuple[Collector, object]:
    """Start the scheduled collector in background threads; returns (collector, scheduler)."""
    collector = Collector(settings)
    sched = build(settings, collector, daily_jobs={"daily_report": lambda: report_job(settings)})
    collector.scrape_round()
    sched.start()
    return collector, sched


def run_collector(settings: Settings, stop: threading.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM (or ``stop`` is set)."""
    stop = stop or threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    collector, sched = start_collector(settings)
    print(
        f"collecting {len(settings.targets)} target(s) every {settings.collector.interval_seconds:g} s "
        f"into {settings.store_path}; Ctrl-C stops",
        flush=True,
    )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        sched.shutdown(wait=True)  # type: ignore[attr-defined]
        collector.close()


def dashboard_command(settings: Settings, port: int | None = None) -> list[str]:
    app = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
    return [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.address", settings.dashboard.host,
        "--server.port", str(port or settings.dashboard.port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--theme.base", "light",
    ]  # fmt: skip


def dashboard_env(config_path: str | Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if config_path:
        env[ENV_PATH] = str(Path(config_path).resolve())
    return env


def run_dashboard(settings: Settings, config_path: str | Path | None, port: int | None = None) -> int:
    proc = subprocess.Popen(dashboard_command(settings, port), env=dashboard_env(config_path))
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        return proc.wait(timeout=10)
