"""``python -m bench [--only ingest,fleet,storage] [--json FILE]``: run the benchmarks, print a table."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import fleet, ingest, storage
from bench.util import pin, table

PARTS = ("ingest", "fleet", "storage")


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0]
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, load average {load:.1f}"


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("--only", default=",".join(PARTS), help="comma-separated parts: " + ", ".join(PARTS))
    ap.add_argument("--json", type=Path, help="also write the raw results here")
    args = ap.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        ap.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    cores = sorted(os.sched_getaffinity(0))
    print(f"machine: {machine()}", flush=True)
    results: dict[str, Any] = {}
    rows: list[tuple[str, str, str, str]] = []
    t0 = time.monotonic()
    if "fleet" in parts:  # first, while this process still may use every core
        print("fleet: a real collector process, 64 nodes x 8 GPUs + 64 engines, 15 s interval (~90 s)", flush=True)
        f = fleet.run(cores=cores)
        results["fleet"] = asdict(f)
        ok_cpu, ok_rss = f.cpu_percent_of_one_core < 5.0, f.rss_mb_peak < 300.0
        rows += [
            (f"collector CPU, {f.gpus} GPUs + 64 engines, {f.samples_per_round:,} samples/round",
             f"{f.cpu_percent_of_one_core:.2f} % of one core", "< 5 %", "met" if ok_cpu else "MISSED"),
            ("collector resident memory (steady / peak)", f"{f.rss_mb_steady:.0f} / {f.rss_mb_peak:.0f} MB",
             "< 300 MB", "met" if ok_rss else "MISSED"),
        ]  # fmt: skip
    core = pin()
    print(f"pinned to core {core}", flush=True)
    if "ingest" in parts:
        for kind in ("vllm", "dcgm"):
            print(f"ingest: {kind} pages, page text -> committed rows", flush=True)
            r = ingest.run(kind)
            results[f"ingest_{kind}"] = asdict(r)
            target = ">= 500,000/s" if kind == "vllm" else "-"
            verdict = ("met" if r.samples_per_cpu_s >= 500_000 else "MISSED") if kind == "vllm" else "-"
            rows += [
                (f"end to end, {kind}-shaped pages ({r.pages_per_round} pages, {r.samples_per_round:,} samples/round)",
                 f"{r.samples_per_cpu_s:,.0f} samples/CPU-s ({r.samples_per_wall_s:,.0f}/s wall)", target, verdict),
                (f"  parse only ({kind}), steady state", f"{r.parse_only_per_cpu_s:,.0f} samples/CPU-s", "-", "-"),
                (f"  prometheus_client parser ({kind})", f"{r.prometheus_client_per_cpu_s:,.0f} samples/CPU-s",
                 "-", "-"),
            ]  # fmt: skip
    if "storage" in parts:
        print("storage: one simulated day, compacted; then a week (~60 s)", flush=True)
        s = storage.run()
        results["storage"] = asdict(s)
        rows += [
            ("bytes per sample, as ingested (time order)", f"{s.as_ingested:.2f}", "-", "-"),
            ("bytes per sample, day compacted", f"{s.day_compacted:.2f}", "<= 4", _verdict(s.day_compacted <= 4)),
            ("bytes per sample, week compacted", f"{s.week_compacted:.2f}", "<= 4", _verdict(s.week_compacted <= 4)),
        ]  # fmt: skip
    print()
    print(table(rows))
    print(f"\n({time.monotonic() - t0:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), **results}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
