"""Compaction: rewrite finished stretches of raw samples sorted by series, then time.

Samples arrive in time order, one scrape round after another, so neighbouring values belong
to unlike series and each per-round checkpoint compresses a small slice. Sorted by series, a
column segment holds long runs of one series: ``series_id`` becomes run-length encoded, a
series' values sit beside each other (ALP packs them tightly) and its timestamps step by the
same interval (bit-packed deltas). What timestamps still cost is the turn at each series
boundary, so every other series runs backwards (see SORTED) and there are two tiers: a
finished UTC day is sorted first (runs of one day), then a finished week (Monday to Monday,
UTC) of sorted days is merged into runs of a week. docs/benchmarks.md gives the bytes per
sample of each tier.

Each stretch is rewritten in slices of series (about ``slice_rows`` samples each), one short
transaction and one connection per slice, so readers and the scrape job get the file between
slices. A slice is atomic; a crash part-way leaves the stretch partly sorted, and the next run
sorts it again (the data are the same either way). Queries are unaffected: zone maps on ``ts``
still skip whole days, and in sorted stretches zone maps on ``series_id`` skip other series.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from store.connection import scalar, writer
from store.rollups import floor_to, get_state, set_state

DAY = timedelta(days=1)
WEEK = timedelta(days=7)
MONDAY = datetime(1970, 1, 5)


@dataclass
class CompactReport:
    days: int = 0
    weeks: int = 0
    slices: int = 0
    rows: int = 0
    done_until: datetime | None = None
    weeks_done_until: datetime | None = None


def floor_week(ts: datetime) -> datetime:
    return MONDAY + ((ts - MONDAY) // WEEK) * WEEK


def slices(counts: list[tuple[int, int]], slice_rows: int) -> list[tuple[int, int]]:
    """Cut (series_id, rows) in series order into [lo, hi] ranges of about slice_rows rows."""
    out: list[tuple[int, int]] = []
    lo: int | None = None
    acc = 0
    for sid, n in counts:
        if lo is None:
            lo = sid
        acc += n
        if acc >= slice_rows:
            out.append((lo, sid))
            lo, acc = None, 0
    if lo is not None:
        out.append((lo, counts[-1][0]))
    return out


def run(
    path: Path,
    until: datetime,
    *,
    slice_rows: int = 4_000_000,
    max_days: int = 3,
    weeks: bool = True,
    lock_timeout: float | None = None,
) -> CompactReport:
    """Sort whole UTC days before the day of ``until`` (at most max_days per run), then merge
    the next finished week whose days are all sorted (unless ``weeks`` is false)."""
    report = CompactReport()
    end = floor_to(until, DAY)
    for _ in range(max_days):
        stretch = _next(path, "compact", end, DAY, floor_to, lock_timeout)
        if stretch is None:
            break
        report.rows += _sort(path, *stretch, slice_rows, lock_timeout, report)
        _finish(path, "compact", stretch[1], lock_timeout)
        report.days += 1
        report.done_until = stretch[1]
    if not weeks:
        return report
    with writer(path, lock_timeout=lock_timeout) as con:
        days_done = get_state(con, "compact")
    if days_done is not None:
        stretch = _next(path, "compact_week", floor_week(days_done), WEEK, lambda t, _: floor_week(t), lock_timeout)
        if stretch is not None:
            report.rows += _sort(path, *stretch, slice_rows, lock_timeout, report)
            _finish(path, "compact_week", stretch[1], lock_timeout)
            report.weeks += 1
            report.weeks_done_until = stretch[1]
    return report


def _next(
    path: Path,
    name: str,
    end: datetime,
    step: timedelta,
    floor: Callable[[datetime, timedelta], datetime],
    lock_timeout: float | None,
) -> tuple[datetime, datetime] | None:
    """The next stretch [a, a + step) holding samples, not done yet and ending by ``end``."""
    with writer(path, lock_timeout=lock_timeout) as con:
        done = get_state(con, name)
        first = scalar(con, "SELECT min(ts) FROM samples WHERE ts >= ?", [done or datetime(1970, 1, 1)])
    if first is None:
        return None
    a = floor(first, step)
    return (a, a + step) if a + step <= end else None


def _sort(
    path: Path, a: datetime, b: datetime, slice_rows: int, lock_timeout: float | None, report: CompactReport
) -> int:
    with writer(path, lock_timeout=lock_timeout) as con:
        counts = con.execute(
            "SELECT series_id, count(*) FROM samples WHERE ts >= ? AND ts < ? GROUP BY 1 ORDER BY 1", [a, b]
        ).fetchall()
    rank = {int(s): i for i, (s, _) in enumerate(counts)}
    rows = 0
    for lo, hi in slices([(int(s), int(n)) for s, n in counts], slice_rows):
        with writer(path, lock_timeout=lock_timeout) as con:
            rows += _sort_slice(con, a, b, lo, hi, rank[lo] % 2)
        report.slices += 1
    return rows


def _finish(path: Path, name: str, done_until: datetime, lock_timeout: float | None) -> None:
    with writer(path, lock_timeout=lock_timeout) as con:
        set_state(con, name, done_until)
        con.execute("CHECKPOINT")  # write the sorted rows compressed, reclaim the unsorted ones


# Series by series; every other series (by rank within the stretch, so gaps in ids do not
# matter) runs backwards in time. Then each series starts at the time where the previous one
# ended, and the timestamp column's bit-packed deltas at a series boundary need ~25 bits
# instead of ~37 for the jump back across the whole stretch: 1.1 instead of 2.1 bytes per
# sample for the timestamps of a sorted day (measured; docs/benchmarks.md). SQL never relies
# on the physical order of rows.
SORTED = """
INSERT INTO samples
SELECT ts, series_id, value FROM (
    SELECT *, (dense_rank() OVER (ORDER BY series_id) - 1 + $parity) % 2 AS backwards FROM _compact
)
ORDER BY series_id, CASE WHEN backwards = 0 THEN ts END ASC, CASE WHEN backwards = 1 THEN ts END DESC
"""


def _sort_slice(con: duckdb.DuckDBPyConnection, a: datetime, b: datetime, lo: int, hi: int, parity: int) -> int:
    where = "ts >= $a AND ts < $b AND series_id BETWEEN $lo AND $hi"
    params = {"a": a, "b": b, "lo": lo, "hi": hi}
    con.execute("BEGIN")
    try:
        con.execute(f"CREATE TEMP TABLE _compact AS SELECT ts, series_id, value FROM samples WHERE {where}", params)
        con.execute(f"DELETE FROM samples WHERE {where}", params)
        n = scalar(con, SORTED, {"parity": parity})
        con.execute("DROP TABLE _compact")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return int(n or 0)
