"""The collector: scrape every target, turn pages into rows, write them in one short transaction.

Scrapes run concurrently (a thread pool; each has its own timeout), so one slow or dead
target never delays the others. A target that keeps failing is retried less often
(exponential backoff up to 8 intervals) and recovers by itself. When the store is
locked by another process, batches wait in the spool and are written on a later round.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

from collector.ingest import Batch, Ingestor
from collector.scrape import fetch
from collector.spool import Spool
from memmoat.config import Settings, Target
from memmoat.errors import MemmoatError, PageError, StoreError, StoreLockedError
from store.migrate import utcnow
from store.writer import commit_batches, ensure_schema, load_registry, upsert_targets

log = logging.getLogger("memmoat.collector")

MAX_BACKOFF_INTERVALS = 8


@dataclass
class TargetState:
    failures: int = 0
    next_due: datetime | None = None
    last_error: str | None = None
    last_success: datetime | None = None
    last_scrape: datetime | None = None
    kind: str | None = None

    @property
    def up(self) -> bool:
        return self.failures == 0 and self.last_success is not None


@dataclass
class RoundReport:
    started_at: datetime
    scraped: int = 0
    failed: int = 0
    skipped: int = 0
    samples_written: int = 0
    spooled: int = 0
    errors: list[str] = field(default_factory=list)
    store_error: str | None = None


class Collector:
    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self.clock = clock
        self.path = settings.store_path
        ensure_schema(self.path)
        self.spool = Spool(settings.spool_path, max_bytes=settings.storage.spool_max_bytes)
        known, next_id = load_registry(self.path)
        for row in self.spool.series_rows():
            sid, target, key = int(row[0]), str(row[1]), str(row[2])  # type: ignore[call-overload]
            known.setdefault((target, key), sid)
            next_id = max(next_id, sid + 1)
        self.ingestor = Ingestor(known, next_id)
        self.state: dict[str, TargetState] = {t.name: TargetState() for t in settings.targets}
        self.client = httpx.Client(follow_redirects=True)
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(
            max_workers=settings.collector.max_concurrent_scrapes, thread_name_prefix="scrape"
        )
        self._targets_written = False

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()

    # -- one round -------------------------------------------------------------------------
    def _due(self, now: datetime) -> list[Target]:
        return [
            t for t in self.settings.targets
            if (nd := self.state[t.name].next_due) is None or nd <= now
        ]  # fmt: skip

    def _scrape(self, target: Target) -> tuple[Target, datetime, str | None, MemmoatError | None, int, float]:
        started = self.clock()
        cfg = self.settings.collector
        try:
            got = fetch(self.client, target, timeout=cfg.timeout_seconds, max_bytes=cfg.max_page_bytes)
        except MemmoatError as exc:
            return target, started, None, exc, 0, (self.clock() - started).total_seconds()
        return target, started, got.text, None, got.nbytes, got.seconds

    def scrape_round(self) -> RoundReport:
        """Scrape all due targets concurrently and write what came back. Never raises for a target."""
        with self._lock:
            return self._round()

    def _round(self) -> RoundReport:
        now = self.clock()
        report = RoundReport(started_at=now)
        due = self._due(now)
        report.skipped = len(self.settings.targets) - len(due)
        results = list(self._pool.map(self._scrape, due))
        batches: list[Batch] = []
        for target, started, text, err, nbytes, seconds in results:
            ts = started.replace(microsecond=(started.microsecond // 1000) * 1000)
            if err is None and text is not None:
                batch = self.ingestor.ingest(target, ts, text)
                if not batch.values and not batch.issues and text.strip():
                    err = PageError(target.name, "page has no samples")
                elif batch.kind is None and batch.values:
                    batch.issues.append(_no_kind_issue())
            else:
                batch = Batch(target=target.name, ts=ts)
            batch.duration_s, batch.nbytes = seconds, nbytes
            if err is not None:
                batch.error = str(err.message)
                batch.error_line = getattr(err, "line", None)
                batch.values, batch.series_ids = [], []
            elif batch.issues:
                first = batch.issues[0]
                batch.error_line = first.line
                log.warning(
                    "target %r: skipped %d bad line(s); first at line %d: %s",
                    target.name, len(batch.issues), first.line, first.message,
                )  # fmt: skip
            self._note(target, batch, err, now)
            if err is None:
                report.scraped += 1
            else:
                report.failed += 1
                report.errors.append(str(err))
            batches.append(batch)
        self._write(batches, report)
        return report

    def _note(self, target: Target, batch: Batch, err: MemmoatError | None, now: datetime) -> None:
        st = self.state[target.name]
        st.last_scrape = batch.ts
        if batch.kind:
            st.kind = batch.kind
        if err is None:
            if st.failures:
                log.info("target %r is back after %d failed scrape(s)", target.name, st.failures)
            st.failures, st.last_error, st.next_due, st.last_success = 0, None, None, batch.ts
            return
        st.failures += 1
        st.last_error = str(err.message)
        backoff = min(2 ** (st.failures - 1), MAX_BACKOFF_INTERVALS)
        interval = self.settings.collector.interval_seconds
        st.next_due = now + timedelta(seconds=interval * backoff - 0.5)
        if st.failures == 1 or st.failures % 10 == 0:
            log.warning("%s (retry in %g s)", err.message, interval * backoff)

    def _write(self, batches: list[Batch], report: RoundReport) -> None:
        if batches:
            self.spool.push(batches)
        pending = self.spool.pending()
        if not pending:
            return
        try:
            if not self._targets_written:
                upsert_targets(self.path, self.settings.targets, {k: v.kind for k, v in self.state.items() if v.kind})  # type: ignore[misc]
                self._targets_written = True
            for seq, group in pending:
                report.samples_written += commit_batches(self.path, group, attempts=10)
                self.spool.done(seq)
        except StoreLockedError as exc:
            self.spool.persist()
            report.store_error = str(exc)
            report.spooled = self.spool.count()
            log.warning(
                "store is locked by %s; %d scrape round(s) wait in the spool and will be written when it frees",
                f"PID {exc.pid}" if exc.pid else "another process", report.spooled,
            )  # fmt: skip
        except StoreError as exc:
            self.spool.persist()
            report.store_error = str(exc)
            report.spooled = self.spool.count()
            log.error("cannot write to the store: %s; data waits in the spool", exc)


def _no_kind_issue() -> object:
    from collector.exposition import PageIssue

    return PageIssue(1, "could not tell which exporter this is; set kind in the target's config")
