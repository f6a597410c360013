"""A bounded, crash-safe spool for scrape rounds the store could not take yet.

Rounds are written only when a commit fails (the store is locked or the disk is full),
each to its own file, atomically (temporary file, fsync, rename). A ``kill -9`` at any
moment therefore leaves either a whole file or none. Rounds are replayed in order; a
round already in the store (same target and scrape time in ``scrapes``) is skipped, so
a crash between commit and delete never writes twice.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Sequence
from pathlib import Path

from collector.ingest import Batch
from memmoat.errors import StoreFullError

log = logging.getLogger("memmoat.spool")


class Spool:
    def __init__(self, folder: Path, *, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.memory: list[tuple[int, list[Batch]]] = []  # the current round, not yet on disk
        self._seq = max(self._on_disk(), default=0)

    def _on_disk(self) -> list[int]:
        if not self.folder.exists():
            return []
        return sorted(int(p.stem) for p in self.folder.glob("*.round") if p.stem.isdigit())

    def _file(self, seq: int) -> Path:
        return self.folder / f"{seq:012d}.round"

    def push(self, batches: list[Batch]) -> None:
        """Hold a round in memory; it goes to disk only if writing it fails (see persist)."""
        self._seq += 1
        self.memory.append((self._seq, batches))

    def persist(self) -> None:
        """Write in-memory rounds to disk, dropping the oldest files beyond max_bytes."""
        if not self.memory:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        for seq, batches in self.memory:
            data = pickle.dumps(batches, protocol=pickle.HIGHEST_PROTOCOL)
            tmp = self._file(seq).with_suffix(".tmp")
            try:
                with open(tmp, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self._file(seq))
            except OSError as exc:
                tmp.unlink(missing_ok=True)
                raise StoreFullError(
                    f"cannot spool to {self.folder}: {exc}", hint="free disk space; data is being lost"
                ) from exc
        self.memory.clear()
        self._trim()

    def _trim(self) -> None:
        files = [self._file(s) for s in self._on_disk()]
        total = sum(f.stat().st_size for f in files)
        while files and total > self.max_bytes:
            oldest = files.pop(0)
            total -= oldest.stat().st_size
            oldest.unlink()
            log.error("spool is over storage.spool_max_bytes; dropped the oldest round %s", oldest.name)

    def pending(self) -> list[tuple[int, list[Batch]]]:
        """Rounds waiting, oldest first: those on disk, then those in memory."""
        out: list[tuple[int, list[Batch]]] = []
        for seq in self._on_disk():
            try:
                out.append((seq, pickle.loads(self._file(seq).read_bytes())))
            except (OSError, pickle.UnpicklingError, EOFError) as exc:
                log.error("spool file %s is unreadable (%s); moving it aside", self._file(seq).name, exc)
                self._file(seq).rename(self._file(seq).with_suffix(".bad"))
        return out + list(self.memory)

    def done(self, seq: int) -> None:
        self.memory = [(s, b) for s, b in self.memory if s != seq]
        self._file(seq).unlink(missing_ok=True)

    def count(self) -> int:
        return len(self._on_disk()) + len(self.memory)

    def series_rows(self) -> Sequence[tuple[object, ...]]:
        """Series registered by spooled rounds: the registry must not hand their ids out again."""
        return [row for _, batches in self.pending() for b in batches for row in b.new_series]
