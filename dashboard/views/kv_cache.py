"""KV cache and memory: KV usage over time, capacity in tokens where engines report it,
waiting requests, preemptions, prefix-cache hit rate, HBM used/free per GPU and KV offload
tiers where present.

Queries: dash_kv_summary, dash_engine_timeseries, dash_engine_rates, dash_gpu_summary,
dash_kv_tiers.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import charts, data, filters
from dashboard.data import num

GIB = 1024**3


def render() -> None:
    charts.header("KV cache and memory", "Is the KV cache the limit, and how is GPU memory used?")
    data.live(body)


def body() -> None:
    f = filters.current()
    s = data.settings()
    charts.freshness()
    summary = data.named("dash_kv_summary", f.window(), f)
    if not len(summary):
        charts.empty(
            "No engine reported KV-cache gauges in this window" + (" for these filters." if f.chosen() else "."),
            "vLLM reports vllm:kv_cache_usage_perc, SGLang sglang:token_usage. Widen the time range, clear the "
            "filters, or check the Health page.",
        )
    else:
        cards(summary, s.diagnosis.kv_usage_high)
        bucket = f.bucket_s(s.collector.interval_seconds)
        series = data.named("dash_engine_timeseries", {**f.window(), "bucket_s": bucket}, f)
        rates = data.named("dash_engine_rates", {**f.window(), "bucket_s": bucket}, f)
        left, right = st.columns(2, gap="large")
        with left:
            st.subheader("KV-cache usage")
            kv_chart(series, f, s.diagnosis.kv_usage_high)
        with right:
            st.subheader("Requests waiting")
            waiting_chart(series, f)
        left, right = st.columns(2, gap="large")
        with left:
            st.subheader("Preemptions")
            preemption_chart(rates, f)
        with right:
            st.subheader("Prefix-cache hit rate")
            hit_chart(summary)
        st.subheader("Per engine")
        table(summary)
    st.divider()
    st.subheader("GPU memory (HBM) per GPU")
    hbm(f)
    st.subheader("KV offload tiers")
    tiers(f)


def cards(summary: pd.DataFrame, high: float) -> None:
    full = summary[summary["kv_usage_peak"].fillna(0) >= high]
    cap = summary["kv_capacity_tokens"].dropna()
    queries = summary["prefix_cache_queries"].fillna(0)
    hits = (summary["prefix_hit_rate"].fillna(0) * queries).sum()
    c = st.columns(4)
    c[0].metric(
        f"Engines with KV ≥ {high:.0%}", f"{len(full)} of {len(summary)}",
        help="Engines whose KV-cache usage peaked at or above [diagnosis] kv_usage_high in the window.", border=True,
    )  # fmt: skip
    c[1].metric(
        "Requests waiting (mean)", charts.number(summary["waiting_avg"].sum(), 1),
        help="Mean number of queued requests over the window, summed over engines "
        f"(peak {charts.number(summary['waiting_peak'].max())}).", border=True,
    )  # fmt: skip
    c[2].metric(
        "Preemptions", charts.number(summary["preemptions"].sum()),
        help="Running requests evicted for lack of KV blocks, all engines, over the window.", border=True,
    )  # fmt: skip
    c[3].metric(
        "Prefix-cache hit rate", charts.pct(hits / queries.sum() if queries.sum() else None),
        help="Prompt tokens served from the prefix cache / prompt tokens looked up, all engines.", border=True,
    )  # fmt: skip
    if len(cap):
        st.caption(
            f"KV capacity known for {len(cap)} of {len(summary)} engine(s): "
            f"{charts.number(cap.sum())} tokens in all, {charts.number(summary['kv_tokens_now'].sum())} in use now."
        )
    else:
        st.caption(
            "No engine reports its KV capacity in tokens (vllm:cache_config_info or sglang max_total_num_tokens)."
        )


def kv_chart(series: pd.DataFrame, f: filters.Filters, high: float) -> None:
    s = series.dropna(subset=["kv_usage"])
    if not len(s):
        charts.empty("No KV usage gauge in this window.")
        return
    extra = [alt.Tooltip("kv_used_tokens:Q", title="KV tokens in use", format=",.0f"),
             alt.Tooltip("kv_capacity_tokens:Q", title="KV capacity (tokens)", format=",.0f")]  # fmt: skip
    charts.show(
        charts.timeseries(s, y="kv_usage", y_title="KV cache used (% of capacity)", seconds=f.seconds,
                          color="instance", color_title="Engine", fmt=".0%", y_max=1.0, rule=high,
                          rule_label=f"kv_usage_high {high:.0%}", extra_tooltip=extra)
    )  # fmt: skip


def waiting_chart(series: pd.DataFrame, f: filters.Filters) -> None:
    s = series.dropna(subset=["waiting"])
    if not len(s):
        charts.empty("No waiting-requests gauge in this window.", "vLLM reports vllm:num_requests_waiting.")
        return
    if not s["waiting"].any():
        st.success("No request waited in this window: the engines admitted every request at once.",
                   icon=":material/check:")  # fmt: skip
        return
    charts.show(
        charts.timeseries(s, y="waiting", y_title="Requests waiting (mean)", seconds=f.seconds, color="instance",
                          color_title="Engine", fmt=",.1f",
                          extra_tooltip=[alt.Tooltip("running:Q", title="Running (mean)", format=",.1f")])
    )  # fmt: skip


def preemption_chart(rates: pd.DataFrame, f: filters.Filters) -> None:
    r = rates.dropna(subset=["preemptions_per_min"])
    if not len(r):
        charts.empty("No preemption counter in this window.")
        return
    if not r["preemptions_per_min"].any():
        st.success("No preemptions in this window: no running request lost its KV blocks.", icon=":material/check:")
        return
    charts.show(
        charts.timeseries(r, y="preemptions_per_min", y_title="Preemptions per minute", seconds=f.seconds,
                          color="instance", color_title="Engine", fmt=",.1f", kind="bar")
    )  # fmt: skip


def hit_chart(summary: pd.DataFrame) -> None:
    h = summary.dropna(subset=["prefix_hit_rate"])
    if not len(h):
        charts.empty(
            "No prefix-cache counters.", "vLLM reports vllm:prefix_cache_hits/queries when prefix caching is on."
        )
        return
    charts.show(
        charts.hbar(h, x="prefix_hit_rate", x_title="Prompt tokens from the prefix cache (%)", y="instance",
                    y_title="Engine", fmt=".0%",
                    extra_tooltip=[alt.Tooltip("prefix_cache_queries:Q", title="Prompt tokens looked up",
                                               format=",.0f")])
    )  # fmt: skip


def table(summary: pd.DataFrame) -> None:
    st.dataframe(
        summary[["instance", "model", "namespace", "kv_capacity_tokens", "kv_tokens_now", "kv_usage_now",
                 "kv_usage_peak", "running_avg", "waiting_peak", "preemptions_per_min", "prefix_hit_rate"]],
        hide_index=True,
        column_config={
            "instance": "Engine", "model": "Model", "namespace": "Namespace",
            "kv_capacity_tokens": st.column_config.NumberColumn("KV capacity (tokens)", format="localized"),
            "kv_tokens_now": st.column_config.NumberColumn("KV tokens now", format="localized"),
            "kv_usage_now": st.column_config.ProgressColumn("KV used now", format="percent", min_value=0, max_value=1),
            "kv_usage_peak": st.column_config.ProgressColumn("KV peak", format="percent", min_value=0, max_value=1),
            "running_avg": st.column_config.NumberColumn("Running (mean)", format="%.1f"),
            "waiting_peak": st.column_config.NumberColumn("Waiting (peak)", format="%.0f"),
            "preemptions_per_min": st.column_config.NumberColumn("Preemptions/min", format="%.2f"),
            "prefix_hit_rate": st.column_config.ProgressColumn("Prefix hit rate", format="percent", min_value=0,
                                                               max_value=1),
        },
    )  # fmt: skip
    unknown = summary[summary["kv_capacity_tokens"].isna()]["instance"].tolist()
    if unknown:
        st.caption(
            f"KV capacity unknown for {', '.join(unknown)}: the engine publishes no cache_config_info with "
            "num_gpu_blocks × block_size (or kv_cache_size_tokens)."
        )


def hbm(f: filters.Filters) -> None:
    gpus = data.named("dash_gpu_summary", f.window(), f)
    gpus = gpus.dropna(subset=["fb_used_bytes", "fb_free_bytes"], how="all")
    if not len(gpus):
        charts.empty(
            "No GPU memory fields (DCGM_FI_DEV_FB_USED / FB_FREE) in this window.",
            "Add a dcgm-exporter target, or check the Health page for GPUs with missing fields.",
        )
        return
    parts = []
    for col, label in (("fb_used_bytes", "used"), ("fb_reserved_bytes", "reserved"), ("fb_free_bytes", "free")):
        part = gpus[["gpu_label", "engine_target", col]].rename(columns={col: "bytes"}).assign(kind=label)
        parts.append(part)
    long = pd.concat(parts).dropna(subset=["bytes"])
    long["GiB"] = long["bytes"] / GIB
    long["engine_target"] = charts.labels(long["engine_target"], "no engine")
    chart = (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("GiB:Q", title="HBM (GiB)", stack="zero", axis=alt.Axis(format=",.0f")),
            y=alt.Y("gpu_label:N", title="GPU", sort=None, axis=alt.Axis(labelLimit=220, labelOverlap=False)),
            color=alt.Color("kind:N", legend=charts.legend("HBM"),
                            scale=alt.Scale(domain=["used", "reserved", "free"],
                                            range=["#4c78a8", "#9ecae9", "#e5e5e5"])),
            order=alt.Order("kind_order:Q"),
            tooltip=[alt.Tooltip("gpu_label:N", title="GPU"), alt.Tooltip("engine_target:N", title="Engine"),
                     alt.Tooltip("kind:N", title="HBM"), alt.Tooltip("GiB:Q", title="GiB", format=",.1f")],
        )
        .transform_calculate(kind_order="datum.kind == 'used' ? 0 : datum.kind == 'reserved' ? 1 : 2")
        .properties(height=charts.total_height(max(60, 26 * gpus["gpu_label"].nunique()), 3))
    )  # fmt: skip
    charts.show(chart)
    st.caption(
        "Latest reading per GPU. vLLM allocates its KV cache up front (gpu_memory_utilization), so 'used' is "
        "high even when the cache is empty: the KV charts above show how full it is."
    )


def tiers(f: filters.Filters) -> None:
    rows = data.named("dash_kv_tiers", f.window(), f)
    if not len(rows):
        charts.empty(
            "No KV offload tier reported.",
            "Engines that offload KV beyond HBM report it with vllm:prompt_tokens_cached_by_source (device, host, "
            "disk, p2p), vllm:kv_offload_* (vLLM OffloadingConnector) or lmcache:* metrics.",
        )
        return
    cached = rows[rows["metric"] == "vllm:prompt_tokens_cached_by_source"]
    other = rows[rows["metric"] != "vllm:prompt_tokens_cached_by_source"]
    # prompt_tokens_by_source's local rows are the HBM prefix cache and plain prefill, shown above
    local = (other["metric"] == "vllm:prompt_tokens_by_source") & (
        other["tier"].isin(["local_compute", "local_cache_hit"]) | (other["increase"].fillna(0) <= 0)
    )
    other = other[~local]
    if len(cached):
        used = cached.groupby("tier", as_index=False)["increase"].sum()
        present = used[used["increase"].fillna(0) > 0]["tier"].tolist()
        silent = used[used["increase"].fillna(0) <= 0]["tier"].tolist()
        st.caption(
            "Prompt tokens served from cache, by tier: "
            + (", ".join(f"**{t}**" for t in present) or "none")
            + (f" · reported but unused: {', '.join(silent)}" if silent else "")
        )
        c = cached[cached["increase"].fillna(0) > 0]
        if len(c):
            charts.show(
                charts.hbar(c, x="increase", x_title="Cached prompt tokens in window", y="target", y_title="Engine",
                            color="tier", color_title="Cache tier", fmt=",.0f")
            )  # fmt: skip
    if len(other):
        st.dataframe(
            other,
            hide_index=True,
            column_config={
                "target": "Engine", "metric": "Metric", "tier": "Tier / transfer", "kind": "Type",
                "increase": st.column_config.NumberColumn("Increase in window", format="localized"),
                "last_value": st.column_config.NumberColumn("Last value", format="localized"),
            },
        )  # fmt: skip
    elif not len(cached) or num(cached["increase"].fillna(0).sum()) == 0:
        st.caption("No offload traffic in this window.")


if __name__ == "__main__":
    render()
