"""Retention: raw samples for ``storage.raw_retention_days``, 1-minute rollups for
``storage.rollup_1m_retention_days``, hourly rollups for ever.

Nothing is deleted before it is rolled up: the raw cutoff never passes the 1-minute rollups'
progress, nor the 1-minute cutoff the hourly rollups' (so a stopped rollup job stops deletion
instead of losing data). The scrape log is kept as long as the raw samples it describes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from store.connection import scalar, writer
from store.rollups import get_state

ROLLUP_1M_TABLES = ("gpu_rollup_1m", "engine_rollup_1m")


@dataclass
class RetentionReport:
    raw_cutoff: datetime | None = None
    rollup_1m_cutoff: datetime | None = None
    samples_deleted: int = 0
    scrapes_deleted: int = 0
    rollup_rows_deleted: int = 0


def run(
    path: Path, now: datetime, *, raw_days: int, rollup_1m_days: int, lock_timeout: float | None = None
) -> RetentionReport:
    report = RetentionReport()
    with writer(path, lock_timeout=lock_timeout) as con:
        done_1m = get_state(con, "rollup_1m")
        done_1h = get_state(con, "rollup_1h")
        con.execute("BEGIN")
        if done_1m is not None:
            report.raw_cutoff = min(now - timedelta(days=raw_days), done_1m)
            report.samples_deleted = _delete(con, "DELETE FROM samples WHERE ts < ?", report.raw_cutoff)
            report.scrapes_deleted = _delete(con, "DELETE FROM scrapes WHERE started_at < ?", report.raw_cutoff)
        if done_1h is not None:
            report.rollup_1m_cutoff = min(now - timedelta(days=rollup_1m_days), done_1h)
            for table in ROLLUP_1M_TABLES:
                report.rollup_rows_deleted += _delete(con, f"DELETE FROM {table} WHERE ts < ?", report.rollup_1m_cutoff)
        con.execute("COMMIT")
    return report


def _delete(con: duckdb.DuckDBPyConnection, sql: str, cutoff: datetime) -> int:
    return int(scalar(con, sql, [cutoff]) or 0)
