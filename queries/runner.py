"""Run named queries and free SQL on short read-only connections.

Every connection is prepared the same way (:func:`prepare`): the reference relations of
queries/reference.py (gpu_specs, gpu_models, gpu_prices, api_prices, price_settings,
diagnosis_thresholds) are registered from the Settings in use, and the table macros of
queries/economics.sql are created, so named queries and ``--sql`` see the same names.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from memmoat import config
from memmoat.errors import QueryError, StoreError
from queries import loader, params, reference
from store.connection import reader

# Readers never touch files or the network beyond the store, nor Python variables by name.
READER_CONFIG = {"enable_external_access": "false", "python_enable_replacements": "false"}


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


@cache
def _macros() -> str:
    return resources.files("queries").joinpath("economics.sql").read_text(encoding="utf-8")


def _settings(settings: config.Settings | None) -> config.Settings:
    """The Settings to price with: the caller's, else the file config.load() finds
    (MEMMOAT_CONFIG or ./memmoat.toml), else the built-in defaults."""
    return settings if settings is not None else config.load()


def prepare(con: duckdb.DuckDBPyConnection, settings: config.Settings) -> None:
    """Register the reference relations and create the economics macros on ``con``."""
    try:
        observed = [
            r[0] for r in con.execute("SELECT DISTINCT gpu_model FROM series WHERE gpu_model IS NOT NULL").fetchall()
        ]
    except duckdb.Error as exc:
        raise QueryError(f"the store has no series table: {exc}", hint="run `memmoat collect --once` first") from None
    for rel, table in reference.relations(settings, observed).items():
        con.register(rel, table)
    try:
        con.execute(_macros())
    except duckdb.Error as exc:
        raise QueryError(
            f"cannot prepare the economics macros (queries/economics.sql): {exc}",
            hint="the store may predate the current schema; run the collector once to migrate it",
        ) from None


def run_named(
    store: Path,
    name: str,
    given: dict[str, str] | None = None,
    *,
    now: datetime | None = None,
    limit: int | None = None,
    timeout: float | None = 60.0,
    settings: config.Settings | None = None,
) -> Result:
    query = loader.get(name)
    values = params.bind(query, given or {}, now)
    settings = _settings(settings)
    with reader(store, config=READER_CONFIG) as con:
        prepare(con, settings)
        try:
            res = _execute(con, query.sql, values, limit, timeout)
        except QueryError as exc:
            raise QueryError(f"{query.file}:{query.line} ({name}): {exc.message}", hint=exc.hint) from None
    res.params = values
    return res


def run_sql(
    store: Path,
    sql: str,
    *,
    limit: int | None = 10_000,
    timeout: float | None = 30.0,
    settings: config.Settings | None = None,
) -> Result:
    from queries.safety import check_sql

    check_sql(sql)
    settings = _settings(settings)
    with reader(store, config=READER_CONFIG) as con:
        prepare(con, settings)
        return _execute(con, sql, None, limit, timeout)


def store_ready(store: Path) -> bool:
    try:
        with reader(store, config=READER_CONFIG, attempts=5) as con:
            row = con.execute("SELECT count(*) FROM samples").fetchall()[0]
            return bool(row and row[0])
    except StoreError:
        return False
