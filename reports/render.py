"""Render a Report: HTML for people (and mail clients), CSV tables and a JSON summary for machines.

The HTML is one file that needs nothing else: CSS in style attributes (mail clients drop
<style> blocks and external sheets), layout in tables, charts as SVG data URIs with every
figure also in a table, no JavaScript, no URL of any kind.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from memmoat import output
from reports import charts
from reports.build import SCHEMA, Report, Table
from reports.decompose import Decomposition

UTC = ZoneInfo("UTC")


# -- formatting ---------------------------------------------------------------------------------


def _f(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def money(v: Any, digits: int = 2) -> str:
    return charts.money(_f(v), digits)


def price(v: Any) -> str:
    """$ per 1M tokens: three decimals below $10 (0.998 vs 1.575 matter), two above."""
    x = _f(v)
    if x is None:
        return "—"
    if abs(x) < 1:
        return f"${x:,.4f}"
    if abs(x) < 10:
        return f"${x:,.3f}"
    return f"${x:,.2f}"


_SCHEME = re.compile(r"\bhttps?://", re.IGNORECASE)


def no_scheme(v: Any) -> Any:
    """Text shown in the HTML never carries a URL scheme: no link a mail client could follow or
    auto-link (error messages name target URLs). The CSV and JSON files keep the text as is."""
    if isinstance(v, Markup):  # already rendered (a macro's output): its parts went through here
        return v
    return _SCHEME.sub("", v) if isinstance(v, str) else v


SHORT = {
    "price": "GPU price",
    "energy": "energy",
    "utilization": "utilization",
    "token_mix": "token mix",
    "throughput": "throughput",
}


def sentence_label(factor: str, kind: str) -> str:
    return {
        "price": "GPU price without power",
        "energy": "energy cost per GPU-hour",
        "utilization": "utilization",
        "token_mix": f"the {kind} tokens' share of the cost",
        "throughput": f"{kind} tokens per busy GPU-hour",
    }.get(factor, factor)


def money4(v: Any) -> str:
    x = _f(v)
    if x is None:
        return "—"
    return f"${x:,.4f}" if abs(x) < 1 else f"${x:,.2f}"


def pct(v: Any, digits: int = 0) -> str:
    x = _f(v)
    return "—" if x is None else f"{100 * x:.{digits}f}%"


def signed_pct(v: Any) -> str:
    x = _f(v)
    if x is None:
        return "—"
    return f"{'+' if x > 0 else '−' if x < 0 else '±'}{abs(100 * x):.1f}%"


def signed_money(v: Any) -> str:
    """+$1.23, −$0.052, +$0.00041: enough digits to tell small contributions apart."""
    x = _f(v)
    if x is None:
        return "—"
    return f"{'+' if x > 0 else '−' if x < 0 else '±'}{charts.small_money(abs(x))}"


def num(v: Any, digits: int = 0) -> str:
    x = _f(v)
    return "—" if x is None else f"{x:,.{digits}f}"


def num1(v: Any) -> str:
    return num(v, 1)


def tokens(v: Any) -> str:
    x = _f(v)
    if x is None:
        return "—"
    if abs(x) >= 1e9:
        return f"{x / 1e9:,.2f}B"
    if abs(x) >= 1e6:
        return f"{x / 1e6:,.2f}M"
    if abs(x) >= 1e4:
        return f"{x / 1e3:,.1f}k"
    return f"{x:,.0f}"


def log_points(v: float) -> str:
    return "0.0000" if abs(v) < 5e-5 else f"{v:+.4f}"


def text(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return output._cell(v)
    return str(v)


def factor_value(v: Any, unit: str) -> str:
    if unit == "$/GPU-h":
        return money4(v)
    if unit == "ratio":
        return pct(v, 1)
    if unit == "tokens/GPU-h":
        return tokens(v)
    return text(v)


def change_color(v: Any, *, good_when_down: bool = True) -> str:
    x = _f(v)
    if x is None or abs(x) < 0.005:
        return "#616e7c"
    up_bad = good_when_down
    return "#c23b3b" if (x > 0) == up_bad else "#2f8f5b"


@dataclass(frozen=True)
class Col:
    key: str
    header: str
    fmt: Callable[[Any], str] = text
    right: bool = False
    derive: Callable[[dict[str, Any]], Any] | None = None  # the value from the whole row
    nowrap: bool = False

    def value(self, row: dict[str, Any]) -> str:
        return self.fmt(self.derive(row) if self.derive else row.get(self.key))


class Clock:
    """Naive UTC timestamps shown in the report's timezone."""

    def __init__(self, tz: str, day: date) -> None:
        self.tz = ZoneInfo(tz)
        self.day = day

    def __call__(self, v: Any) -> str:
        if not isinstance(v, datetime):
            return text(v)
        local = v.replace(tzinfo=UTC).astimezone(self.tz)
        if local.date() == self.day:
            return local.strftime("%H:%M")
        if (local.date() - self.day).days == 1 and local.hour == 0 and local.minute == 0:
            return "24:00"
        return local.strftime("%Y-%m-%d %H:%M")


