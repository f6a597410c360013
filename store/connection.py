"""Short-lived DuckDB connections that respect the single-writer rule.

Readers: ``with reader(path) as con:`` opens read-only, retries briefly on a lock
conflict and closes at once. ``with writer(path) as con:`` does the same in read-write
mode (by attaching the file, see below). Neither holds the file between uses, so the other
side gets its turn.
"""

from __future__ import annotations

import errno
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from memmoat.errors import StoreError, StoreFullError, StoreLockedError, StoreMissingError

# Extensions other than the built-in ones cannot be downloaded here or in most clusters:
# fail at once instead of trying.
BASE_CONFIG = {"autoinstall_known_extensions": "false"}

_PID = re.compile(r"PID (\d+)")


def lock_holder(exc: BaseException) -> int | None:
    m = _PID.search(str(exc))
    return int(m.group(1)) if m else None


def is_lock_conflict(exc: BaseException) -> bool:
    text = str(exc)
    if isinstance(exc, duckdb.IOException):
        return "lock" in text.lower() or "Conflicting" in text
    # Inside one process DuckDB shares one instance per file: a read-only open while this
    # process's writer is mid-transaction is refused the same way another process would be.
    if isinstance(exc, duckdb.ConnectionException):
        return "different configuration" in text
    return isinstance(exc, duckdb.Error) and "already attached" in text


def _connect(path: Path, read_only: bool, config: dict[str, str] | None = None) -> duckdb.DuckDBPyConnection:
    cfg: dict[str, str | bool | int | float | list[str]] = dict(BASE_CONFIG)
    if config:
        cfg.update(config)
    return duckdb.connect(str(path), read_only=read_only, config=cfg)


