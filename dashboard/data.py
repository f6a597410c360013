"""Everything the dashboard reads, through ``queries`` only, and how it shows failures.

* No database connection outlives a query: ``queries.runner`` opens a read-only connection
  per query and closes it, so the collector keeps writing however many people watch.
* Results are cached per (query, parameters, refresh slot): the clock is cut into slots of
  ``dashboard.refresh_seconds``, and every viewer who refreshes within one slot gets the
  result of the first one. N viewers cause one query per refresh, not N.
* Errors are ``MemmoatError``s shown with ``st.error`` (title and message, never a
  traceback); a missing store is an empty state that says how to create one.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from memmoat import config as cfg
from memmoat.errors import MemmoatError, StoreMissingError
from queries import loader
from queries.runner import Result, run_named, run_sql

if TYPE_CHECKING:
    from dashboard.filters import Filters

# Cached results live at most this long; the refresh slot (below) decides when they are stale.
CACHE_TTL_SECONDS = 120
FILTER_DIMS = ("cluster", "namespace", "model")


# -- settings -----------------------------------------------------------------------------


@st.cache_resource(show_spinner=False, max_entries=8)
def _load_settings(path: str, mtime: float) -> cfg.Settings:
    return cfg.load(path, must_exist=True) if path else cfg.Settings()


def _config_key() -> tuple[str, float]:
    """The settings file in use and its modification time (an edited file is read again)."""
    p = cfg.config_path()
    if p.exists():
        return str(p.resolve()), p.stat().st_mtime
    if cfg.ENV_PATH in os.environ:
        cfg.load(must_exist=True)  # raises ConfigError naming the missing file
    return "", 0.0


def settings() -> cfg.Settings:
    return _load_settings(*_config_key())


def store_path() -> Path:
    return settings().store_path


def refresh_seconds() -> float:
    try:
        return float(settings().dashboard.refresh_seconds)
    except MemmoatError:
        return 15.0


def _slot() -> int:
    return int(time.time() // max(1.0, refresh_seconds()))


# -- named queries ------------------------------------------------------------------------


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False, max_entries=2000)
def _cached(
    store: str, config_key: tuple[str, float], name: str, params: tuple[tuple[str, str], ...], slot: int
) -> pd.DataFrame:
    return tidy(run_named(Path(store), name, dict(params), settings=_load_settings(*config_key)).frame())


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Numeric columns as numbers: a column of numbers with NULLs (or of NULLs only) comes back as
    Python objects, on which arithmetic fails; here it becomes floats with NaN."""
    for col in frame.columns:
        if frame[col].dtype != object:
            continue
        values = frame[col].dropna()
        if not len(values) or all(isinstance(v, (int, float, Decimal)) and not isinstance(v, bool) for v in values):
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    return frame


def named(name: str, params: Mapping[str, object] | None = None, filters: Filters | None = None) -> pd.DataFrame:
    """The result of a named query, cached for the current refresh slot.

    ``filters`` adds the cluster/namespace/model parameters the query declares; for those it
    does not declare, rows are filtered on the column of that name where the result has one.
    """
    query = loader.get(name)
    declared = {p.name for p in query.params}
    given = {k: str(v) for k, v in (params or {}).items() if v is not None}
    unknown = set(given) - declared
    if unknown:  # a bug in a page, not a user error: fail loudly in tests
        raise ValueError(f"{name} has no parameter(s) {sorted(unknown)}")
    post: dict[str, str] = {}
    if filters is not None:
        for dim, value in filters.chosen().items():
            if dim in declared:  # a LIKE pattern in the query: match this value exactly
                given[dim] = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            else:
                post[dim] = value
    key = _config_key()
    store = str(_load_settings(*key).store_path)
    frame = _cached(store, key, name, tuple(sorted(given.items())), _slot())
    for dim, value in post.items():
        if dim in frame.columns:
            frame = frame[frame[dim] == value]
        elif "target" in frame.columns:  # an engine's cluster/namespace/model, by its target
            labels = _cached(store, key, "dash_target_labels", (), _slot())
            keep = set(labels.loc[labels[dim] == value, "target"])
            frame = frame[frame["target"].isin(keep)]
        else:
            frame = frame.iloc[0:0]  # cannot tell which rows match: show none rather than all
    return frame.reset_index(drop=True)


def run_named_once(name: str, params: Mapping[str, str]) -> Result:
    """A named query as the SQL page runs it: uncached, with the page's row limit and timeout."""
    s = settings()
    return run_named(
        s.store_path, name, dict(params), limit=s.dashboard.sql_row_limit,
        timeout=s.dashboard.sql_timeout_seconds, settings=s,
    )  # fmt: skip


def free_sql(sql: str) -> Result:
    """Free SQL: refused by queries.safety unless read-only, then run read-only with limits."""
    s = settings()
    return run_sql(
        s.store_path, sql, limit=s.dashboard.sql_row_limit, timeout=s.dashboard.sql_timeout_seconds, settings=s
    )


def clear_cache() -> None:
    _cached.clear()  # type: ignore[attr-defined]


# -- showing failures ---------------------------------------------------------------------


def show_error(exc: MemmoatError) -> None:
    if isinstance(exc, StoreMissingError):
        hint = f"  \n{exc.hint}" if exc.hint else ""
        st.info(f"**No data yet.** {exc.message}.{hint}", icon=":material/hourglass_empty:")
    else:
        st.error(f"**{exc.title}**: {exc}")


@contextmanager
def shown_errors() -> Iterator[None]:
    """Show a MemmoatError raised inside the block where the block's output would be, and go on."""
    try:
        yield
    except MemmoatError as exc:
        show_error(exc)


def live(body: Callable[[], None]) -> None:
    """Run ``body`` as a fragment that reruns itself every ``dashboard.refresh_seconds``."""

    def fragment() -> None:
        with shown_errors():
            body()

    fragment.__qualname__ = f"live.{getattr(body, '__module__', '')}.{body.__qualname__}"
    st.fragment(run_every=refresh_seconds())(fragment)()


# -- small helpers for frames -------------------------------------------------------------


def num(value: object) -> float | None:
    """A number from a cell, None for NULL/NaN/missing."""
    if value is None:
        return None
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def first(frame: pd.DataFrame) -> dict[str, object]:
    return {str(k): v for k, v in frame.iloc[0].to_dict().items()} if len(frame) else {}
