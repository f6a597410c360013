"""Page text to committed rows, the collector's own path, on one core.

A round is every page of one kind from a simulated fleet of 64 nodes and 64 engines (64
vLLM pages, or 64 dcgm-exporter pages of 8 GPUs each), rendered beforehand. Per round:
parse each page (series keys cached), map keys to series ids, build one Arrow batch, and
commit it in one transaction (attach the file, insert, commit, detach). The first round,
which registers every series, is reported apart; the figure is the steady state.

Throughput is samples per CPU-second of this process (DuckDB's threads included), so other
load on a shared machine does not count; wall-clock throughput is printed beside it.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bench.pages import rounds
from collector.exposition import PageParser
from collector.ingest import Ingestor
from store.writer import commit_rounds, prepare


@dataclass
class IngestResult:
    kind: str
    pages_per_round: int
    samples_per_round: int
    samples_per_cpu_s: float
    samples_per_wall_s: float
    first_round_cpu_s: float
    parse_only_per_cpu_s: float
    prometheus_client_per_cpu_s: float


def run(kind: str, *, nodes: int = 64, engines: int = 64, n_rounds: int = 8) -> IngestResult:
    pre = list(rounds(nodes, engines, n_rounds, kinds=(kind,)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.duckdb"
        prepare(path)
        ingestor = Ingestor()

        def one(r: int) -> tuple[int, float, float]:
            ts, pages = pre[r]
            c0, w0 = time.process_time(), time.perf_counter()
            batches = [ingestor.ingest(target, ts, text) for target, text in pages]
            written = commit_rounds(path, [(r, batches)], lambda seq, n: None)
            return written, time.process_time() - c0, time.perf_counter() - w0

        _, first_cpu, _ = one(0)
        samples = cpu = wall = 0.0
        for r in range(1, n_rounds):
            n, c, w = one(r)
            samples, cpu, wall = samples + n, cpu + c, wall + w
    per_round = int(samples / (n_rounds - 1))
    return IngestResult(
        kind, len(pre[0][1]), per_round, samples / cpu, samples / wall, first_cpu,
        _parse_only(pre), _prometheus_client(pre[1][1][:8]),
    )  # fmt: skip


def _parse_only(pre: list) -> float:  # type: ignore[type-arg]
    parsers = {target.name: PageParser() for target, _ in pre[0][1]}
    for target, text in pre[0][1]:
        parsers[target.name].parse(text)
    n, c0 = 0, time.process_time()
    for _, pages in pre[1:]:
        for target, text in pages:
            n += len(parsers[target.name].parse(text))
    return n / (time.process_time() - c0)


def _prometheus_client(pages: list) -> float:  # type: ignore[type-arg]
    n, c0 = 0, time.process_time()
    for _, text in pages:
        for family in text_string_to_metric_families(text):
            n += len(family.samples)
    return n / (time.process_time() - c0)
