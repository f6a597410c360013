"""The write path: one short transaction per scrape round, Arrow batches, no executemany."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from store.connection import translate, writer
from store.migrate import migrate, utcnow

_MAP = pa.map_(pa.string(), pa.string())

SERIES_SCHEMA = pa.schema([
    ("series_id", pa.int32()), ("target", pa.string()), ("series_key", pa.string()),
    ("metric", pa.string()), ("family", pa.string()), ("labels", _MAP), ("group_key", pa.string()),
    ("canonical", pa.string()), ("entity", pa.string()), ("mtype", pa.string()), ("part", pa.string()),
    ("scale", pa.float64()), ("priority", pa.int32()), ("le", pa.float64()), ("cluster", pa.string()),
    ("hostname", pa.string()), ("gpu", pa.int32()), ("uuid", pa.string()), ("gpu_model", pa.string()),
    ("gpu_instance", pa.string()), ("mig_profile", pa.string()), ("namespace", pa.string()),
    ("pod", pa.string()), ("container", pa.string()), ("vgpu", pa.string()), ("engine", pa.string()),
    ("model", pa.string()), ("first_seen", pa.timestamp("us")),
])  # fmt: skip

SCRAPE_SCHEMA = pa.schema([
    ("target", pa.string()), ("started_at", pa.timestamp("us")), ("duration_s", pa.float64()),
    ("bytes", pa.int64()), ("samples", pa.int32()), ("new_series", pa.int32()), ("issues", pa.int32()),
    ("error", pa.string()), ("error_line", pa.int32()),
])  # fmt: skip


class BatchLike(Protocol):
    target: str
    ts: datetime
    series_ids: list[int]
    values: list[float]
    new_series: list[tuple[object, ...]]

    def scrape_row(self) -> tuple[object, ...]: ...


def _series_table(rows: Sequence[tuple[object, ...]]) -> pa.Table:
    cols = list(zip(*rows, strict=True)) if rows else [[] for _ in SERIES_SCHEMA]
    arrays = []
    for field, col in zip(SERIES_SCHEMA, cols, strict=True):
        if field.name == "labels":
            col = [list(m.items()) for m in col]  # type: ignore[attr-defined]
        arrays.append(pa.array(col, type=field.type))
    return pa.Table.from_arrays(arrays, schema=SERIES_SCHEMA)


def sample_table(batches: Sequence[BatchLike]) -> pa.Table:
    ts_parts, id_parts, value_parts = [], [], []
    for b in batches:
        n = len(b.values)
        if not n:
            continue
        ts_parts.append(pa.array([b.ts], pa.timestamp("us")).take(pa.array([0] * n)))
        id_parts.append(pa.array(b.series_ids, pa.int32()))
        value_parts.append(pa.array(b.values, pa.float64()))
    if not ts_parts:
        return pa.table({"ts": pa.array([], pa.timestamp("us")), "series_id": pa.array([], pa.int32()),
                         "value": pa.array([], pa.float64())})
    return pa.table({
        "ts": pa.concat_arrays(ts_parts),
        "series_id": pa.concat_arrays(id_parts),
        "value": pa.concat_arrays(value_parts),
    })  # fmt: skip


def ensure_schema(path: Path) -> int:
    with writer(path) as con:
        return migrate(con)


def load_registry(path: Path) -> tuple[dict[tuple[str, str], int], int]:
    """Known (target, series_key) -> series_id, and the next free id."""
    if not path.exists():
        return {}, 1
    with writer(path) as con:
        migrate(con)
        rows = con.execute("SELECT target, series_key, series_id FROM series").fetchall()
    known = {(t, k): int(i) for t, k, i in rows}
    return known, (max(known.values()) + 1 if known else 1)


def write_batches(con: duckdb.DuckDBPyConnection, batches: Sequence[BatchLike]) -> int:
    """Append batches in the caller's transaction. Returns the number of samples written."""
    new_series = [row for b in batches for row in b.new_series]
    samples = sample_table(batches)
    scrapes = pa.Table.from_pylist(
        [dict(zip(SCRAPE_SCHEMA.names, b.scrape_row(), strict=True)) for b in batches], schema=SCRAPE_SCHEMA
    )
    if new_series:
        series_tbl = _series_table(new_series)
        con.register("_new_series", series_tbl)
        con.execute("INSERT OR IGNORE INTO series SELECT * FROM _new_series")
        con.unregister("_new_series")
    if samples.num_rows:
        con.register("_samples", samples)
        con.execute("INSERT INTO samples SELECT * FROM _samples")
        con.unregister("_samples")
    con.register("_scrapes", scrapes)
    con.execute("INSERT INTO scrapes SELECT * FROM _scrapes")
    con.unregister("_scrapes")
    return int(samples.num_rows)


def _already_written(con: duckdb.DuckDBPyConnection, batch: BatchLike) -> bool:
    """A replayed round whose commit landed before a crash is recognised by its scrape row."""
    row = con.execute(
        "SELECT count(*) FROM scrapes WHERE target = ? AND started_at = ?", [batch.target, batch.ts]
    ).fetchall()[0]
    return bool(row and row[0])


def commit_batches(path: Path, batches: Sequence[BatchLike], *, attempts: int = 40) -> int:
    """Open the file, append all batches in one transaction, close. Raises StoreError."""
    with writer(path, attempts=attempts) as con:
        try:
            con.execute("BEGIN")
            if batches and _already_written(con, batches[0]):
                con.execute("ROLLBACK")
                return 0
            n = write_batches(con, batches)
            con.execute("COMMIT")
        except duckdb.Error as exc:
            try:
                con.execute("ROLLBACK")
            except duckdb.Error:
                pass
            raise translate(exc, path) from exc
    return n


def upsert_targets(path: Path, targets: Sequence[Any], detected: dict[str, str]) -> None:
    now = utcnow()
    rows = [
        {
            "name": t.name, "url": t.url, "kind": t.kind, "detected": detected.get(t.name),
            "cluster": t.cluster, "labels": list(t.labels.items()), "hostname": t.hostname,
            "gpu_indices": list(t.gpu_indices), "updated_at": now,
        }
        for t in targets
    ]  # fmt: skip
    schema = pa.schema([
        ("name", pa.string()), ("url", pa.string()), ("kind", pa.string()), ("detected", pa.string()),
        ("cluster", pa.string()), ("labels", _MAP), ("hostname", pa.string()),
        ("gpu_indices", pa.list_(pa.int32())), ("updated_at", pa.timestamp("us")),
    ])  # fmt: skip
    tbl = pa.Table.from_pylist(rows, schema=schema)
    with writer(path) as con:
        con.register("_targets", tbl)
        con.execute("INSERT OR REPLACE INTO targets SELECT * FROM _targets")
        con.unregister("_targets")


def to_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=str)
