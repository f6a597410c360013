"""Bytes per stored sample: as ingested, after the daily compaction, after the weekly one.

One simulated day (15 s interval) of a small fleet, 2 nodes x 8 GPUs and 2 vLLM engines,
goes through the collector's ingest path into a store, committed a quarter hour at a time;
the WAL is checkpointed as the collector does (every 2 MB). Then ``store.compact`` sorts the
day. A week needs seven days: the simulated day is repeated six more times with timestamps
shifted by whole days and counters carried on (each day continues from the previous day's
last value), and the week is compacted. Bytes are the blocks the file frees when the samples
table is dropped, over the rows it held.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bench.pages import START, rounds
from bench.util import samples_bytes
from collector.ingest import Batch, Ingestor
from store import compact
from store.connection import writer
from store.writer import commit_rounds, prepare

DAY_ROUNDS = 24 * 60 * 4
COUNTER_TYPES = ("counter", "histogram")


@dataclass
class StorageResult:
    series: int
    samples_per_day: int
    as_ingested: float
    day_compacted: float
    week_compacted: float
    compact_day_s: float
    compact_week_s: float


def run(*, nodes: int = 2, engines: int = 2, day_rounds: int = DAY_ROUNDS, days: int = 7) -> StorageResult:
    start = START.replace(tzinfo=None)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "storage.duckdb"
        prepare(path)
        ingestor = Ingestor()
        group: list[tuple[int, list[Batch]]] = []
        for i, (ts, pages) in enumerate(rounds(nodes, engines, day_rounds)):
            group.append((i, [ingestor.ingest(target, ts, text) for target, text in pages]))
            if len(group) == 60 or i == day_rounds - 1:
                commit_rounds(path, group, lambda seq, n: None)
                group = []
        n_day, as_ingested = samples_bytes(path)
        t0 = time.perf_counter()
        compact.run(path, start + timedelta(days=1), weeks=False)
        compact_day = time.perf_counter() - t0
        _, day_compacted = samples_bytes(path)
        _repeat_day(path, start, days)
        compact.run(path, start + timedelta(days=days), max_days=days, weeks=False)  # the other days
        t0 = time.perf_counter()
        report = compact.run(path, start + timedelta(days=days))  # nothing left but the week
        compact_week = time.perf_counter() - t0
        assert report.weeks == 1 or days < 7, report
        _, week_compacted = samples_bytes(path)
        with writer(path) as con:
            series = int(con.execute("SELECT count(*) FROM series").fetchall()[0][0])
    return StorageResult(series, n_day, as_ingested, day_compacted, week_compacted, compact_day, compact_week)


def _repeat_day(path: Path, start: object, days: int) -> None:
    """Days 2..n: day 1 again, a day later each time; counters go on from where they were."""
    with writer(path) as con:
        con.execute(
            """CREATE TEMP TABLE _span AS
            SELECT s.series_id, arg_max(s.value, s.ts) - arg_min(s.value, s.ts) AS span,
                   se.mtype IN ('counter', 'histogram') AND coalesce(se.part, '') <> 'created' AS counter
            FROM samples s JOIN series se USING (series_id) GROUP BY ALL"""
        )
        for d in range(1, days):
            con.execute(
                f"""INSERT INTO samples
                SELECT s.ts + INTERVAL {d} DAY, s.series_id,
                       CASE WHEN p.counter THEN s.value + {d} * (p.span + 1) ELSE s.value END
                FROM samples s JOIN _span p USING (series_id)
                WHERE s.ts < ? ORDER BY s.ts, s.series_id""",
                [start + timedelta(days=1)],  # type: ignore[operator]
            )
        con.execute("DROP TABLE _span")
