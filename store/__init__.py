"""The DuckDB store: schema migrations, short-lived connections, and the write path.

DuckDB lets one process open a file read-write *or* many processes open it read-only,
never both. memmoat obeys that by design (see docs/architecture.md): the collector is the
only writer and holds the file only for short transactions; every reader opens a short
read-only connection and retries on a lock conflict.
"""
