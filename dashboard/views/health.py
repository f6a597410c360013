"""Health and data quality: targets up or down and their last scrape, scrape durations and
errors, missing profiling fields, GPUs that could not be attributed, GPU models without a spec
or price, and counter resets.

Queries: target_health, dash_scrape_timeseries, dash_scrape_errors, dash_missing_fields,
dash_engine_fields, idle_cost, gpu_models, dash_counter_resets.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from dashboard import charts, data, filters

STATE_COLORS = {"up": "color: #1a7f37; font-weight: 600", "down": "color: #cf222e; font-weight: 600"}


def render() -> None:
    charts.header("Health and data quality", "Is the data complete enough to trust the numbers?")
    data.live(body)


def body() -> None:
    f = filters.current()
    # Targets, scrapes and GPUs belong to clusters, not to namespaces or models.
    fc = replace(f, namespace=None, model=None)
    if f.namespace or f.model:
        st.caption("This page follows the time range and cluster filters; namespace and model do not apply here.")
    charts.freshness()
    with data.shown_errors():
        targets(fc)
    left, right = st.columns(2, gap="large")
    with left, data.shown_errors():
        st.subheader("Missing fields")
        missing_fields(fc)
    with right, data.shown_errors():
        st.subheader("GPUs not attributed to an engine")
        unattributed(fc)
    left, right = st.columns(2, gap="large")
    with left, data.shown_errors():
        st.subheader("GPU models: spec and price")
        gpu_models()
    with right, data.shown_errors():
        st.subheader("Counter resets")
        resets(fc)


def targets(f: filters.Filters) -> None:
    t = data.named("target_health", {}, f)
    if not len(t):
        charts.empty("No targets in the store" + (f" for cluster {f.cluster}." if f.cluster else "."),
                     "Add [[targets]] to the settings and run `memmoat collect`.")  # fmt: skip
        return
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    up = int((t["state"] == "up").sum())
    down = t[t["state"] == "down"]
    c = st.columns(4)
    c[0].metric("Targets up", f"{up} of {len(t)}", border=True)
    c[1].metric("Targets down", f"{len(down)}", border=True,
                help="Targets whose latest scrape failed; the table says why.")  # fmt: skip
    last = pd.to_datetime(t["last_scrape"]).max()
    c[2].metric("Last scrape", f"{last:%H:%M:%S} UTC" if pd.notna(last) else "never", border=True,
                help=f"{(now - last).total_seconds():.0f} s ago" if pd.notna(last) else None)  # fmt: skip
    c[3].metric("Scrape failures", f"{int(t['failures'].fillna(0).sum()):,}", border=True,
                help="Failed scrapes over the store's whole history.")  # fmt: skip
    if len(down):
        st.error(
            "**Down:** " + "; ".join(f"`{r.target}`: {r.last_error}" for r in down.itertuples()),
            icon=":material/error:",
        )
    view = t[
        [
            "state",
            "target",
            "kind",
            "cluster",
            "last_scrape",
            "last_success",
            "scrapes",
            "failures",
            "last_samples",
            "mean_ms",
            "last_error",
            "url",
        ]
    ]
    st.dataframe(
        view.style.map(lambda v: STATE_COLORS.get(str(v), "color: #6e7781"), subset=["state"]),
        hide_index=True,
        column_config={
            "state": "State", "target": "Target", "kind": "Kind", "cluster": "Cluster",
            "last_scrape": st.column_config.DatetimeColumn("Last scrape (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "last_success": st.column_config.DatetimeColumn("Last success (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "scrapes": st.column_config.NumberColumn("Scrapes", format="localized"),
            "failures": st.column_config.NumberColumn("Failures", format="localized"),
            "last_samples": st.column_config.NumberColumn("Samples/scrape", format="localized"),
            "mean_ms": st.column_config.NumberColumn("Mean scrape (ms)", format="%.1f"),
            "last_error": "Last error", "url": st.column_config.LinkColumn("URL"),
        },
    )  # fmt: skip
    bucket = f.bucket_s(data.settings().collector.interval_seconds)
    ts = data.named("dash_scrape_timeseries", {**f.window(), "bucket_s": bucket}, f)
    errors = data.named("dash_scrape_errors", f.window(), f)
    left, right = st.columns(2, gap="large")
    with left:
        st.markdown("**Scrape duration**")
        if len(ts):
            charts.show(charts.timeseries(ts, y="duration_ms", y_title="Scrape duration (ms, mean)", seconds=f.seconds,
                                          color="target", color_title="Target", fmt=",.0f", height=220))  # fmt: skip
        else:
            charts.empty("No scrapes in this window.", "Is the collector running? Start it with `memmoat collect`.")
    with right:
        st.markdown("**Scrape errors**")
        if len(errors):
            st.dataframe(
                errors, hide_index=True,
                column_config={
                    "target": "Target", "error": "Error", "times": "Times",
                    "first_seen": st.column_config.DatetimeColumn("First (UTC)", format="HH:mm:ss"),
                    "last_seen": st.column_config.DatetimeColumn("Last (UTC)", format="HH:mm:ss"),
                    "line": "Page line",
                },
            )  # fmt: skip
        else:
            st.success(f"No scrape failed in the {f.label}.", icon=":material/check_circle:")


def missing_fields(f: filters.Filters) -> None:
    gpus = data.named("dash_missing_fields", f.window(), f)
    prof = gpus[charts.labels(gpus["missing_profiling"]) != ""] if len(gpus) else gpus
    if len(prof):
        st.warning(
            f"**{len(prof)} GPU(s) lack profiling (DCP) fields**: bottleneck verdicts and the roofline cannot be "
            "computed for them. Enable DCGM_FI_PROF_DRAM_ACTIVE, DCGM_FI_PROF_PIPE_TENSOR_ACTIVE and "
            "DCGM_FI_PROF_GR_ENGINE_ACTIVE in dcgm-exporter's counters CSV (they need the DCGM profiling module, "
            "and some MIG and mixed-model setups cannot provide them).",
            icon=":material/warning:",
        )
        st.dataframe(prof[["exporter", "hostname", "gpu", "gpu_model", "missing_profiling", "missing_other"]],
                     hide_index=True,
                     column_config={"exporter": "Exporter", "hostname": "Node", "gpu": "GPU", "gpu_model": "Model",
                                    "missing_profiling": "Missing profiling fields",
                                    "missing_other": "Other missing fields"})  # fmt: skip
    elif len(gpus) or data.named("dash_gpu_summary", f.window(), f).shape[0]:
        st.success("Every GPU reports DRAM, tensor and graphics-engine activity.", icon=":material/check_circle:")
    else:
        charts.empty("No GPU in this window.", "Add a dcgm-exporter target to see GPU fields.")
    other = gpus
    if len(gpus):
        other = gpus[(charts.labels(gpus["missing_profiling"]) == "") & (charts.labels(gpus["missing_other"]) != "")]
    if len(other):
        fields = sorted({x.strip() for v in other["missing_other"] for x in str(v).split(",") if x.strip()})
        st.caption(f"Optional fields no exporter sends ({len(other)} GPUs): {', '.join(fields)}.")
    engines = data.named("dash_engine_fields", f.window(), f)
    if len(engines):
        st.markdown("**Engines with missing fields**")
        st.dataframe(engines, hide_index=True,
                     column_config={"instance": "Engine", "scrapes": "Scrapes", "missing": "Missing"})  # fmt: skip
        st.caption(
            "prefill/decode seconds split cost into input and output (else a fixed ratio is used); "
            "kv_capacity_tokens comes from cache_config_info; prefix_cache_queries gives the hit rate."
        )


def unattributed(f: filters.Filters) -> None:
    idle = data.named("idle_cost", f.window(), f)
    if not len(idle):
        st.success("Every GPU in view belongs to an engine.", icon=":material/check_circle:")
        return
    st.info(
        f"**{len(idle)} GPU(s) or GPU slices belong to no scraped engine** and cost "
        f"{charts.usd(idle['cost_usd'].sum())} in the window (idle cost, never spread over engines). If an engine "
        "runs on one of them, give its target the pod's namespace/pod labels, or hostname and gpu_indices.",
        icon=":material/person_off:",
    )
    wanted = ("hostname", "gpu", "gpu_instance", "gpu_model", "namespace", "pod", "reason", "busy", "cost_usd")
    cols = [c for c in wanted if c in ("hostname", "gpu", "reason", "cost_usd") or idle[c].notna().any()]
    st.dataframe(
        idle[cols],
        hide_index=True,
        column_config={
            "hostname": "Node", "gpu": "GPU", "gpu_instance": "MIG", "gpu_model": "Model", "namespace": "Namespace",
            "pod": "Pod", "reason": "Why",
            "busy": st.column_config.ProgressColumn("Busy", format="percent", min_value=0, max_value=1),
            "cost_usd": st.column_config.NumberColumn("Cost", format="$%.2f"),
        },
    )  # fmt: skip


def gpu_models() -> None:
    models = data.named("gpu_models")
    models = models[models["gpus_seen"].fillna(0) > 0] if len(models) else models
    if not len(models):
        charts.empty("No GPU model seen yet.")
        return
    no_spec = models[models["spec_match"] == "none"]
    default = models[models["price_basis"] == "default rate"]
    if len(no_spec):
        st.warning(
            f"No spec for {', '.join(map(str, no_spec['gpu_model']))}: the roofline and bandwidth figures need its "
            "peak bandwidth (queries/reference/gpu_specs.csv).", icon=":material/warning:",
        )  # fmt: skip
    if len(default):
        st.caption(
            f"Priced at the default rate (no [[prices.gpus]] entry): {', '.join(map(str, default['gpu_model']))}."
        )
    st.dataframe(
        models[["gpu_model", "gpus_seen", "spec_model", "spec_match", "price_basis", "fixed_usd_per_hour"]],
        hide_index=True,
        column_config={
            "gpu_model": "modelName", "gpus_seen": "GPUs", "spec_model": "Spec row", "spec_match": "Match",
            "price_basis": "Price basis",
            "fixed_usd_per_hour": st.column_config.NumberColumn("$/GPU-hour (before power)", format="$%.3f"),
        },
    )  # fmt: skip


def resets(f: filters.Filters) -> None:
    r = data.named("dash_counter_resets", f.window(), f)
    if not len(r):
        st.success(f"No counter reset in the {f.label}.", icon=":material/check_circle:")
        return
    st.caption(
        f"{len(r)} reset(s): an engine or exporter restarted. Nothing is lost or double counted: the increment "
        "after a reset is the counter's new value."
    )
    st.dataframe(
        r, hide_index=True,
        column_config={
            "ts": st.column_config.DatetimeColumn("When (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "kind": "Counter", "source": "Source",
            "prev_ts": st.column_config.DatetimeColumn("Previous scrape (UTC)", format="HH:mm:ss"),
            "detail": "Detail",
        },
    )  # fmt: skip


if __name__ == "__main__":
    render()
