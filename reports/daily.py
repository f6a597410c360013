"""Build the daily report for one day from the same named queries as the dashboard."""

from __future__ import annotations

import html
import json
import logging
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from memmoat import output
from memmoat.config import Settings
from queries.runner import run_named

log = logging.getLogger("memmoat.report")


def default_day(settings: Settings) -> date:
    """Yesterday in the report's timezone: the last complete day."""
    return datetime.now(ZoneInfo(settings.report.timezone)).date() - timedelta(days=1)


def day_bounds(settings: Settings, day: date) -> tuple[datetime, datetime]:
    """The local day [00:00, next 00:00) as naive UTC timestamps (DST-safe)."""
    tz = ZoneInfo(settings.report.timezone)
    start = datetime.combine(day, datetime.min.time(), tz)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tz)
    utc = ZoneInfo("UTC")
    return start.astimezone(utc).replace(tzinfo=None), end.astimezone(utc).replace(tzinfo=None)


def report_dir(settings: Settings, day: date, out: Path | None = None) -> Path:
    return (out or settings.resolve(settings.report.output_dir)) / day.isoformat()


def write_report(settings: Settings, day: date, out: Path | None = None) -> Path:
    start, end = day_bounds(settings, day)
    params = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "usd_per_gpu_hour": str(settings.prices.default_usd_per_gpu_hour),
    }
    res = run_named(settings.store_path, "fleet_overview", params)
    folder = report_dir(settings, day, out)
    folder.mkdir(parents=True, exist_ok=True)
    summary = dict(zip(res.columns, res.rows[0], strict=True)) if res.rows else {}
    (folder / "fleet_overview.csv").write_text(output.to_csv(res.columns, res.rows), encoding="utf-8")
    (folder / "summary.json").write_text(
        json.dumps({"day": day.isoformat(), "timezone": settings.report.timezone, "fleet": json.loads(
            output.to_json(res.columns, res.rows))[0] if res.rows else {}}, indent=2),
        encoding="utf-8",
    )
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(output.table([k], [[v]]).splitlines()[-1].strip())}</td></tr>"
        for k, v in summary.items()
    )
    (folder / "report.html").write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>memmoat report {day}</title></head>"
        f"<body><h1>memmoat daily report: {day}</h1><table>{rows}</table></body></html>",
        encoding="utf-8",
    )
    return folder


def catch_up(settings: Settings, days_back: int = 7) -> list[Path]:
    """Write the reports of recent days that are missing (e.g. the collector was down)."""
    made = []
    last = default_day(settings)
    for i in range(days_back - 1, -1, -1):
        day = last - timedelta(days=i)
        if not (report_dir(settings, day) / "report.html").exists():
            made.append(write_report(settings, day))
    return made
