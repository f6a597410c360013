"""CPU and memory of a real collector process scraping a simulated 512-GPU fleet.

The simulator (``python -m simulator``: 64 nodes x 8 GPUs, 64 vLLM engines) runs in its own
process, pinned to one core, so its CPU is not counted. The collector is the product as
shipped, ``python -m memmoat --config X collect``, pinned to the other core, at the default
15 s interval and 5 s timeout. After its first round (which registers every series) CPU time
(utime + stime of all its threads, from /proc) is measured over a window of whole intervals,
rollup job included; resident memory is sampled every second and its peak (VmHWM) read at
the end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from bench.util import cpu_seconds, rss_mb, samples_bytes

REPO = Path(__file__).resolve().parents[1]


@dataclass
class FleetResult:
    targets: int
    gpus: int
    interval_s: float
    window_s: float
    rounds: int
    samples_per_round: int
    cpu_percent_of_one_core: float
    rss_mb_steady: float
    rss_mb_peak: float
    first_round_s: float
    bytes_per_sample_as_ingested: float


def _toml(v: Any) -> str:
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    return json.dumps(v)


def _config(folder: Path, targets: list[dict[str, Any]], interval: float) -> Path:
    lines = ["[storage]", 'path = "fleet.duckdb"', 'spool_dir = "spool"']
    lines += ["[collector]", f"interval_seconds = {interval}", f"timeout_seconds = {min(5.0, interval / 2)}"]
    for t in targets:
        labels = dict(t.get("labels", {}))
        cluster = labels.pop("cluster", "sim")
        lines += ["[[targets]]", f"name = {_toml(t['name'])}", f"url = {_toml(t['url'])}", f"kind = {_toml(t['kind'])}"]
        lines += [f"cluster = {_toml(cluster)}", f"labels = {_toml(labels)}"]
        if t.get("hostname"):
            lines.append(f"hostname = {_toml(t['hostname'])}")
        if t.get("gpu_indices"):
            lines.append(f"gpu_indices = {_toml(t['gpu_indices'])}")
    path = folder / "memmoat.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _pinned(cpu: int) -> Any:
    return lambda: os.sched_setaffinity(0, {cpu})


def run(
    *,
    nodes: int = 64,
    engines: int = 64,
    interval: float = 15.0,
    window_rounds: int = 4,
    cores: list[int] | None = None,
) -> FleetResult:
    cores = cores or sorted(os.sched_getaffinity(0))
    sim_cpu, col_cpu = cores[0], cores[-1]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO)}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sim = subprocess.Popen(
            [sys.executable, "-m", "simulator", "--port", "0", "--nodes", str(nodes), "--engines", str(engines)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, preexec_fn=_pinned(sim_cpu),
        )  # fmt: skip
        collector: subprocess.Popen[str] | None = None
        try:
            assert sim.stdout is not None
            header = sim.stdout.readline()
            if not header.startswith("#"):
                raise RuntimeError(f"simulator did not start: {header!r}")
            targets = [json.loads(sim.stdout.readline()) for _ in range(nodes + engines)]
            config = _config(folder, targets, interval)
            err = open(folder / "collector.err", "w")  # noqa: SIM115 - closed below
            t_start = time.monotonic()
            collector = subprocess.Popen(
                [sys.executable, "-m", "memmoat", "--config", str(config), "collect"],
                stdout=subprocess.PIPE, stderr=err, text=True, env=env, preexec_fn=_pinned(col_cpu), cwd=folder,
            )  # fmt: skip
            assert collector.stdout is not None
            line = collector.stdout.readline()  # printed once the first round is written
            if not line.startswith("collecting"):
                log = (folder / "collector.err").read_text()[-2000:]
                raise RuntimeError(f"collector did not start: {line!r} {log}")
            first_round = time.monotonic() - t_start
            # Start the window just after a round so that it holds whole intervals.
            time.sleep(interval - (time.time() % interval) + 3.0)
            pid = collector.pid
            c0, w0 = cpu_seconds(pid), time.monotonic()
            steady = 0.0
            while time.monotonic() - w0 < window_rounds * interval:
                steady = max(steady, rss_mb(pid))
                time.sleep(1.0)
            cpu, window = cpu_seconds(pid) - c0, time.monotonic() - w0
            peak = rss_mb(pid, "VmHWM")
            collector.send_signal(signal.SIGTERM)
            collector.wait(timeout=60)
            err.close()
        finally:
            for proc in (collector, sim):
                if proc is not None and proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=10)
        db = folder / "fleet.duckdb"
        con = duckdb.connect(str(db), read_only=True)
        try:
            n_rounds, per_round = con.execute(
                "SELECT count(DISTINCT started_at), sum(samples) / count(DISTINCT started_at) FROM scrapes"
            ).fetchall()[0]
        finally:
            con.close()
        _, as_ingested = samples_bytes(db)
    return FleetResult(
        nodes + engines, nodes * 8, interval, window, int(n_rounds), int(per_round),
        100.0 * cpu / window, steady, peak, first_round, as_ingested,
    )  # fmt: skip
