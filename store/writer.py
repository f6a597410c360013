"""The write path: one short transaction per scrape round, Arrow batches, no executemany."""

from __future__ import annotations

import json
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from store.connection import scalar, translate, writer
from store.migrate import migrate, utcnow

SERIES_CHUNK = 4096
_EPOCH = datetime(1970, 1, 1)
_MICRO = timedelta(microseconds=1)
_TS = pa.timestamp("us")


class BatchLike(Protocol):
    target: str
    ts: datetime
    series_ids: list[int]
    values: list[float]
    new_series: list[tuple[object, ...]]

    def scrape_row(self) -> tuple[object, ...]: ...


def sample_table(batches: Sequence[BatchLike]) -> pa.Table:
    """All samples of some batches as three Arrow columns.

    Built from typed ``array`` buffers (one C-level conversion per list, no per-element
    Python calls) and handed to Arrow without a copy. ``pa.array`` on Python lists would
    also import pandas into the collector, some 50 MB of resident memory."""
    ts, ids, values = array("q"), array("i"), array("d")
    for b in batches:
        n = len(b.values)
        if not n:
            continue
        ts.extend(array("q", [_micros(b.ts)]) * n)
        ids.extend(b.series_ids)
        values.extend(b.values)
    return pa.Table.from_arrays(
        [_arrow(_TS, ts), _arrow(pa.int32(), ids), _arrow(pa.float64(), values)], names=["ts", "series_id", "value"]
    )


def _arrow(kind: pa.DataType, data: array) -> pa.Array:  # type: ignore[type-arg]
    return pa.Array.from_buffers(kind, len(data), [None, pa.py_buffer(data)])


def _micros(ts: datetime) -> int:
    return (ts - _EPOCH) // _MICRO


def ensure_schema(path: Path) -> int:
    with writer(path) as con:
        return migrate(con)


@dataclass
class Registry:
    """What the collector must know before it can hand out series ids."""

    known: dict[tuple[str, str], int]
    next_id: int
    last_scrape: datetime | None  # the newest scrape time in the store


def _registry(con: duckdb.DuckDBPyConnection) -> Registry:
    rows = con.execute("SELECT target, series_key, series_id FROM series").fetchall()
    known = {(t, k): int(i) for t, k, i in rows}
    last = scalar(con, "SELECT max(started_at) FROM scrapes")
    return Registry(known, max(known.values()) + 1 if known else 1, last)


def prepare(path: Path, *, attempts: int = 40, lock_timeout: float | None = None) -> Registry:
    """Create or migrate the schema and read the series registry, on one connection."""
    with writer(path, attempts=attempts, lock_timeout=lock_timeout) as con:
        migrate(con)
        return _registry(con)


def load_registry(path: Path) -> tuple[dict[tuple[str, str], int], int]:
    """Known (target, series_key) -> series_id, and the next free id."""
    if not path.exists():
        return {}, 1
    reg = prepare(path)
    return reg.known, reg.next_id


def write_batches(con: duckdb.DuckDBPyConnection, batches: Sequence[BatchLike], *, series: bool = True) -> int:
    """Append batches in the caller's transaction. Returns the number of samples written.

    Samples go in as one Arrow batch. Series and scrape rows (few, with MAP and NULL
    columns) go through DuckDB's appender; new series through a staging table, so a series
    already stored is skipped rather than an error. ``series=False``: the caller has
    registered the new series already."""
    samples = sample_table(batches)
    if series:
        _register(con, [row for b in batches for row in b.new_series])
    if samples.num_rows:
        con.register("_samples", samples)
        try:
            con.execute("INSERT INTO samples SELECT * FROM _samples")
        finally:
            con.unregister("_samples")
    with con.appender("scrapes") as app:
        app.append_rows([b.scrape_row() for b in batches])
    return int(samples.num_rows)


def _register(con: duckdb.DuckDBPyConnection, rows: list[tuple[object, ...]]) -> None:
    if not rows:
        return
    con.execute("CREATE TEMP TABLE IF NOT EXISTS _new_series AS SELECT * FROM series LIMIT 0")
    with con.appender("_new_series") as app:
        app.append_rows(rows)
    con.execute("INSERT OR IGNORE INTO series SELECT * FROM _new_series")
    con.execute("DELETE FROM _new_series")


