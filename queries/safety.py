"""Free SQL is read-only: refuse anything that writes, reaches files or the network.

This is the first line, and it gives a clear message; the second line is the connection
itself, opened read-only with external access disabled (queries/runner.py). The check reads
the statement with a small lexer that knows DuckDB's quoting (strings with '' and E'\\'
escapes, $tag$ dollar quotes, "quoted identifiers", nested /* */ comments), so a keyword or
a function name hidden in a comment does not count and one hidden by quoting tricks is still
seen. It refuses:

* more than one statement, and any statement that is not a read (SELECT, WITH, FROM, VALUES,
  TABLE, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN, PIVOT, UNPIVOT);
* write and DDL keywords anywhere (INSERT, UPDATE, DELETE, MERGE, CREATE, DROP, ALTER,
  TRUNCATE), ATTACH/DETACH, COPY, EXPORT/IMPORT, INSTALL/LOAD, PRAGMA, CHECKPOINT, VACUUM;
* functions that read files, URLs, other databases or the environment (read_csv, read_parquet,
  read_json, read_text, glob, parquet_*, iceberg_*, sqlite_*, postgres_*, *_scan, query(),
  getenv, ...), however they are spelled ("read_csv"(...), main.read_csv (...));
* a file or URL named as a table: FROM 'data.csv', FROM "s3://bucket/x.parquet";
* unterminated strings or comments, and statements longer than MAX_SQL_CHARS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from memmoat.errors import UnsafeQueryError

MAX_SQL_CHARS = 20_000

READ_VERBS = frozenset({
    "select", "with", "from", "values", "table", "describe", "show", "summarize", "explain", "pivot", "unpivot",
})  # fmt: skip
WRITE_KEYWORDS = frozenset({
    "insert", "update", "delete", "merge", "create", "drop", "alter", "truncate",
    "attach", "detach", "copy", "export", "import", "install", "load", "pragma", "checkpoint", "vacuum",
    "grant", "revoke",
})  # fmt: skip
# Statement verbs refused with a named reason (the rest: "only read queries run here").
_STATEMENT_HINT = "use SELECT, WITH, FROM, DESCRIBE, SHOW or SUMMARIZE"
FORBIDDEN_FUNCTIONS = frozenset({
    "glob", "sniff_csv", "query", "query_table", "getenv", "duckdb_secrets", "which_secret",
    "load_aws_credentials", "checkpoint", "force_checkpoint", "read_osm", "st_read", "st_readosm", "st_read_meta",
    "st_drivers", "arrow_scan", "arrow_scan_dumb", "pandas_scan", "python_map_function", "read_csv", "read_parquet",
})  # fmt: skip
# Words that end a FROM clause (after them a string is a value again, not a table).
_CLAUSE_END = frozenset({
    "where", "group", "having", "qualify", "window", "order", "limit", "offset", "union", "intersect", "except",
    "select", "on", "using", "returning", "sample", "pivot", "unpivot",
})  # fmt: skip
_FORBIDDEN_PREFIXES = (
    "read_",
    "parquet_",
    "iceberg_",
    "delta_",
    "sqlite_",
    "postgres_",
    "mysql_",
    "ducklake_",
    "http_",
    "st_read",
    "excel_",
    "lance_",
    "vortex_",
    "azure_",
    "gcs_",
    "s3_",
)
_FORBIDDEN_SUFFIXES = ("_scan", "_attach", "_execute")
_FILE_LIKE = re.compile(
    r"(://|[/\\~]|\.(csv|tsv|txt|parquet|json|jsonl|ndjson|xlsx|xls|arrow|feather|avro|orc|db|duckdb|sqlite|"
    r"sqlite3|gz|zst|zstd|bz2|xz|lz4)\b)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # word | qident | string | param | punct | number
    text: str  # lower case for words; contents for qident/string
    pos: int


def _refuse(message: str, hint: str | None = "query the store's tables and views instead") -> UnsafeQueryError:
    return UnsafeQueryError(message, hint=hint)


def tokenize(sql: str) -> list[Token]:
    """DuckDB's lexical structure, as far as the check needs it. Comments are dropped."""
    out: list[Token] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c.isspace():
            i += 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j + 1
        elif sql.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if sql.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif sql.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            if depth:
                raise _refuse("unterminated /* comment", hint="close it with */")
            i = j
        elif c == "'" or (c in "eE" and sql.startswith("'", i + 1) and not _word_before(sql, i)):
            escapes = c != "'"
            j = i + (2 if escapes else 1)
            buf = []
            while True:
                if j >= n:
                    raise _refuse("unterminated string literal", hint="close it with '")
                ch = sql[j]
                if escapes and ch == "\\" and j + 1 < n:
                    buf.append(sql[j + 1])
                    j += 2
                elif ch == "'" and sql.startswith("''", j):
                    buf.append("'")
                    j += 2
                elif ch == "'":
                    j += 1
                    break
                else:
                    buf.append(ch)
                    j += 1
            out.append(Token("string", "".join(buf), i))
            i = j
        elif c == '"':
            j, buf = i + 1, []
            while True:
                if j >= n:
                    raise _refuse("unterminated quoted identifier", hint='close it with "')
                if sql.startswith('""', j):
                    buf.append('"')
                    j += 2
                elif sql[j] == '"':
                    j += 1
                    break
                else:
                    buf.append(sql[j])
                    j += 1
            out.append(Token("qident", "".join(buf), i))
            i = j
        elif c == "$":
            m = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$").match(sql, i)
            if m:  # dollar-quoted string: $$...$$ or $tag$...$tag$
                end = sql.find(m.group(0), m.end())
                if end < 0:
                    raise _refuse("unterminated dollar-quoted string", hint=f"close it with {m.group(0)}")
                out.append(Token("string", sql[m.end() : end], i))
                i = end + len(m.group(0))
            else:
                m = re.compile(r"\$[A-Za-z0-9_]*").match(sql, i)
                assert m is not None
                out.append(Token("param", m.group(0), i))
                i = m.end()
        elif c.isalpha() or c == "_":
            m = re.compile(r"[\w$]+").match(sql, i)
            assert m is not None
            out.append(Token("word", m.group(0).lower(), i))
            i = m.end()
        elif c.isdigit():
            m = re.compile(r"[\w.]+").match(sql, i)
            assert m is not None
            out.append(Token("number", m.group(0), i))
            i = m.end()
        else:
            out.append(Token("punct", c, i))
            i += 1
    return out