def short_reason(v: Any) -> str:
    r = text(v)
    if r.startswith("no pod holds it"):
        return "no pod holds it; no engine target claims it"
    return r


def engine_name(target: Any, engine: Any) -> str:
    return f"{target}/{engine}" if engine not in (None, "0") else str(target)


def minutes(v: Any) -> str:
    x = _f(v)
    if x is None:
        return "—"
    if x >= 90:
        return f"{x / 60:.1f} h"
    return f"{x:.0f} min"


# -- the view -------------------------------------------------------------------------------------


def _rows(table: Table, cols: Sequence[Col], limit: int | None = None) -> dict[str, Any]:
    recs = table.records()
    shown = recs if limit is None else recs[:limit]
    return {
        "cols": cols,
        "rows": [[(c.value(r), c.right, c.right or c.nowrap) for c in cols] for r in shown],
        "more": max(0, len(recs) - len(shown)),
        "csv": f"{table.name}.csv",
    }


def _headline_card(report: Report, key: str, title: str) -> dict[str, Any]:
    h = report.headline[key]
    return {
        "title": title,
        "value": price(h["day"]),
        "prev": price(h["previous_day"]),
        "prev_change": signed_pct(h["change_vs_previous_day"]),
        "prev_color": change_color(h["change_vs_previous_day"]),
        "mean": price(h["mean_7d"]),
        "mean_days": h["days_in_mean"],
        "mean_change": signed_pct(h["change_vs_mean_7d"]),
        "mean_color": change_color(h["change_vs_mean_7d"]),
    }


def explain(d: Decomposition, kind: str, baseline: date | None) -> str:
    """One sentence: how much the cost moved and which factors moved it most (those above 0.5 %)."""
    when = f"on {baseline.isoformat()}" if baseline else "before"
    change = d.change_ratio
    ranked = sorted(d.contributions, key=lambda c: -abs(c.log_points))
    parts = []
    for c in ranked[:2]:
        if abs(c.log_points) < 0.005:
            continue
        moved = "rose" if c.after > c.before else "fell"
        parts.append(
            f"{sentence_label(c.factor, kind)} {moved} from {factor_value(c.before, c.unit)} "
            f"to {factor_value(c.after, c.unit)} ({signed_money(c.usd_per_1m)} per 1M)"
        )
    if abs(change) < 0.005:
        head = (
            f"{kind.capitalize()} tokens cost {price(d.after_usd_per_1m)} per 1M, about the same as {when} "
            f"({signed_pct(change)})"
        )
    else:
        direction = "more" if change > 0 else "less"
        head = (
            f"{kind.capitalize()} tokens cost {price(d.after_usd_per_1m)} per 1M, {abs(100 * change):.1f}% {direction} "
            f"than {when} ({price(d.before_usd_per_1m)})"
        )
    return head + (": " + "; ".join(parts) + "." if parts else ".")


