"""Every page of the dashboard in AppTest against real stores: key figures present, no
exception or error, no blank chart, and empty states that say what is missing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import PAGES, assert_clean, run_page, texts

App = Callable[[Path], AppTest]


def chart_rows(at: AppTest) -> list[int]:
    """Rows of data behind each chart (the largest layer of each)."""
    out = []
    for chart in at.get("vega_lite_chart"):
        proto = chart.proto  # type: ignore[attr-defined]
        rows = [pa.ipc.open_stream(d.data.data).read_all().num_rows for d in proto.datasets if d.data.data]
        if proto.data.data:
            rows.append(pa.ipc.open_stream(proto.data.data).read_all().num_rows)
        spec = json.loads(proto.spec)
        for layer in [spec, *spec.get("layer", [])]:
            values = layer.get("data", {}).get("values")
            if values:
                rows.append(len(values))
        out.append(max(rows, default=0))
    return out


# What each page must show with the simulated fleet's data.
EXPECTED: dict[str, tuple[str, ...]] = {
    "overview": ("$ / 1M input tokens", "$ / 1M output tokens", "Tokens / s", "GPU-hours", "Idle GPU cost",
                 "$ per 1M tokens over time", "Tokens per second by engine", "Per engine"),
    "bottlenecks": ("memory-bandwidth-bound", "DRAM vs tensor activity", "Verdicts over time", "Decode roofline",
                    "Decode streams weights"),
    "kv_cache": ("KV-cache usage", "Requests waiting", "Preemptions", "Prefix-cache hit rate",
                 "KV capacity known for 7 of 7", "GPU memory (HBM) per GPU", "KV offload tiers", "device"),
    "gpus": ("GPUs 16", "Mean busy", "gpu-node-a", "gpu-node-b", "Every GPU", "Without an engine 2"),
    "chargeback": ("By namespace", "Bill in window", "By model", "Idle GPUs"),
    "cloud": ("Self-hosted vs every API price", "Break-even against one API", "Self-hosted cost in window"),
    "health": ("Targets up 9 of 9", "Targets down 0", "Every GPU reports DRAM, tensor and graphics-engine activity",
               "belong to no scraped engine", "GPU models: spec and price", "Counter resets"),
    "sql": ("Read-only", "per 1M tokens", "economics.sql"),
}  # fmt: skip
CHARTS = {"overview": 2, "bottlenecks": 4, "kv_cache": 6, "gpus": 2, "chargeback": 1, "cloud": 2, "health": 1}


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_live_data(app: App, fleet_config: Path, page: str) -> None:
    at = run_page(app(fleet_config), page)
    assert_clean(at)
    assert at.selectbox(key="filter_namespace").value == "All"  # the entrypoint ran: shared sidebar filters
    shown = texts(at)
    for text in EXPECTED[page]:
        assert text in shown, f"{page}: {text!r} missing"
    assert "Data up to" in shown or page == "sql"
    rows = chart_rows(at)
    assert len(rows) >= CHARTS.get(page, 0), f"{page}: {len(rows)} charts"
    assert all(n > 0 for n in rows), f"{page}: a blank chart ({rows})"
    if page == "overview":
        values = {m.label: m.value for m in at.metric}
        assert values["$ / 1M input tokens"].startswith("$") and values["Tokens / s"] != "–"
        assert float(values["Tokens / s"].replace(",", "")) > 0
    if page == "chargeback":
        assert len(at.get("download_button")) == 2


def test_missing_store_says_how_to_start(app: App, missing_config: Path) -> None:
    at = app(missing_config).run()
    assert_clean(at)
    shown = texts(at)
    assert "No store yet" in shown and "memmoat collect" in shown and "memmoat demo" in shown


@pytest.mark.parametrize("page", PAGES)
def test_empty_store_shows_empty_states(app: App, empty_config: Path, page: str) -> None:
    at = run_page(app(empty_config), page)
    assert_clean(at)
    assert chart_rows(at) == []  # no chart without data
    if page != "sql":
        shown = texts(at)
        assert "No successful scrape yet" in shown
        assert len(at.info) >= 2  # and the page's own empty state says what is missing


def test_missing_profiling_fields_are_named(app: App, degraded_config: Path) -> None:
    at = run_page(app(degraded_config), "health")
    assert_clean(at)
    shown = texts(at)
    assert "16 GPU(s) lack profiling (DCP) fields" in shown
    assert "DCGM_FI_PROF_DRAM_ACTIVE" in shown
    assert "Engines with missing fields" in shown
    frames = [e.value for e in at.dataframe]
    assert any("missing_profiling" in f.columns and "dram_active" in " ".join(f["missing_profiling"]) for f in frames
               if hasattr(f, "columns"))  # fmt: skip
    assert any("kv_capacity_tokens" in " ".join(map(str, f.get("missing", []))) for f in frames if hasattr(f, "get"))


def test_bottlenecks_without_profiling_fields_explain_why(app: App, degraded_config: Path) -> None:
    at = run_page(app(degraded_config), "bottlenecks")
    assert_clean(at)
    shown = texts(at)
    assert "No DCP profiling fields" in shown and "No roofline" in shown
    assert "unknown" in shown and "cannot judge" in shown


def test_unknown_kv_capacity_is_said(app: App, degraded_config: Path) -> None:
    at = run_page(app(degraded_config), "kv_cache")
    assert_clean(at)
    assert "KV capacity unknown for chat-llama70b, rag-llama8b" in texts(at)


def test_config_error_is_shown_not_raised(app: App, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[storage]\npath = 3\n")
    at = app(bad).run()
    assert not at.exception
    assert at.error and "Configuration error" in at.error[0].value and "storage.path" in at.error[0].value
