"""Cloud comparison: self-hosted $ per 1M tokens against hosted API list prices for the same
traffic, and the utilization at which self-hosting breaks even.

Query: api_comparison (prices from queries/reference/api_prices.csv or [prices] api_prices_csv).
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import charts, data, filters


def render() -> None:
    charts.header("Cloud comparison", "Would a hosted API be cheaper for the same traffic?")
    data.live(body)


def body() -> None:
    f = filters.current()
    charts.freshness()
    rows = data.named("api_comparison", f.window(), f)
    if not len(rows):
        charts.empty(
            "Nothing to compare in this window" + (" for these filters." if f.chosen() else "."),
            "The comparison needs engines that served tokens on priced GPUs. Widen the time range or clear the "
            "filters; the API price table is queries/reference/api_prices.csv (or [prices] api_prices_csv).",
        )
        return
    rows = rows.assign(api=rows["provider"] + " · " + rows["api_model"])
    st.subheader("Self-hosted vs every API price")
    spread(rows)
    st.subheader("Break-even against one API")
    apis = rows.groupby("api", as_index=False).agg(price=("api_usd_per_1m_tokens", "median")).sort_values("price")
    names = apis["api"].tolist()
    default = names[len(names) // 2]
    choice = st.selectbox(
        "Compare with", names, index=names.index(default), key="cloud_api",
        help="API list prices for this traffic mix (input, cached input and output tokens as your engines served "
        "them), $ per 1M tokens, cheapest first.",
    )  # fmt: skip
    breakeven(rows[rows["api"] == (choice or default)])


def spread(rows: pd.DataFrame) -> None:
    selfp = rows.drop_duplicates("target")[["target", "model", "self_usd_per_1m_tokens"]]
    cheaper = rows[rows["api_usd_per_1m_tokens"] < rows["self_usd_per_1m_tokens"]].groupby("target").size()
    total = rows.groupby("target").size()
    selfp = selfp.assign(
        summary=selfp["target"].map(lambda t: f"{int(cheaper.get(t, 0))} of {int(total.get(t, 0))} APIs cheaper")
    )
    x = alt.X("usd:Q", title="$ per 1M tokens (log scale, this traffic mix)", scale=alt.Scale(type="log"),
              axis=alt.Axis(format="$,.2f"))  # fmt: skip
    y = alt.Y("target:N", title="Engine", axis=alt.Axis(labelLimit=220))
    api_pts = (
        alt.Chart(rows.rename(columns={"api_usd_per_1m_tokens": "usd"}).dropna(subset=["usd"]))
        .mark_tick(thickness=2, size=18, opacity=0.55)
        .encode(x=x, y=y, color=alt.value("#9e9e9e"),
                tooltip=[alt.Tooltip("api:N", title="API"), alt.Tooltip("usd:Q", title="$/1M", format="$,.3f"),
                         alt.Tooltip("api_as_of:N", title="Price as of")])
    )  # fmt: skip
    self_pts = (
        alt.Chart(selfp.rename(columns={"self_usd_per_1m_tokens": "usd"}).assign(kind="self-hosted (measured)"))
        .mark_point(shape="diamond", size=220, filled=True)
        .encode(x=x, y=y, color=alt.Color("kind:N", legend=charts.legend(""), scale=alt.Scale(range=["#d62728"])),
                tooltip=[alt.Tooltip("target:N", title="Engine"), alt.Tooltip("model:N", title="Model"),
                         alt.Tooltip("usd:Q", title="Self-hosted $/1M", format="$,.4f"),
                         alt.Tooltip("summary:N", title="APIs")])
    )  # fmt: skip
    n = selfp["target"].nunique()
    charts.show((api_pts + self_pts).properties(height=charts.total_height(max(60, 34 * n), 1)))
    st.caption(
        "Grey ticks: what each API in the price table would charge for the same input, cached and output tokens. "
        "Red diamond: the measured self-hosted cost. Hover for names and dates; list prices change often."
    )


def breakeven(sel: pd.DataFrame) -> None:
    if not len(sel):
        charts.empty("No rows for this API.")
        return
    r0 = sel.iloc[0]
    st.caption(charts.md(
        f"{r0['api']}: ${r0['api_usd_per_1m_input']:.3f} per 1M input, ${r0['api_usd_per_1m_output']:.3f} per 1M "
        f"output tokens (as of {r0['api_as_of']}, {r0['api_source']})."
    ))  # fmt: skip
    savings = float(sel["savings_usd"].sum())
    c = st.columns(3)
    c[0].metric("Self-hosted cost in window", charts.usd(sel["self_usd"].sum()), border=True)
    c[1].metric("Same traffic on the API", charts.usd(sel["api_usd"].sum()), border=True)
    c[2].metric(
        "Self-hosting saves" if savings >= 0 else "Self-hosting costs extra", charts.usd(abs(savings)), border=True,
        help="API cost minus self-hosted GPU cost for the tokens served in the window.",
    )  # fmt: skip
    b = sel[["target", "utilization", "breakeven_utilization"]].dropna(subset=["breakeven_utilization"]).copy()
    if len(b):
        b["breakeven_shown"] = b["breakeven_utilization"].clip(upper=2.0)
        y = alt.Y("target:N", title="Engine", axis=alt.Axis(labelLimit=220))
        bars = alt.Chart(b).mark_bar(color="#c6dbef").encode(
            x=alt.X("breakeven_shown:Q", title="Utilization (% of demonstrated peak tokens/s)",
                    axis=alt.Axis(format=".0%"), scale=alt.Scale(domain=[0, 2])),
            y=y,
            tooltip=[alt.Tooltip("target:N", title="Engine"),
                     alt.Tooltip("breakeven_utilization:Q", title="Break-even utilization", format=".0%"),
                     alt.Tooltip("utilization:Q", title="Utilization now", format=".0%")],
        )  # fmt: skip
        now = alt.Chart(b).mark_tick(color="#d62728", thickness=3, size=22).encode(x="utilization:Q", y=y)
        chart = bars + now + charts.threshold(1.0, "demonstrated peak", "", axis="x")
        charts.show(chart.properties(height=charts.total_height(max(60, 34 * len(b)))))
        st.caption(
            "Blue bar: the utilization at which self-hosting costs the same per token as this API (past 200 % is cut; "
            "above 100 % it never does, even at the peak this engine has shown). Red tick: utilization now. A bar "
            "that ends right of its tick: the API is cheaper at today's load."
        )
    st.dataframe(
        sel[["target", "model", "self_usd_per_1m_input", "self_usd_per_1m_output", "self_usd_per_1m_tokens",
             "api_usd_per_1m_tokens", "self_vs_api", "self_usd", "api_usd", "savings_usd", "tokens_per_s",
             "peak_tokens_per_s", "utilization", "breakeven_utilization"]],
        hide_index=True,
        column_config={
            "target": "Engine", "model": "Model",
            "self_usd_per_1m_input": st.column_config.NumberColumn("Self $/1M in", format="$%.4f"),
            "self_usd_per_1m_output": st.column_config.NumberColumn("Self $/1M out", format="$%.4f"),
            "self_usd_per_1m_tokens": st.column_config.NumberColumn("Self $/1M", format="$%.4f"),
            "api_usd_per_1m_tokens": st.column_config.NumberColumn("API $/1M", format="$%.4f"),
            "self_vs_api": st.column_config.NumberColumn("Self ÷ API", format="%.2f×"),
            "self_usd": st.column_config.NumberColumn("Self $", format="$%.2f"),
            "api_usd": st.column_config.NumberColumn("API $", format="$%.2f"),
            "savings_usd": st.column_config.NumberColumn("Saved $", format="$%.2f"),
            "tokens_per_s": st.column_config.NumberColumn("Tokens/s", format="%.0f"),
            "peak_tokens_per_s": st.column_config.NumberColumn("Peak tokens/s", format="%.0f"),
            "utilization": st.column_config.NumberColumn("Utilization", format="percent"),
            "breakeven_utilization": st.column_config.NumberColumn("Break-even", format="percent"),
        },
    )  # fmt: skip


if __name__ == "__main__":
    render()
