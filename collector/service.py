"""The collector: scrape every target, turn pages into rows, write them in one short transaction.

Scrapes run concurrently (a thread pool; each has its own total timeout), so one slow or dead
target never delays the others' scrape times. A target that keeps failing is retried less
often (exponential backoff up to 8 intervals) and recovers by itself.

Nothing scraped is lost to a busy store. Each round goes to the spool first (in memory), is
committed, and only reaches the spool's disk files when the commit fails: the file is locked
by another process (the warning names its PID), or the disk is full. Later rounds write the
waiting ones first, in order. The store is not needed to start: when it is locked at start
the series registry cannot be read, so pages are spooled as text and ingested once it frees.

Every sample of a round carries the round's timestamp, in whole seconds when the store's
history is known (long runs of equal steps compress to almost nothing, see store/compact.py),
in milliseconds when two rounds would share a second.
"""

from __future__ import annotations

import logging
import os
import threading
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

from collector.exposition import PageIssue
from collector.ingest import Batch, Ingestor
from collector.promlive import LivePuller
from collector.scrape import fetch
from collector.spool import Round, Spool
from memmoat.config import Settings, Target
from memmoat.errors import MemmoatError, PageError, StoreError, StoreFullError, StoreLockedError
from store.migrate import utcnow
from store.writer import commit_rounds, prepare

log = logging.getLogger("memmoat.collector")

MAX_BACKOFF_INTERVALS = 8
WRITE_ATTEMPTS = 10  # about 1.4 s of retries on another process's lock, then spool
OWN_LOCK_WAIT_S = 2.0  # this process's maintenance job holding the file: spool rather than queue
WARN_EVERY = 20  # rounds between repeated "store is locked" warnings


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


@dataclass
class _Scraped:
    target: Target
    text: str | None
    err: MemmoatError | None
    nbytes: int
    seconds: float


