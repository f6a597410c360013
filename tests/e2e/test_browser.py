"""The demo dashboard in a real browser: every page renders with data and without an exception
or a blank chart, a refresh shows new data, a filter lands in the URL and survives a page
switch, and a named query runs on the SQL page. Screenshots go to test-output/browser/
(docs/img/dashboard.png is the Overview one).

Playwright drives Debian's chromium (Playwright's own browser download is not reachable here).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support.servers import REPO, free_port

pytestmark = [pytest.mark.slow, pytest.mark.integration]

CHROMIUM = Path("/usr/lib/chromium/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-quic"]  # fmt: skip
OUT = REPO / "test-output" / "browser"
PAGES = [  # (nav label, url path, a text the page shows when it has data)
    ("Bottlenecks", "bottlenecks", "DRAM vs tensor activity"),
    ("GPUs", "gpus", "Every GPU"),
    ("Chargeback", "chargeback", "By namespace"),
    ("Cloud comparison", "cloud", "Break-even against one API"),
    ("Health and data quality", "health", "Targets up"),
]


class Output:
    """The demo's output, read by a thread (select() on a buffered pipe misses lines that arrive
    together, as the demo's two-line banner does)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self.thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.append(line)

    def wait_for(self, marker: str, proc: subprocess.Popen[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(marker in line for line in self.lines):
            text = "".join(self.lines)
            assert proc.poll() is None or any(marker in line for line in self.lines), f"demo exited:\n{text}"
            assert time.monotonic() < deadline, f"{marker!r} not seen within {timeout} s; output so far:\n{text}"
            time.sleep(0.2)


def wait_idle(page: object, timeout: float = 60) -> None:
    """Wait until Streamlit has finished the run (no 'Running...' status) and the page has a title."""
    p = page  # playwright.sync_api.Page
    p.get_by_test_id("stHeading").first.wait_for(timeout=timeout * 1000)  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if p.get_by_test_id("stStatusWidget").count() == 0:  # type: ignore[attr-defined]
            time.sleep(0.8)  # let charts draw
            if p.get_by_test_id("stStatusWidget").count() == 0:  # type: ignore[attr-defined]
                return
        time.sleep(0.3)
    raise AssertionError("the page kept running")


def check_page(page: object, name: str) -> None:
    """No exception or error box, and every chart has drawn something."""
    p = page
    assert p.get_by_test_id("stException").count() == 0, f"{name}: exception shown"  # type: ignore[attr-defined]
    errors = p.get_by_test_id("stAlertContentError")  # type: ignore[attr-defined]
    assert errors.count() == 0, f"{name}: {errors.all_inner_texts()}"
    charts = p.get_by_test_id("stVegaLiteChart")  # type: ignore[attr-defined]
    for i in range(charts.count()):
        chart = charts.nth(i)
        chart.scroll_into_view_if_needed()
        drawn = chart.locator("canvas, svg").first
        drawn.wait_for(timeout=20_000)
        box = drawn.bounding_box()
        assert box and box["width"] > 50 and box["height"] > 50, f"{name}: chart {i} is blank ({box})"


def shoot(page: object, name: str) -> Path:
    """A screenshot of the whole page (the viewport grows to the content's height)."""
    p = page
    height = p.evaluate(  # type: ignore[attr-defined]
        "() => Math.max(...[...document.querySelectorAll('[data-testid=stMain], section.main, body')]"
        ".map(e => e.scrollHeight))"
    )
    size = p.viewport_size  # type: ignore[attr-defined]
    p.set_viewport_size({"width": size["width"], "height": min(max(int(height), size["height"]), 6000)})  # type: ignore[attr-defined]
    time.sleep(1.0)
    path = OUT / f"{name}.png"
    p.screenshot(path=str(path))  # type: ignore[attr-defined]
    p.set_viewport_size(size)  # type: ignore[attr-defined]
    return path


def choose(page: object, label: str, option: str, *, within: object | None = None) -> None:
    """Pick ``option`` in the Streamlit selectbox labelled ``label`` (a combobox in Streamlit 1.67)."""
    scope = within or page
    box = scope.get_by_role("combobox", name=label)  # type: ignore[attr-defined]
    box.click()
    box.fill(option)  # the list is virtualised: typing brings the option into view
    page.get_by_role("option", name=option, exact=True).click()  # type: ignore[attr-defined]


def test_demo_dashboard_in_a_real_browser(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"chromium is not installed at {CHROMIUM} (Debian package 'chromium')")
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "memmoat", "demo", "--port", str(port), "--data", str(tmp_path / "demo"),
         "--history-hours", "0.5"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        Output(proc).wait_for("memmoat dashboard:", proc, 180)
        base = f"http://127.0.0.1:{port}"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 1440, "height": 1000})
                page.goto(base + "/")
                wait_idle(page)
                page.get_by_test_id("stMetric").filter(has_text="Tokens / s").wait_for()
                check_page(page, "overview")
                tokens = page.get_by_test_id("stMetric").filter(has_text="Tokens / s").inner_text()
                assert re.search(r"\d", tokens.split("Tokens / s")[-1]), tokens
                page.screenshot(path=str(OUT / "overview.png"))  # the README screenshot: first screenful
                shoot(page, "overview-full")

                # A refresh shows new data: the freshness line moves on its own (fragment run_every).
                fresh = page.get_by_text("Data up to").first
                first = fresh.inner_text()
                deadline = time.monotonic() + 30
                while fresh.inner_text() == first:
                    assert time.monotonic() < deadline, f"no refresh within 30 s: {first}"
                    time.sleep(1)

                # A filter goes into the URL and narrows the page.
                sidebar = page.get_by_test_id("stSidebar")
                choose(page, "Namespace", "chat", within=sidebar)
                page.wait_for_url(re.compile(r"namespace=chat"), timeout=20_000)
                page.get_by_text("namespace chat").first.wait_for(timeout=20_000)
                wait_idle(page)
                check_page(page, "overview (namespace chat)")

                # Switching pages keeps the filter in the URL.
                sidebar.get_by_test_id("stSidebarNav").get_by_text("KV cache and memory", exact=True).click()
                page.wait_for_url(re.compile(r"/kv_cache\?.*namespace=chat"), timeout=20_000)
                wait_idle(page)
                page.get_by_text("KV-cache usage").first.wait_for()
                page.get_by_text("namespace chat").first.wait_for()
                check_page(page, "kv_cache")
                shoot(page, "kv_cache")

                # Back to every namespace; every other page renders with data.
                choose(page, "Namespace", "All", within=sidebar)
                page.wait_for_url(lambda url: "namespace=" not in url, timeout=20_000)
                for label, path, marker in PAGES:
                    sidebar.get_by_test_id("stSidebarNav").get_by_text(label, exact=True).click()
                    page.wait_for_url(re.compile(rf"/{path}(\?|$)"), timeout=20_000)
                    wait_idle(page)
                    page.get_by_text(marker).first.wait_for(timeout=30_000)
                    check_page(page, path)
                    shoot(page, path)

                # The SQL page runs a named query with its parameters.
                sidebar.get_by_test_id("stSidebarNav").get_by_text("SQL", exact=True).click()
                page.wait_for_url(re.compile(r"/sql"), timeout=20_000)
                wait_idle(page)
                choose(page, "Query", "dash_kv_summary")
                page.wait_for_url(re.compile(r"query=dash_kv_summary"), timeout=20_000)
                page.get_by_role("button", name="Run query").click()
                page.get_by_text(re.compile(r"\d+ row\(s\) in")).first.wait_for(timeout=30_000)
                wait_idle(page)
                assert page.get_by_test_id("stDataFrame").count() >= 1
                check_page(page, "sql")
                shoot(page, "sql")
            finally:
                browser.close()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
