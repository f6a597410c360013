"""Gather one day's report from the named queries: the Report every output is rendered from.

Every figure comes from a named query (queries/named/*.sql) run through queries.runner, the
same path as `memmoat query` and the dashboard, so the report's headline equals
`memmoat query fleet_overview --param start=... --param end=...` for the same day.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from memmoat import output
from memmoat.config import Settings
from queries.runner import Result, run_named
from reports.decompose import DayFactors, Decomposition, decompose

log = logging.getLogger("memmoat.report")

SCHEMA = "memmoat.daily_report/1"
TREND_DAYS = 7  # the "7-day mean" compares with the 7 days before the report day


# -- days and windows ---------------------------------------------------------------------------


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def default_day(settings: Settings, now: datetime | None = None) -> date:
    """Yesterday in the report's timezone: the last complete day."""
    tz = ZoneInfo(settings.report.timezone)
    local = (now.replace(tzinfo=UTC) if now else datetime.now(UTC)).astimezone(tz)
    return local.date() - timedelta(days=1)


def day_bounds(settings: Settings, day: date) -> tuple[datetime, datetime]:
    """The local day [00:00, next 00:00) as naive UTC timestamps (DST-safe: 23 or 25 hours)."""
    tz = ZoneInfo(settings.report.timezone)
    start = datetime.combine(day, datetime.min.time(), tz)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tz)
    utc = ZoneInfo("UTC")
    return start.astimezone(utc).replace(tzinfo=None), end.astimezone(utc).replace(tzinfo=None)


def output_root(settings: Settings, out: Path | None = None) -> Path:
    return out or settings.resolve(settings.report.output_dir)


def report_dir(settings: Settings, day: date, out: Path | None = None) -> Path:
    return output_root(settings, out) / day.isoformat()


# -- query helpers ------------------------------------------------------------------------------


def _iso(t: datetime) -> str:
    return t.isoformat(sep="T", timespec="seconds")


def _records(res: Result) -> list[dict[str, Any]]:
    return [dict(zip(res.columns, r, strict=True)) for r in res.rows]


def _num(v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _change(now: float | None, then: float | None) -> float | None:
    if now is None or then is None or then == 0:
        return None
    return now / then - 1.0


@dataclass
class Table:
    """One table of the report: written as <name>.csv, listed in the summary, shown in the HTML."""

    name: str
    title: str
    columns: list[str]
    rows: list[tuple[Any, ...]]

    @classmethod
    def of(cls, name: str, title: str, res: Result) -> Table:
        return cls(name, title, list(res.columns), list(res.rows))

    @classmethod
    def from_dicts(cls, name: str, title: str, rows: list[dict[str, Any]], columns: list[str]) -> Table:
        return cls(name, title, columns, [tuple(r.get(c) for c in columns) for r in rows])

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]

    def json_records(self) -> list[dict[str, Any]]:
        return json.loads(output.to_json(self.columns, self.rows))  # type: ignore[no-any-return]


@dataclass
class Report:
    """Everything one report shows, computed once; rendered to HTML, CSV and JSON."""

    day: date
    timezone: str
    start: datetime
    end: datetime
    generated_at: datetime
    headline: dict[str, Any]
    overview: dict[str, Any]
    trend: Table
    decompositions: dict[str, Decomposition | str]  # input/output -> decomposition or why not
    baseline_day: date | None
    tables: dict[str, Table] = field(default_factory=dict)
    hourly: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    has_data: bool = True

    def table(self, name: str) -> Table:
        return self.tables[name]