def _word_before(sql: str, i: int) -> bool:
    """True when sql[i] continues a word (the E of `somE'` is no string prefix)."""
    return i > 0 and (sql[i - 1].isalnum() or sql[i - 1] in "_$")


def _forbidden_function(name: str) -> bool:
    name = name.lower()
    return name in FORBIDDEN_FUNCTIONS or name.startswith(_FORBIDDEN_PREFIXES) or name.endswith(_FORBIDDEN_SUFFIXES)


def check_sql(sql: str) -> None:
    """Raise UnsafeQueryError unless ``sql`` is one read-only statement that reads only the store."""
    if len(sql) > MAX_SQL_CHARS:
        raise _refuse(f"the statement is {len(sql):,} characters long; at most {MAX_SQL_CHARS:,} run here", None)
    tokens = tokenize(sql)
    # One statement: a ';' may only end it.
    semis = [k for k, t in enumerate(tokens) if t.kind == "punct" and t.text == ";"]
    while semis and semis[-1] == len(tokens) - 1:
        tokens.pop()
        semis.pop()
    if not tokens:
        raise UnsafeQueryError("empty query")
    if semis:
        raise _refuse("one statement at a time, please (found several separated by ';')", None)
    first = next((t for t in tokens if not (t.kind == "punct" and t.text == "(")), tokens[0])
    verb = first.text if first.kind == "word" else ""
    if verb in WRITE_KEYWORDS or verb in {
        "set",
        "reset",
        "call",
        "begin",
        "commit",
        "rollback",
        "abort",
        "use",
        "start",
        "end",
        "force",
        "prepare",
        "execute",
        "deallocate",
    }:
        raise _refuse(f"{verb.upper()} is not allowed here: memmoat's SQL is read-only", _STATEMENT_HINT)
    if verb not in READ_VERBS:
        raise _refuse(f"statement {(verb or first.text).upper()} is not allowed; only read queries run here",
                      _STATEMENT_HINT)  # fmt: skip
    depth, from_depths = 0, set()  # paren depths at which a FROM/JOIN list is open
    for k, t in enumerate(tokens):
        nxt = tokens[k + 1] if k + 1 < len(tokens) else None
        prev = tokens[k - 1] if k else None
        is_call = nxt is not None and nxt.kind == "punct" and nxt.text == "("
        if t.kind == "punct" and t.text == "(":
            depth += 1
        elif t.kind == "punct" and t.text == ")":
            from_depths.discard(depth)
            depth -= 1
        elif t.kind == "word" and t.text in ("from", "join"):
            from_depths.add(depth)
        elif t.kind == "word" and t.text in _CLAUSE_END:
            from_depths.discard(depth)
        if t.kind == "word" and t.text in WRITE_KEYWORDS and not _qualified(prev):
            raise _refuse(f"{t.text.upper()} is not allowed here: memmoat's SQL is read-only", _STATEMENT_HINT)
        if t.kind in ("word", "qident") and is_call and _forbidden_function(t.text):
            raise _refuse(
                f"{t.text}() reads files, URLs, other databases or the environment, which is not allowed here"
            )
        if t.kind == "qident" and _FILE_LIKE.search(t.text):
            raise _refuse(f'"{t.text}" looks like a file or URL; reading files is not allowed here')
        if (
            t.kind == "string"
            and prev is not None
            and depth in from_depths
            and ((prev.kind == "word" and prev.text in ("from", "join")) or (prev.kind == "punct" and prev.text == ","))
        ):
            raise _refuse("reading a file or URL by name (FROM '...') is not allowed here")


def _qualified(prev: Token | None) -> bool:
    """`t.update`: a column that happens to be spelt like a write keyword. Unqualified, such a
    word is refused (the safe side): qualify it or quote it ("update")."""
    return prev is not None and prev.kind == "punct" and prev.text == "."
