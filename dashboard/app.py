"""memmoat dashboard: live cost per token and what holds the GPUs back.

Run by ``memmoat dashboard`` / ``memmoat demo`` (``streamlit run dashboard/app.py``) with
``MEMMOAT_CONFIG`` naming the settings file. Each page is a small script in ``views/`` (not
``pages/``: a folder of that name puts Streamlit in its older multipage mode beside
``st.navigation``, and AppTest then reruns pages without this entrypoint). The filters in the
sidebar are shared and live in the URL (see filters.py). Pages read the store only through
named queries (data.py), one short read-only connection per query.
"""

from __future__ import annotations

import streamlit as st

from dashboard import charts, data, filters
from memmoat.errors import MemmoatError

st.set_page_config(page_title="memmoat", page_icon=":material/memory:", layout="wide", initial_sidebar_state="expanded")

PAGES = {
    "Cost": [
        st.Page("views/overview.py", title="Overview", icon=":material/paid:", default=True),
        st.Page("views/chargeback.py", title="Chargeback", icon=":material/receipt_long:"),
        st.Page("views/cloud.py", title="Cloud comparison", icon=":material/cloud:"),
    ],
    "Performance": [
        st.Page("views/bottlenecks.py", title="Bottlenecks", icon=":material/speed:"),
        st.Page("views/kv_cache.py", title="KV cache and memory", icon=":material/memory:"),
        st.Page("views/gpus.py", title="GPUs", icon=":material/developer_board:"),
    ],
    "Operations": [
        st.Page("views/health.py", title="Health and data quality", icon=":material/monitor_heart:"),
        st.Page("views/sql.py", title="SQL", icon=":material/terminal:"),
    ],
}


def filter_options() -> dict[str, list[str]]:
    """Known clusters, namespaces and models; none when the store cannot be read yet."""
    try:
        dims = data.named("dash_dimensions")
    except MemmoatError:
        return {}
    return {d: sorted(dims.loc[dims["dim"] == d, "value"].astype(str)) for d in filters.DIMS}


def wait_for_store(path: str) -> None:
    """Empty state before the first scrape: says how to start collecting, reloads by itself."""
    st.title("memmoat")
    charts.empty(
        f"No store yet at {path}.",
        "Start collecting with `memmoat collect` (or try everything on a simulated fleet with "
        "`memmoat demo`); check `storage.path` in the settings. This page reloads by itself "
        "as soon as the first scrape is written.",
    )

    @st.fragment(run_every=data.refresh_seconds())
    def poll() -> None:
        if data.store_path().exists():
            st.rerun(scope="app")

    poll()


STYLE = """<style>
[data-testid="stMainBlockContainer"] { padding-top: 2.2rem; }
[data-testid="stAppDeployButton"] { display: none; }
[data-testid="stMetricValue"] { font-size: 1.9rem; }
</style>"""


def main() -> None:
    page = st.navigation(PAGES)
    st.html(STYLE)
    try:
        settings = data.settings()
    except MemmoatError as exc:
        data.show_error(exc)
        return
    with st.sidebar:
        st.caption("Filters")
    filters.sidebar(filter_options())
    with st.sidebar:
        st.caption(
            f"Pages refresh every {settings.dashboard.refresh_seconds:g} s. "
            "The filters are part of the address: copy it to share this view."
        )
    if page.url_path != "sql" and "query" in st.query_params:
        del st.query_params["query"]  # the SQL page's own link parameter
    if not settings.store_path.exists():
        wait_for_store(str(settings.store_path))
        return
    page.run()


main()
