"""Live collection from [[prometheus]] sources, as part of each collector round.

Each round pulls, per source, the window since the last pull up to ``now - lag_seconds``
(a sample shows up in the API only once its scrape has finished), minus whatever a backfill
already brought in. The window is recorded in a state file beside the store, so
`memmoat collect --once` run repeatedly, or a restarted collector, continues where it stopped;
after a long outage at most ``max_catchup_seconds`` are caught up live and older gaps are left
to `memmoat backfill`.

The window is recorded before the round is written. If the process dies in the milliseconds
between, a window is missing rather than doubled: a gap loses no tokens (counter increments
bridge it) and backfill can fill it, whereas a double could not be undone.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Protocol

import httpx

from collector import promstate
from collector.ingest import Batch, Ingestor
from collector.promapi import SourceReader, to_epoch
from memmoat.config import Settings, Target
from memmoat.errors import MemmoatError, StoreError
from store.connection import writer
from store.writer import write_targets

log = logging.getLogger("memmoat.collector.prometheus")


class ReportLike(Protocol):
    scraped: int
    failed: int
    errors: list[str]


def register_targets(path: Path, targets: list[Target], written: set[str]) -> None:
    """Add newly discovered targets to the store's targets table (retried next time on failure)."""
    new = [t for t in targets if t.name not in written]
    if not new:
        return
    try:
        # Few attempts: a round must not wait long on the file; the next round tries again.
        with writer(path, attempts=5, lock_timeout=2.0) as con:
            write_targets(con, new, {t.name: t.kind for t in new if t.kind != "auto"})
    except StoreError as exc:
        log.info("targets table not updated yet (%s); will retry", exc)
        return
    written.update(t.name for t in new)


class LivePuller:
    """Called once per collector round; returns the round's batches from every source."""

    def __init__(self, settings: Settings, client: httpx.Client) -> None:
        self.settings = settings
        self.readers = [SourceReader(s, client, Ingestor()) for s in settings.prometheus]
        self.path = promstate.state_file(settings, "live")
        self.backfilled = promstate.state_file(settings, "backfill")
        self.state = promstate.load(self.path)
        self._registered: set[str] = set()

    def pull(self, now: datetime, report: ReportLike, ingestor: Ingestor) -> list[Batch]:
        """The round's batches, registered in the collector's ``ingestor`` (one id space per writer)."""
        out: list[Batch] = []
        for reader in self.readers:
            reader.ingestor = ingestor
            out.extend(self._pull_source(reader, now, report))
        if self.readers:
            targets = [r.source_target() for r in self.readers]
            targets += [t for r in self.readers for t in r.targets.values()]
            register_targets(self.settings.store_path, targets, self._registered)
        return out

    def _pull_source(self, reader: SourceReader, now: datetime, report: ReportLike) -> list[Batch]:
        src = reader.source
        end = to_epoch(now) - src.lag_seconds
        until = self.state.setdefault("until", {})
        first = max(src.step_seconds, self.settings.collector.interval_seconds)
        start = max(float(until.get(src.name, end - first)), end - src.max_catchup_seconds)
        if end <= start:
            return []
        todo = promstate.subtract((start, end), promstate.covered(promstate.load(self.backfilled), src.name))
        batches: list[Batch] = []
        seconds, nbytes, done = 0.0, 0, start
        error: MemmoatError | None = None
        try:
            for span in todo:
                for a, b in promstate.split(span, src.chunk_seconds):  # a long catch-up goes in chunks
                    got, _pulled, took = reader.batches(a, b)
                    batches += got
                    seconds += took
                    nbytes += sum(x.nbytes for x in got)
                    done = b
            done = end
        except MemmoatError as exc:
            error = exc
            report.failed += 1
            report.errors.append(str(exc))
            log.warning("prometheus source %r: %s", src.name, exc.message)
        # Chunks pulled before a failure are kept: their new series ids are already handed out.
        if done > start:
            until[src.name] = done
            promstate.add(self.state, src.name, (start, done))
            promstate.save(self.path, self.state)
        if error is None:
            report.scraped += 1
        return [*batches, reader.health_batch(now, seconds, nbytes, error=error.message if error else None)]
