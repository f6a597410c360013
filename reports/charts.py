"""Small static charts as SVG data URIs: no JavaScript, no fonts or files to fetch.

Each chart is an ``<img src="data:image/svg+xml;base64,...">`` in the report, so the HTML
stays one self-contained file. Every figure a chart shows is also in a table next to it:
mail clients that block images (or SVG) lose nothing but the picture.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

FONT = "-apple-system,Segoe UI,Helvetica,Arial,sans-serif"
INK = "#1f2933"
MUTED = "#616e7c"
GRID = "#e4e7eb"
BLUE = "#2f6fb3"
ORANGE = "#d9822b"
RED = "#c23b3b"
GREEN = "#2f8f5b"
GREY = "#9aa5b1"


def data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="{FONT}" font-size="11" role="img">'
        f"<title>{escape(title)}</title>"
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>' + "".join(body) + "</svg>"
    )


def _text(
    x: float, y: float, s: str, *, anchor: str = "start", fill: str = MUTED, size: int = 11, bold: bool = False
) -> str:
    weight = ' font-weight="600"' if bold else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}" font-size="{size}"{weight}>'
        f"{escape(s)}</text>"
    )


def nice_ceiling(v: float) -> float:
    """The next 'round' number at or above v (1, 2, 2.5, 5 x 10^k)."""
    if v <= 0 or not math.isfinite(v):
        return 1.0
    exp = math.floor(math.log10(v))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if m * 10**exp >= v * (1 - 1e-9):
            return float(m * 10**exp)
    return float(10 ** (exp + 1))


def money(v: float | None, digits: int = 2) -> str:
    if v is None or not math.isfinite(v):
        return "—"
    if abs(v) >= 1000:
        return f"${v:,.0f}"
    if abs(v) >= 100:
        return f"${v:,.1f}"
    return f"${v:,.{digits}f}"


def axis_money(v: float, step: float) -> str:
    """A tick label with as many decimals as the tick step needs ($0.005 steps: 3, $6.25 steps: 2)."""
    if step <= 0 or not math.isfinite(step):
        return f"${v:,.2f}"
    if step >= 1:
        return f"${v:,.0f}" if float(step).is_integer() else f"${v:,.2f}"
    exp = -math.floor(math.log10(step))
    mantissa = step * 10**exp
    decimals = max(2, exp + (0 if abs(mantissa - round(mantissa)) < 1e-9 else 1))
    return f"${v:,.{decimals}f}"


def small_money(v: float) -> str:
    """A non-negative amount with enough digits to be told apart from zero: $1.23, $0.052, $0.00041."""
    if v < 5e-9 or not math.isfinite(v):
        return "$0"
    if v >= 1:
        return f"${v:,.2f}"
    if v >= 0.01:
        return f"${v:.3f}"
    return f"${v:.{1 - math.floor(math.log10(v))}f}"


def compact(v: float) -> str:
    a = abs(v)
    if a >= 1e9:
        return f"{v / 1e9:.3g}G"
    if a >= 1e6:
        return f"{v / 1e6:.3g}M"
    if a >= 1e3:
        return f"{v / 1e3:.3g}k"
    return f"{v:.3g}"


@dataclass(frozen=True)
class Series:
    name: str
    color: str
    values: Sequence[float | None]


def line_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    unit: str = "$",
    highlight: int | None = None,
    width: int = 680,
    height: int = 210,
) -> str:
    """Lines over categorical x labels; gaps where a value is None. Returns a data URI."""
    left, right, top, bottom = 56, 16, 30, 34
    pw, ph = width - left - right, height - top - bottom
    vals = [v for s in series for v in s.values if v is not None and math.isfinite(v)]
    ymax = nice_ceiling(max(vals) * 1.1 if vals else 1.0)
    n = max(len(labels), 1)
    step = pw / max(n - 1, 1)

    def x(i: int) -> float:
        return left + (i * step if n > 1 else pw / 2)

    def y(v: float) -> float:
        return top + ph - v / ymax * ph

    body = [_text(left, 16, title, fill=INK, size=12, bold=True)]
    for k in range(5):
        v = ymax * k / 4
        body.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="{GRID}"/>')
        body.append(_text(left - 6, y(v) + 4, axis_money(v, ymax / 4) if unit == "$" else compact(v), anchor="end"))
    if highlight is not None and 0 <= highlight < n:
        hx = x(highlight)
        body.append(f'<rect x="{hx - step / 2:.1f}" y="{top}" width="{step:.1f}" height="{ph}" fill="#f2f6fb"/>')
    for i, lab in enumerate(labels):
        body.append(_text(x(i), top + ph + 16, lab, anchor="middle", fill=INK if i == highlight else MUTED))
    legend_x: float = left + pw
    for s in reversed(series):
        w = 14 + 6.2 * len(s.name)
        legend_x -= w + 10
        body.append(f'<rect x="{legend_x:.1f}" y="8" width="10" height="10" fill="{s.color}"/>')
        body.append(_text(legend_x + 14, 17, s.name))
    for s in series:
        pts: list[list[tuple[float, float]]] = [[]]
        for i, val in enumerate(s.values):
            if val is None or not math.isfinite(val):
                if pts[-1]:
                    pts.append([])
                continue
            pts[-1].append((x(i), y(val)))
        for run in pts:
            if len(run) > 1:
                path = " ".join(f"{px:.1f},{py:.1f}" for px, py in run)
                body.append(f'<polyline points="{path}" fill="none" stroke="{s.color}" stroke-width="2"/>')
            for px, py in run:
                body.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{s.color}"/>')
    return data_uri(_svg(width, height, body, title))


def column_chart(
    labels: Sequence[str],
    stacks: Sequence[Series],
    *,
    title: str,
    unit: str = "",
    label_every: int = 3,
    width: int = 680,
    height: int = 200,
) -> str:
    """Stacked columns over categorical x labels. Returns a data URI."""
    left, right, top, bottom = 56, 16, 30, 34
    pw, ph = width - left - right, height - top - bottom
    n = max(len(labels), 1)
    totals = [sum((s.values[i] or 0.0) for s in stacks) for i in range(len(labels))]
    ymax = nice_ceiling(max(totals, default=0.0) * 1.05 or 1.0)
    slot = pw / n
    bw = max(slot * 0.72, 1.0)

    def y(v: float) -> float:
        return top + ph - v / ymax * ph

    body = [_text(left, 16, title, fill=INK, size=12, bold=True)]
    for k in range(5):
        v = ymax * k / 4
        body.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="{GRID}"/>')
        body.append(_text(left - 6, y(v) + 4, axis_money(v, ymax / 4) if unit == "$" else compact(v), anchor="end"))
    legend_x: float = left + pw
    for s in reversed(stacks):
        w = 14 + 6.2 * len(s.name)
        legend_x -= w + 10
        body.append(f'<rect x="{legend_x:.1f}" y="8" width="10" height="10" fill="{s.color}"/>')
        body.append(_text(legend_x + 14, 17, s.name))
    for i, lab in enumerate(labels):
        x0 = left + i * slot + (slot - bw) / 2
        base = 0.0
        for s in stacks:
            v = s.values[i] or 0.0
            if v > 0:
                body.append(
                    f'<rect x="{x0:.1f}" y="{y(base + v):.1f}" width="{bw:.1f}" '
                    f'height="{y(base) - y(base + v):.1f}" fill="{s.color}"/>'
                )
            base += v
        if i % label_every == 0:
            body.append(_text(x0 + bw / 2, top + ph + 16, lab, anchor="middle"))
    return data_uri(_svg(width, height, body, title))


def diverging_bars(
    rows: Sequence[tuple[str, float]],
    *,
    title: str,
    width: int = 680,
    bar_height: int = 24,
) -> str:
    """Horizontal bars left (negative, green: cheaper) and right (positive, red: dearer) of zero.

    Three columns that never overlap: the factor names, the bars around a zero line, the values.
    """
    label_w, value_w, top = 120, 110, 30
    pw = width - label_w - value_w - 16
    height = top + bar_height * len(rows) + 14
    m = max((abs(v) for _, v in rows), default=0.0)
    scale = m if m > 0 else 1.0
    zero = label_w + 8 + pw / 2
    body = [_text(8, 16, title, fill=INK, size=12, bold=True)]
    body.append(f'<line x1="{zero:.1f}" x2="{zero:.1f}" y1="{top - 4}" y2="{height - 8}" stroke="{GREY}"/>')
    for i, (label, v) in enumerate(rows):
        yy = top + i * bar_height
        if i % 2 == 0:
            body.append(f'<rect x="0" y="{yy}" width="{width}" height="{bar_height}" fill="#f7f9fb"/>')
        body.append(_text(8, yy + bar_height / 2 + 4, label, fill=INK))
        w = abs(v) / scale * (pw / 2)
        color = RED if v > 0 else GREEN
        x0 = zero if v >= 0 else zero - w
        if w > 0:
            body.append(
                f'<rect x="{x0:.1f}" y="{yy + 5}" width="{max(w, 1):.1f}" height="{bar_height - 10}" fill="{color}"/>'
            )
        sign = "+" if v > 0 else ("−" if v < 0 else "±")
        body.append(
            _text(width - 8, yy + bar_height / 2 + 4, f"{sign}{small_money(abs(v))}", anchor="end",
                  fill=RED if v > 0 else GREEN if v < 0 else MUTED, bold=True)
        )  # fmt: skip
    body.append(f'<line x1="{zero:.1f}" x2="{zero:.1f}" y1="{top}" y2="{height - 14}" stroke="{GREY}"/>')
    body.append(_text(zero - 6, height - 2, "← cheaper", anchor="end", size=10))
    body.append(_text(zero + 6, height - 2, "dearer →", size=10))
    return data_uri(_svg(width, height + 4, body, title))


def share_bars(rows: Sequence[tuple[str, float, str]], *, title: str, width: int = 680, bar_height: int = 22) -> str:
    """Horizontal bars of non-negative values (e.g. cost per namespace), with a text per row."""
    label_w, right_pad, top = 170, 150, 30
    pw = width - label_w - right_pad
    height = top + bar_height * len(rows) + 10
    m = max((v for _, v, _ in rows), default=0.0) or 1.0
    body = [_text(8, 16, title, fill=INK, size=12, bold=True)]
    for i, (label, v, note) in enumerate(rows):
        yy = top + i * bar_height
        short = label if len(label) <= 26 else label[:25] + "…"
        body.append(_text(label_w - 8, yy + bar_height / 2 + 4, short, anchor="end", fill=INK))
        w = max(v, 0) / m * pw
        color = GREY if label.startswith("(idle") else BLUE
        body.append(
            f'<rect x="{label_w}" y="{yy + 4}" width="{max(w, 1):.1f}" height="{bar_height - 8}" fill="{color}"/>'
        )
        body.append(_text(label_w + w + 6, yy + bar_height / 2 + 4, note))
    return data_uri(_svg(width, height, body, title))