class Builder:
    """Runs the queries of one report against the store (read-only, one short connection each)."""

    def __init__(self, settings: Settings, run: Callable[..., Result] = run_named) -> None:
        self.settings = settings
        self._run = run

    def query(self, name: str, start: datetime, end: datetime, **extra: object) -> Result:
        given = {"start": _iso(start), "end": _iso(end), **{k: str(v) for k, v in extra.items()}}
        return self._run(self.settings.store_path, name, given, settings=self.settings)  # type: ignore[no-any-return]

    def one(self, name: str, start: datetime, end: datetime, **extra: object) -> dict[str, Any]:
        rows = _records(self.query(name, start, end, **extra))
        return rows[0] if rows else {}

    # -- the parts ---------------------------------------------------------------------------

    def presence(self, day: date) -> dict[str, Any]:
        start, end = day_bounds(self.settings, day)
        return self.one("report_data_presence", start, end)

    def build(self, day: date, now: datetime | None = None) -> Report:
        s = self.settings
        now = now or utcnow()
        start, end = day_bounds(s, day)
        days = [day - timedelta(days=i) for i in range(TREND_DAYS, -1, -1)]  # D-7 .. D
        overviews: dict[date, dict[str, Any]] = {}
        for d in days:
            overviews[d] = self.one("fleet_overview", *day_bounds(s, d))
        overview = overviews[day]

        trend_cols = [
            "day", "usd_per_1m_input", "usd_per_1m_output", "usd_per_1m_tokens", "cost_usd", "idle_cost_usd",
            "gpu_hours", "prompt_tokens", "generation_tokens", "energy_kwh",
        ]  # fmt: skip
        trend = Table.from_dicts(
            "trend",
            "Cost per 1M tokens, day by day",
            [{**overviews[d], "day": d} for d in days],
            trend_cols,
        )

        headline = self._headline(day, days, overviews)
        decomps, baseline = self._decompositions(day, overviews)

        tables: dict[str, Table] = {"trend": trend}
        tables["fleet_overview"] = Table.from_dicts(
            "fleet_overview", "Fleet totals for the day", [overview], list(overview)
        )
        tables["decomposition"] = _decomposition_table(decomps)
        tables["cost_by_namespace"] = Table.of(
            "cost_by_namespace", "Who pays: cost by namespace", self.query("chargeback", start, end)
        )
        tables["cost_by_model"] = Table.of(
            "cost_by_model", "Cost by model", self.query("cost_per_token", start, end, by="model")
        )
        tables["idle_gpus"] = Table.of(
            "idle_gpus", "Idle GPUs: cost no engine claims", self.query("idle_cost", start, end)
        )
        diag = _records(self.query("diagnosis", start, end, bucket_minutes=0))
        verdict_cols = [
            "subject", "model", "namespace", "gpu_models", "verdict", "evidence", "recommendation", "busy",
            "dram_active", "tensor_active", "kv_usage_max", "waiting_mean", "preemptions_per_min", "cost_usd",
            "usd_per_1m_tokens",
        ]  # fmt: skip
        tables["bottlenecks"] = Table.from_dicts(
            "bottlenecks",
            "Bottleneck per engine",
            [r for r in diag if r.get("verdict") != "idle cost"],
            verdict_cols,
        )
        tables["kv_incidents"] = Table.of(
            "kv_incidents", "KV-cache pressure incidents", self.query("report_kv_incidents", start, end)
        )
        q_end = min(end, now)
        tables["targets"] = Table.of(
            "targets", "Targets: scrapes and outages", self.query("report_target_health", start, q_end)
        )
        tables["gaps"] = Table.of("gaps", "Gaps in the data", self.query("report_gaps", start, q_end))
        tables["counter_resets"] = Table.of(
            "counter_resets", "Counter resets", self.query("report_counter_resets", start, end)
        )
        hourly = Table.of("hourly", "Hour by hour", self.query("report_hourly", start, end))
        tables["hourly"] = hourly
        notes = []
        presence = self.one("report_data_presence", start, end)
        if not presence.get("samples"):
            notes.append("no data was collected on this day: every figure is empty")
        if overview.get("price_basis"):
            notes.append(f"prices: {overview['price_basis']} (from the settings in use, applied to every day shown)")
        return Report(
            day=day,
            timezone=s.report.timezone,
            start=start,
            end=end,
            generated_at=now,
            headline=headline,
            overview=overview,
            trend=trend,
            decompositions=decomps,
            baseline_day=baseline,
            tables=tables,
            hourly=hourly.records(),
            notes=notes,
            has_data=bool(presence.get("samples")),
        )

    def _headline(self, day: date, days: list[date], overviews: dict[date, dict[str, Any]]) -> dict[str, Any]:
        ov = overviews[day]
        prev = overviews[day - timedelta(days=1)]
        week = [overviews[d] for d in days[:-1]]
        out: dict[str, Any] = {}
        for key in ("usd_per_1m_input", "usd_per_1m_output", "usd_per_1m_tokens"):
            vals = [v for v in (_num(o.get(key)) for o in week) if v is not None]
            mean = sum(vals) / len(vals) if vals else None
            now_v, prev_v = _num(ov.get(key)), _num(prev.get(key))
            out[key] = {
                "day": now_v,
                "previous_day": prev_v,
                "mean_7d": mean,
                "days_in_mean": len(vals),
                "change_vs_previous_day": _change(now_v, prev_v),
                "change_vs_mean_7d": _change(now_v, mean),
            }
        for key in (
            "cost_usd", "engine_cost_usd", "idle_cost_usd", "idle_share", "idle_gpu_hours", "gpu_hours", "gpus",
            "prompt_tokens", "generation_tokens", "tokens_per_s", "energy_kwh", "joules_per_token",
            "usd_per_1m_tokens_engines",
        ):  # fmt: skip
            out[key] = ov.get(key)
        return out

    def _factors(self, day: date) -> dict[str, Any]:
        return self.one("report_factors", *day_bounds(self.settings, day))

    def _decompositions(
        self, day: date, overviews: dict[date, dict[str, Any]]
    ) -> tuple[dict[str, Decomposition | str], date | None]:
        """Decompose the change against the previous day, or the latest earlier day with tokens."""
        cur = self._factors(day)
        baseline: date | None = None
        for i in range(1, TREND_DAYS + 1):
            d = day - timedelta(days=i)
            ov = overviews.get(d, {})
            if (_num(ov.get("prompt_tokens")) or 0) + (_num(ov.get("generation_tokens")) or 0) > 0:
                baseline = d
                break
        if baseline is None:
            why = f"no earlier day with tokens in the {TREND_DAYS} days before"
            return {"input": why, "output": why}, None
        prev = self._factors(baseline)
        out: dict[str, Decomposition | str] = {}
        for kind, cost_key, tok_key in (
            ("input", "input_cost_usd", "prompt_tokens"),
            ("output", "output_cost_usd", "generation_tokens"),
        ):
            try:
                out[kind] = decompose(_day_factors(prev, cost_key, tok_key), _day_factors(cur, cost_key, tok_key))
            except ValueError as exc:
                out[kind] = str(exc)
        return out, baseline


