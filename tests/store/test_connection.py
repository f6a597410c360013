import threading
import time
from pathlib import Path

import pytest

from memmoat.errors import StoreLockedError, StoreMissingError
from store.connection import reader, writer
from store.migrate import current_version, latest_version, migrate
from store.writer import ensure_schema
from tests.support.procs import hold_store, release


def test_schema_is_created_and_migration_is_idempotent(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    assert ensure_schema(db) == latest_version()
    with writer(db) as con:
        assert migrate(con) == latest_version()
        assert current_version(con) == latest_version()
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"samples", "series", "scrapes", "targets", "gpu_metrics", "engine_metrics"} <= tables


def test_reader_on_missing_store_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(StoreMissingError, match="memmoat collect --once"), reader(tmp_path / "none.duckdb"):
        pass


def test_writer_locked_out_names_the_pid(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    ensure_schema(db)
    holder = hold_store(db, read_only=True, seconds=30)
    try:
        with pytest.raises(StoreLockedError) as e, writer(db, attempts=3, delay=0.01):
            pass
        assert e.value.pid == holder.pid
        assert f"process {holder.pid}" in str(e.value)
    finally:
        release(holder)


def test_reader_waits_for_a_short_writer(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    ensure_schema(db)
    holder = hold_store(db, read_only=False, seconds=0.6)
    t0 = time.monotonic()
    with reader(db, attempts=60) as con:
        assert con.execute("SELECT count(*) FROM samples").fetchone() == (0,)
    assert time.monotonic() - t0 >= 0.3  # it really waited for the other process
    holder.wait(timeout=10)


def test_readers_in_threads_while_writer_cycles(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    ensure_schema(db)
    errors: list[BaseException] = []
    stop = threading.Event()

    def read_loop() -> None:
        while not stop.is_set():
            try:
                with reader(db) as con:
                    con.execute("SELECT count(*) FROM samples").fetchone()
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=read_loop) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for i in range(15):
            with writer(db) as con:
                con.execute("INSERT INTO samples VALUES (now()::TIMESTAMP, ?, 1.0)", [i])
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)
    assert not errors
    with reader(db) as con:
        assert con.execute("SELECT count(*) FROM samples").fetchone() == (15,)
