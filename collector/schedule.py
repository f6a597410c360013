"""APScheduler 3.x jobs of the long-running collector (see docs/collector.md).

Jobs: ``scrape`` every ``collector.interval_seconds``; ``rollup`` every minute (1-minute and
1-hour rollups up to the collector's watermark); ``maintenance`` every hour (retention, then
compaction of finished days); ``daily_report`` once a day at ``report.time``.

Choices, each deliberate:
- ``max_instances=1`` for every job: a round (or rollup) that overruns its interval is never
  run twice at once; APScheduler skips the overlapping firing and logs it, instead of piling
  up threads that would contend for the single DuckDB writer.
- ``coalesce=True``: after a pause (suspend, a long GC, a blocked disk) run one catch-up, not
  one per missed firing. Rollups and maintenance catch up by themselves (they work from the
  store's own progress markers), and a scrape cannot be taken in the past anyway.
- ``misfire_grace_time``: half an interval for scrapes (a late scrape is still useful; one a
  whole interval late is replaced by the next), 30 s for rollups, 30 min for maintenance and
  an hour for the daily report (it catches up missed days by itself).
- Interval jobs start on a grid aligned to the epoch (:00, :15, :30, :45 for 15 s), so round
  timestamps fall on whole seconds with equal steps, which compress well; rollups run 5 s
  past the minute, maintenance at 7 minutes past the hour, away from the report.
- The scheduler's timezone is explicit (``report.timezone``), never the host's. It matters
  only for the daily report's cron trigger; with DST a 02:30 report runs at 03:30 on
  spring-forward day and a 01:30 one twice on fall-back day, which the report's catch-up
  makes harmless. Everything stored is UTC; rollup buckets and compaction days are UTC.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from collector.service import Collector
from memmoat.config import Settings
from memmoat.errors import MemmoatError
from store import compact, retention, rollups

log = logging.getLogger("memmoat.schedule")

GRID = datetime(2000, 1, 1, tzinfo=UTC)  # interval triggers count from here: an epoch-aligned grid


def _safe(name: str, fn: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        try:
            fn()
        except MemmoatError as exc:  # locked store, full disk: said in one line, retried next time
            log.warning("job %s did not run: %s", name, exc.message)
        except Exception:  # a bug: logged with its traceback; the scheduler and other jobs go on
            log.exception("job %s failed", name)

    return run


def rollup_job(settings: Settings, collector: Collector) -> rollups.RollupReport:
    return rollups.run(settings.store_path, collector.watermark())


def maintenance_job(settings: Settings, collector: Collector) -> None:
    storage = settings.storage
    now = collector.clock()
    kept = retention.run(
        settings.store_path, now, raw_days=storage.raw_retention_days, rollup_1m_days=storage.rollup_1m_retention_days
    )
    if kept.samples_deleted or kept.rollup_rows_deleted:
        log.info("retention: deleted %d samples, %d rollup rows", kept.samples_deleted, kept.rollup_rows_deleted)
    done = compact.run(settings.store_path, collector.watermark())
    if done.days:
        log.info("compaction: sorted %d day(s), %d samples", done.days, done.rows)


def build(
    settings: Settings,
    collector: Collector,
    *,
    daily_jobs: dict[str, Callable[[], object]] | None = None,
    maintenance: bool = True,
) -> BackgroundScheduler:
    tz = settings.report.timezone
    sched = BackgroundScheduler(timezone=tz)
    interval = settings.collector.interval_seconds
    sched.add_job(
        _safe("scrape", collector.scrape_round),
        IntervalTrigger(seconds=interval, start_date=GRID, timezone=tz),
        id="scrape",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=max(1, int(interval / 2)),
    )
    if maintenance:
        sched.add_job(
            _safe("rollup", lambda: rollup_job(settings, collector)),
            IntervalTrigger(minutes=1, start_date=GRID + timedelta(seconds=5), timezone=tz),
            id="rollup",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=30,
        )
        sched.add_job(
            _safe("maintenance", lambda: maintenance_job(settings, collector)),
            IntervalTrigger(hours=1, start_date=GRID + timedelta(minutes=7), timezone=tz),
            id="maintenance",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=1800,
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
