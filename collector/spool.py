"""A bounded, crash-safe spool for scrape rounds the store could not take yet.

A round is held in memory while its commit is tried; only when the commit fails (the store
is locked, the disk is full) is it written to disk: its own file, written atomically
(temporary file, fsync, rename, fsync of the folder). A ``kill -9`` at any moment therefore
leaves either a whole file or none, and loses at most the round in flight. Rounds are
replayed oldest first; a round already in the store (same target and scrape time in
``scrapes``) is skipped, so a crash between commit and delete never writes twice.

Bounded: beyond ``max_bytes`` the oldest rounds lose their samples (logged, and their scrape
rows say so) but keep their series registrations, which later rounds' samples refer to.
Files are read one at a time, so replaying a full spool never holds it all in memory.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from collector.ingest import Batch
from memmoat.errors import StoreFullError

log = logging.getLogger("memmoat.spool")

Round = list[Batch]
DROPPED = "samples dropped: the spool was over storage.spool_max_bytes"


class Spool:
    def __init__(self, folder: Path, *, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.memory: list[tuple[int, Round]] = []  # rounds not on disk (yet)
        on_disk = self._on_disk()
        self._seq = on_disk[-1] if on_disk else 0
        for tmp in folder.glob("*.tmp") if folder.exists() else ():
            tmp.unlink(missing_ok=True)  # a write a crash interrupted: never renamed, never valid

    def _on_disk(self) -> list[int]:
        if not self.folder.exists():
            return []
        return sorted(int(p.stem) for p in self.folder.glob("*.round") if p.stem.isdigit())

    def _file(self, seq: int) -> Path:
        return self.folder / f"{seq:012d}.round"

    def push(self, batches: Round) -> int:
        """Hold a round in memory; it goes to disk only if writing it fails (see persist)."""
        self._seq += 1
        self.memory.append((self._seq, batches))
        return self._seq

    def persist(self) -> None:
        """Write in-memory rounds to disk, then trim to max_bytes. Raises StoreFullError."""
        if not self.memory:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        while self.memory:
            seq, batches = self.memory[0]
            self._write(seq, batches)
            self.memory.pop(0)
        self._trim()

    def _write(self, seq: int, batches: Round) -> None:
        data = pickle.dumps(batches, protocol=pickle.HIGHEST_PROTOCOL)
        tmp = self._file(seq).with_suffix(".tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self._file(seq))
            _fsync_dir(self.folder)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StoreFullError(
                f"cannot write the spool in {self.folder}: {exc.strerror or exc}",
                hint="free disk space there (or move storage.spool_dir); scraped rounds wait in memory meanwhile",
            ) from exc

    def _trim(self) -> None:
        sizes = {s: self._file(s).stat().st_size for s in self._on_disk()}
        total = sum(sizes.values())
        for seq in list(sizes):
            if total <= self.max_bytes:
                break
            batches = self._load(seq)
            if batches is None or all(b.error == DROPPED for b in batches):
                continue
            stub = [_without_samples(b) for b in batches]
            self._write(seq, stub)
            total += self._file(seq).stat().st_size - sizes[seq]
            log.error("the spool is over storage.spool_max_bytes: dropped the samples of round %d", seq)

    def _load(self, seq: int) -> Round | None:
        path = self._file(seq)
        try:
            return pickle.loads(path.read_bytes())  # type: ignore[no-any-return]
        except FileNotFoundError:
            return None
        except Exception as exc:  # a file from another version or a damaged disk: keep it, skip it
            log.error("spool file %s is unreadable (%s); moved aside as .bad", path.name, exc)
            path.rename(path.with_suffix(".bad"))
            return None

    def pending(self) -> Iterator[tuple[int, Round]]:
        """Rounds waiting, oldest first: those on disk (loaded one at a time), then in memory."""
        for seq in self._on_disk():
            batches = self._load(seq)
            if batches is not None:
                yield seq, batches
        yield from list(self.memory)

    def replace(self, seq: int, batches: Round) -> None:
        """A round changed form (its pages were ingested): keep the new form where the old was."""
        for i, (s, _) in enumerate(self.memory):
            if s == seq:
                self.memory[i] = (seq, batches)
                return
        if self._file(seq).exists():
            self._write(seq, batches)

    def done(self, seq: int) -> None:
        self.memory = [(s, b) for s, b in self.memory if s != seq]
        self._file(seq).unlink(missing_ok=True)

    def count(self) -> int:
        return len(self._on_disk()) + len(self.memory)

    def scan(self) -> tuple[list[tuple[object, ...]], datetime | None]:
        """Series registered by spooled rounds (the registry must not hand their ids out
        again) and the newest spooled scrape time."""
        rows: list[tuple[object, ...]] = []
        newest: datetime | None = None
        for _, batches in self.pending():
            for b in batches:
                rows.extend(b.new_series)
                newest = b.ts if newest is None or b.ts > newest else newest
        return rows, newest

    def oldest_ts(self) -> datetime | None:
        """Scrape time of the oldest waiting round (rollups must not pass it)."""
        for _, batches in self.pending():
            if batches:
                return min(b.ts for b in batches)
        return None

    def bound_memory(self) -> None:
        """When rounds cannot reach the disk either, keep memory within max_bytes as well."""
        total = sum(_estimate(batches) for _, batches in self.memory)
        for i, (seq, batches) in enumerate(self.memory):
            if total <= self.max_bytes:
                break
            if all(b.error == DROPPED for b in batches):
                continue
            stub = [_without_samples(b) for b in batches]
            total += _estimate(stub) - _estimate(batches)
            self.memory[i] = (seq, stub)
            log.error("rounds waiting in memory are over storage.spool_max_bytes: dropped the samples of round %d", seq)


def _estimate(batches: Round) -> int:
    return sum(16 * len(b.values) + len(b.page or b"") + 300 * len(b.new_series) + 200 for b in batches)


def _without_samples(b: Batch) -> Batch:
    return Batch(
        target=b.target, ts=b.ts, new_series=b.new_series, duration_s=b.duration_s, nbytes=b.nbytes,
        error=DROPPED, kind=b.kind,
    )  # fmt: skip


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the folder's entry is on disk.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
