"""APScheduler 3.x jobs of the long-running collector.

Choices (see docs/architecture.md):
- ``max_instances=1``: a round that overruns its interval is never run twice at once;
  the next firing is skipped and logged instead of piling up threads.
- ``coalesce=True``: after a pause (laptop sleep, a long GC) run one catch-up round, not many.
- ``misfire_grace_time`` = half an interval for scrapes (a late scrape is still useful,
  one a whole interval late is replaced by the next); an hour for the daily report.
- The scheduler's timezone is explicit (``report.timezone``), never the host's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from collector.service import Collector
from memmoat.config import Settings

log = logging.getLogger("memmoat.schedule")


def _safe(name: str, fn: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        try:
            fn()
        except Exception:  # a job failure is logged; the scheduler and other jobs go on
            log.exception("job %s failed", name)

    return run


def build(
    settings: Settings,
    collector: Collector,
    *,
    extra_interval_jobs: dict[str, tuple[Callable[[], object], float]] | None = None,
    daily_jobs: dict[str, Callable[[], object]] | None = None,
) -> BackgroundScheduler:
    tz = settings.report.timezone
    sched = BackgroundScheduler(timezone=tz)
    interval = settings.collector.interval_seconds
    sched.add_job(
        _safe("scrape", collector.scrape_round),
        IntervalTrigger(seconds=interval, timezone=tz),
        id="scrape",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=max(1, int(interval / 2)),
    )
    for name, (fn, seconds) in (extra_interval_jobs or {}).items():
        sched.add_job(
            _safe(name, fn),
            IntervalTrigger(seconds=seconds, timezone=tz),
            id=name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(seconds / 2)),
        )
    at = settings.report.local_time()
    for name, fn in (daily_jobs or {}).items():
        sched.add_job(
            _safe(name, fn),
            CronTrigger(hour=at.hour, minute=at.minute, timezone=tz),
            id=name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=3600,
        )
    return sched
