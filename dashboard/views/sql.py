"""SQL: run any named query with its parameters, or free SQL, read-only.

Free SQL is checked by ``queries.safety.check_sql`` (no writes, DDL, ATTACH, COPY, file or URL
reads, extension installs) and then runs on a read-only connection with external access off,
a row limit and a timeout (``[dashboard] sql_row_limit`` / ``sql_timeout_seconds``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import streamlit as st

from dashboard import charts, data, filters
from memmoat.errors import MemmoatError
from queries import loader
from queries.runner import Result

EXAMPLE = """-- Mean DRAM activity per GPU over the last 15 minutes (times are UTC)
SELECT hostname, gpu, round(avg(dram_active), 3) AS dram_active, round(avg(power_w)) AS power_w
FROM gpu_metrics
WHERE ts > now() AT TIME ZONE 'UTC' - INTERVAL 15 MINUTE
GROUP BY ALL
ORDER BY ALL"""

RELATIONS = """
**Raw**: `samples(ts, series_id, value)`, `series` (one row per scraped series, with its canonical column and
GPU/engine attributes), `targets`, `scrapes` (every scrape and its error).
**Canonical views**: `gpu_metrics` (one row per GPU per scrape), `engine_metrics` (per engine per scrape),
`engine_increments`, `engine_histogram_increments`, `gpu_energy_increments`, `counter_increments`
(reset-safe counter increments), `scrape_health`.
**Rollups**: `gpu_rollup_1m`/`_1h`, `engine_rollup_1m`/`_1h`.
**Reference** (from the settings): `gpu_specs`, `gpu_models`, `gpu_prices`, `api_prices`, `price_settings`,
`diagnosis_thresholds`. **Table macros**: `engine_increments_between(t0, t1)`, `gpu_intervals_between(t0, t1)`,
`gpu_slots_between(t0, t1, NULL)`, `engine_costs_between(t0, t1, bucket_s, NULL)`.
"""


def render() -> None:
    charts.header("SQL", "Ask the store directly, read-only")
    s = data.settings()
    st.caption(
        f":material/lock: Read-only · at most {s.dashboard.sql_row_limit:,} rows · stopped after "
        f"{s.dashboard.sql_timeout_seconds:g} s · no writes, DDL, ATTACH, COPY, file or URL reads, or extensions"
    )
    named_tab, free_tab = st.tabs(["Named query", "Free SQL"])
    with named_tab:
        named_query()
    with free_tab:
        free_sql()
    with st.expander("Tables, views and macros", icon=":material/table_view:"):
        st.markdown(RELATIONS)


def named_query() -> None:
    catalog = loader.catalog()
    names = sorted(catalog)
    if "sql_named" not in st.session_state:  # a link may name the query: /sql?query=chargeback
        wanted = st.query_params.get("query")
        st.session_state["sql_named"] = wanted if wanted in catalog else "cost_per_token"
    name = st.selectbox(
        "Query", names, key="sql_named", help="The same named queries as `memmoat query NAME` (queries/named/*.sql)."
    )
    if name is None:
        return
    st.query_params["query"] = name
    q = catalog[name]
    st.markdown(f"{charts.md(q.description)}  \n`{q.file}:{q.line}`")
    window = filters.current().window()
    values: dict[str, str] = {}
    if q.params:
        cols = st.columns(min(3, len(q.params)))
        for i, p in enumerate(q.params):
            default = window.get(p.name, p.default or "") if p.type == "TIMESTAMP" else (p.default or "")
            values[p.name] = cols[i % len(cols)].text_input(
                f"{p.name} ({p.type})", value=default, help=p.help or None, key=f"sqlp_{name}_{p.name}"
            )
    else:
        st.caption("This query has no parameters.")
    if st.button("Run query", key="sql_run_named", type="primary", icon=":material/play_arrow:"):
        run_and_keep("sql_named_result", lambda: data.run_named_once(name, {k: v for k, v in values.items() if v}))
    show_kept("sql_named_result", f"memmoat-{name}")


def free_sql() -> None:
    if "sql_text" not in st.session_state:
        st.session_state["sql_text"] = EXAMPLE
    text = st.text_area("SQL (DuckDB dialect, one statement)", key="sql_text", height=180)
    if st.button("Run SQL", key="sql_run", type="primary", icon=":material/play_arrow:"):
        run_and_keep("sql_free_result", lambda: data.free_sql(text or ""))
    show_kept("sql_free_result", "memmoat-sql")


def run_and_keep(key: str, run: Callable[[], Result]) -> None:
    """Run, and keep the outcome (result or error) in the session so it survives reruns."""
    t0 = time.perf_counter()
    result: Result | MemmoatError
    try:
        result = run()
    except MemmoatError as exc:
        result = exc
    st.session_state[key] = (result, time.perf_counter() - t0)


def show_kept(key: str, file_stem: str) -> None:
    kept = st.session_state.get(key)
    if not kept:
        return
    result, seconds = kept
    if isinstance(result, MemmoatError):
        data.show_error(result)
        return
    frame = result.frame()
    note = f"{len(frame):,} row(s) in {seconds * 1000:,.0f} ms"
    if result.truncated:
        note += f" · **stopped at the row limit ({len(frame):,})**: add a LIMIT or narrow the query"
    st.caption(note)
    if len(frame.columns):
        st.dataframe(frame, hide_index=True)
        st.download_button(
            "Download CSV", frame.to_csv(index=False), mime="text/csv", icon=":material/download:",
            file_name=f"{file_stem}-{datetime.now(UTC):%Y%m%dT%H%MZ}.csv", key=f"{key}_csv", on_click="ignore",
        )  # fmt: skip


if __name__ == "__main__":
    render()