def context(report: Report) -> dict[str, Any]:
    clock = Clock(report.timezone, report.day)
    h = report.headline
    t = report.tables

    # decomposition views and chart
    decomp: list[dict[str, Any]] = []
    for kind in ("output", "input"):
        d = report.decompositions.get(kind)
        if isinstance(d, Decomposition):
            rows = [
                {
                    "label": c.label,
                    "before": factor_value(c.before, c.unit),
                    "after": factor_value(c.after, c.unit),
                    "log": log_points(c.log_points),
                    "usd": signed_money(c.usd_per_1m),
                    "color": change_color(c.usd_per_1m),
                }
                for c in d.contributions
            ]
            chart = charts.diverging_bars(
                [(SHORT.get(c.factor, c.factor), c.usd_per_1m) for c in d.contributions],
                title=f"{kind.capitalize()} tokens: change of $ per 1M by factor",
            )
            decomp.append({
                "kind": kind, "sentence": explain(d, kind, report.baseline_day), "rows": rows, "chart": chart,
                "before": price(d.before_usd_per_1m), "after": price(d.after_usd_per_1m),
                "total": signed_money(d.change_usd_per_1m),
                "total_log": log_points(math.log(d.after_usd_per_1m / d.before_usd_per_1m)),
                "total_color": change_color(d.change_usd_per_1m),
            })  # fmt: skip
        else:
            decomp.append({"kind": kind, "missing": d or "not computed"})

    trend = report.trend.records()
    labels = [r["day"].strftime("%a %d") for r in trend]
    trend_charts = [
        charts.line_chart(
            labels,
            [charts.Series(f"{kind} $/1M", color, [_f(r[f"usd_per_1m_{kind}"]) for r in trend])],
            title=f"$ per 1M {kind} tokens, last 8 days",
            highlight=len(trend) - 1,
            height=170,
        )
        for kind, color in (("output", charts.ORANGE), ("input", charts.BLUE))
    ]
    hourly = report.hourly
    hourly_chart = charts.column_chart(
        [clock(r["hour_start"]) for r in hourly],
        [
            charts.Series("input tokens/s", charts.BLUE, [(_f(r["prompt_tokens"]) or 0) / 3600 for r in hourly]),
            charts.Series("output tokens/s", charts.ORANGE, [(_f(r["generation_tokens"]) or 0) / 3600 for r in hourly]),
        ],
        title=f"Tokens per second, hour by hour ({report.timezone})",
    )
    hourly_cost_chart = charts.column_chart(
        [clock(r["hour_start"]) for r in hourly],
        [
            charts.Series("engines", charts.BLUE, [_f(r["cost_usd"]) for r in hourly]),
            charts.Series("idle GPUs", charts.GREY, [_f(r["idle_cost_usd"]) for r in hourly]),
        ],
        title="GPU cost per hour",
        unit="$",
    )

    ns = t["cost_by_namespace"].records()
    ns_chart = (
        charts.share_bars(
            [
                (str(r["namespace"]), _f(r["cost_usd"]) or 0.0, f"{money(r['cost_usd'])} · {pct(r['share_of_bill'])}")
                for r in ns[:10]
            ],
            title="Cost by namespace",
        )
        if ns
        else None
    )

    verdicts = t["bottlenecks"].records()
    counts: dict[str, int] = {}
    for v in verdicts:
        counts[str(v["verdict"])] = counts.get(str(v["verdict"]), 0) + 1

    quality = data_quality(report)
    idle_rows = t["idle_gpus"].records()
    idle_busy = [r for r in idle_rows if (_f(r.get("busy")) or 0) >= 0.05]

    summary_points = []
    if not report.has_data:
        summary_points.append("No data was collected on this day: every figure below is empty.")
    for item in decomp:
        if "sentence" in item:
            summary_points.append(item["sentence"])
    if _f(h.get("idle_cost_usd")):
        summary_points.append(
            f"Idle GPUs cost {money(h['idle_cost_usd'])} ({pct(h.get('idle_share'))} of the bill, "
            f"{num1(h.get('idle_gpu_hours'))} GPU-hours); that cost is not in the per-token figures."
        )
    if counts:
        summary_points.append(
            "Bottlenecks: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1])) + "."
        )
    n_inc = len(t["kv_incidents"].rows)
    if n_inc:
        summary_points.append(f"{n_inc} KV-cache pressure incident(s).")
    summary_points.append(quality["sentence"])

    return {
        "r": report,
        "day": report.day.isoformat(),
        "weekday": report.day.strftime("%A"),
        "tz": report.timezone,
        "generated": report.generated_at.replace(tzinfo=UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "window": f"{report.start:%Y-%m-%d %H:%M} – {report.end:%Y-%m-%d %H:%M} UTC",
        "cards": [
            _headline_card(report, "usd_per_1m_input", "$ per 1M input tokens"),
            _headline_card(report, "usd_per_1m_output", "$ per 1M output tokens"),
        ],
        "totals": [
            ("GPU cost", money(h.get("cost_usd"))),
            ("of which idle", f"{money(h.get('idle_cost_usd'))} ({pct(h.get('idle_share'))})"),
            ("GPU-hours", num1(h.get("gpu_hours"))),
            ("GPUs", num(h.get("gpus"))),
            ("input tokens", tokens(h.get("prompt_tokens"))),
            ("output tokens", tokens(h.get("generation_tokens"))),
            ("energy", f"{num1(h.get('energy_kwh'))} kWh"),
            ("energy per token", f"{num(h.get('joules_per_token'), 2)} J"),
            ("$ per 1M tokens incl. idle", money(h.get("usd_per_1m_tokens", {}).get("day"))),
        ],
        "summary_points": summary_points,
        "decomp": decomp,
        "baseline": report.baseline_day.isoformat() if report.baseline_day else None,
        "trend_charts": trend_charts,
        "trend_table": _rows(
            report.trend,
            [
                Col("day", "day", lambda v: v.strftime("%a %Y-%m-%d") if v else "—"),
                Col("usd_per_1m_input", "$/1M input", price, True),
                Col("usd_per_1m_output", "$/1M output", price, True),
                Col("cost_usd", "GPU cost", money, True),
                Col("idle_cost_usd", "idle", money, True),
                Col("prompt_tokens", "input tokens", tokens, True),
                Col("generation_tokens", "output tokens", tokens, True),
            ],
        ),
        "hourly_chart": hourly_chart,
        "hourly_cost_chart": hourly_cost_chart,
        "ns_chart": ns_chart,
        "namespaces": _rows(
            t["cost_by_namespace"],
            [
                Col("namespace", "namespace"),
                Col("models", "models"),
                Col("cost_usd", "cost", money, True),
                Col("share_of_bill", "share", pct, True),
                Col("gpu_hours", "GPU-h", num1, True),
                Col("usd_per_1m_input", "$/1M in", price, True),
                Col("usd_per_1m_output", "$/1M out", price, True),
            ],
            limit=12,
        ),
        "models": _rows(
            t["cost_by_model"],
            [
                Col("group", "model"),
                Col("engines", "engines", num, True),
                Col("gpu_models", "GPUs", short_gpu),
                Col("cost_usd", "cost", money, True),
                Col("prompt_tokens", "in", tokens, True),
                Col("generation_tokens", "out", tokens, True),
                Col("usd_per_1m_input", "$/1M in", price, True),
                Col("usd_per_1m_output", "$/1M out", price, True),
            ],
            limit=12,
        ),
        "idle": _rows(
            t["idle_gpus"],
            [
                Col("hostname", "node", nowrap=True),
                Col("gpu", "GPU", num, True),
                Col("gpu_model", "model", short_gpu),
                Col("reason", "why idle", short_reason),
                Col("gpu_hours", "GPU-h", num1, True),
                Col("busy", "busy", pct, True),
                Col("cost_usd", "cost", money, True),
            ],
            limit=15,
        ),
        "idle_total": money(h.get("idle_cost_usd")),
        "idle_busy": len(idle_busy),
        "verdict_groups": verdict_groups(verdicts),
        "verdict_counts": counts,
        "kv": _rows(
            t["kv_incidents"],
            [
                Col("target", "engine", derive=lambda r: engine_name(r["target"], r["engine"])),
                Col("namespace", "namespace"),
                Col("started", "from", clock),
                Col("ended", "to", clock),
                Col("minutes", "lasted", minutes, True),
                Col("peak_kv_usage", "KV peak", pct, True),
                Col("max_waiting", "waiting (max)", num, True),
                Col("preemptions", "preempted", num, True),
            ],
            limit=20,
        ),
        "quality": quality,
        "clock": clock,
        "notes": [n[:1].upper() + n[1:] for n in report.notes],
        "files": [*sorted(f"{n}.csv" for n in report.tables), "summary.json"],
    }


MAX_ENGINES_PER_VERDICT = 8  # the rest are in bottlenecks.csv: the mail stays small
MAX_QUALITY_ITEMS = 25

VERDICT_ORDER = (
    "KV-capacity-bound",
    "memory-bandwidth-bound",
    "compute-bound",
    "under-utilized",
    "unknown",
    "no bottleneck",
)


def short_gpu(v: Any) -> str:
    """'NVIDIA A100-SXM4-80GB, NVIDIA H100 80GB HBM3' -> 'A100-SXM4-80GB, H100 80GB HBM3'."""
    return re.sub(r"\b(?:NVIDIA|Tesla)\s+", "", text(v))


def about(v: dict[str, Any]) -> str:
    parts = (v.get("model"), v.get("namespace"), short_gpu(v.get("gpu_models")))
    return " · ".join(str(x) for x in parts if x and x != "—")


def verdict_groups(verdicts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Engines grouped by verdict (worst first, dearest engine first), the advice said once per group
    where every engine of it gets the same."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for v in verdicts:
        groups.setdefault(str(v["verdict"]), []).append(v)
    order = {name: i for i, name in enumerate(VERDICT_ORDER)}
    out = []
    for name in sorted(groups, key=lambda n: (order.get(n, len(order)), n)):
        members = sorted(groups[name], key=lambda v: -(_f(v.get("cost_usd")) or 0.0))
        advice = {str(v.get("recommendation") or "") for v in members}
        shared = advice.pop() if len(advice) == 1 else None
        out.append({
            "verdict": name,
            "color": VERDICT_COLORS.get(name, "#616e7c"),
            "count": len(members),
            "cost": money(sum(_f(v.get("cost_usd")) or 0.0 for v in members)),
            "recommendation": shared,
            "more": max(0, len(members) - MAX_ENGINES_PER_VERDICT),
            "engines": [
                {
                    "subject": v["subject"],
                    "about": about(v),
                    "cost": money(v.get("cost_usd")),
                    "evidence": v.get("evidence") or "",
                    "recommendation": None if shared is not None else (v.get("recommendation") or ""),
                }
                for v in members[:MAX_ENGINES_PER_VERDICT]
            ],
        })  # fmt: skip
    return out


VERDICT_COLORS = {
    "KV-capacity-bound": "#c23b3b",
    "memory-bandwidth-bound": "#d9822b",
    "compute-bound": "#8e44ad",
    "under-utilized": "#9aa5b1",
    "no bottleneck": "#2f8f5b",
    "unknown": "#616e7c",
}


RESET_MEANING = {
    "engine": "the engine restarted; counted from the new values, no tokens lost",
    "gpu energy": "the driver reloaded; energy counted from the new value",
}


def data_quality(report: Report) -> dict[str, Any]:
    """Targets down, gaps, counter resets, GPUs no engine claims (and busy ones among them)."""
    clock = Clock(report.timezone, report.day)
    t = report.tables
    targets = t["targets"].records()
    down = [r for r in targets if (r.get("failures") or 0) > 0 or (r.get("scrapes") or 0) == 0]
    gaps = t["gaps"].records()
    resets = t["counter_resets"].records()
    idle = t["idle_gpus"].records()
    busy_unattributed = [r for r in idle if (_f(r.get("busy")) or 0) >= 0.05]
    items = []
    for r in down:
        if not r.get("scrapes"):
            items.append(("target down", f"{r['target']} ({r.get('kind') or '?'}): no scrape at all this day"))
        else:
            items.append(
                (
                    "target down",
                    f"{r['target']} ({r.get('kind')}): {r['failures']} of {r['scrapes']} scrapes failed; "
                    f"longest outage {minutes(r.get('longest_outage_minutes'))} from {clock(r.get('down_from'))} "
                    f"to {clock(r.get('down_to'))}; last error: {r.get('last_error') or '—'}",
                )
            )
    # the same gap on every target is the collector, not the targets
    by_span: dict[tuple[Any, Any], list[str]] = {}
    for g in gaps:
        by_span.setdefault((g["gap_from"], g["gap_to"]), []).append(str(g["target"]))
    n_targets = len(targets)
    for (a, b), names in by_span.items():
        who = (
            f"all {len(names)} targets (the collector was not running?)"
            if n_targets > 1 and len(names) == n_targets
            else ", ".join(names)
        )
        span = (b - a).total_seconds() / 60 if isinstance(a, datetime) and isinstance(b, datetime) else None
        items.append(("gap", f"no data from {clock(a)} to {clock(b)} ({minutes(span)}): {who}"))
    for r in resets:
        items.append(
            (
                "counter reset",
                f"{r['source']}: {r['resets']} reset(s) of "
                f"{'token/request' if r['kind'] == 'engine' else 'energy'} counters, "
                f"first at {clock(r.get('first_at'))} ({RESET_MEANING.get(str(r['kind']), 'restart')})",
            )
        )
    for r in busy_unattributed:
        items.append(
            (
                "unattributed GPU",
                f"{r.get('hostname')} GPU {r.get('gpu')}: busy {pct(r.get('busy'))} "
                f"but no engine claims it ({r.get('reason')})",
            )
        )
    unattributed = len(idle)
    problems = len(down) + len(by_span) + len(busy_unattributed)
    if problems == 0 and not resets:
        sentence = "Data complete: every target answered all day, no gaps, no counter resets."
    else:
        bits = []
        if down:
            bits.append(f"{len(down)} target(s) down at times")
        if by_span:
            bits.append(f"{len(by_span)} gap(s)")
        if resets:
            bits.append(f"{sum(int(r['resets']) for r in resets)} counter reset(s)")
        if busy_unattributed:
            bits.append(f"{len(busy_unattributed)} busy GPU(s) no engine claims")
        sentence = "Data quality: " + ", ".join(bits) + "."
    return {
        "items": items,
        "shown": items[:MAX_QUALITY_ITEMS],
        "more": max(0, len(items) - MAX_QUALITY_ITEMS),
        "sentence": sentence,
        "ok": problems == 0,
        "counts": {
            "targets_down": len(down),
            "gaps": len(gaps),
            "counter_resets": sum(int(r["resets"]) for r in resets),
            "unattributed_gpus": unattributed,
            "busy_unattributed_gpus": len(busy_unattributed),
        },
    }


_env: Environment | None = None


def environment() -> Environment:
    global _env
    if _env is None:
        _env = Environment(
            loader=PackageLoader("reports", "templates"),
            autoescape=select_autoescape(["html", "j2"]),
            finalize=no_scheme,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
    return _env


def html(report: Report) -> str:
    return environment().get_template("daily.html.j2").render(**context(report))


def plain_text(report: Report) -> str:
    """The email's text part and the webhook's fallback: the summary in a few lines."""
    ctx = context(report)
    lines = [f"memmoat daily report {ctx['day']} ({ctx['tz']})", ""]
    for c in ctx["cards"]:
        lines.append(
            f"{c['title']}: {c['value']} ({c['prev_change']} vs previous day {c['prev']}, "
            f"{c['mean_change']} vs 7-day mean {c['mean']})"
        )
    lines.append("")
    lines += [f"- {p}" for p in ctx["summary_points"]]
    lines += ["", f"Files: {', '.join(ctx['files'])}"]
    return "\n".join(lines) + "\n"


def subject(report: Report) -> str:
    h = report.headline["usd_per_1m_output"]
    change = signed_pct(h["change_vs_previous_day"])
    return (
        f"memmoat {report.day.isoformat()}: {price(h['day'])} per 1M output tokens ({change} vs previous day), "
        f"idle {money(report.headline.get('idle_cost_usd'))}"
    )


def slack_escape(text: str) -> str:
    """Slack mrkdwn reserves &, < and > (links, mentions)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(report: Report, folder: str) -> dict[str, Any]:
    """Slack-compatible incoming-webhook JSON: ``text`` (fallback) and Block Kit ``blocks``."""
    ctx = context(report)
    fields = []
    for c in ctx["cards"]:
        fields.append({
            "type": "mrkdwn",
            "text": f"*{c['title']}*\n{c['value']}  "
            f"({c['prev_change']} vs prev. day, {c['mean_change']} vs 7-day mean)",
        })  # fmt: skip
    fields.append({"type": "mrkdwn", "text": f"*GPU cost*\n{money(report.headline.get('cost_usd'))}"})
    fields.append({"type": "mrkdwn", "text": f"*Idle GPUs*\n{money(report.headline.get('idle_cost_usd'))}"})
    bullets = "\n".join(f"• {slack_escape(p)}" for p in ctx["summary_points"])
    return {
        "text": subject(report),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": f"memmoat daily report {ctx['day']}"}},
            {"type": "section", "fields": fields},
            {"type": "section", "text": {"type": "mrkdwn", "text": bullets[:2900]}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Full report: `{folder}/report.html`"}]},
        ],
    }


def summary(report: Report, files: list[str]) -> dict[str, Any]:
    """summary.json: the headline, the decomposition and every table, for machines."""

    def jsonable(v: Any) -> Any:
        return json.loads(output.to_json(["v"], [(v,)]))[0]["v"]

    decomp: dict[str, Any] = {}
    for kind, d in report.decompositions.items():
        if isinstance(d, Decomposition):
            decomp[kind] = {
                "baseline_day": report.baseline_day.isoformat() if report.baseline_day else None,
                "before_usd_per_1m": d.before_usd_per_1m,
                "after_usd_per_1m": d.after_usd_per_1m,
                "change_usd_per_1m": d.change_usd_per_1m,
                "log_ratio": math.log(d.after_usd_per_1m / d.before_usd_per_1m),
                "contributions": [c.as_dict() for c in d.contributions],
            }
        else:
            decomp[kind] = {"unavailable": d}
    quality = data_quality(report)
    return {
        "schema": SCHEMA,
        "day": report.day.isoformat(),
        "timezone": report.timezone,
        "window_utc": {"start": report.start.isoformat(), "end": report.end.isoformat()},
        "has_data": report.has_data,
        "generated_at": report.generated_at.isoformat() + "Z",
        "headline": {
            k: jsonable(v) if not isinstance(v, dict) else {kk: jsonable(vv) for kk, vv in v.items()}
            for k, v in report.headline.items()
        },
        "decomposition": decomp,
        "bottlenecks": {
            "counts": context(report)["verdict_counts"],
            "engines": report.tables["bottlenecks"].json_records(),
        },
        "kv_incidents": report.tables["kv_incidents"].json_records(),
        "data_quality": {
            "counts": quality["counts"],
            "issues": [{"kind": k, "detail": d} for k, d in quality["items"]],
        },
        "cost_by_namespace": report.tables["cost_by_namespace"].json_records(),
        "cost_by_model": report.tables["cost_by_model"].json_records(),
        "idle_gpus": report.tables["idle_gpus"].json_records(),
        "trend": report.trend.json_records(),
        "notes": [n[:1].upper() + n[1:] for n in report.notes],
        "files": files,
    }
