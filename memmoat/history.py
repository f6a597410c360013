"""Load simulated history for the demo, so the dashboard has hours of data at once.

The simulator's clock is moved through the past in steps; at each step every target is
scraped over HTTP as usual and its page ingested with that step's timestamp. It is the
real scrape and ingest path, only faster than real time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from collector.ingest import Batch, Ingestor
from collector.scrape import fetch
from memmoat.config import Settings
from memmoat.errors import MemmoatError
from store.writer import commit_batches, ensure_schema, load_registry


class SteppedClock:
    """A clock the preload moves by hand, then hands back to real time."""

    def __init__(self, t: float) -> None:
        self.t: float | None = t

    def __call__(self) -> float:
        return self.t if self.t is not None else datetime.now(UTC).timestamp()


def preload(settings: Settings, server: Any, *, start: datetime, step_seconds: float = 60.0) -> int:
    ensure_schema(settings.store_path)
    known, next_id = load_registry(settings.store_path)
    ingestor = Ingestor(known, next_id)
    clock = SteppedClock(start.timestamp())
    real_clock = server.clock
    server.clock = clock
    written = 0
    try:
        t = start
        end = datetime.now(UTC) - timedelta(seconds=step_seconds)
        pending = []
        with httpx.Client() as client:
            while t < end:
                clock.t = t.timestamp()
                ts = t.replace(tzinfo=None, microsecond=0)
                for target in settings.targets:
                    try:
                        got = fetch(client, target, timeout=10, max_bytes=settings.collector.max_page_bytes)
                    except MemmoatError as exc:
                        # A target that is down (an engine restarting) is a failed scrape, as live.
                        pending.append(Batch(target=target.name, ts=ts, error=exc.message))
                        continue
                    batch = ingestor.ingest(target, ts, got.text)
                    batch.nbytes, batch.duration_s = got.nbytes, got.seconds
                    pending.append(batch)
                if len(pending) >= 200:
                    written += commit_batches(settings.store_path, pending)
                    pending = []
                t += timedelta(seconds=step_seconds)
        if pending:
            written += commit_batches(settings.store_path, pending)
    finally:
        server.clock = real_clock
    return written
