"""Time the economics queries on a day of the simulated 16-GPU fleet scraped every 15 s.

Not a test (pytest does not collect it): building the day takes a minute or two.

    .venv/bin/python -m tests.queries.bench_economics [store.duckdb] [--threads 2]

The store is built once (the simulator's pages rendered directly, ingested through the
collector's real path) and reused when the file exists. Each query runs three times on one
prepared connection limited to --threads; the best wall time and its CPU time are printed.
"""

from __future__ import annotations

import argparse
import calendar
import resource
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from collector.ingest import Ingestor
from memmoat.config import Settings, Target
from queries import loader, params
from queries.runner import prepare
from simulator.exposition import render_dcgm, render_vllm
from simulator.fleet import default_fleet
from simulator.workload import Simulation
from store.writer import commit_batches, ensure_schema, upsert_targets

START = float(calendar.timegm((2026, 3, 10, 0, 0, 0)))
DAY_S = 86400
STEP_S = 15
QUERIES = ("fleet_overview", "cost_per_token", "chargeback", "cost_timeseries", "gpu_hour_cost", "idle_cost",
           "gpu_attribution", "api_comparison", "diagnosis", "roofline", "tokens_per_second")  # fmt: skip


def utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC).replace(tzinfo=None)


def build(path: Path) -> None:
    sim = Simulation(default_fleet(), START, seed=0, step_s=STEP_S)
    fleet = sim.fleet
    ensure_schema(path)
    engines = [Target(name=e.name, url="http://sim/metrics", kind="vllm", cluster=fleet.cluster,
                      labels={"namespace": e.namespace, "pod": e.pod}, hostname=e.node,
                      gpu_indices=list(e.gpu_indices)) for e in fleet.engines]  # fmt: skip
    nodes = [Target(name=n.hostname, url="http://sim/metrics", kind="dcgm", cluster=fleet.cluster) for n in fleet.nodes]
    upsert_targets(path, engines + nodes, {})
    ingestor = Ingestor()
    pending = []
    for i in range(DAY_S // STEP_S + 1):
        t = START + i * STEP_S
        sim.advance_to(t)
        for target in nodes:
            pending.append(ingestor.ingest(target, utc(t), render_dcgm(sim.node_state(target.name))))
        for target in engines:
            if sim.is_up(target.name):
                pending.append(ingestor.ingest(target, utc(t), render_vllm(sim.engine_state(target.name))))
        if len(pending) >= 2000:
            commit_batches(path, pending)
            pending = []
    if pending:
        commit_batches(path, pending)


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("store", nargs="?", default="data/bench-economics.duckdb")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    path = Path(args.store)
    if not path.exists():
        t = time.time()
        build(path)
        print(f"built a day of the simulated fleet in {time.time() - t:.0f} s: {path}")
    con = duckdb.connect(str(path), read_only=True)
    con.execute(f"SET threads = {args.threads}")
    prepare(con, Settings())
    window = {"start": utc(START).isoformat(), "end": utc(START + DAY_S).isoformat()}
    print(f"{con.execute('SELECT count(*) FROM samples').fetchone()[0]:,} samples; window {window}")  # type: ignore[index]
    for name in QUERIES:
        q = loader.get(name)
        values = params.bind(q, {k: v for k, v in window.items() if q.param(k)})
        runs = []
        for _ in range(3):
            c, t = cpu(), time.time()
            n = len(con.execute(q.sql, values).fetchall())
            runs.append((time.time() - t, cpu() - c))
        wall, used = min(runs)
        print(f"{name:20s} {wall:6.3f} s wall {used:6.3f} s CPU  {n:6d} rows")


if __name__ == "__main__":
    main()
