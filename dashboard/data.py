"""Cached access to named queries for the dashboard.

Results are cached for a few seconds per (query, parameters), so any number of viewers
cause one query per refresh, and no database connection outlives a query.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from memmoat import config as cfg
from queries.runner import run_named


@st.cache_resource
def settings() -> cfg.Settings:
    return cfg.load()


@st.cache_data(ttl=5, show_spinner=False)
def named(store: str, name: str, params: tuple[tuple[str, str], ...] = ()) -> pd.DataFrame:
    return run_named(Path(store), name, dict(params)).frame()
