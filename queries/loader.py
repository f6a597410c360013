"""Load named queries from ``.sql`` files.

The file format follows aiosql's (``-- name: x`` opens a statement), with two additions
the dashboard and CLI need and aiosql does not offer: typed parameters with defaults and
help (``-- param: name TYPE = default : help``) and file:line in every error. One file
may hold several statements; SQL uses DuckDB's ``$name`` placeholders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

from memmoat.errors import QueryError, UnknownQueryError

PARAM_TYPES = ("TIMESTAMP", "DATE", "VARCHAR", "DOUBLE", "INTEGER", "BOOLEAN")
_NAME = re.compile(r"^--\s*name:\s*([a-z][a-z0-9_]*)\s*$")
_PARAM = re.compile(r"^--\s*param:\s*([a-z][a-z0-9_]*)\s+([A-Z]+)\s*(?:=\s*(.*?))?\s*(?::\s*(.*))?$")
_PLACEHOLDER = re.compile(r"\$([a-z][a-z0-9_]*)")


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: str | None
    help: str


@dataclass(frozen=True)
class NamedQuery:
    name: str
    description: str
    params: tuple[Param, ...]
    sql: str
    file: str
    line: int

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


@dataclass
class _Draft:
    """A query being read: its header lines, then its SQL."""

    name: str
    line: int
    doc: list[str] = field(default_factory=list)
    params: list[Param] = field(default_factory=list)
    sql: list[str] = field(default_factory=list)
    in_body: bool = False

    def finish(self, file: str) -> NamedQuery:
        sql = "\n".join(self.sql).strip().rstrip(";")
        if not sql:
            raise QueryError(f"{file}:{self.line}: query {self.name!r} has no SQL")
        declared = {p.name for p in self.params}
        used = set(_PLACEHOLDER.findall(_strip_strings(sql)))
        if used - declared:
            raise QueryError(
                f"{file}:{self.line}: query {self.name!r} uses undeclared parameter(s) "
                f"{', '.join(sorted(used - declared))}; add '-- param:' lines"
            )
        return NamedQuery(
            name=self.name,
            description=" ".join(self.doc).strip(),
            params=tuple(self.params),
            sql=sql,
            file=file,
            line=self.line,
        )


def parse_file(text: str, file: str) -> list[NamedQuery]:
    out: list[NamedQuery] = []
    current: _Draft | None = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        m = _NAME.match(line)
        if m:
            if current is not None:
                out.append(current.finish(file))
            current = _Draft(m.group(1), lineno)
            continue
        if current is None:
            if line.strip() and not line.startswith("--"):
                raise QueryError(f"{file}:{lineno}: SQL before the first '-- name:' line")
            continue
        if not current.in_body and line.startswith("--"):
            pm = _PARAM.match(line)
            if pm:
                ptype = pm.group(2)
                if ptype not in PARAM_TYPES:
                    raise QueryError(
                        f"{file}:{lineno}: parameter {pm.group(1)!r} has unknown type {ptype}; "
                        f"use one of {', '.join(PARAM_TYPES)}"
                    )
                current.params.append(Param(pm.group(1), ptype, pm.group(3) or None, (pm.group(4) or "").strip()))
            elif line.startswith("-- param"):
                raise QueryError(f"{file}:{lineno}: cannot read parameter line {line!r}")
            else:
                current.doc.append(line.lstrip("-").strip())
            continue
        current.in_body = True
        current.sql.append(raw)
    if current is not None:
        out.append(current.finish(file))
    return out


def _strip_strings(sql: str) -> str:
    return re.sub(r"'(?:[^']|'')*'", "''", sql)


@cache
def catalog() -> dict[str, NamedQuery]:
    """Every named query shipped with memmoat, by name."""
    folder = resources.files("queries").joinpath("named")
    out: dict[str, NamedQuery] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql"):
            continue
        rel = f"queries/named/{entry.name}"
        for q in parse_file(entry.read_text(encoding="utf-8"), rel):
            if q.name in out:
                other = out[q.name]
                raise QueryError(f"{rel}:{q.line}: query {q.name!r} is also defined at {other.file}:{other.line}")
            out[q.name] = q
    return out


def load_path(path: Path) -> dict[str, NamedQuery]:
    return {q.name: q for q in parse_file(path.read_text(encoding="utf-8"), str(path))}


def get(name: str) -> NamedQuery:
    try:
        return catalog()[name]
    except KeyError:
        known = ", ".join(sorted(catalog()))
        raise UnknownQueryError(
            f"no named query {name!r}", hint=f"`memmoat query` lists them; known: {known}"
        ) from None
