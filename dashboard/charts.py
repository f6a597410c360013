"""Altair charts with units on every axis, a legend for every colour and a UTC 24 h time axis,
plus the number formats and empty states the pages share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboard.data import num

HEIGHT = 230  # plot area; Streamlit fits axes and legend into the chart's height, so total_height() adds them
LEGEND_COLUMNS = 3
TIME_TITLE = "Time (UTC)"
_TWO_DAYS = 2 * 24 * 3600


# -- numbers ------------------------------------------------------------------------------


def usd(value: object, *, per: str = "") -> str:
    """$ with as many decimals as a small amount needs: $1,234.50, $0.412, $0.00765."""
    x = num(value)
    if x is None:
        return "–"
    ax = abs(x)
    digits = 2 if ax >= 10 or ax == 0 else 3 if ax >= 0.1 else 4 if ax >= 0.001 else 6
    return f"${x:,.{digits}f}{per}"


def number(value: object, digits: int = 0, unit: str = "") -> str:
    x = num(value)
    if x is None:
        return "–"
    return f"{x:,.{digits}f}{(' ' + unit) if unit else ''}"


def pct(value: object, digits: int = 0) -> str:
    x = num(value)
    return "–" if x is None else f"{x * 100:.{digits}f} %"


def change(now: object, before: object) -> str | None:
    """'+12 %' vs the earlier value; None when either is missing (st.metric then shows no delta)."""
    a, b = num(now), num(before)
    if a is None or b is None or b == 0:
        return None
    return f"{(a - b) / abs(b) * 100:+.0f} %"


def labels(series: pd.Series, missing: str = "") -> pd.Series:
    """A column as text, ``missing`` for NULLs (a column of NULLs only arrives as floats)."""
    return series.astype(object).where(series.notna(), missing)


def md(text: object) -> str:
    """Text from a query, safe to show as Markdown ($ amounts are no LaTeX)."""
    return str(text).replace("$", "\\$")


# -- empty states ---------------------------------------------------------------------------


def empty(what: str, fix: str = "") -> None:
    """Say what is missing and, where we know it, how to get it."""
    st.info(f"**{what}**" + (f"  \n{fix}" if fix else ""), icon=":material/info:")


# -- charts ---------------------------------------------------------------------------------


def utc(frame: pd.DataFrame, col: str = "ts") -> pd.DataFrame:
    """A copy with ``col`` as timezone-aware UTC (so browsers in any zone draw UTC) and a
    ``time_utc`` text column for tooltips."""
    out = frame.copy()
    t = pd.to_datetime(out[col])
    if t.dt.tz is None:
        t = t.dt.tz_localize("UTC")
    out[col] = t
    out["time_utc"] = t.dt.strftime("%Y-%m-%d %H:%M:%S UTC")
    return out


def time_x(seconds: int, col: str = "ts") -> alt.X:
    fmt = "%H:%M" if seconds <= _TWO_DAYS else "%d %b %H:%M"
    return alt.X(
        f"{col}:T",
        title=TIME_TITLE,
        scale=alt.Scale(type="utc"),
        axis=alt.Axis(format=fmt, labelAngle=0, labelOverlap=True, grid=False),
    )


def legend(title: str, columns: int = LEGEND_COLUMNS) -> alt.Legend:
    return alt.Legend(title=title, orient="bottom", columns=columns, labelLimit=170, symbolType="circle")


def total_height(plot: int, legend_items: int = 0, columns: int = LEGEND_COLUMNS, axis: int = 80) -> int:
    """Height to give a chart so that its plot area is ``plot`` pixels once the x axis and a
    bottom legend of ``legend_items`` entries are drawn (Streamlit fits the whole chart in it)."""
    rows = -(-legend_items // columns) if legend_items else 0
    return plot + axis + (30 + 21 * rows if rows else 0)


def timeseries(
    frame: pd.DataFrame,
    *,
    y: str,
    y_title: str,
    seconds: int,
    color: str | None = None,
    color_title: str = "",
    fmt: str = ",.0f",
    kind: str = "line",
    y_max: float | None = None,
    rule: float | None = None,
    rule_label: str = "",
    height: int = HEIGHT,
    extra_tooltip: Sequence[alt.Tooltip] = (),
    x_col: str = "ts",
    legend_columns: int = LEGEND_COLUMNS,
) -> alt.LayerChart | alt.Chart:
    """A time chart: line (one per ``color``), stacked area, or bars."""
    data = utc(frame, x_col)
    scale = alt.Scale(domain=[0, y_max], clamp=True) if y_max is not None else alt.Scale(zero=True)
    enc: dict[str, object] = {
        "x": time_x(seconds, x_col),
        "y": alt.Y(f"{y}:Q", title=y_title, axis=alt.Axis(format=fmt), scale=scale,
                   stack="zero" if kind in ("area", "bar") else None),
        "tooltip": [alt.Tooltip("time_utc:N", title=TIME_TITLE),
                    *([alt.Tooltip(f"{color}:N", title=color_title)] if color else []),
                    alt.Tooltip(f"{y}:Q", title=y_title, format=fmt), *extra_tooltip],
    }  # fmt: skip
    if color:
        enc["color"] = alt.Color(
            f"{color}:N", legend=legend(color_title, legend_columns), scale=alt.Scale(scheme="tableau10")
        )
    base = alt.Chart(data)
    if kind == "area":
        mark = base.mark_area(opacity=0.85, interpolate="monotone")
    elif kind == "bar":
        mark = base.mark_bar()
    else:
        mark = base.mark_line(interpolate="monotone", strokeWidth=2, point=len(data) < 40)
    n = int(data[color].nunique()) if color else 0
    chart: Any = mark.encode(**enc).properties(height=total_height(height, n, legend_columns))
    if rule is not None:
        chart = chart + threshold(rule, rule_label, y_title)
    return chart


def threshold(value: float, label: str, title: str, axis: str = "y") -> alt.LayerChart:
    """A dashed reference line with its label (``title``: the axis title of the chart it goes on)."""
    frame = pd.DataFrame({"v": [value], "label": [label]})
    enc = {axis: alt.Y("v:Q", title=title) if axis == "y" else alt.X("v:Q", title=title)}
    line = alt.Chart(frame).mark_rule(strokeDash=[6, 4], color="#b22222", strokeWidth=1.5).encode(**enc)
    text = (
        alt.Chart(frame)
        .mark_text(align="right" if axis == "y" else "left", dx=-4 if axis == "y" else 4, dy=-7 if axis == "y" else 0,
                   color="#b22222", fontSize=11)
        .encode(**enc, text="label:N")
    )  # fmt: skip
    # the label sits at the top of a vertical line, at the right end of a horizontal one
    text = text.encode(y=alt.value(8)) if axis == "x" else text.encode(x=alt.value("width"))
    return line + text


def hbar(
    frame: pd.DataFrame,
    *,
    x: str,
    x_title: str,
    y: str,
    y_title: str,
    color: str | None = None,
    color_title: str = "",
    fmt: str = ",.2f",
    height: int | None = None,
    order: str | None = None,
    extra_tooltip: Sequence[alt.Tooltip] = (),
) -> alt.Chart:
    """Horizontal bars (stacked by ``color``), one row per ``y`` category."""
    n = frame[y].nunique() if len(frame) else 1
    enc: dict[str, object] = {
        "x": alt.X(f"{x}:Q", title=x_title, axis=alt.Axis(format=fmt), stack="zero"),
        "y": alt.Y(f"{y}:N", title=y_title, sort=alt.EncodingSortField(field=order or x, op="sum", order="descending"),
                   axis=alt.Axis(labelLimit=260, labelOverlap=False)),
        "tooltip": [alt.Tooltip(f"{y}:N", title=y_title),
                    *([alt.Tooltip(f"{color}:N", title=color_title)] if color else []),
                    alt.Tooltip(f"{x}:Q", title=x_title, format=fmt), *extra_tooltip],
    }  # fmt: skip
    if color:
        enc["color"] = alt.Color(f"{color}:N", legend=legend(color_title), scale=alt.Scale(scheme="tableau10"))
    legend_items = int(frame[color].nunique()) if color else 0
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(**enc)
        .properties(height=height or total_height(max(60, 26 * n), legend_items))
    )


def table_height(rows: int, cap: int = 720) -> int:
    """A dataframe height that shows every row of a small table (and scrolls a big one)."""
    return min(cap, 35 * (rows + 1) + 3)


def show(chart: alt.Chart | alt.LayerChart) -> None:
    st.altair_chart(chart, width="stretch")


# -- page furniture -----------------------------------------------------------------------


def header(title: str, question: str) -> None:
    """The page title, the question it answers and the filters in force."""
    from dashboard.filters import current

    st.title(title)
    st.caption(f"{question} · {current().describe()}")


def freshness() -> None:
    """How new the data is; a warning when the collector seems to have stopped."""
    from datetime import UTC, datetime

    from dashboard.data import first, named, refresh_seconds, settings

    row = first(named("dash_freshness"))
    last = row.get("last_success")
    if not isinstance(last, datetime):  # None or NaT: nothing scraped yet
        empty("No successful scrape yet.", "The Health page shows each target's last error.")
        return
    last_ts = pd.Timestamp(last).to_pydatetime()
    age = (datetime.now(UTC).replace(tzinfo=None) - last_ts).total_seconds()
    samples = num(row.get("samples")) or 0
    st.caption(
        f":material/schedule: Data up to **{last_ts:%H:%M:%S} UTC** ({_ago(age)}) · "
        f"{samples:,.0f} samples stored · refreshes every {refresh_seconds():g} s"
    )
    interval = settings().collector.interval_seconds
    if age > max(3 * interval, 60):
        st.warning(
            f"The newest successful scrape is {_ago(age)}: is the collector running? "
            "Start it with `memmoat collect`; the Health page shows each target's state.",
            icon=":material/warning:",
        )


def _ago(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 90:
        return f"{s} s ago"
    if s < 5400:
        return f"{s // 60} min ago"
    if s < 2 * 86400:
        return f"{s / 3600:.1f} h ago"
    return f"{s / 86400:.1f} days ago"
