"""Filters live in the URL (shareable links), survive page switches, and narrow every query;
query results are cached so that many viewers cause one query per refresh."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import data
from dashboard.filters import Filters, from_query
from tests.dashboard.conftest import assert_clean, run_page, texts

App = Callable[[Path], AppTest]


def test_filters_from_a_link(app: App, fleet_config: Path) -> None:
    at = app(fleet_config)
    at.query_params.update({"range": "6h", "namespace": "chat"})
    at.run()
    assert_clean(at)
    assert at.session_state["filter_range"] == "6h" and at.session_state["filter_namespace"] == "chat"
    assert "last 6 hours · namespace **chat**" in texts(at)
    engines = next(e.value for e in at.dataframe if "group" in e.value.columns)
    assert set(engines["namespace"]) == {"chat"} and len(engines) == 1
    assert at.query_params["range"] == "6h" and at.query_params["namespace"] == "chat"


def test_changing_a_filter_updates_the_url_and_survives_a_page_switch(app: App, fleet_config: Path) -> None:
    at = app(fleet_config).run()
    assert "namespace" not in at.query_params
    at.selectbox(key="filter_namespace").set_value("rag").run()
    at.segmented_control(key="filter_range").set_value("15m").run()
    assert_clean(at)
    assert at.query_params["namespace"] == "rag" and at.query_params["range"] == "15m"
    at.switch_page("views/kv_cache.py").run()
    assert_clean(at)
    assert at.query_params["namespace"] == "rag" and at.query_params["range"] == "15m"
    summary = next(e.value for e in at.dataframe if "kv_capacity_tokens" in e.value.columns)
    assert set(summary["namespace"]) == {"rag"}
    at.selectbox(key="filter_namespace").set_value("All").run()
    assert "namespace" not in at.query_params


def test_a_link_to_a_namespace_without_data_keeps_it_and_says_so(app: App, fleet_config: Path) -> None:
    at = app(fleet_config)
    at.query_params.update({"namespace": "nobody", "range": "bogus"})
    at.run()
    assert_clean(at)
    assert at.session_state["filter_namespace"] == "nobody" and at.session_state["filter_range"] == "1h"
    assert "No engine served tokens in this window for these filters" in texts(at)


@pytest.mark.parametrize("page", ["gpus", "health", "bottlenecks", "cloud", "chargeback"])
def test_filters_apply_on_every_page(app: App, fleet_config: Path, page: str) -> None:
    at = app(fleet_config)
    at.query_params.update({"namespace": "code", "model": "Qwen/Qwen2.5-32B-Instruct"})
    run_page(at, page)
    assert_clean(at)
    frames = [e.value for e in at.dataframe if hasattr(e.value, "columns")]
    for f in frames:
        if "namespace" in f.columns and page not in ("health", "chargeback"):
            assert set(f["namespace"].dropna()) <= {"code"}, (page, f)


def test_filters_model() -> None:
    f = from_query({"range": "24h", "cluster": "sim"})
    assert f == Filters(range="24h", cluster="sim")
    assert f.window() == {"start": "-24h", "end": "now"}
    assert f.window(86400) == {"start": "-172800s", "end": "-86400s"}
    assert f.as_query() == {"range": "24h", "cluster": "sim"}
    assert Filters().as_query() == {}
    assert Filters(range="15m").bucket_s(5) == 10 and Filters(range="7d").bucket_s(15) == 7200
    assert Filters(range="1h").bucket_s(60) == 60


def test_many_viewers_cause_one_query_per_refresh(
    app: App, fleet_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
    real = data.run_named

    def counting(store: Path, name: str, given: dict[str, str] | None = None, **kw: object) -> object:
        calls[(name, tuple(sorted((given or {}).items())))] += 1
        return real(store, name, given, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(data, "run_named", counting)
    # The refresh slot is fixed for the test: every session falls into the same one.
    monkeypatch.setattr(data, "_slot", lambda: 1)
    data.clear_cache()
    sessions = [app(fleet_config) for _ in range(4)]
    for at in sessions:
        at.run()
        assert_clean(at)
    assert calls, "no query ran"
    assert max(calls.values()) == 1, calls.most_common(3)  # four viewers, one query each
    # The next refresh slot queries again, once.
    monkeypatch.setattr(data, "_slot", lambda: 2)
    for at in sessions:
        at.run()
    assert max(calls.values()) == 2, calls.most_common(3)
    data.clear_cache()
