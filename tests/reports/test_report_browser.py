"""Open the report in a real browser (Playwright + Chromium, file:// URL, network blocked) and save a
screenshot under test-output/. Skips only when no Chromium is installed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.reports import fixture
from tests.reports.fixture import Built

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "test-output"


def chromium() -> str | None:
    for candidate in (os.environ.get("MEMMOAT_CHROMIUM"), "/usr/lib/chromium/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return fixture.shared(tmp_path_factory)


@pytest.mark.integration
def test_report_renders_offline_in_a_browser(built: Built) -> None:
    exe = chromium()
    if exe is None:
        pytest.skip("Chromium not found (set MEMMOAT_CHROMIUM to its executable)")
    sync_api = pytest.importorskip("playwright.sync_api")
    html = built.report_dir / "report.html"
    OUT.mkdir(exist_ok=True)
    shot = OUT / f"report-{fixture.D.isoformat()}.png"
    shot.unlink(missing_ok=True)
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 800, "height": 1000})
            page.route("http*://**", lambda route: route.abort())  # offline: nothing may be fetched
            page.on("request", lambda r: requests.append(r.url))
            page.goto(html.as_uri())
            page.wait_for_load_state("load")
            body = page.inner_text("body")
            images = page.eval_on_selector_all("img", "imgs => imgs.map(i => [i.complete, i.naturalWidth])")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert len(images) >= 4 and all(done and width > 0 for done, width in images), images  # every chart drew
    assert all(u.startswith(("file:", "data:")) for u in requests), requests
    assert "$15.75" in body and "$1.575" in body and "Why cost per token moved" in body
    assert shot.exists() and shot.stat().st_size > 20_000
    with shot.open("rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
