"""Bottlenecks: a verdict per engine with its evidence and a recommendation, DRAM vs tensor
activity against the [diagnosis] thresholds, the verdicts over time, and the decode roofline.

Queries: diagnosis (whole window, and per bucket), roofline.
"""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from dashboard import charts, data, filters
from dashboard.data import num

VERDICT_COLORS = {
    "KV-capacity-bound": "red",
    "memory-bandwidth-bound": "orange",
    "compute-bound": "violet",
    "under-utilized": "blue",
    "idle cost": "gray",
    "no bottleneck": "green",
    "unknown": "gray",
}
VERDICT_HEX = {
    "KV-capacity-bound": "#d62728",
    "memory-bandwidth-bound": "#ff7f0e",
    "compute-bound": "#9467bd",
    "under-utilized": "#1f77b4",
    "idle cost": "#7f7f7f",
    "no bottleneck": "#2ca02c",
    "unknown": "#bcbd22",
}
VERDICT_ICONS = {
    "KV-capacity-bound": ":material/memory:",
    "memory-bandwidth-bound": ":material/swap_vert:",
    "compute-bound": ":material/function:",
    "under-utilized": ":material/hourglass_empty:",
    "idle cost": ":material/money_off:",
    "no bottleneck": ":material/check_circle:",
    "unknown": ":material/help:",
}


def render() -> None:
    charts.header("Bottlenecks", "What holds each engine back, and what to do about it?")
    data.live(body)


def body() -> None:
    f = filters.current()
    charts.freshness()
    verdicts = data.named("diagnosis", f.window(), f)
    if not len(verdicts):
        charts.empty(
            "Nothing to judge in this window" + (" for these filters." if f.chosen() else "."),
            "A verdict needs an engine's token counters and the dcgm GPUs it runs on. Widen the time range, "
            "clear the filters, or check the Health page.",
        )
        return
    summary(verdicts)
    cards(verdicts)
    st.divider()
    left, right = st.columns(2, gap="large")
    with left:
        st.subheader("DRAM vs tensor activity")
        activity_scatter(verdicts)
    with right:
        st.subheader("Verdicts over time")
        timeline(f)
    st.divider()
    st.subheader("Decode roofline")
    roofline(f)


def summary(verdicts: pd.DataFrame) -> None:
    counts = verdicts["verdict"].value_counts()
    st.markdown(
        " ".join(
            f":{VERDICT_COLORS.get(str(v), 'gray')}-badge[{VERDICT_ICONS.get(str(v), '')} {n} × {v}]"
            for v, n in counts.items()
        )
    )


def cards(verdicts: pd.DataFrame) -> None:
    order = {v: i for i, v in enumerate(VERDICT_HEX)}
    engines = verdicts[verdicts["verdict"] != "idle cost"].copy()
    engines = engines.assign(_o=engines["verdict"].map(order).fillna(99)).sort_values(["_o", "subject"])
    idle = verdicts[verdicts["verdict"] == "idle cost"]
    per_row = 3
    rows = [r for _, r in engines.iterrows()]
    for i in range(0, len(rows), per_row):
        cols = st.columns(per_row)
        for col, r in zip(cols, rows[i : i + per_row], strict=False):
            with col.container(border=True):
                verdict = str(r["verdict"])
                st.markdown(f"**{r['subject']}**")
                st.caption(f"{r.get('model') or 'model unknown'} · {r.get('namespace') or 'no namespace'} · "
                           f"{r.get('gpu_models') or 'no GPU matched'}")  # fmt: skip
                color = VERDICT_COLORS.get(verdict, "gray")
                st.badge(verdict, icon=VERDICT_ICONS.get(verdict), color=color)  # type: ignore[arg-type]
                st.markdown(f":material/analytics: {charts.md(r['evidence'])}")
                st.markdown(f":material/lightbulb: {charts.md(r['recommendation'])}")
                cost = charts.md(charts.usd(r.get("usd_per_1m_tokens")))
                st.caption(
                    f"Busy **{charts.pct(r.get('busy'))}** · DRAM **{charts.pct(r.get('dram_active'))}** · "
                    f"Tensor **{charts.pct(r.get('tensor_active'))}** · "
                    f"KV peak **{charts.pct(r.get('kv_usage_max'))}** · "
                    f"{charts.number(r.get('tokens_per_s'))} tokens/s · {cost} per 1M"
                )
    if len(idle):
        with st.expander(f"{len(idle)} GPU(s) serve no engine: idle cost", icon=":material/money_off:"):
            st.dataframe(
                idle[["subject", "gpu_models", "evidence", "recommendation", "cost_usd"]],
                hide_index=True,
                column_config={
                    "subject": "GPU", "gpu_models": "Model", "evidence": "Evidence",
                    "recommendation": "Recommendation",
                    "cost_usd": st.column_config.NumberColumn("Cost in window", format="$%.2f"),
                },
            )  # fmt: skip


