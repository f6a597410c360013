"""memmoat dashboard: live cost per token and what holds the GPUs back."""

from __future__ import annotations

import streamlit as st

from dashboard import data
from memmoat.errors import MemmoatError, StoreMissingError

st.set_page_config(page_title="memmoat", page_icon=":material/memory:", layout="wide")


def overview() -> None:
    st.title("memmoat · cost per token")
    try:
        settings = data.settings()
    except MemmoatError as exc:
        st.error(f"**{exc.title}**: {exc}")
        return
    store = str(settings.store_path)

    @st.fragment(run_every=settings.dashboard.refresh_seconds)
    def live() -> None:
        try:
            ov = data.named(store, "fleet_overview", (("start", "-5m"), ("usd_per_gpu_hour", str(settings.prices.default_usd_per_gpu_hour))))
            ts = data.named(store, "tokens_per_second", (("start", "-30m"),))
        except StoreMissingError as exc:
            st.info(f"**No data yet.** {exc}")
            return
        except MemmoatError as exc:
            st.error(f"**{exc.title}**: {exc}")
            return
        row = ov.iloc[0] if len(ov) else None
        c1, c2, c3, c4 = st.columns(4)
        tps = row["tokens_per_s"] if row is not None else None
        usd = row["usd_per_1m_tokens"] if row is not None else None
        c1.metric("Tokens/s (last 5 min)", f"{tps:,.0f}" if tps == tps and tps is not None else "–")
        c2.metric("$ per 1M tokens", f"${usd:,.3f}" if usd == usd and usd is not None else "–")
        c3.metric("GPUs seen", f"{int(row['gpus'])}" if row is not None else "–")
        c4.metric("GPU-hours (window)", f"{row['gpu_hours']:,.2f}" if row is not None and row["gpu_hours"] == row["gpu_hours"] else "–")
        if len(ts):
            ts["tokens_per_s"] = ts["prompt_tokens_per_s"].fillna(0) + ts["generation_tokens_per_s"].fillna(0)
            pivot = ts.pivot_table(index="ts", columns="target", values="tokens_per_s", aggfunc="sum")
            st.subheader("Tokens per second by engine")
            st.line_chart(pivot, x_label="time (UTC)", y_label="tokens/s")
        else:
            st.info("No token counters yet: the engines need two scrapes before rates exist.")

    live()


pg = st.navigation([st.Page(overview, title="Overview", icon=":material/paid:", default=True)])
pg.run()
