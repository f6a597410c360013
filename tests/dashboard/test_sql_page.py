"""The SQL page is safe: read-only, row limit, timeout; every hostile statement is refused with
a message by queries.safety.check_sql, and through the page it leaves the store unchanged."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from memmoat import config as cfg
from memmoat.errors import QueryError, UnsafeQueryError
from queries import safety
from queries.runner import run_sql
from queries.safety import check_sql
from tests.dashboard.conftest import assert_clean, run_page, texts

App = Callable[[Path], AppTest]
TMP = Path(tempfile.gettempdir())
OUT = str(TMP / "memmoat-hostile-out")  # where writes would land; checked never to appear

# (statement, what the refusal says)
HOSTILE: list[tuple[str, str]] = [
    # writes and DDL
    ("INSERT INTO samples VALUES (TIMESTAMP '2026-01-01', 1, 1.0)", "INSERT is not allowed"),
    ("UPDATE samples SET value = 0", "UPDATE is not allowed"),
    ("DELETE FROM samples", "DELETE is not allowed"),
    ("MERGE INTO samples USING samples AS s ON true WHEN MATCHED THEN DELETE", "MERGE is not allowed"),
    ("DROP TABLE samples", "DROP is not allowed"),
    ("CREATE TABLE x AS SELECT * FROM samples", "CREATE is not allowed"),
    ("CREATE OR REPLACE VIEW gpu_metrics AS SELECT 1", "CREATE is not allowed"),
    ("ALTER TABLE samples ADD COLUMN x INTEGER", "ALTER is not allowed"),
    ("TRUNCATE samples", "TRUNCATE is not allowed"),
    ("WITH x AS (SELECT 1) DELETE FROM samples", "DELETE is not allowed"),
    ("SELECT 1; DROP TABLE samples", "one statement at a time"),
    ("select 1 ; /* hidden */ delete from scrapes", "one statement at a time"),
    # other databases, files out, settings
    ("ATTACH 'other.duckdb' AS other", "ATTACH is not allowed"),
    ("DETACH other", "DETACH is not allowed"),
    (f"COPY samples TO '{OUT}.csv'", "COPY is not allowed"),
    (f"COPY (SELECT * FROM samples) TO '{OUT}.parquet' (FORMAT parquet)", "COPY is not allowed"),
    (f"EXPORT DATABASE '{OUT}'", "EXPORT is not allowed"),
    (f"IMPORT DATABASE '{OUT}'", "IMPORT is not allowed"),
    ("SET enable_external_access = true", "SET is not allowed"),
    ("PRAGMA enable_profiling", "PRAGMA is not allowed"),
    ("CALL force_checkpoint()", "CALL is not allowed"),
    ("CHECKPOINT", "CHECKPOINT is not allowed"),
    ("SELECT * FROM checkpoint()", "CHECKPOINT is not allowed"),
    ("VACUUM", "VACUUM is not allowed"),
    # extensions
    ("INSTALL httpfs", "INSTALL is not allowed"),
    ("FORCE INSTALL httpfs", "FORCE is not allowed"),
    ("LOAD httpfs", "LOAD is not allowed"),
    # file and URL reads
    ("SELECT * FROM read_csv('/etc/passwd')", "read_csv() reads files"),
    ("SELECT * FROM read_csv_auto('/etc/passwd')", "read_csv_auto() reads files"),
    ("SELECT * FROM read_parquet('s3://bucket/key.parquet')", "read_parquet() reads files"),
    ("SELECT * FROM parquet_scan('x.parquet')", "parquet_scan() reads files"),
    ("SELECT * FROM read_json('https://example.com/x.json')", "read_json() reads files"),
    ("SELECT content FROM read_text('/etc/hostname')", "read_text() reads files"),
    ("SELECT * FROM read_blob('/etc/hostname')", "read_blob() reads files"),
    ("SELECT * FROM glob('/etc/*')", "glob() reads files"),
    ("SELECT * FROM sqlite_scan('x.db', 't')", "sqlite_scan() reads files"),
    ("SELECT * FROM query('SELECT 42')", "query() reads files"),
    ("SELECT getenv('HOME')", "getenv() reads files"),
    ("SELECT * FROM duckdb_secrets()", "duckdb_secrets() reads files"),
    ("SELECT * FROM '/etc/passwd'", "FROM '...'"),
    ("FROM 'https://example.com/data.csv'", "FROM '...'"),
    ("SELECT * FROM samples, 'other.parquet'", "FROM '...'"),
    ("SELECT * FROM samples JOIN 'x.csv' USING (ts)", "FROM '...'"),
    ('SELECT * FROM "data.csv"', "looks like a file or URL"),
    # spelling tricks
    ("SELECT * FROM \"read_csv\"('/etc/passwd')", "read_csv() reads files"),
    ("select * from READ_CSV ('/etc/passwd')", "read_csv() reads files"),
    ("select * from main.read_csv/**/('/etc/passwd')", "read_csv() reads files"),
    ("DESCRIBE SELECT * FROM read_parquet('x.parquet')", "read_parquet() reads files"),
    ("SELECT x FROM (FROM 'a.csv')", "FROM '...'"),
    ("SELECT 'unterminated", "unterminated string"),
    ("SELECT 1 /* unterminated", "unterminated /* comment"),
    ("", "empty query"),
    ("-- only a comment", "empty query"),
    ("SELECT " + "1 + " * 6000 + "1", "characters long"),
]

ALLOWED = [
    "SELECT count(*) FROM samples",
    "FROM gpu_metrics LIMIT 5",
    "WITH a AS (SELECT 1 AS x) SELECT * FROM a;",
    "DESCRIBE samples",
    "SHOW TABLES",
    "SUMMARIZE scrapes",
    "EXPLAIN SELECT * FROM samples",
    "VALUES (1, 'a')",
    "SELECT reset FROM engine_increments LIMIT 1",
    "SELECT replace(target, 'a', 'b'), coalesce(error, 'none') FROM scrapes WHERE error LIKE '%delete%'",
    "SELECT 'read_csv(''x'')' AS s, $$; DROP TABLE samples$$ AS t",
    "SELECT * FROM engine_costs_between(now() AT TIME ZONE 'UTC' - INTERVAL 1 HOUR, now() AT TIME ZONE 'UTC', 0, NULL)",
    'SELECT t.update, t."delete" FROM (SELECT 1 AS "update", 2 AS "delete") t',
]


@pytest.mark.parametrize(("sql", "why"), HOSTILE, ids=[h[0][:40] or "empty" for h in HOSTILE])
def test_check_sql_refuses(sql: str, why: str) -> None:
    with pytest.raises(UnsafeQueryError) as err:
        check_sql(sql)
    assert why in err.value.message
    assert err.value.title == "Query refused"


@pytest.mark.parametrize("sql", ALLOWED)
def test_check_sql_allows_reads(sql: str) -> None:
    check_sql(sql)


def fingerprint(config_path: Path) -> tuple[str, dict[str, int], list[str]]:
    """The store file's checksum, its row counts, and the files beside it."""
    store = cfg.load(config_path, must_exist=True).store_path
    digest = hashlib.sha256(store.read_bytes()).hexdigest()
    con = duckdb.connect(str(store), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        counts = {t: int(con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in tables}  # type: ignore[index]
    finally:
        con.close()
    return digest, counts, sorted(p.name for p in store.parent.iterdir())


def run_free_sql(at: AppTest, sql: str) -> AppTest:
    at.text_area(key="sql_text").input(sql)
    at.button(key="sql_run").click()
    return at.run()


def test_hostile_sql_through_the_page_is_refused_and_changes_nothing(app: App, fleet_config: Path) -> None:
    before = fingerprint(fleet_config)
    at = run_page(app(fleet_config), "sql")
    for sql, why in HOSTILE:
        if not sql:
            continue  # st.text_area cannot be emptied to nothing and run: covered by check_sql above
        run_free_sql(at, sql)
        assert not at.exception, (sql, [e.value for e in at.exception])
        assert len(at.error) == 1, (sql, texts(at))
        message = at.error[0].value
        assert message.startswith("**Query refused**") and why in message, (sql, message)
        assert not at.dataframe, sql
    assert fingerprint(fleet_config) == before
    assert not list(TMP.glob("memmoat-hostile-out*"))


def test_the_read_only_connection_refuses_even_without_the_check(
    fleet_config: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Second line: with check_sql switched off, the connection itself refuses."""
    settings = cfg.load(fleet_config, must_exist=True)
    before = fingerprint(fleet_config)
    monkeypatch.setattr(safety, "check_sql", lambda sql: None)
    for sql in [
        "DROP TABLE samples",
        "DELETE FROM samples",
        "INSERT INTO scrapes SELECT * FROM scrapes",
        "CREATE TABLE x (a INTEGER)",
        f"COPY samples TO '{tmp_path / 'out.csv'}'",
        "SELECT * FROM read_csv('/etc/hostname')",
        "SET enable_external_access = true",
        "INSTALL httpfs",
    ]:
        with pytest.raises(QueryError):
            run_sql(settings.store_path, sql, settings=settings)
    assert fingerprint(fleet_config) == before
    assert not (tmp_path / "out.csv").exists()


@pytest.fixture
def limited_config(fleet_config: Path, tmp_path: Path) -> Path:
    store = cfg.load(fleet_config, must_exist=True).store_path
    path = tmp_path / "limited.toml"
    path.write_text(
        f'[storage]\npath = "{store}"\n[dashboard]\nsql_row_limit = 50\nsql_timeout_seconds = 0.5\n', encoding="utf-8"
    )
    return path


def test_row_limit_and_timeout(app: App, limited_config: Path) -> None:
    at = run_page(app(limited_config), "sql")
    assert "at most 50 rows" in texts(at) and "stopped after 0.5 s" in texts(at)
    run_free_sql(at, "SELECT * FROM range(1000)")
    assert_clean(at)
    assert len(at.dataframe[0].value) == 50
    assert "stopped at the row limit (50)" in texts(at)
    run_free_sql(at, "SELECT sum(a.range * b.range) FROM range(100000) a, range(100000) b")
    assert not at.exception
    assert at.error and "query stopped after 0.5 s" in at.error[0].value


def test_named_query_with_parameters(app: App, fleet_config: Path) -> None:
    at = run_page(app(fleet_config), "sql")
    at.selectbox(key="sql_named").set_value("dash_kv_summary").run()
    assert at.query_params["query"] == "dash_kv_summary"
    assert at.text_input(key="sqlp_dash_kv_summary_start").value == "-1h"  # the time filter's window
    at.text_input(key="sqlp_dash_kv_summary_namespace").input("chat")
    at.button(key="sql_run_named").click().run()
    assert_clean(at)
    frame = at.dataframe[0].value
    assert list(frame["instance"]) == ["chat-llama70b"] and frame["kv_capacity_tokens"].iloc[0] > 0
    assert at.get("download_button")
    at.text_input(key="sqlp_dash_kv_summary_start").input("last tuesday")
    at.button(key="sql_run_named").click().run()
    assert not at.exception
    assert at.error and "Bad query parameter" in at.error[0].value


def test_free_sql_result_and_a_link_to_a_named_query(app: App, fleet_config: Path) -> None:
    at = app(fleet_config)
    at.query_params["query"] = "target_health"
    run_page(at, "sql")
    assert at.selectbox(key="sql_named").value == "target_health"
    run_free_sql(at, "SELECT target, count(*) AS n FROM scrapes GROUP BY ALL ORDER BY 1")
    assert_clean(at)
    assert len(at.dataframe[0].value) == 9
