"""Short-lived DuckDB connections that respect the single-writer rule.

Readers: ``with reader(path) as con:`` opens read-only, retries briefly on a lock
conflict and closes at once. The writer does the same in read-write mode. Neither
keeps a connection open between uses, so the other side gets its turn.
"""

from __future__ import annotations

import errno
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
    cfg = dict(BASE_CONFIG)
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


def translate(exc: BaseException, path: Path) -> StoreError:
    text = str(exc)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC or "No space left" in text:
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


@contextmanager
def writer(path: Path, **kw: object) -> Iterator[duckdb.DuckDBPyConnection]:
    with _process_lock(path):
        con = open_with_retry(path, read_only=False, **kw)  # type: ignore[arg-type]
        try:
            yield con
        except duckdb.Error as exc:
            raise translate(exc, path) from exc
        finally:
            con.close()
