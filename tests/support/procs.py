"""Real second processes that hold a DuckDB file, for lock tests."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "ro")
print("holding", flush=True)
time.sleep(float(sys.argv[3]))
con.close()
"""


def hold_store(path: Path, *, read_only: bool, seconds: float) -> subprocess.Popen[str]:
    """Start a process that opens ``path`` and keeps it open for ``seconds``; returns once it holds it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), "ro" if read_only else "rw", str(seconds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    line = proc.stdout.readline()
    if line.strip() != "holding" or time.monotonic() > deadline:
        proc.kill()
        raise RuntimeError(f"holder did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return proc


def release(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.wait(timeout=10)
