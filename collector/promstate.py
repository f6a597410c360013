"""What has been pulled from each [[prometheus]] source: covered time ranges in state files.

Live collection and backfill each keep their own file beside the store (one writer per file),
and each reads the other's, so no time range of a source is ever pulled into the store twice:
a doubled range would double counters' increments, and nothing downstream could tell.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from memmoat.config import Settings

Span = tuple[float, float]  # (start, end] in unix seconds


def state_file(settings: Settings, what: str) -> Path:
    store = settings.store_path
    return store.with_name(f"{store.stem}.prometheus-{what}.json")


def load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save(path: Path, data: dict[str, Any]) -> None:
    """Write atomically: a crash leaves the old state or the new one, never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def age_seconds(path: Path) -> float | None:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return None


def covered(data: dict[str, Any], source: str) -> list[Span]:
    return [(float(a), float(b)) for a, b in data.get("covered", {}).get(source, [])]


def add(data: dict[str, Any], source: str, span: Span) -> None:
    data.setdefault("covered", {})[source] = [list(s) for s in merge([*covered(data, source), span])]


def merge(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def subtract(span: Span, spans: list[Span]) -> list[Span]:
    """The parts of ``span`` that no span in ``spans`` covers."""
    out: list[Span] = []
    a, b = span
    for c, d in merge(spans):
        if d <= a or c >= b:
            continue
        if c > a:
            out.append((a, c))
        a = max(a, d)
        if a >= b:
            break
    if a < b:
        out.append((a, b))
    return out


def split(span: Span, chunk: float) -> list[Span]:
    """Cut ``span`` at multiples of ``chunk`` (epoch-aligned, so reruns cut at the same places)."""
    a, b = span
    out: list[Span] = []
    while a < b:
        nxt = min(b, (a // chunk + 1) * chunk)
        out.append((a, nxt))
        a = nxt
    return out