class Collector:
    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self.clock = clock
        self.path = settings.store_path
        self.spool = Spool(settings.spool_path, max_bytes=settings.storage.spool_max_bytes)
        self.targets = {t.name: t for t in settings.targets}
        self.state: dict[str, TargetState] = {t.name: TargetState() for t in settings.targets}
        self.ingestor: Ingestor | None = None  # None until the series registry has been read
        self.client = httpx.Client(follow_redirects=True)
        self.prom = LivePuller(settings, self.client)  # [[prometheus]] API sources
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(
            max_workers=settings.collector.max_concurrent_scrapes, thread_name_prefix="scrape"
        )
        self._last_ts: datetime | None = None
        self._history_known = False  # the store's newest scrape time has been read
        self._kinds_written: dict[str, str] | None = None  # what the targets table holds
        self._refusals = 0  # consecutive rounds the store refused
        self.write_attempts = WRITE_ATTEMPTS

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()
        with self._lock:
            try:
                self.spool.persist()
            except StoreFullError as exc:
                log.error("%s; %d round(s) in memory are lost", exc, len(self.spool.memory))

    # -- the store ---------------------------------------------------------------------------
    def _load_registry(self, report: RoundReport) -> bool:
        """Create/migrate the schema and read the series registry. False if the store refused."""
        try:
            reg = prepare(self.path, attempts=self.write_attempts, lock_timeout=OWN_LOCK_WAIT_S)
        except StoreError as exc:
            self._refused(exc, report)
            return False
        known, next_id = reg.known, reg.next_id
        rows, newest = self.spool.scan()
        for row in rows:  # ids handed out by rounds still in the spool stay theirs
            sid, target, key = int(row[0]), str(row[1]), str(row[2])  # type: ignore[call-overload]
            known.setdefault((target, key), sid)
            next_id = max(next_id, sid + 1)
        self.ingestor = Ingestor(known, next_id)
        stamps = [t for t in (self._last_ts, reg.last_scrape, newest) if t is not None]
        self._last_ts = max(stamps) if stamps else None
        self._history_known = True
        return True

    def watermark(self) -> datetime:
        """Every scrape before this time is in the store: rollups may pass up to here."""
        with self._lock:  # waits for a round in flight
            oldest = self.spool.oldest_ts()
            now = self.clock()
        return min(now, oldest) if oldest is not None else now

    # -- one round ---------------------------------------------------------------------------
    def _round_ts(self, now: datetime) -> datetime:
        whole = now.replace(microsecond=0)
        last = self._last_ts
        if self._history_known and (last is None or whole > last):
            ts = whole
        else:  # history unknown, or a second round within one second: never reuse a stamp
            ts = now.replace(microsecond=now.microsecond // 1000 * 1000)
            if last is not None and ts <= last:
                ts = last + timedelta(milliseconds=1)
        self._last_ts = ts
        return ts

    def _due(self, now: datetime) -> list[Target]:
        return [
            t for t in self.settings.targets
            if (nd := self.state[t.name].next_due) is None or nd <= now
        ]  # fmt: skip

    def _scrape(self, target: Target) -> _Scraped:
        cfg = self.settings.collector
        started = self.clock()
        try:
            got = fetch(self.client, target, timeout=cfg.timeout_seconds, max_bytes=cfg.max_page_bytes)
        except MemmoatError as exc:
            return _Scraped(target, None, exc, 0, (self.clock() - started).total_seconds())
        return _Scraped(target, got.text, None, got.nbytes, got.seconds)

    def scrape_round(self) -> RoundReport:
        """Scrape all due targets concurrently and write what came back. Never raises for a target."""
        with self._lock:
            return self._round()

    def _round(self) -> RoundReport:
        now = self.clock()
        report = RoundReport(started_at=now)
        if self.ingestor is None:
            self._load_registry(report)
        ts = self._round_ts(now)
        due = self._due(now)
        report.skipped = len(self.settings.targets) - len(due)
        batches = [self._batch(s, ts, now, report) for s in self._pool.map(self._scrape, due)]
        if self.ingestor is not None:  # [[prometheus]] sources; their windows wait while ids cannot be given
            batches += self.prom.pull(now, report, self.ingestor)
        if batches:
            self.spool.push(batches)
        self._flush(report)
        return report

    def _batch(self, s: _Scraped, ts: datetime, now: datetime, report: RoundReport) -> Batch:
        err = s.err
        if err is None and s.text is not None:
            if self.ingestor is None:  # registry unknown: keep the page itself
                batch = Batch(target=s.target.name, ts=ts, page=zlib.compress(s.text.encode(), 1))
            else:
                batch, err = self._ingest(s.target, ts, s.text)
        else:
            batch = Batch(target=s.target.name, ts=ts)
        batch.duration_s, batch.nbytes = s.seconds, s.nbytes
        if err is not None:
            _fail(batch, err)
            report.failed += 1
            report.errors.append(str(err))
        else:
            report.scraped += 1
        self._note(s.target, batch, err, now)
        return batch

    def _ingest(self, target: Target, ts: datetime, text: str) -> tuple[Batch, MemmoatError | None]:
        assert self.ingestor is not None
        batch = self.ingestor.ingest(target, ts, text)
        if not batch.values and not batch.issues and text.strip():
            return batch, PageError(target.name, "page has no samples")
        if not batch.values and batch.issues:
            # Nothing usable at all is a failed scrape (the target counts as down), not a success.
            first = batch.issues[0]
            return batch, PageError(
                target.name,
                f"no valid sample on the page; {len(batch.issues)} bad line(s), first: {first.message}",
                line=first.line,
            )
        if batch.kind is None and batch.values:
            batch.issues.append(PageIssue(1, "could not tell which exporter this is; set kind in the target's config"))
        if batch.issues:
            first = batch.issues[0]
            batch.error_line = first.line
            log.warning(
                "target %r: skipped %d bad line(s); first at line %d: %s",
                target.name, len(batch.issues), first.line, first.message,
            )  # fmt: skip
        return batch, None

    def _note(self, target: Target, batch: Batch, err: MemmoatError | None, now: datetime) -> None:
        st = self.state[target.name]
        st.last_scrape = batch.ts
        if batch.kind:
            st.kind = batch.kind
        if err is None:
            if st.failures:
                log.warning("target %r is back after %d failed scrape(s)", target.name, st.failures)
            st.failures, st.last_error, st.next_due, st.last_success = 0, None, None, batch.ts
            return
        st.failures += 1
        st.last_error = str(err.message)
        backoff = min(2 ** (st.failures - 1), MAX_BACKOFF_INTERVALS)
        interval = self.settings.collector.interval_seconds
        st.next_due = now + timedelta(seconds=interval * backoff - 0.5)
        if st.failures == 1 or st.failures % 10 == 0:
            log.warning("%s (retry in %g s)", err.message, interval * backoff)

    # -- writing -----------------------------------------------------------------------------
    def _pending(self) -> Iterator[tuple[int, Round]]:
        """Waiting rounds, oldest first; spooled pages are ingested now that ids can be given."""
        for seq, batches in self.spool.pending():
            if any(b.page is not None for b in batches):
                batches = [self._ingest_spooled(b) for b in batches]
                # The new ids live only in this process until the round is committed: the
                # spool keeps the ingested form, so a failed commit keeps their registrations.
                self.spool.replace(seq, batches)
            yield seq, batches

    def _ingest_spooled(self, b: Batch) -> Batch:
        if b.page is None:
            return b
        target = self.targets.get(b.target)
        if target is None:
            out = Batch(target=b.target, ts=b.ts, duration_s=b.duration_s, nbytes=b.nbytes)
            out.error = "target left the configuration before its spooled page could be stored"
            return out
        out, err = self._ingest(target, b.ts, zlib.decompress(b.page).decode())
        out.duration_s, out.nbytes = b.duration_s, b.nbytes
        if err is not None:
            _fail(out, err)
        return out

    def _flush(self, report: RoundReport) -> None:
        if not self.spool.count():
            return
        if self.ingestor is None:  # the store refused us at the start of this round already
            self._keep(report)
            return
        detected = {k: v.kind for k, v in self.state.items() if v.kind}
        targets = self.settings.targets if detected != self._kinds_written else []
        waited = self.spool.count() - 1

        def committed(seq: int, n: int) -> None:
            self.spool.done(seq)
            report.samples_written += n

        try:
            commit_rounds(
                self.path, self._pending(), committed, targets=targets, detected=detected,
                attempts=self.write_attempts, lock_timeout=OWN_LOCK_WAIT_S,
            )  # fmt: skip
        except StoreError as exc:
            self._refused(exc, report)
            self._keep(report)
            return
        self._kinds_written = detected if targets else self._kinds_written
        if self._refusals:
            log.warning("the store is writable again: wrote %d round(s) that waited in the spool", waited)
        self._refusals = 0

    def _refused(self, exc: StoreError, report: RoundReport) -> None:
        report.store_error = str(exc.message)
        if isinstance(exc, StoreLockedError) and exc.pid == os.getpid():
            log.info("store busy with this collector's maintenance job; the round waits in the spool")
            return
        self._refusals += 1
        if self._refusals != 1 and self._refusals % WARN_EVERY:
            return
        if isinstance(exc, StoreLockedError):
            who = f"process {exc.pid}" if exc.pid else "another process"
            log.warning(
                "the store %s is locked by %s; scraped rounds wait in the spool (%s) and are written "
                "when it frees. DuckDB allows one writer or many readers at a time: close the program "
                "holding it.", self.path, who, self.spool.folder,
            )  # fmt: skip
        elif isinstance(exc, StoreFullError):
            log.error(
                "%s. Free space there (or move storage.path); scraped rounds wait in the spool (%s) meanwhile.",
                exc.message, self.spool.folder,
            )  # fmt: skip
        else:
            log.error("cannot write to the store: %s; scraped rounds wait in the spool", exc)

    def _keep(self, report: RoundReport) -> None:
        try:
            self.spool.persist()
        except StoreFullError as exc:
            log.error("%s", exc)
            self.spool.bound_memory()
        report.spooled = self.spool.count()


def _fail(batch: Batch, err: MemmoatError) -> None:
    batch.error = str(err.message)
    batch.error_line = getattr(err, "line", None)
    batch.values, batch.series_ids = [], []
