"""Create and migrate the schema from the versioned ``migrations/NNNN_*.sql`` files."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from importlib import resources

import duckdb

from memmoat.errors import StoreError

_NAME = re.compile(r"^(\d{4})_[\w-]+\.sql$")


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) in order."""
    folder = resources.files("store").joinpath("migrations")
    out = []
    for entry in folder.iterdir():
        m = _NAME.match(entry.name)
        if m:
            out.append((int(m.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    out.sort()
    versions = [v for v, _, _ in out]
    if versions != list(range(1, len(versions) + 1)):
        raise StoreError(f"migration files are not numbered 1..n without gaps: {versions}")
    return out


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
    ).fetchall()[0]
    if not exists or not exists[0]:
        return 0
    row = con.execute("SELECT max(version) FROM schema_version").fetchall()[0]
    return int(row[0]) if row and row[0] is not None else 0


def latest_version() -> int:
    return len(migrations())


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply pending migrations, each in its own transaction. Returns the new version."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)"
    )
    have = current_version(con)
    for version, name, sql in migrations():
        if version <= have:
            continue
        try:
            con.execute("BEGIN")
            con.execute(sql)
            con.execute("INSERT INTO schema_version VALUES (?, ?, ?)", [version, name, utcnow()])
            con.execute("COMMIT")
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            raise StoreError(f"migration {name} failed: {exc}") from None
        have = version
    return have
