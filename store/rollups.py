"""1-minute and 1-hour rollups of the canonical views (tables in migrations/0003_rollups.sql).

Each run rolls up whole buckets between where the last run stopped (``maintenance_state``)
and ``until``, which the collector sets to the oldest scrape not yet committed: a bucket is
written once, after every scrape that belongs in it is in the store.

The rollups are aggregates of the canonical views themselves (``gpu_metrics``,
``engine_metrics``, ``gpu_energy_increments``, ``engine_increments``), so they mean exactly
what the views mean, whatever the views become. The views read ``samples``; ``lag()`` in
``counter_increments`` would read the whole table. So, inside the rollup's transaction, a
temporary table named ``samples`` shadows the real one (DuckDB resolves names in the temp
schema first) and holds only the window plus, for every series the increments read, its last
sample before the window (``rollup_seed``). The views then compute over a few minutes of data
with the same results as over all of it: no increment is lost at a window edge or across an
outage, none is counted twice. Hourly rollups are sums and maxima of the minutes; hourly
averages weigh each minute by its scrapes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from store.connection import scalar, writer
from store.migrate import utcnow

GPU_KEYS = ("target", "uuid", "gpu_instance", "namespace", "pod", "container")
GPU_ATTRS = ("cluster", "hostname", "gpu", "gpu_model", "mig_profile")
GPU_GAUGES = (
    "dram_active", "tensor_active", "gr_engine_active", "sm_active", "gpu_util", "mem_copy_util",
    "fb_used_bytes", "fb_free_bytes", "power_w", "sm_clock_mhz", "gpu_temp_c", "sm_occupancy",
    "pcie_tx_bytes_per_s", "pcie_rx_bytes_per_s",
)  # fmt: skip
GPU_SUMS = ("energy_j",)

ENGINE_KEYS = ("target", "engine")
ENGINE_ATTRS = ("cluster", "model", "namespace", "pod", "hostname")
ENGINE_GAUGES = (
    "kv_usage", "requests_running", "requests_waiting", "requests_swapped", "kv_used_tokens",
    "kv_capacity_config_tokens", "kv_capacity_gauge_tokens", "kv_capacity_tokens",
)  # fmt: skip
ENGINE_SUMS = (
    "prompt_tokens", "generation_tokens", "cached_prompt_tokens", "prefix_cache_queries", "preemptions",
    "requests_finished", "prefill_seconds", "decode_seconds", "ttft_seconds_sum", "ttft_count",
    "itl_seconds_sum", "itl_count", "e2e_seconds_sum", "e2e_count", "queue_seconds_sum", "queue_count",
)  # fmt: skip

MAX_WINDOW = timedelta(hours=1)  # a catch-up holds the file for at most this much data at a time
MAX_WINDOWS_PER_RUN = 24

# Series whose previous sample counter_increments needs: counters and histograms, the _created
# lines that tell a restart, and the process start time.
SEEDED = """
    SELECT series_id FROM series
    WHERE canonical IS NOT NULL
      AND (mtype IN ('counter', 'histogram') OR part = 'created' OR canonical = 'process_start')
"""


@dataclass
class RollupReport:
    minutes: int = 0
    hours: int = 0
    done_until_1m: datetime | None = None
    done_until_1h: datetime | None = None


def floor_to(ts: datetime, step: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1)
    return epoch + ((ts - epoch) // step) * step


def get_state(con: duckdb.DuckDBPyConnection, name: str) -> datetime | None:
    return scalar(con, "SELECT done_until FROM maintenance_state WHERE name = ?", [name])  # type: ignore[no-any-return]


def set_state(con: duckdb.DuckDBPyConnection, name: str, done_until: datetime) -> None:
    con.execute("INSERT OR REPLACE INTO maintenance_state VALUES (?, ?, ?)", [name, done_until, utcnow()])


def _first_at_or_after(con: duckdb.DuckDBPyConnection, table: str, after: datetime | None) -> datetime | None:
    """First timestamp at or after ``after`` (skips empty stretches, e.g. a long outage)."""
    return scalar(con, f"SELECT min(ts) FROM {table} WHERE ts >= ?", [after or datetime(1970, 1, 1)])  # type: ignore[no-any-return]


def run(path: Path, until: datetime, *, lock_timeout: float | None = None) -> RollupReport:
    """Roll up every whole minute before ``until``, then every whole hour of those minutes."""
    report = RollupReport()
    minute, hour = timedelta(minutes=1), timedelta(hours=1)
    end_1m = floor_to(until, minute)
    with writer(path, lock_timeout=lock_timeout) as con:
        for _ in range(MAX_WINDOWS_PER_RUN):
            start = _first_at_or_after(con, "samples", get_state(con, "rollup_1m"))
            if start is None or floor_to(start, minute) >= end_1m:
                break
            a = floor_to(start, minute)
            b = min(end_1m, a + MAX_WINDOW)
            _in_transaction(con, _minutes, a, b)
            report.minutes += int((b - a) / minute)
        report.done_until_1m = get_state(con, "rollup_1m")
        if report.done_until_1m is None:
            return report
        end_1h = floor_to(report.done_until_1m, hour)
        for _ in range(MAX_WINDOWS_PER_RUN):
            done = get_state(con, "rollup_1h")
            firsts = [t for t in (_first_at_or_after(con, f"{e}_rollup_1m", done) for e in ("gpu", "engine")) if t]
            if not firsts or floor_to(min(firsts), hour) >= end_1h:
                break
            a = floor_to(min(firsts), hour)
            b = min(end_1h, a + 24 * hour)
            _in_transaction(con, _hours, a, b)
            report.hours += int((b - a) / hour)
        report.done_until_1h = get_state(con, "rollup_1h")
    return report


def _in_transaction(
    con: duckdb.DuckDBPyConnection,
    fn: Callable[[duckdb.DuckDBPyConnection, datetime, datetime], None],
    a: datetime,
    b: datetime,
) -> None:
    con.execute("BEGIN")
    try:
        fn(con, a, b)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


# -- 1-minute rollups from the views over one window of raw samples ------------------------------


def _gauges(gauges: tuple[str, ...]) -> str:
    return ", ".join(f"avg(m.{g}) AS {g}_avg, max(m.{g}) AS {g}_max" for g in gauges)


GPU_MINUTES = f"""
INSERT INTO gpu_rollup_1m BY NAME
SELECT time_bucket(INTERVAL 1 minute, m.ts) AS ts, {", ".join(f"m.{k}" for k in GPU_KEYS)},
       {", ".join(f"max(m.{a}) AS {a}" for a in GPU_ATTRS)}, count(*) AS scrapes, {_gauges(GPU_GAUGES)},
       sum(e.energy_j) AS energy_j, count(*) FILTER (WHERE e.reset) AS resets