def _day_factors(f: dict[str, Any], cost_key: str, tok_key: str) -> DayFactors:
    gpu_h = _num(f.get("gpu_hours")) or 0.0
    util = _num(f.get("utilization"))
    return DayFactors(
        gpu_hours=gpu_h,
        busy_gpu_hours=gpu_h * util if util is not None else math.nan,
        price_usd=_num(f.get("price_usd")) or 0.0,
        energy_usd=_num(f.get("energy_usd")) or 0.0,
        kind_cost_usd=_num(f.get(cost_key)) or 0.0,
        tokens=_num(f.get(tok_key)) or 0.0,
    )


def _decomposition_table(decomps: dict[str, Decomposition | str]) -> Table:
    cols = ["tokens", "factor", "label", "before", "after", "unit", "log_points", "usd_per_1m"]
    rows: list[tuple[Any, ...]] = []
    for kind, d in decomps.items():
        if isinstance(d, str):
            continue
        rows.append((kind, "total", "$ per 1M tokens", d.before_usd_per_1m, d.after_usd_per_1m, "$/1M",
                     math.log(d.after_usd_per_1m / d.before_usd_per_1m), d.change_usd_per_1m))  # fmt: skip
        for c in d.contributions:
            rows.append((kind, c.factor, c.label, c.before, c.after, c.unit, c.log_points, c.usd_per_1m))
    return Table("decomposition", "Why cost per token moved", cols, rows)