def activity_scatter(verdicts: pd.DataFrame) -> None:
    t = data.settings().diagnosis
    pts = verdicts[verdicts["dram_active"].notna() & verdicts["tensor_active"].notna()].copy()
    if not len(pts):
        charts.empty(
            "No DCP profiling fields (DRAM and tensor activity) for these engines.",
            "Enable DCGM_FI_PROF_DRAM_ACTIVE and DCGM_FI_PROF_PIPE_TENSOR_ACTIVE in dcgm-exporter's counters CSV; "
            "the Health page lists the GPUs that lack them.",
        )
        return
    pts["gpus"] = pts["gpus"].fillna(1.0)
    top = max(1.0, float(pts[["dram_active", "tensor_active"]].max().max()) + 0.05)
    x = alt.X(
        "tensor_active:Q",
        title="Tensor pipe active (% of cycles)",
        axis=alt.Axis(format=".0%"),
        scale=alt.Scale(domain=[0, top]),
    )
    y = alt.Y("dram_active:Q", title="DRAM active (% of peak HBM bandwidth)", axis=alt.Axis(format=".0%"),
              scale=alt.Scale(domain=[0, top]))  # fmt: skip
    n = int(pts["target"].nunique())
    points = (
        alt.Chart(pts)
        .mark_point(filled=True, opacity=0.9, stroke="white", strokeWidth=1)
        .encode(
            x=x, y=y,
            color=alt.Color("target:N", legend=charts.legend("Engine"), scale=alt.Scale(scheme="tableau10")),
            size=alt.Size("gpus:Q", title="GPUs", scale=alt.Scale(range=[90, 500]), legend=None),
            tooltip=[alt.Tooltip("subject:N", title="Engine"), alt.Tooltip("verdict:N", title="Verdict"),
                     alt.Tooltip("dram_active:Q", title="DRAM active", format=".0%"),
                     alt.Tooltip("tensor_active:Q", title="Tensor active", format=".0%"),
                     alt.Tooltip("busy:Q", title="Busy", format=".0%"),
                     alt.Tooltip("gpus:Q", title="GPUs", format=".1f")],
        )
    )  # fmt: skip
    chart = (
        points
        + charts.threshold(t.bandwidth_high, f"bandwidth-bound ≥ {t.bandwidth_high:.0%}",
                           "DRAM active (% of peak HBM bandwidth)")
        + charts.threshold(t.compute_high, f"compute-bound ≥ {t.compute_high:.0%}", "Tensor pipe active (% of cycles)",
                           axis="x")
    )  # fmt: skip
    charts.show(chart.properties(height=charts.total_height(300, n)))
    st.caption(
        "One point per engine (size: GPUs), averaged over its GPUs and the window; hover for its verdict. Dashed "
        "lines: the [diagnosis] thresholds. High DRAM with low tensor activity is typical of decode; the reverse, "
        "of prefill."
    )


