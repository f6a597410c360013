"""The daily report: one local day explained, written to a dated folder and delivered.

``write_report`` writes ``<output_dir>/<day>/``: ``report.html`` (self-contained: inline CSS,
charts as SVG data URIs, no JavaScript, no URL), one CSV per table and ``summary.json``.
``make_report`` also delivers it (email, webhook; a delivery failure is logged, never raised)
and records it in the ledger ``<output_dir>/ledger.json``. ``catch_up`` makes the missing
reports of the last ``report.catch_up_days`` days that have data: the collector runs it at
start and daily at ``report.time`` (memmoat/service.py).

How to read the report and the method behind "why cost per token moved": docs/read-the-report.md.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from memmoat import output
from memmoat.config import Settings
from memmoat.errors import MemmoatError
from reports import deliver as delivery
from reports import render
from reports.build import (
    Builder,
    Report,
    day_bounds,
    default_day,
    output_root,
    report_dir,
    utcnow,
)

__all__ = [
    "Made",
    "catch_up",
    "day_bounds",
    "days_with_data",
    "default_day",
    "make_report",
    "read_ledger",
    "report_dir",
    "write_report",
]

log = logging.getLogger("memmoat.report")

LEDGER = "ledger.json"
_lock = threading.Lock()  # one report at a time per process (the daily job and the catch-up at start)


@dataclass
class Made:
    day: date
    folder: Path
    report: Report
    deliveries: list[delivery.Outcome] = field(default_factory=list)


def _atomic_write(path: Path, text: str) -> None:
    """Write to a temporary name, then rename: a reader never sees half a file (umask permissions)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_files(report: Report, folder: Path) -> list[str]:
    """Write the CSVs, summary.json and report.html (last: its presence means the folder is complete)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for table in report.tables.values():
        name = f"{table.name}.csv"
        _atomic_write(folder / name, output.to_csv(table.columns, table.rows))
        files.append(name)
    files = [*sorted(files), "summary.json", "report.html"]
    _atomic_write(folder / "summary.json", json.dumps(render.summary(report, files), indent=2) + "\n")
    _atomic_write(folder / "report.html", render.html(report))
    return files


def write_report(settings: Settings, day: date, out: Path | None = None, *, now: datetime | None = None) -> Path:
    """Build and write the report of ``day``; returns its folder."""
    return _write(settings, day, out, now=now)[1]


def _write(settings: Settings, day: date, out: Path | None, *, now: datetime | None) -> tuple[Report, Path]:
    report = Builder(settings).build(day, now=now)
    folder = report_dir(settings, day, out)
    write_files(report, folder)
    log.info("report for %s written to %s", day, folder)
    return report, folder


def message(report: Report, folder: Path) -> delivery.Message:
    attachments = [*sorted(folder.glob("*.csv")), folder / "summary.json"]
    return delivery.Message(
        subject=render.subject(report),
        html=(folder / "report.html").read_text(encoding="utf-8"),
        text=render.plain_text(report),
        attachments=attachments,
        webhook_payload=render.slack_payload(report, str(folder)),
    )


def make_report(
    settings: Settings,
    day: date,
    out: Path | None = None,
    *,
    send: bool = True,
    trigger: str = "command",
    now: datetime | None = None,
) -> Made:
    """Write the report of ``day``, deliver it on the configured channels, record it in the ledger.

    Query and store errors raise (MemmoatError); delivery failures do not (see deliver.py).
    """
    with _lock:
        report, folder = _write(settings, day, out, now=now)
        made = Made(day, folder, report)
        if send and (settings.report.email or settings.report.webhook):
            made.deliveries = delivery.deliver(settings.report, message(report, folder), base_dir=settings.base_dir)
        _record(output_root(settings, out), made, trigger)
        return made


# -- the ledger ---------------------------------------------------------------------------------


def read_ledger(root: Path) -> dict[str, Any]:
    try:
        data = json.loads((root / LEDGER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"made": {}, "skipped": {}}
    data.setdefault("made", {})
    data.setdefault("skipped", {})
    return data  # type: ignore[no-any-return]


def _record(root: Path, made: Made, trigger: str) -> None:
    ledger = read_ledger(root)
    key = made.day.isoformat()
    ledger["made"][key] = {
        "made_at": utcnow().isoformat(timespec="seconds") + "Z",
        "trigger": trigger,
        "folder": made.folder.name,
        "delivery": [o.as_dict() for o in made.deliveries],
    }
    ledger["skipped"].pop(key, None)
    _atomic_write(root / LEDGER, json.dumps(ledger, indent=2, sort_keys=True) + "\n")


def _record_skipped(root: Path, days: dict[str, str]) -> None:
    if not days:
        return
    ledger = read_ledger(root)
    for key, why in days.items():
        if key not in ledger["made"]:
            ledger["skipped"][key] = {"checked_at": utcnow().isoformat(timespec="seconds") + "Z", "reason": why}
    _atomic_write(root / LEDGER, json.dumps(ledger, indent=2, sort_keys=True) + "\n")


# -- catch-up -------------------------------------------------------------------------------------


def days_with_data(settings: Settings, days: list[date]) -> dict[date, bool]:
    builder = Builder(settings)
    return {d: bool(builder.presence(d).get("samples")) for d in days}


def catch_up(
    settings: Settings,
    days_back: int | None = None,
    *,
    send: bool = True,
    now: datetime | None = None,
) -> list[Path]:
    """Make the reports of the last ``days_back`` complete days that have data and no report yet.

    A day without samples (the collector was down all day) gets no report; it is recorded in
    the ledger as skipped and made later if data for it arrives (e.g. by `memmoat backfill`).
    Returns the folders made. One day failing does not stop the others.
    """
    n = settings.report.catch_up_days if days_back is None else days_back
    if n <= 0 or not settings.store_path.exists():
        return []
    last = default_day(settings, now)
    root = output_root(settings)
    candidates = [last - timedelta(days=i) for i in range(n - 1, -1, -1)]
    missing = [d for d in candidates if not (report_dir(settings, d) / "report.html").exists()]
    if not missing:
        return []
    present = days_with_data(settings, missing)
    _record_skipped(root, {d.isoformat(): "no data" for d, has in present.items() if not has})
    made = []
    for d in missing:
        if not present[d]:
            log.info("no report for %s: no data was collected that day", d)
            continue
        try:
            made.append(make_report(settings, d, send=send, trigger="catch-up", now=now).folder)
        except MemmoatError as exc:
            log.warning("report for %s not made: %s", d, exc.message)
    if made:
        log.info("made %d report(s): %s", len(made), ", ".join(p.name for p in made))
    return made


def bounds_text(settings: Settings, day: date) -> str:
    start, end = day_bounds(settings, day)
    return f"{start:%Y-%m-%dT%H:%M:%S} – {end:%Y-%m-%dT%H:%M:%S} UTC"