def open_with_retry(
    path: Path,
    *,
    read_only: bool,
    attempts: int = 40,
    delay: float = 0.02,
    max_delay: float = 0.25,
    config: dict[str, str] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open ``path``; on a lock conflict retry with backoff, then raise StoreLockedError."""
    if read_only and not path.exists():
        raise StoreMissingError(
            f"no store at {path}",
            hint="run `memmoat collect --once` (or `memmoat demo`) first, or check storage.path",
        )
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    last: BaseException | None = None
    for i in range(attempts):
        try:
            return _connect(path, read_only, config)
        except duckdb.Error as exc:
            if not is_lock_conflict(exc):
                raise translate(exc, path) from None
            last = exc
            time.sleep(min(max_delay, delay * (1.5**i)))
    assert last is not None
    raise StoreLockedError(str(path), lock_holder(last), "gave up waiting for the lock")


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> Any:
    """First value of the first row, or None. Fetches every row: in DuckDB 2.0 a half-read
    result blocks the connection's next statement."""
    rows = con.execute(sql, params).fetchall() if params is not None else con.execute(sql).fetchall()
    return rows[0][0] if rows else None


def translate(exc: BaseException, path: Path) -> StoreError:
    text = str(exc)
    if (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or "No space left" in text:
        return StoreFullError(
            f"the disk holding {path} is full: {text}",
            hint="free space or move storage.path; scraped data waits in the spool meanwhile",
        )
    if is_lock_conflict(exc):
        return StoreLockedError(str(path), lock_holder(exc))
    return StoreError(f"{path}: {text}")


# Within one process DuckDB keeps one instance per file, and a read-only open while the
# same process writes is refused. Threads of one process therefore take turns on a lock
# per file; other processes are handled by the retry above.
_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()


def _process_lock(path: Path) -> threading.RLock:
    key = str(path.resolve())
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.RLock())


@contextmanager
def reader(path: Path, **kw: object) -> Iterator[duckdb.DuckDBPyConnection]:
    with _process_lock(path):
        con = open_with_retry(path, read_only=True, **kw)  # type: ignore[arg-type]
        try:
            yield con
        finally:
            con.close()


# The write path attaches the file to a long-lived in-memory DuckDB instance ("host") rather
# than connecting to it: creating an instance costs ~15 ms of CPU (measured with DuckDB 2.0),
# ATTACH + DETACH ~2 ms, and the collector writes every few seconds for months. The file is
# locked only while attached, exactly as long as a connection would hold it. One host per
# file, used under that file's process lock. Hosts do not checkpoint at DETACH (that would cost
# more than the write itself); the WAL is checkpointed once it passes WAL_CHECKPOINT_BYTES, so
# the next opener (a reader included) replays little.
STORE_ALIAS = "memmoat_store"
# The environment variable is for tuning and for the crash tests (0: checkpoint after every write).
WAL_CHECKPOINT_BYTES = int(os.environ.get("MEMMOAT_WAL_CHECKPOINT_BYTES", 2 * 1024 * 1024))
# The collector runs for months beside other work: one thread (its inserts do not need more,
# and a rollup of one minute is small), a memory cap, and an allocator that hands freed memory
# back to the system instead of keeping a first round's peak for ever.
HOST_CONFIG = {
    "threads": "1",
    "memory_limit": "512MB",
    "allocator_flush_threshold": "8MB",
    "allocator_background_threads": "true",
}
_HOSTS: dict[str, duckdb.DuckDBPyConnection] = {}
_HOSTS_GUARD = threading.RLock()
_DEPTH: dict[str, int] = {}
MAX_HOSTS = 4  # a process writes one store; tests and tools touching many keep a few


def _host(key: str, path: Path) -> duckdb.DuckDBPyConnection:
    with _HOSTS_GUARD:
        host = _HOSTS.pop(key, None)
        if host is None:
            _evict()
            host = duckdb.connect(config={**BASE_CONFIG, **HOST_CONFIG})
            host.execute("PRAGMA disable_checkpoint_on_shutdown")
            host.execute("SET temp_directory = ?", [str(path) + ".tmp"])  # big sorts spill next to the store
        _HOSTS[key] = host  # most recently used last
        return host


def _evict() -> None:
    """Close the least recently used hosts whose files nobody is using right now."""
    for key in list(_HOSTS)[: max(0, len(_HOSTS) - MAX_HOSTS + 1)]:
        lock = _LOCKS.get(key)
        if lock is not None and lock.acquire(blocking=False):
            try:
                if not _DEPTH.get(key):
                    _drop_host(key)
            finally:
                lock.release()


def _drop_host(key: str) -> None:
    with _HOSTS_GUARD:
        host = _HOSTS.pop(key, None)
    if host is not None:
        try:
            host.close()  # closing the instance releases the file whatever state it was in
        except duckdb.Error:
            pass


def _attach(host: duckdb.DuckDBPyConnection, path: Path, attempts: int, delay: float, max_delay: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    last: BaseException | None = None
    for i in range(attempts):
        try:
            host.execute(f"ATTACH '{_quote(path)}' AS {STORE_ALIAS}")
            host.execute(f"USE {STORE_ALIAS}")
            return
        except duckdb.Error as exc:
            if not is_lock_conflict(exc):
                raise translate(exc, path) from None
            last = exc
            time.sleep(min(max_delay, delay * (1.5**i)))
    assert last is not None
    raise StoreLockedError(str(path), lock_holder(last), "gave up waiting for the lock")


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")


@contextmanager
def writer(
    path: Path,
    *,
    lock_timeout: float | None = None,
    attempts: int = 40,
    delay: float = 0.02,
    max_delay: float = 0.25,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open read-write: a connection whose default database is the store.

    ``lock_timeout`` bounds the wait for this process's other users of the file (the
    collector's scrape round must not queue behind its own compaction job: it spools
    instead); ``None`` waits as long as they take. Another process's lock is retried
    ``attempts`` times with backoff, then raises StoreLockedError naming its PID."""
    key = str(path.resolve())
    lock = _process_lock(path)
    if not lock.acquire(timeout=-1 if lock_timeout is None else lock_timeout):
        raise StoreLockedError(str(path), os.getpid(), "busy with another job of this process")
    try:
        host = _host(key, path)
        if _DEPTH.get(key, 0) == 0:  # not already attached by an enclosing writer() of this thread
            try:
                _attach(host, path, attempts, delay, max_delay)
            except BaseException:
                _drop_host(key)
                raise
        _DEPTH[key] = _DEPTH.get(key, 0) + 1
        try:
            yield host
            if _DEPTH[key] == 1:
                _checkpoint_if_due(host, path)
        except duckdb.Error as exc:
            _DEPTH[key] -= 1
            if _DEPTH[key] == 0:
                _drop_host(key)
            raise translate(exc, path) from exc
        except BaseException:
            _DEPTH[key] -= 1
            if _DEPTH[key] == 0:
                _drop_host(key)  # a transaction may be open: closing the instance ends it
            raise
        _DEPTH[key] -= 1
        if _DEPTH[key] == 0:
            try:
                host.execute("USE memory")
                host.execute(f"DETACH {STORE_ALIAS}")
            except duckdb.Error:
                _drop_host(key)
    finally:
        lock.release()


def _checkpoint_if_due(host: duckdb.DuckDBPyConnection, path: Path) -> None:
    try:
        wal = os.path.getsize(str(path) + ".wal")
    except OSError:
        return
    if wal > WAL_CHECKPOINT_BYTES or (WAL_CHECKPOINT_BYTES == 0 and wal):
        host.execute(f"CHECKPOINT {STORE_ALIAS}")
