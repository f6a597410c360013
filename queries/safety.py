"""Free SQL is read-only: refuse anything that writes, reaches files or the network.

This is a first line that gives a clear message; the second line is the connection
itself, which is opened read-only with external access disabled.
"""

from __future__ import annotations

import re

from memmoat.errors import UnsafeQueryError

_FORBIDDEN_STATEMENTS = {
    "insert", "update", "delete", "merge", "create", "drop", "alter", "truncate", "attach", "detach",
    "copy", "export", "import", "install", "load", "set", "reset", "pragma", "call", "checkpoint",
    "vacuum", "begin", "commit", "rollback", "use", "grant", "revoke", "update_extensions",
}  # fmt: skip
_FORBIDDEN_FUNCTIONS = re.compile(
    r"\b(read_csv(_auto)?|read_parquet|parquet_scan|read_json(_auto|_objects)?|read_ndjson\w*|read_text|read_blob|"
    r"glob|sniff_csv|parquet_metadata|parquet_schema|read_xlsx|iceberg_scan|delta_scan|sqlite_scan|"
    r"postgres_scan|mysql_scan|query_table|getenv|duckdb_secrets)\s*\(",
    re.IGNORECASE,
)
_STRING_SOURCE = re.compile(r"\bfrom\s+'", re.IGNORECASE)


def _strip(sql: str) -> str:
    sql = re.sub(r"--[^\n]*", " ", sql)
    sql = re.sub(r"/\*.*?\*/", " ", sql, flags=re.DOTALL)
    return sql


def check_sql(sql: str) -> None:
    text = _strip(sql).strip()
    if not text:
        raise UnsafeQueryError("empty query")
    statements = [s.strip() for s in re.sub(r"'(?:[^']|'')*'", "''", text).split(";") if s.strip()]
    if len(statements) > 1:
        raise UnsafeQueryError("one statement at a time, please (found several separated by ';')")
    first = re.match(r"\s*\(*\s*(\w+)", statements[0])
    verb = first.group(1).lower() if first else ""
    if verb in _FORBIDDEN_STATEMENTS:
        raise UnsafeQueryError(
            f"{verb.upper()} is not allowed here: memmoat's SQL is read-only",
            hint="use SELECT, WITH, DESCRIBE, SHOW or SUMMARIZE",
        )
    if verb not in ("select", "with", "describe", "show", "summarize", "from", "values", "explain", "table"):
        raise UnsafeQueryError(f"statement {verb.upper() or '?'} is not allowed; only read queries run here")
    m = _FORBIDDEN_FUNCTIONS.search(text)
    if m:
        raise UnsafeQueryError(
            f"{m.group(1)}() reads files or the environment, which is not allowed here",
            hint="query the store's tables and views instead",
        )
    if _STRING_SOURCE.search(re.sub(r"--[^\n]*", "", text)):
        raise UnsafeQueryError("reading a file or URL by name (FROM '...') is not allowed here")