FROM gpu_metrics m
LEFT JOIN gpu_energy_increments e
  ON e.ts = m.ts AND e.target = m.target AND e.uuid IS NOT DISTINCT FROM m.uuid
 AND e.gpu_instance IS NOT DISTINCT FROM m.gpu_instance
WHERE m.ts >= $a AND m.ts < $b
GROUP BY ALL
"""

ENGINE_MINUTES = f"""
INSERT INTO engine_rollup_1m BY NAME
SELECT time_bucket(INTERVAL 1 minute, m.ts) AS ts, {", ".join(f"m.{k}" for k in ENGINE_KEYS)},
       {", ".join(f"max(m.{a}) AS {a}" for a in ENGINE_ATTRS)}, count(*) AS scrapes, {_gauges(ENGINE_GAUGES)},
       {", ".join(f"sum(e.{s}) AS {s}" for s in ENGINE_SUMS)}, count(*) FILTER (WHERE e.reset) AS resets
FROM engine_metrics m
LEFT JOIN engine_increments e ON e.ts = m.ts AND e.target = m.target AND e.engine = m.engine
WHERE m.ts >= $a AND m.ts < $b
GROUP BY ALL
"""


def _minutes(con: duckdb.DuckDBPyConnection, a: datetime, b: datetime) -> None:
    db = scalar(con, "SELECT current_database()")
    params = {"a": a, "b": b}
    con.execute(
        f"""CREATE TEMP TABLE samples AS
        SELECT ts, series_id, value FROM "{db}".main.samples WHERE ts >= $a AND ts < $b
        UNION ALL SELECT ts, series_id, value FROM rollup_seed""",
        params,
    )
    try:
        con.execute(GPU_MINUTES, params)
        con.execute(ENGINE_MINUTES, params)
        # The next window's seeds: each seeded series' last sample so far (an absent target's
        # seed is carried over as it is).
        con.execute("DELETE FROM rollup_seed")
        con.execute(
            f"""INSERT INTO rollup_seed
            SELECT series_id, max(ts), arg_max(value, ts) FROM temp.samples
            WHERE series_id IN ({SEEDED}) GROUP BY series_id"""
        )
    finally:
        try:
            con.execute("DROP TABLE temp.samples")
        except duckdb.Error:
            pass  # the transaction failed: its rollback removes the table

    set_state(con, "rollup_1m", b)


# -- 1-hour rollups from 1-minute rollups --------------------------------------------------------


def _hour_sql(
    table: str, keys: tuple[str, ...], attrs: tuple[str, ...], gauges: tuple[str, ...], sums: tuple[str, ...]
) -> str:
    cols = ["time_bucket(INTERVAL 1 hour, ts) AS ts", *keys, *(f"max({a}) AS {a}" for a in attrs)]
    cols.append("sum(scrapes) AS scrapes")
    for g in gauges:  # weighted by scrapes; minutes without the gauge do not count
        weighted = f"sum({g}_avg * scrapes) / sum(scrapes) FILTER (WHERE {g}_avg IS NOT NULL)"
        cols.append(f"{weighted} AS {g}_avg, max({g}_max) AS {g}_max")
    cols += [f"sum({s}) AS {s}" for s in sums]
    cols.append("sum(resets) AS resets")
    select = ", ".join(cols)
    return f"INSERT INTO {table}_1h BY NAME SELECT {select} FROM {table}_1m WHERE ts >= $a AND ts < $b GROUP BY ALL"


GPU_HOURS = _hour_sql("gpu_rollup", GPU_KEYS, GPU_ATTRS, GPU_GAUGES, GPU_SUMS)
ENGINE_HOURS = _hour_sql("engine_rollup", ENGINE_KEYS, ENGINE_ATTRS, ENGINE_GAUGES, ENGINE_SUMS)


def _hours(con: duckdb.DuckDBPyConnection, a: datetime, b: datetime) -> None:
    con.execute(GPU_HOURS, {"a": a, "b": b})
    con.execute(ENGINE_HOURS, {"a": a, "b": b})
    set_state(con, "rollup_1h", b)
