"""Overview: what a token costs now (input and output), throughput, GPU-hours, idle cost, and
the change against the same window 24 hours earlier.

Queries: cost_per_token (by engine, and by cluster for idle GPUs), cost_timeseries,
dash_engine_rates.
"""

from __future__ import annotations

from dataclasses import replace

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import charts, data, filters

COST_HELP = (
    "GPU cost (cloud rate, or on-prem capex + overhead + measured energy; see [prices]) divided by the "
    "tokens the engines served. Input and output are split by each engine's measured prefill vs decode time."
)


def summarize(engines: pd.DataFrame, idle: pd.DataFrame) -> dict[str, float | None]:
    """Totals of cost_per_token rows (by engine) and the idle cost rows (by cluster)."""
    if not len(engines):
        return {"idle_usd": _sum(idle, "idle_usd"), "idle_gpu_hours": _sum(idle, "idle_gpu_hours")}
    e = engines.fillna({"prompt_tokens": 0, "generation_tokens": 0})
    prompt, gen = float(e["prompt_tokens"].sum()), float(e["generation_tokens"].sum())
    cost = _sum(e, "cost_usd") or 0.0
    in_cost = float((e["usd_per_1m_input"].fillna(0) * e["prompt_tokens"] / 1e6).sum())
    out_cost = float((e["usd_per_1m_output"].fillna(0) * e["generation_tokens"] / 1e6).sum())
    energy = _sum(e, "energy_kwh")
    return {
        "cost_usd": cost,
        "prompt_tokens": prompt,
        "generation_tokens": gen,
        "usd_per_1m_input": in_cost / prompt * 1e6 if prompt else None,
        "usd_per_1m_output": out_cost / gen * 1e6 if gen else None,
        "usd_per_1m_tokens": cost / (prompt + gen) * 1e6 if prompt + gen else None,
        "tokens_per_s": _sum(e, "tokens_per_s"),
        "gpu_hours": _sum(e, "gpu_hours"),
        "gpus": _sum(e, "gpus"),
        "energy_kwh": energy,
        "joules_per_token": energy * 3.6e6 / (prompt + gen) if energy and prompt + gen else None,
        "idle_usd": _sum(idle, "idle_usd"),
        "idle_gpu_hours": _sum(idle, "idle_gpu_hours"),
        "engines": float(len(e)),
    }


def _sum(frame: pd.DataFrame, col: str) -> float | None:
    if col not in frame.columns or not frame[col].notna().any():
        return None
    return float(frame[col].sum())


def load(f: filters.Filters, shift_s: int = 0) -> tuple[pd.DataFrame, dict[str, float | None]]:
    window = f.window(shift_s)
    engines = data.named("cost_per_token", {**window, "by": "engine"}, f)
    # Idle GPUs belong to no namespace or model: shown for the cluster (or fleet) in view.
    idle = data.named("cost_per_token", {**window, "by": "cluster"}, replace(f, namespace=None, model=None))
    return engines, summarize(engines, idle)


def render() -> None:
    charts.header("Overview", "What does a token cost, and where does the money go?")
    data.live(body)


def body() -> None:
    f = filters.current()
    charts.freshness()
    engines, now = load(f)
    _, before = load(f, filters.DAY)
    cards(now, before)
    if not len(engines):
        charts.empty(
            "No engine served tokens in this window" + (" for these filters." if f.chosen() else "."),
            "Engines need two scrapes before token rates exist. Widen the time range or clear the filters; "
            "the Health page shows whether the engine targets are up.",
        )
        return
    left, right = st.columns(2, gap="large")
    with left:
        st.subheader("$ per 1M tokens over time")
        cost_chart(f)
    with right:
        st.subheader("Tokens per second by engine")
        throughput_chart(f)
    st.subheader("Per engine")
    engine_table(engines)


def cards(now: dict[str, float | None], before: dict[str, float | None]) -> None:
    has_yesterday = before.get("cost_usd") is not None
    note = "vs the same window 24 h earlier" if has_yesterday else "no data 24 h earlier to compare with"
    c = st.columns(5)
    c[0].metric(
        "$ / 1M input tokens", charts.usd(now.get("usd_per_1m_input")),
        charts.change(now.get("usd_per_1m_input"), before.get("usd_per_1m_input")), delta_color="inverse",
        help=f"{COST_HELP} Change: {note}.", border=True,
    )  # fmt: skip
    c[1].metric(
        "$ / 1M output tokens", charts.usd(now.get("usd_per_1m_output")),
        charts.change(now.get("usd_per_1m_output"), before.get("usd_per_1m_output")), delta_color="inverse",
        help=f"{COST_HELP} Change: {note}.", border=True,
    )  # fmt: skip
    c[2].metric(
        "Tokens / s", charts.number(now.get("tokens_per_s")),
        charts.change(now.get("tokens_per_s"), before.get("tokens_per_s")),
        help=f"Input + output tokens per second, all engines in view. Change: {note}.", border=True,
    )  # fmt: skip
    c[3].metric(
        "GPU-hours", charts.number(now.get("gpu_hours"), 1),
        charts.change(now.get("gpu_hours"), before.get("gpu_hours")), delta_color="off",
        help=f"GPU time of the engines in view over the window ({charts.usd(now.get('cost_usd'))}). Change: {note}.",
        border=True,
    )  # fmt: skip
    c[4].metric(
        "Idle GPU cost", charts.usd(now.get("idle_usd")),
        charts.change(now.get("idle_usd"), before.get("idle_usd")), delta_color="inverse",
        help="GPUs no engine holds (no pod label and no target's hostname + gpu_indices), over the window, for the "
        f"cluster in view: {charts.number(now.get('idle_gpu_hours'), 1)} GPU-hours. Never spread over the engines. "
        f"Change: {note}.",
        border=True,
    )  # fmt: skip
    st.caption(
        f"Blended **{charts.usd(now.get('usd_per_1m_tokens'))} per 1M tokens** · "
        f"{charts.usd(now.get('cost_usd'))} of GPU time in the window · "
        f"{charts.number(now.get('joules_per_token'), 3)} J per token · {note}"
    )


