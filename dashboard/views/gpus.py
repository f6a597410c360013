"""GPUs: activity, power, memory and temperature per node and GPU over time, and a table of
every GPU with the engine that holds it.

Queries: dash_gpu_timeseries, dash_gpu_summary.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import charts, data, filters

GIB = 1024**3
# column -> (button label, axis title with unit, number format, fixed top of the axis)
METRICS: dict[str, tuple[str, str, str, float | None]] = {
    "gr_engine_active": ("Busy", "Graphics engine active (% of time)", ".0%", 1.0),
    "dram_active": ("DRAM", "DRAM active (% of peak HBM bandwidth)", ".0%", 1.0),
    "tensor_active": ("Tensor", "Tensor pipe active (% of cycles)", ".0%", 1.0),
    "gpu_util": ("GPU_UTIL", "GPU_UTIL (% of time a kernel ran)", ".0%", 1.0),
    "power_w": ("Power", "Power (W)", ",.0f", None),
    "fb_used_gib": ("HBM used", "HBM used (GiB)", ",.0f", None),
    "gpu_temp_c": ("Temperature", "Temperature (°C)", ",.0f", None),
}


def render() -> None:
    charts.header("GPUs", "How busy is each GPU, node by node?")
    data.live(body)


def body() -> None:
    f = filters.current()
    s = data.settings()
    charts.freshness()
    summary = data.named("dash_gpu_summary", f.window(), f)
    if not len(summary):
        charts.empty(
            "No GPU reported in this window" + (" for these filters." if f.chosen() else "."),
            'Add a dcgm-exporter target (kind = "dcgm") to the settings, or widen the range. GPUs are matched to '
            "namespaces and models through dcgm's pod labels or the engine target's hostname + gpu_indices.",
        )
        return
    cards(summary)
    metric = st.segmented_control(
        "Metric", list(METRICS), format_func=lambda m: METRICS[m][0], default="gr_engine_active", required=True,
        key="gpus_metric",
    )  # fmt: skip
    metric = metric or "gr_engine_active"
    bucket = f.bucket_s(s.collector.interval_seconds)
    series = data.named("dash_gpu_timeseries", {**f.window(), "bucket_s": bucket}, f)
    series = series.assign(fb_used_gib=series["fb_used_bytes"] / GIB)
    _, title, fmt, top = METRICS[metric]
    nodes = sorted(series["hostname"].dropna().unique())
    if not nodes:
        charts.empty("No GPU samples in this window.")
    cols = st.columns(2, gap="large") if len(nodes) > 1 else [st.container()]
    for i, node in enumerate(nodes):
        with cols[i % len(cols)]:
            node_chart(series[series["hostname"] == node], node, metric, title, fmt, top, f)
    st.caption(f"One line per GPU, one point per {bucket} s (mean). Legend: GPU index and the engine that holds it.")
    st.subheader("Every GPU")
    table(summary)


def cards(summary: pd.DataFrame) -> None:
    busy = summary["gr_engine_active"].fillna(summary["gpu_util"])
    idle = summary[summary["engine_target"].isna()]
    c = st.columns(4)
    c[0].metric("GPUs", f"{len(summary)}", help="GPUs seen in the window for the filters in view.", border=True)
    c[1].metric(
        "Mean busy", charts.pct(busy.mean()),
        help="Graphics engine active (DCGM_FI_PROF_GR_ENGINE_ACTIVE), else GPU_UTIL, averaged over GPUs.", border=True,
    )  # fmt: skip
    c[2].metric("Mean power", charts.number(summary["power_w"].sum() / 1000, 1, "kW"),
                help="Mean power over the window, summed over GPUs.", border=True)  # fmt: skip
    c[3].metric(
        "Without an engine", f"{len(idle)}",
        help="GPUs no engine holds (no pod label and no target's hostname + gpu_indices names them).", border=True,
    )  # fmt: skip


def node_chart(
    frame: pd.DataFrame, node: str, metric: str, title: str, fmt: str, top: float | None, f: filters.Filters
) -> None:
    st.markdown(f"**{node}** · {frame['gpu_model'].dropna().iloc[0] if frame['gpu_model'].notna().any() else ''}")
    d = frame.dropna(subset=[metric])
    if not len(d):
        charts.empty(
            f"{node} reports no {METRICS[metric][0]} field.",
            "Profiling (DCP) fields need the DCGM profiling module; the Health page lists the missing fields.",
        )
        return
    d = d.assign(
        series=d["gpu"].astype("Int64").astype(str).radd("GPU ")
        + " · "
        + charts.labels(d["engine_target"], "no engine")
    )
    charts.show(
        charts.timeseries(d, y=metric, y_title=title, seconds=f.seconds, color="series", color_title="GPU",
                          fmt=fmt, y_max=top, height=230, legend_columns=2,
                          extra_tooltip=[alt.Tooltip("model:N", title="Model"),
                                         alt.Tooltip("namespace:N", title="Namespace")])
    )  # fmt: skip


def table(summary: pd.DataFrame) -> None:
    view = summary.assign(
        fb_used_gib=summary["fb_used_bytes"] / GIB,
        fb_total_gib=(summary["fb_used_bytes"].fillna(0) + summary["fb_free_bytes"].fillna(0)
                      + summary["fb_reserved_bytes"].fillna(0)) / GIB,
        engine_target=charts.labels(summary["engine_target"], "— none —"),
    )  # fmt: skip
    st.dataframe(
        view[["gpu_label", "gpu_model", "engine_target", "namespace", "gr_engine_active", "dram_active",
              "tensor_active", "power_w", "energy_kwh", "fb_used_gib", "fb_total_gib", "uuid"]],
        hide_index=True,
        height=charts.table_height(len(view)),
        column_config={
            "gpu_label": "GPU", "gpu_model": "Model", "engine_target": "Engine", "namespace": "Namespace",
            "gr_engine_active": st.column_config.ProgressColumn("Busy", format="percent", min_value=0, max_value=1),
            "dram_active": st.column_config.ProgressColumn("DRAM", format="percent", min_value=0, max_value=1),
            "tensor_active": st.column_config.ProgressColumn("Tensor", format="percent", min_value=0, max_value=1),
            "power_w": st.column_config.NumberColumn("Power (W)", format="%.0f"),
            "energy_kwh": st.column_config.NumberColumn("Energy (kWh)", format="%.3f"),
            "fb_used_gib": st.column_config.NumberColumn("HBM used (GiB)", format="%.1f"),
            "fb_total_gib": st.column_config.NumberColumn("HBM total (GiB)", format="%.0f"),
            "uuid": "UUID",
        },
    )  # fmt: skip


if __name__ == "__main__":
    render()
