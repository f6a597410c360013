"""README command 1: `memmoat demo` serves a live dashboard with non-zero tokens/s and $ per 1M tokens."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.servers import free_port

pytestmark = pytest.mark.slow


def _read_until(proc: subprocess.Popen[str], marker: str, timeout: float) -> str:
    assert proc.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            seen += line
            if marker in line:
                return seen
        elif proc.poll() is not None:
            break
    raise AssertionError(f"{marker!r} not seen within {timeout} s; output so far:\n{seen}")


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
        out = _read_until(proc, "memmoat dashboard:", 90)
        assert time.monotonic() - t0 < 90
        assert f"http://127.0.0.1:{port}" in out
        assert httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=5).text == "ok"
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert page.status_code == 200 and "<div id=\"root\">" in page.text
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
        first = subprocess.run([sys.executable, "-m", "memmoat", "--config", str(cfg), "query", "--sql", sql,
                                "--format", "csv"], capture_output=True, text=True, timeout=60, env=env).stdout
        time.sleep(5)
        second = subprocess.run([sys.executable, "-m", "memmoat", "--config", str(cfg), "query", "--sql", sql,
                                 "--format", "csv"], capture_output=True, text=True, timeout=60, env=env).stdout
        assert second > first
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, rest
        assert "demo stopped" in rest
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    # Nothing is left listening.
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
