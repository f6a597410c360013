"""README command 1: `memmoat demo` serves a live dashboard with non-zero tokens/s and $ per 1M tokens."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support.servers import free_port

pytestmark = pytest.mark.slow


class _Lines:
    """Collects a process's output lines in a thread, so waits can time out."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen = ""
        assert proc.stdout is not None
        stream = proc.stdout
        threading.Thread(target=lambda: [self.lines.put(line) for line in stream], daemon=True).start()

    def until(self, marker: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen += line
            if marker in line:
                return self.seen
        raise AssertionError(f"{marker!r} not seen within {timeout} s; output so far:\n{self.seen}")


def test_demo_serves_live_dashboard_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "demo"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "memmoat", "demo", "--port", str(port), "--data", str(data),
         "--history-hours", "0.25", "--interval", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        lines = _Lines(proc)
        out = lines.until("memmoat dashboard:", 90)
        assert time.monotonic() - t0 < 90
        assert f"http://127.0.0.1:{port}" in out
        assert httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=5).text == "ok"
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert page.status_code == 200 and '<div id="root">' in page.text
        cfg = data / "memmoat.toml"
        q = subprocess.run(
            [sys.executable, "-m", "memmoat", "--config", str(cfg), "query", "fleet_overview", "--format", "json"],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
        assert q.returncode == 0, q.stderr
        row = json.loads(q.stdout)[0]
        assert row["tokens_per_s"] > 0
        assert row["usd_per_1m_tokens"] > 0
        # Live collection goes on: the newest sample moves forward.
        sql = "SELECT max(ts) AS t FROM samples"
        first = subprocess.run(
            [sys.executable, "-m", "memmoat", "--config", str(cfg), "query", "--sql", sql, "--format", "csv"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        ).stdout
        time.sleep(5)
        second = subprocess.run(
            [sys.executable, "-m", "memmoat", "--config", str(cfg), "query", "--sql", sql, "--format", "csv"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        ).stdout
        assert second > first
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        rest = lines.until("demo stopped", 5)
        assert proc.returncode == 0, rest
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    # Nothing is left listening.
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
