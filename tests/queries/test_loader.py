from datetime import datetime

import pytest

from memmoat.errors import QueryError, QueryParameterError, UnknownQueryError
from queries import loader, params

SQL = """-- name: first
-- Tokens in a window.
-- param: start TIMESTAMP = -1h : window start
-- param: n INTEGER : how many
SELECT $n AS n, $start AS s;

-- name: second
SELECT 'it''s $notaparam' AS x;
"""


def test_parse_file_names_docs_params() -> None:
    qs = loader.parse_file(SQL, "x.sql")
    assert [q.name for q in qs] == ["first", "second"]
    first = qs[0]
    assert first.description == "Tokens in a window."
    assert first.params[0] == loader.Param("start", "TIMESTAMP", "-1h", "window start")
    assert first.params[1].default is None
    assert first.line == 1 and qs[1].line == 7
    assert first.sql.startswith("SELECT $n")


def test_undeclared_parameter_reports_file_and_line() -> None:
    bad = "-- name: q\n\nSELECT $oops\n"
    with pytest.raises(QueryError, match=r"x\.sql:1: .*undeclared parameter.*oops"):
        loader.parse_file(bad, "x.sql")


def test_unknown_param_type_reports_line() -> None:
    bad = "-- name: q\n-- param: a FLOAT\nSELECT $a\n"
    with pytest.raises(QueryError, match=r"x\.sql:2: .*unknown type FLOAT"):
        loader.parse_file(bad, "x.sql")


def test_sql_before_name() -> None:
    with pytest.raises(QueryError, match=r"x\.sql:1"):
        loader.parse_file("SELECT 1\n", "x.sql")


def test_catalog_loads_shipped_queries() -> None:
    cat = loader.catalog()
    assert "fleet_overview" in cat and "sample_count" in cat
    with pytest.raises(UnknownQueryError, match="no named query 'nope'"):
        loader.get("nope")


def test_bind_converts_and_fills_defaults() -> None:
    q = loader.parse_file(SQL, "x.sql")[0]
    now = datetime(2026, 11, 21, 12, 0, 0)
    values = params.bind(q, {"n": "5"}, now)
    assert values == {"start": datetime(2026, 11, 21, 11, 0, 0), "n": 5}
    values = params.bind(q, {"n": "1", "start": "2026-11-20T06:30:00Z"}, now)
    assert values["start"] == datetime(2026, 11, 20, 6, 30)


def test_bind_errors() -> None:
    q = loader.parse_file(SQL, "x.sql")[0]
    with pytest.raises(QueryParameterError, match="needs --param n"):
        params.bind(q, {})
    with pytest.raises(QueryParameterError, match="no parameter bogus"):
        params.bind(q, {"n": "1", "bogus": "2"})
    with pytest.raises(QueryParameterError, match="parameter n"):
        params.bind(q, {"n": "many"})
    with pytest.raises(QueryParameterError, match="not a time"):
        params.bind(q, {"n": "1", "start": "last tuesday"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", datetime(2026, 11, 21, 12, 0)),
        ("-15m", datetime(2026, 11, 21, 11, 45)),
        ("-7d", datetime(2026, 11, 14, 12, 0)),
        ("today", datetime(2026, 11, 21)),
        ("yesterday", datetime(2026, 11, 20)),
        ("2026-11-01", datetime(2026, 11, 1)),
        ("2026-11-01T10:00:00+02:00", datetime(2026, 11, 1, 8, 0)),
    ],
)
def test_timestamp_forms(text: str, expected: datetime) -> None:
    assert params.parse_timestamp(text, datetime(2026, 11, 21, 12, 0)) == expected
