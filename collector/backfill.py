"""`memmoat backfill`: history from a [[prometheus]] source, in chunks, resumable.

Each chunk is pulled, ingested and committed in one transaction, then recorded as covered
in ``<store>.prometheus-backfill.json``. An interrupted backfill run again with the same or
a wider range pulls only what is not covered yet (by earlier chunks or by live collection);
a chunk whose commit landed just before a crash is recognised by its scrape-log row.

A running collector may write the store at the same time (both take turns on the file).
Two processes must not hand out the same series id, so a backfill starts its new ids well
above the current maximum, and inside its transaction reuses the id of any series the
collector registered in the meantime.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa

from collector import promstate
from collector.ingest import Batch, Ingestor
from collector.promapi import SourceReader, from_epoch, to_epoch, utc
from collector.promlive import register_targets
from memmoat.config import PrometheusSource, Settings
from memmoat.errors import ConfigError
from store.writer import commit_batches, ensure_schema, load_registry

# Ids a running collector may still hand out after the current maximum are left free.
ID_GAP = 100_000
# A live collector that saved its state this recently is taken to be running.
LIVE_FRESH_SECONDS = 600

_REL = re.compile(r"^-(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smhdw])", text.strip())
    if not m:
        raise ConfigError(f"{text!r} is not a duration", hint="use e.g. 90s, 30m, 6h, 2d")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_when(text: str, now: datetime) -> datetime:
    """'now', a relative '-6h' / '-2d', or an ISO time (UTC unless it carries an offset)."""
    t = text.strip()
    if t == "now":
        return now
    m = _REL.match(t)
    if m:
        return now - timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])
    try:
        return utc(datetime.fromisoformat(t.replace("Z", "+00:00")))
    except ValueError:
        raise ConfigError(
            f"{text!r} is not a time", hint="use an ISO time (2026-11-20T08:00, UTC unless it has an offset) or -6h"
        ) from None


@dataclass
class ChunkResult:
    samples: int
    targets: set[str]


class Backfill:
    """One source, one requested range: ``chunks`` is what remains to pull."""

    def __init__(
        self, settings: Settings, source: PrometheusSource, start: datetime, end: datetime, chunk: float | None = None
    ) -> None:
        self.settings, self.source = settings, source
        self.path = settings.store_path
        self.state_path = promstate.state_file(settings, "backfill")
        self.notes: list[str] = []
        ensure_schema(self.path)
        known, next_id = load_registry(self.path)
        self.ingestor = Ingestor(known, next_id + ID_GAP)
        self.client = httpx.Client(follow_redirects=True)
        self.reader = SourceReader(source, self.client, self.ingestor)
        self._registered: set[str] = set()
        self.chunks = self._plan(to_epoch(start), to_epoch(end), chunk or source.chunk_seconds)

    def _plan(self, start: float, end: float, chunk: float) -> list[promstate.Span]:
        # The newest lag_seconds may still miss samples whose scrape has not finished.
        end = min(end, time.time() - self.source.lag_seconds)
        live_path = promstate.state_file(self.settings, "live")
        live = promstate.load(live_path)
        until = live.get("until", {}).get(self.source.name)
        age = promstate.age_seconds(live_path)
        if until is not None and age is not None and age < LIVE_FRESH_SECONDS and end > float(until):
            # A running collector pulls from `until` onwards; pulling it here too would double it.
            self.notes.append(
                f"stopping at {from_epoch(float(until)):%Y-%m-%d %H:%M:%S} UTC: live collection goes on from there"
            )
            end = float(until)
        done = promstate.covered(promstate.load(self.state_path), self.source.name)
        done += promstate.covered(live, self.source.name)
        todo = promstate.subtract((start, end), done) if end > start else []
        skipped = (end - start) - sum(b - a for a, b in todo)
        if skipped > 0:
            self.notes.append(f"{skipped:.0f} s of the range were pulled before and are skipped")
        return [c for span in todo for c in promstate.split(span, chunk)]

    def run_chunk(self, span: promstate.Span) -> ChunkResult:
        batches, _pulled, _seconds = self.reader.batches(*span)
        samples = commit(self.path, batches, self.ingestor) if batches else 0
        register_targets(self.path, list(self.reader.targets.values()), self._registered)
        # Recorded only after the commit: an interruption before it pulls the chunk again.
        state = promstate.load(self.state_path)
        promstate.add(state, self.source.name, span)
        promstate.save(self.state_path, state)
        return ChunkResult(samples, {b.target for b in batches})

    def close(self) -> None:
        self.client.close()


def commit(path: Path, batches: Sequence[Batch], ingestor: Ingestor) -> int:
    """Append the chunk in one transaction, reusing the ids of series already in the store.

    The ids are aligned first, so the ingestor's ids match the store's even when the chunk is
    skipped because its commit landed before an interruption.
    """
    return commit_batches(path, batches, before=lambda con: _reuse_ids(con, batches, ingestor))


def _reuse_ids(con: duckdb.DuckDBPyConnection, batches: Sequence[Batch], ingestor: Ingestor) -> None:
    rows = [(int(r[0]), str(r[1]), str(r[2])) for b in batches for r in b.new_series]  # type: ignore[call-overload]
    if not rows:
        return
    keys = pa.table({"target": [r[1] for r in rows], "series_key": [r[2] for r in rows]})
    con.register("_keys", keys)
    existing = con.execute(
        "SELECT s.target, s.series_key, s.series_id FROM series s JOIN _keys k USING (target, series_key)"
    ).fetchall()
    con.unregister("_keys")
    have = {(t, k): int(i) for t, k, i in existing}
    remap = {sid: have[(t, k)] for sid, t, k in rows if (t, k) in have}
    if not remap:
        return
    for (t, k), sid in have.items():
        ingestor.known.setdefault(t, {})[k] = sid
    for b in batches:
        b.series_ids = [remap.get(i, i) for i in b.series_ids]
        b.new_series = [r for r in b.new_series if int(r[0]) not in remap]  # type: ignore[call-overload]
