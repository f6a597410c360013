"""Run named queries and free SQL on short read-only connections."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from memmoat.errors import QueryError, StoreError
from queries import loader, params
from store.connection import reader

# Readers never touch files or the network beyond the store itself.
READER_CONFIG = {"enable_external_access": "false"}


@dataclass
class Result:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool = False
    params: dict[str, object] = field(default_factory=dict)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.rows, columns=self.columns)


def _execute(
    con: duckdb.DuckDBPyConnection, sql: str, values: dict[str, object] | None, limit: int | None, timeout: float | None
) -> Result:
    timer: threading.Timer | None = None
    if timeout:
        timer = threading.Timer(timeout, con.interrupt)
        timer.start()
    try:
        cur = con.execute(sql, values or {})
        columns = [d[0] for d in cur.description or []]
        if limit is None:
            rows = cur.fetchall()
            truncated = False
        else:
            rows = cur.fetchmany(limit + 1)
            truncated = len(rows) > limit
            rows = rows[:limit]
    except duckdb.InterruptException:
        raise QueryError(f"query stopped after {timeout:g} s", hint="narrow the time window or add a LIMIT") from None
    except duckdb.Error as exc:
        raise QueryError(f"{type(exc).__name__}: {exc}") from None
    finally:
        if timer:
            timer.cancel()
    return Result(columns, [tuple(r) for r in rows], truncated)


def run_named(
    store: Path,
    name: str,
    given: dict[str, str] | None = None,
    *,
    now: datetime | None = None,
    limit: int | None = None,
    timeout: float | None = 60.0,
) -> Result:
    query = loader.get(name)
    values = params.bind(query, given or {}, now)
    with reader(store, config=READER_CONFIG) as con:
        try:
            res = _execute(con, query.sql, values, limit, timeout)
        except QueryError as exc:
            raise QueryError(f"{query.file}:{query.line} ({name}): {exc.message}", hint=exc.hint) from None
    res.params = values
    return res


def run_sql(store: Path, sql: str, *, limit: int | None = 10_000, timeout: float | None = 30.0) -> Result:
    from queries.safety import check_sql

    check_sql(sql)
    with reader(store, config=READER_CONFIG) as con:
        return _execute(con, sql, None, limit, timeout)


def store_ready(store: Path) -> bool:
    try:
        with reader(store, config=READER_CONFIG, attempts=5) as con:
            row = con.execute("SELECT count(*) FROM samples").fetchall()[0]
            return bool(row and row[0])
    except StoreError:
        return False