def cost_chart(f: filters.Filters) -> None:
    minutes = max(1, f.bucket_s(data.settings().collector.interval_seconds) // 60)
    ts = data.named("cost_timeseries", {**f.window(), "bucket_minutes": minutes}, f)
    if not len(ts):
        charts.empty("No cost data in this window yet.")
        return
    is_idle = ts["target"] == "(idle GPUs)"
    eng = ts[~is_idle].groupby("bucket_start", as_index=False)[["cost_usd", "tokens"]].sum()
    idle = ts[is_idle].groupby("bucket_start", as_index=False).agg(idle=("cost_usd", "sum"))
    j = eng.merge(idle, on="bucket_start", how="left").fillna({"idle": 0.0})
    j = j[j["tokens"] > 0]
    if not len(j):
        charts.empty("No tokens served in this window yet.")
        return
    j["engines only"] = j["cost_usd"] / j["tokens"] * 1e6
    rows = ["engines only"]
    if not f.namespace and not f.model:
        j["incl. idle GPUs"] = (j["cost_usd"] + j["idle"]) / j["tokens"] * 1e6
        rows.append("incl. idle GPUs")
    long = j.melt(id_vars="bucket_start", value_vars=rows, var_name="cost basis", value_name="usd_per_1m")
    long = long.rename(columns={"bucket_start": "ts"})
    charts.show(
        charts.timeseries(long, y="usd_per_1m", y_title="$ per 1M tokens", seconds=f.seconds, color="cost basis",
                          color_title="Cost basis", fmt="$,.3f")
    )  # fmt: skip
    st.caption(f"One point per {minutes} min, blended input + output, engines in view.")


def throughput_chart(f: filters.Filters) -> None:
    bucket = f.bucket_s(data.settings().collector.interval_seconds)
    rates = data.named("dash_engine_rates", {**f.window(), "bucket_s": bucket}, f)
    if not len(rates):
        charts.empty("No token counters in this window yet.", "Engines need two scrapes before rates exist.")
        return
    rates = rates.assign(tokens_per_s=rates["input_tokens_per_s"].fillna(0) + rates["output_tokens_per_s"].fillna(0))
    charts.show(
        charts.timeseries(rates, y="tokens_per_s", y_title="Tokens / s (input + output)", seconds=f.seconds,
                          color="instance", color_title="Engine", kind="area",
                          extra_tooltip=[alt.Tooltip("model:N", title="Model")])
    )  # fmt: skip
    st.caption(f"Stacked by engine, one point per {bucket} s.")


def engine_table(engines: pd.DataFrame) -> None:
    cols = ["group", "model", "namespace", "gpu_models", "gpus", "tokens_per_s", "usd_per_1m_input",
            "usd_per_1m_output", "usd_per_1m_tokens", "cost_usd", "joules_per_token", "prefix_cache_hit_rate",
            "split_basis"]  # fmt: skip
    view = engines[[c for c in cols if c in engines.columns]].copy()
    # NULLs come back as None in object columns: make them numbers (NaN) before arithmetic
    if "tokens_per_s" in view:
        view["tokens_per_s"] = pd.to_numeric(view["tokens_per_s"], errors="coerce").round(0)
    if "prefix_cache_hit_rate" in view:
        view["prefix_cache_hit_rate"] = pd.to_numeric(view["prefix_cache_hit_rate"], errors="coerce") * 100
    st.dataframe(
        view,
        hide_index=True,
        height=charts.table_height(len(view)),
        column_config={
            "group": st.column_config.TextColumn("Engine"),
            "model": "Model",
            "namespace": "Namespace",
            "gpu_models": "GPUs",
            "gpus": st.column_config.NumberColumn("GPU count", format="%.1f"),
            "tokens_per_s": st.column_config.NumberColumn("Tokens/s", format="localized"),
            "usd_per_1m_input": st.column_config.NumberColumn("$/1M input", format="$%.4f"),
            "usd_per_1m_output": st.column_config.NumberColumn("$/1M output", format="$%.4f"),
            "usd_per_1m_tokens": st.column_config.NumberColumn("$/1M blended", format="$%.4f"),
            "cost_usd": st.column_config.NumberColumn("Cost in window", format="$%.2f"),
            "joules_per_token": st.column_config.NumberColumn("J/token", format="%.3f"),
            "prefix_cache_hit_rate": st.column_config.NumberColumn("Prefix hit %", format="%.0f %%"),
            "split_basis": "Input/output split",
        },
    )


if __name__ == "__main__":
    render()
