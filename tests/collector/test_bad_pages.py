"""Bad pages end up as a recorded error or issue naming the target and the line; the rest of
the page (where safe) and every other target are stored as usual."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from prometheus_client.parser import text_string_to_metric_families

from collector.service import Collector
from memmoat.config import CollectorSettings, Settings, StorageSettings, Target
from tests.support.servers import PageServer

CAP = 200_000  # bytes; the live vLLM page is about 52 KB


def count_samples(text: str) -> int:
    return sum(len(f.samples) for f in text_string_to_metric_families(text))


@pytest.fixture
def server() -> Iterator[PageServer]:
    with PageServer() as s:
        yield s


def run_round(tmp_path: Path, server: PageServer, pages: dict[str, str | bytes]) -> dict[str, dict[str, Any]]:
    targets = [Target(name=name, url=server.set(f"/{name}", body)) for name, body in pages.items()]
    settings = Settings(
        storage=StorageSettings(path=str(tmp_path / "m.duckdb"), spool_dir=str(tmp_path / "spool")),
        collector=CollectorSettings(interval_seconds=15, timeout_seconds=5, max_page_bytes=CAP),
        targets=targets,
    )
    collector = Collector(settings)
    try:
        collector.scrape_round()
    finally:
        collector.close()
    con = duckdb.connect(str(tmp_path / "m.duckdb"), read_only=True)
    try:
        cur = con.execute("SELECT target, error, error_line, issues, samples FROM scrapes")
        out = {r[0]: dict(zip(("target", "error", "error_line", "issues", "samples"), r, strict=True))
               for r in cur.fetchall()}  # fmt: skip
        stored = dict(con.execute(
            "SELECT se.target, count(*) FROM samples s JOIN series se USING (series_id) GROUP BY ALL"
        ).fetchall())  # fmt: skip
    finally:
        con.close()
    for name, row in out.items():
        row["stored"] = stored.get(name, 0)
    return out


def test_each_bad_page_is_recorded_and_nothing_else_suffers(
    tmp_path: Path, server: PageServer, test_data_page: Callable[[str], str]
) -> None:
    live = test_data_page("vllm-cpu-live.prom")
    lines = live.split("\n")
    at = next(i for i, ln in enumerate(lines) if ln.startswith("vllm:kv_cache_usage_perc{"))
    truncated = "\n".join([*lines[:at], 'vllm:kv_cache_usage_perc{engine="0",mod'])  # cut mid-line
    malformed = "\n".join([*lines[:at], "vllm:kv_cache_usage_perc{engine=0} 0.5", *lines[at + 1 :]])
    nan = "\n".join([*lines[:at], 'vllm:kv_cache_usage_perc{engine="0",model_name="tiny-llama"} NaN', *lines[at + 1 :]])
    duplicate = "\n".join([*lines[: at + 1], lines[at], *lines[at + 1 :]])
    crlf = live.replace("\n", "\r\n")
    non_utf8 = b'# TYPE a gauge\na 1\nb{x="\xff\xfe"} 2\n'
    html = "<!DOCTYPE html>\n<html><body><h1>502 Bad Gateway</h1></body></html>\n"
    huge = "# TYPE big gauge\n" + "".join(f'big{{i="{i}"}} {i}\n' for i in range(CAP // 15))

    got = run_round(tmp_path, server, {
        "good": live, "truncated": truncated, "malformed": malformed, "nan": nan, "duplicate": duplicate,
        "crlf": crlf, "non-utf8": non_utf8, "html": html, "huge": huge,
    })  # fmt: skip
    full = count_samples(live)
    before = count_samples("\n".join(lines[:at]) + "\n")
    line = at + 1  # 1-based line number of the bad line

    assert got["good"] | {"target": "good"} == {
        "target": "good", "error": None, "error_line": None, "issues": 0, "samples": full, "stored": full,
    }  # fmt: skip
    assert got["crlf"]["error"] is None and got["crlf"]["stored"] == full and got["crlf"]["issues"] == 0
    # A bad line costs that line only; the scrape itself succeeded and names the line.
    for name, bad_line, kept in [
        ("truncated", line, before), ("malformed", line, full - 1), ("nan", line, full - 1),
        ("duplicate", line + 1, full),  # the second copy is the one refused
    ]:  # fmt: skip
        row = got[name]
        assert (row["error"], row["error_line"], row["issues"], row["stored"]) == (None, bad_line, 1, kept), name
    # A page that is not Prometheus text at all is a failed scrape naming the target (and the line).
    assert got["non-utf8"]["error"].startswith("target 'non-utf8': page is not UTF-8")
    assert got["non-utf8"]["error_line"] == 3 and got["non-utf8"]["stored"] == 0
    assert got["html"]["error"].startswith("target 'html': got an HTML page")
    assert got["html"]["error_line"] == 1 and got["html"]["stored"] == 0
    assert got["huge"]["error"].startswith("target 'huge': page is larger than collector.max_page_bytes")
    assert got["huge"]["stored"] == 0


def test_a_page_with_no_valid_line_is_a_failed_scrape(tmp_path: Path, server: PageServer) -> None:
    # Plain text that is not exposition format (e.g. a proxy's error body served as text/plain).
    junk = "upstream connect error or disconnect/reset before headers\nreset reason: overflow\n"
    got = run_round(tmp_path, server, {"junk": junk})
    row = got["junk"]
    assert row["error"].startswith("target 'junk': no valid sample on the page; 2 bad line(s)")
    assert row["error_line"] == 1
    assert row["samples"] == 0 and row["stored"] == 0