def timeline(f: filters.Filters) -> None:
    minutes = max(1, f.bucket_s(data.settings().collector.interval_seconds) * 2 // 60)
    rows = data.named("diagnosis", {**f.window(), "bucket_minutes": minutes}, f)
    rows = rows[rows["verdict"] != "idle cost"]
    if not len(rows):
        charts.empty("No verdicts per bucket in this window yet.")
        return
    rows = charts.utc(rows.rename(columns={"bucket_start": "ts"}))
    rows["end"] = pd.to_datetime(rows["bucket_end"]).dt.tz_localize("UTC")
    chart = (
        alt.Chart(rows)
        .mark_bar()
        .encode(
            x=charts.time_x(f.seconds),
            x2="end:T",
            y=alt.Y("subject:N", title="Engine", axis=alt.Axis(labelLimit=220, labelOverlap=False)),
            color=alt.Color("verdict:N", legend=charts.legend("Verdict", 2),
                            scale=alt.Scale(domain=list(VERDICT_HEX), range=list(VERDICT_HEX.values()))),
            tooltip=[alt.Tooltip("time_utc:N", title="From (UTC)"), alt.Tooltip("subject:N", title="Engine"),
                     alt.Tooltip("verdict:N", title="Verdict"), alt.Tooltip("evidence:N", title="Evidence")],
        )
        .properties(height=charts.total_height(max(80, 30 * rows["subject"].nunique()), rows["verdict"].nunique(), 2))
    )  # fmt: skip
    charts.show(chart)
    st.caption(f"Each engine judged per {minutes} min bucket with the same rules.")


def roofline(f: filters.Filters) -> None:
    roof = data.named("roofline", f.window(), f)
    roof = roof[roof["achieved_tflops"].notna() & roof["achieved_bw_gbps"].notna() & roof["peak_bw_gbps"].notna()]
    if not len(roof):
        charts.empty(
            "No roofline: it needs DRAM and tensor activity from dcgm-exporter (DCP fields) and the GPU's peak "
            "bandwidth and compute from queries/reference/gpu_specs.csv.",
            "The Health page lists GPUs without DCP fields; the SQL page's gpu_models query shows which GPU "
            "models found no spec.",
        )
        return
    left, right = st.columns(2, gap="large")
    with left:
        roofline_chart(roof)
    with right:
        decode_chart(roof)
    st.dataframe(
        roof[["target", "model", "gpu_models", "gpus", "achieved_bw_gbps", "peak_bw_gbps", "bw_utilization",
              "achieved_tflops", "peak_tflops", "compute_utilization", "generation_tokens_per_s",
              "tokens_per_s_at_peak_bw", "flop_per_byte", "ridge_flop_per_byte"]],
        hide_index=True,
        column_config={
            "target": "Engine", "model": "Model", "gpu_models": "GPUs",
            "gpus": st.column_config.NumberColumn("GPU count", format="%.1f"),
            "achieved_bw_gbps": st.column_config.NumberColumn("HBM GB/s", format="%.0f"),
            "peak_bw_gbps": st.column_config.NumberColumn("Peak GB/s", format="%.0f"),
            "bw_utilization": st.column_config.ProgressColumn("Bandwidth used", format="percent", min_value=0,
                                                              max_value=1),
            "achieved_tflops": st.column_config.NumberColumn("TFLOPS", format="%.0f"),
            "peak_tflops": st.column_config.NumberColumn("Peak TFLOPS", format="%.0f"),
            "compute_utilization": st.column_config.ProgressColumn("Compute used", format="percent", min_value=0,
                                                                   max_value=1),
            "generation_tokens_per_s": st.column_config.NumberColumn("Decode tok/s", format="%.0f"),
            "tokens_per_s_at_peak_bw": st.column_config.NumberColumn("Decode tok/s at peak BW", format="%.0f"),
            "flop_per_byte": st.column_config.NumberColumn("FLOP/byte", format="%.0f"),
            "ridge_flop_per_byte": st.column_config.NumberColumn("Ridge FLOP/byte", format="%.0f"),
        },
    )  # fmt: skip


def roofline_chart(roof: pd.DataFrame) -> None:
    """Per GPU: attainable TFLOPS = min(peak compute, peak bandwidth x FLOP/byte), and each engine on it."""
    pts = roof.copy()
    g = pts["gpus"].where(pts["gpus"] > 0, 1.0)
    pts["tflops_per_gpu"] = pts["achieved_tflops"] / g
    pts = pts[(pts["flop_per_byte"] > 0) & (pts["tflops_per_gpu"] > 0)]
    if not len(pts):
        charts.empty("No engine did measurable work in this window.")
        return
    lo = 10 ** math.floor(math.log10(max(0.1, float(pts["flop_per_byte"].min()) / 3)))
    hi = 10 ** math.ceil(math.log10(float(pts["flop_per_byte"].max()) * 3))
    xs = np.logspace(math.log10(lo), math.log10(hi), 60)
    roofs = []
    for model, grp in pts.groupby("gpu_models"):
        r = grp.iloc[0]
        bw = float(r["peak_bw_gbps"]) / float(g.loc[grp.index[0]])
        peak = num(r["peak_tflops"])
        peak_per_gpu = peak / float(g.loc[grp.index[0]]) if peak else None
        for x in xs:
            y = bw * x / 1000.0
            roofs.append({"flop_per_byte": x, "tflops": min(y, peak_per_gpu) if peak_per_gpu else y, "gpu": model})
    roof_df = pd.DataFrame(roofs)
    xenc = alt.X(
        "flop_per_byte:Q",
        title="Arithmetic intensity (FLOP per byte of HBM traffic)",
        scale=alt.Scale(type="log", domain=[lo, hi]),
    )
    lines = alt.Chart(roof_df).mark_line(strokeDash=[4, 3], strokeWidth=1.5, color="#777").encode(
        x=xenc, y=alt.Y("tflops:Q", title="TFLOPS per GPU", scale=alt.Scale(type="log")), detail="gpu:N",
        tooltip=[alt.Tooltip("gpu:N", title="Roof of")],
    )  # fmt: skip
    ends = roof_df.sort_values("flop_per_byte").groupby("gpu").tail(1).assign(name=lambda d: d["gpu"] + " roof")
    names = (
        alt.Chart(ends)
        .mark_text(align="right", dx=-2, dy=-7, fontSize=10, color="#555")
        .encode(x=xenc, y=alt.Y("tflops:Q"), text="name:N")
    )
    dots = alt.Chart(pts).mark_circle(size=130, opacity=0.9, stroke="white", strokeWidth=1).encode(
        x=xenc, y=alt.Y("tflops_per_gpu:Q", title="TFLOPS per GPU"),
        color=alt.Color("target:N", legend=charts.legend("Engine"), scale=alt.Scale(scheme="tableau10")),
        tooltip=[alt.Tooltip("target:N", title="Engine"),
                 alt.Tooltip("flop_per_byte:Q", title="FLOP/byte", format=",.0f"),
                 alt.Tooltip("tflops_per_gpu:Q", title="TFLOPS per GPU", format=",.1f"),
                 alt.Tooltip("bw_utilization:Q", title="Bandwidth used", format=".0%")],
    )  # fmt: skip
    n = int(pts["target"].nunique())
    charts.show((lines + names + dots).properties(height=charts.total_height(280, n)))
    st.caption(
        "Left of a roof's bend an engine is bandwidth-limited: more tokens need more bytes per second (batching, "
        "quantized weights and KV), not more FLOPS."
    )


def decode_chart(roof: pd.DataFrame) -> None:
    bars = roof[["target", "generation_tokens_per_s", "tokens_per_s_at_peak_bw"]].rename(
        columns={"generation_tokens_per_s": "achieved", "tokens_per_s_at_peak_bw": "at peak HBM bandwidth"}
    )
    long = bars.melt(id_vars="target", var_name="decode rate", value_name="tokens_per_s").dropna()
    if not len(long):
        charts.empty("No decode tokens in this window.")
        return
    chart = (
        alt.Chart(long)
        .mark_bar()
        .encode(
            y=alt.Y("target:N", title="Engine", axis=alt.Axis(labelLimit=220)),
            yOffset="decode rate:N",
            x=alt.X("tokens_per_s:Q", title="Output tokens / s", axis=alt.Axis(format=",.0f")),
            color=alt.Color("decode rate:N", legend=charts.legend("Decode rate"),
                            scale=alt.Scale(range=["#4c78a8", "#c6dbef"])),
            tooltip=[alt.Tooltip("target:N", title="Engine"), alt.Tooltip("decode rate:N", title="Rate"),
                     alt.Tooltip("tokens_per_s:Q", title="Output tokens / s", format=",.0f")],
        )
        .properties(height=charts.total_height(max(80, 40 * bars["target"].nunique()), 2))
    )  # fmt: skip
    charts.show(chart)
    st.caption(
        "Achieved decode rate and the rate the same tokens per byte would give at the GPUs' peak HBM bandwidth: "
        "the gap is what better batching could still win."
    )


if __name__ == "__main__":
    render()
