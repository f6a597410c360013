"""Chargeback: who pays what, per namespace and per model, with CSV downloads.

The namespace table adds up to the whole GPU bill: engines' GPUs, GPUs that other pods of a
namespace hold, and one row for idle GPUs no pod holds. Queries: chargeback, cost_per_token
(by model).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import charts, data, filters


def render() -> None:
    charts.header("Chargeback", "Who pays for the GPUs?")
    data.live(body)


def csv_name(kind: str, f: filters.Filters) -> str:
    return f"memmoat-{kind}-{f.range}-{datetime.now(UTC):%Y%m%dT%H%MZ}.csv"


def body() -> None:
    f = filters.current()
    charts.freshness()
    # The bill by namespace adds up to every GPU: cluster and model do not split it.
    bill = data.named("chargeback", f.window(), replace(f, cluster=None, model=None))
    st.subheader("By namespace")
    if f.cluster or f.model:
        st.caption("The namespace bill covers every cluster and model (it adds up to the whole bill); the model "
                   "table below follows the cluster and model filters.")  # fmt: skip
    if not len(bill):
        charts.empty(
            "No GPU cost in this window" + (" for this namespace." if f.namespace else "."),
            "Chargeback needs dcgm GPUs and, to split them, engines matched to them (pod labels or the targets' "
            "hostname + gpu_indices). Widen the time range or check the Health page.",
        )
    else:
        namespace_view(bill, f)
    st.subheader("By model")
    models = data.named("cost_per_token", {**f.window(), "by": "model"}, f)
    if not len(models):
        charts.empty("No engine served tokens in this window for these filters.")
    else:
        model_view(models, f)


def namespace_view(bill: pd.DataFrame, f: filters.Filters) -> None:
    total = float(bill["cost_usd"].sum())
    c = st.columns(3)
    c[0].metric("Bill in window", charts.usd(total), border=True,
                help="GPU cost of every row below: engines, other pods' GPUs and idle GPUs.")  # fmt: skip
    idle = bill[bill["namespace"].astype(str).str.startswith("(idle")]["cost_usd"].sum()
    c[1].metric("Idle GPUs", charts.usd(idle), border=True, help="GPUs no pod holds: nobody's, everybody's problem.")
    c[2].metric("Namespaces", f"{(~bill['namespace'].astype(str).str.startswith('(')).sum()}", border=True)
    long = bill.melt(
        id_vars="namespace", value_vars=["engine_cost_usd", "other_gpu_cost_usd"], var_name="part", value_name="usd"
    )
    long["part"] = long["part"].map({"engine_cost_usd": "engines", "other_gpu_cost_usd": "other pods / idle GPUs"})
    long = long[long["usd"] > 0]
    charts.show(
        charts.hbar(long, x="usd", x_title="Cost in window ($)", y="namespace", y_title="Namespace", color="part",
                    color_title="GPU cost of", fmt="$,.2f",
                    extra_tooltip=[alt.Tooltip("usd:Q", title="$", format="$,.2f")])
    )  # fmt: skip
    st.dataframe(
        bill,
        hide_index=True,
        column_config={
            "namespace": "Namespace", "engines": "Engines", "models": "Models",
            "gpu_hours": st.column_config.NumberColumn("GPU-hours", format="%.2f"),
            "cost_usd": st.column_config.NumberColumn("Cost", format="$%.2f"),
            "share_of_bill": st.column_config.ProgressColumn("Share of bill", format="percent", min_value=0,
                                                             max_value=1),
            "engine_cost_usd": st.column_config.NumberColumn("Engines' GPUs", format="$%.2f"),
            "other_gpu_cost_usd": st.column_config.NumberColumn("Other GPUs", format="$%.2f"),
            "prompt_tokens": st.column_config.NumberColumn("Input tokens", format="localized"),
            "generation_tokens": st.column_config.NumberColumn("Output tokens", format="localized"),
            "usd_per_1m_tokens": st.column_config.NumberColumn("$/1M tokens", format="$%.4f"),
            "usd_per_1m_input": st.column_config.NumberColumn("$/1M input", format="$%.4f"),
            "usd_per_1m_output": st.column_config.NumberColumn("$/1M output", format="$%.4f"),
            "energy_kwh": st.column_config.NumberColumn("Energy (kWh)", format="%.2f"),
            "prefix_cache_savings_usd": st.column_config.NumberColumn("Saved by prefix cache", format="$%.3f"),
        },
    )  # fmt: skip
    st.download_button(
        "Download CSV (by namespace)", bill.to_csv(index=False), file_name=csv_name("chargeback-namespace", f),
        mime="text/csv", icon=":material/download:", key="csv_namespace",
    )  # fmt: skip


def model_view(models: pd.DataFrame, f: filters.Filters) -> None:
    cols = ["group", "engines", "gpu_models", "gpus", "gpu_hours", "cost_usd", "prompt_tokens", "generation_tokens",
            "tokens_per_s", "usd_per_1m_input", "usd_per_1m_output", "usd_per_1m_tokens", "energy_kwh",
            "joules_per_token", "split_basis"]  # fmt: skip
    view = models[[c for c in cols if c in models.columns]].rename(columns={"group": "model"})
    st.dataframe(
        view,
        hide_index=True,
        column_config={
            "model": "Model", "engines": "Engines", "gpu_models": "GPUs",
            "gpus": st.column_config.NumberColumn("GPU count", format="%.1f"),
            "gpu_hours": st.column_config.NumberColumn("GPU-hours", format="%.2f"),
            "cost_usd": st.column_config.NumberColumn("Cost", format="$%.2f"),
            "prompt_tokens": st.column_config.NumberColumn("Input tokens", format="localized"),
            "generation_tokens": st.column_config.NumberColumn("Output tokens", format="localized"),
            "tokens_per_s": st.column_config.NumberColumn("Tokens/s", format="%.0f"),
            "usd_per_1m_input": st.column_config.NumberColumn("$/1M input", format="$%.4f"),
            "usd_per_1m_output": st.column_config.NumberColumn("$/1M output", format="$%.4f"),
            "usd_per_1m_tokens": st.column_config.NumberColumn("$/1M blended", format="$%.4f"),
            "energy_kwh": st.column_config.NumberColumn("Energy (kWh)", format="%.2f"),
            "joules_per_token": st.column_config.NumberColumn("J/token", format="%.3f"),
            "split_basis": "Input/output split",
        },
    )  # fmt: skip
    st.download_button(
        "Download CSV (by model)", view.to_csv(index=False), file_name=csv_name("chargeback-model", f),
        mime="text/csv", icon=":material/download:", key="csv_model",
    )  # fmt: skip


if __name__ == "__main__":
    render()