def _register_bulk(con: duckdb.DuckDBPyConnection, rows: list[tuple[object, ...]]) -> None:
    """A first scrape of a fleet registers tens of thousands of series. Held in one open
    transaction they cost DuckDB ~3 kB each (rows, two indexes, undo); committed and
    checkpointed a chunk at a time they cost little. A series without samples yet is
    harmless, and a replayed round registers its series again as a no-op."""
    for i in range(0, len(rows), SERIES_CHUNK):
        con.execute("BEGIN")
        _register(con, rows[i : i + SERIES_CHUNK])
        con.execute("COMMIT")
        con.execute("CHECKPOINT")


def _already_written(con: duckdb.DuckDBPyConnection, batch: BatchLike) -> bool:
    """A replayed round whose commit landed before a crash is recognised by its scrape row."""
    sql = "SELECT count(*) FROM scrapes WHERE target = ? AND started_at = ?"
    return bool(scalar(con, sql, [batch.target, batch.ts]))


def _commit_one(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    batches: Sequence[BatchLike],
    before: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> int:
    try:
        con.execute("BEGIN")
        if before is not None:
            before(con)
        if batches and _already_written(con, batches[0]):
            con.execute("ROLLBACK")
            return 0
        new_series = [row for b in batches for row in b.new_series]
        bulk = len(new_series) > SERIES_CHUNK
        if bulk:
            con.execute("COMMIT")
            _register_bulk(con, new_series)
            con.execute("BEGIN")
        n = write_batches(con, batches, series=not bulk)
        con.execute("COMMIT")
    except duckdb.Error as exc:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass
        raise translate(exc, path) from exc
    return n


def commit_batches(
    path: Path,
    batches: Sequence[BatchLike],
    *,
    attempts: int = 40,
    before: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> int:
    """Open the file, append all batches in one transaction, close. Raises StoreError.

    ``before`` runs first inside the transaction (backfill uses it to align series ids).
    """
    with writer(path, attempts=attempts) as con:
        return _commit_one(con, path, batches, before)


def commit_rounds(
    path: Path,
    rounds: Iterable[tuple[int, Sequence[BatchLike]]],
    on_committed: Callable[[int, int], None],
    *,
    targets: Sequence[Any] = (),
    detected: dict[str, str] | None = None,
    attempts: int = 40,
    lock_timeout: float | None = None,
) -> int:
    """Commit rounds oldest first, each in its own transaction, on one connection.

    ``on_committed(seq, samples)`` runs after each commit (the spool deletes the round), so a failure
    part-way leaves exactly the uncommitted rounds waiting. ``rounds`` is consumed lazily.
    Returns the number of samples written; raises StoreError.
    """
    written = 0
    with writer(path, attempts=attempts, lock_timeout=lock_timeout) as con:
        if targets:
            write_targets(con, targets, detected or {})
        for seq, batches in rounds:
            n = _commit_one(con, path, batches)
            written += n
            on_committed(seq, n)
    return written


def write_targets(con: duckdb.DuckDBPyConnection, targets: Sequence[Any], detected: dict[str, str]) -> None:
    now = utcnow()
    rows = [
        (t.name, t.url, t.kind, detected.get(t.name), t.cluster, dict(t.labels), t.hostname, list(t.gpu_indices), now)
        for t in targets
    ]
    con.execute("CREATE TEMP TABLE IF NOT EXISTS _targets AS SELECT * FROM targets LIMIT 0")
    with con.appender("_targets") as app:
        app.append_rows(rows)
    con.execute("INSERT OR REPLACE INTO targets SELECT * FROM _targets")
    con.execute("DELETE FROM _targets")


def upsert_targets(path: Path, targets: Sequence[Any], detected: dict[str, str]) -> None:
    with writer(path) as con:
        write_targets(con, targets, detected)


def to_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=str)
