"""Long-running processes: the collector service and the dashboard server."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler

from collector.schedule import build
from collector.service import Collector, RoundReport
from memmoat.config import ENV_PATH, Settings
from memmoat.errors import MemmoatError

log = logging.getLogger("memmoat")


def collect_once(settings: Settings) -> RoundReport:
    collector = Collector(settings)
    try:
        return collector.scrape_round()
    finally:
        collector.close()


def report_job(settings: Settings) -> None:
    """Make (and deliver) the missing daily reports of recent days with data; never raises.

    The work happens in a child process: reports read with pandas and render with Jinja, and
    the collector, which runs for months, must not keep that memory (docs/benchmarks.md)."""
    try:
        proc = multiprocessing.get_context("spawn").Process(
            target=_report_child, args=(settings,), name="memmoat-report", daemon=True
        )
        proc.start()
        proc.join()
    except Exception:  # could not even start the child: logged; the collector goes on
        log.exception("daily report failed")
        return
    if proc.exitcode == 2:
        log.warning("daily report not made (see the message above); the next run tries again")
    elif proc.exitcode:
        log.error("daily report failed (exit code %s); `memmoat report` makes one by hand", proc.exitcode)


def _report_child(settings: Settings) -> None:
    from reports.daily import catch_up

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        catch_up(settings)
    except MemmoatError as exc:  # a locked or missing store: the next run tries again
        log.warning("daily report not made: %s", exc.message)
        sys.exit(2)
    except Exception:  # a bug: logged with its traceback
        log.exception("daily report failed")
        sys.exit(1)


def start_collector(settings: Settings) -> tuple[Collector, BackgroundScheduler]:
    """Start the scheduled collector in background threads; returns (collector, scheduler).

    Needs no access to the store: when another process holds it, the first rounds wait in
    the spool and a warning names that process (see collector/service.py).
    """
    collector = Collector(settings)
    sched = build(settings, collector, daily_jobs={"daily_report": lambda: report_job(settings)})
    collector.scrape_round()  # the first round now, not one interval from now
    sched.start()
    # Days missed while the collector was down: made now, in the scheduler's threads.
    sched.add_job(lambda: report_job(settings), id="report_catch_up", max_instances=1)
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
        sched.shutdown(wait=True)
        collector.close()


def dashboard_command(settings: Settings, port: int | None = None) -> list[str]:
    app = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
    return [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.address", settings.dashboard.host,
        "--server.port", str(port or settings.dashboard.port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",
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
