"""The one error hierarchy of memmoat.

    MemmoatError                  anything memmoat reports to a user
    ├── ConfigError               the settings file is wrong (names the key and line)
    ├── StoreError                the DuckDB file cannot be used
    │   ├── StoreLockedError      another process holds the file (names the PID)
    │   ├── StoreMissingError     no store yet: nothing has been collected
    │   └── StoreFullError        the disk is full
    ├── SourceError               a target could not be read
    │   ├── TargetUnreachableError   connection refused, timeout, HTTP error
    │   └── PageError             the page is not valid Prometheus text (names the line)
    ├── QueryError                a query cannot run
    │   ├── UnknownQueryError     no named query by that name
    │   ├── QueryParameterError   a parameter is missing or malformed
    │   └── UnsafeQueryError      free SQL that would write, read files or reach out
    └── DeliveryError             a report could not be sent

Every error carries a short ``title`` and a message that says what to do.
"""

from __future__ import annotations


class MemmoatError(Exception):
    title = "memmoat error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class ConfigError(MemmoatError):
    title = "Configuration error"

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        key: str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        where = path or "config"
        if line is not None:
            where += f":{line}"
        if key:
            where += f" [{key}]"
        super().__init__(f"{where}: {message}", hint=hint)
        self.path, self.key, self.line = path, key, line


class StoreError(MemmoatError):
    title = "Store error"


class StoreLockedError(StoreError):
    title = "Store is locked"

    def __init__(self, path: str, pid: int | None, detail: str = "") -> None:
        who = f"process {pid}" if pid else "another process"
        super().__init__(
            f"{path} is held by {who}{': ' + detail if detail else ''}",
            hint="DuckDB allows one writer or many readers at a time; close the other program (or wait) and try again.",
        )
        self.path, self.pid = path, pid


class StoreMissingError(StoreError):
    title = "No store yet"


class StoreFullError(StoreError):
    title = "Disk full"


class SourceError(MemmoatError):
    title = "Source error"

    def __init__(self, target: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"target {target!r}: {message}", hint=hint)
        self.target = target


class TargetUnreachableError(SourceError):
    title = "Target unreachable"


class PageError(SourceError):
    title = "Malformed page"

    def __init__(self, target: str, message: str, *, line: int | None = None) -> None:
        where = f" (line {line})" if line is not None else ""
        super().__init__(target, f"{message}{where}")
        self.line = line


class QueryError(MemmoatError):
    title = "Query error"


class UnknownQueryError(QueryError):
    title = "Unknown query"


class QueryParameterError(QueryError):
    title = "Bad query parameter"


class UnsafeQueryError(QueryError):
    title = "Query refused"


class DeliveryError(MemmoatError):
    title = "Delivery failed"
