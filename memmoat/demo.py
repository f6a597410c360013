"""``memmoat demo``: a simulated GPU fleet, the collector and the dashboard, on localhost.

The demo writes an ordinary settings file into its data folder, so everything it runs
(collector, dashboard, ``memmoat --config data/demo/memmoat.toml query ...``) is the
real product pointed at the simulator.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from memmoat import config as cfg
from memmoat.service import dashboard_command, dashboard_env, start_collector


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v))


def demo_config(targets: list[dict[str, Any]], *, interval: float, port: int) -> str:
    lines = [
        "# Written by `memmoat demo`: the simulated fleet's targets. Safe to copy as a starting point.",
        "[storage]",
        'path = "memmoat.duckdb"',
        'spool_dir = "spool"',
        "",
        "[collector]",
        f"interval_seconds = {interval!r}",
        f"timeout_seconds = {min(5.0, interval / 2)!r}",
        "",
        "[dashboard]",
        f"port = {port}",
        f"refresh_seconds = {max(2.0, interval)!r}",
        "",
        "[report]",
        'output_dir = "reports"',
        'timezone = "UTC"',
        "",
        "[prices]",
        "default_usd_per_gpu_hour = 2.0",
        "",
        "[[prices.gpus]]",
        'gpu_model = "NVIDIA H100 80GB HBM3"',
        "usd_per_gpu_hour = 2.49",
        "",
        "[[prices.gpus]]",
        'gpu_model = "NVIDIA A100-SXM4-80GB"',
        "[prices.gpus.on_prem]",
        "purchase_usd = 15000.0",
        "depreciation_years = 4.0",
        "power_usd_per_kwh = 0.12",
        "pue = 1.3",
        "overhead_usd_per_year = 1500.0",
    ]
    for t in targets:
        lines += ["", "[[targets]]"]
        for key in ("name", "url", "kind", "cluster", "hostname", "gpu_indices", "labels"):
            if key in t and t[key] not in (None, [], {}):
                lines.append(f"{key} = {_toml_value(t[key])}")
    return "\n".join(lines) + "\n"


def _wait_http(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


def run_demo(
    data_dir: Path, *, port: int, interval: float, history_hours: float, stop: threading.Event | None = None
) -> int:
    from simulator.fleet import default_fleet
    from simulator.server import FleetServer
    from simulator.workload import Simulation

    stop = stop or threading.Event()
    data_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("memmoat.duckdb", "memmoat.duckdb.wal"):
        (data_dir / stale).unlink(missing_ok=True)
    now = datetime.now(UTC).timestamp()
    sim = Simulation(default_fleet(), start_epoch=now - history_hours * 3600, seed=7)
    server = FleetServer(sim, host="127.0.0.1", port=0)
    base = server.start()
    targets = [
        {**t, "cluster": t.get("labels", {}).get("cluster", "sim"),
         "labels": {k: v for k, v in t.get("labels", {}).items() if k != "cluster"}}
        for t in server.targets()
    ]  # fmt: skip
    config_file = data_dir / "memmoat.toml"
    config_file.write_text(demo_config(targets, interval=interval, port=port), encoding="utf-8")
    settings = cfg.load(config_file, must_exist=True)
    print(f"simulated fleet serving {len(targets)} targets at {base}", flush=True)
    if history_hours > 0:
        from memmoat.history import preload

        n = preload(settings, server, start=datetime.now(UTC) - timedelta(hours=history_hours), step_seconds=60)
        print(f"loaded {history_hours:g} h of simulated history ({n:,} samples)", flush=True)
    collector, sched = start_collector(settings)
    dash = subprocess.Popen(
        dashboard_command(settings, port),
        env=dashboard_env(config_file),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    url = f"http://{settings.dashboard.host}:{port}"
    if _wait_http(f"{url}/_stcore/health", 60):
        print(f"\n  memmoat dashboard: {url}\n", flush=True)
        print(f"  try: memmoat --config {config_file} query fleet_overview\n  Ctrl-C stops the demo.", flush=True)
    else:
        print("the dashboard did not start within 60 s", flush=True)
        stop.set()
    rc = 0
    try:
        while not stop.wait(0.5):
            if dash.poll() is not None:
                err = dash.stderr.read().decode(errors="replace") if dash.stderr else ""
                print(f"the dashboard exited ({dash.returncode}): {err[-2000:]}", flush=True)
                rc = 1
                break
    finally:
        if dash.poll() is None:
            dash.terminate()
            try:
                dash.wait(timeout=10)
            except subprocess.TimeoutExpired:
                dash.kill()
        sched.shutdown(wait=True)  # type: ignore[attr-defined]
        collector.close()
        server.stop()
        print("demo stopped", flush=True)
    return rc
