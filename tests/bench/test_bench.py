"""The benchmark still runs: each part on a tiny fleet, results well formed. No timing is
asserted here (timings belong to ``python -m bench``, see docs/benchmarks.md)."""

from __future__ import annotations

import pytest

from bench import fleet, ingest, storage
from bench.util import table


def test_ingest_part_runs() -> None:
    r = ingest.run("vllm", nodes=1, engines=2, n_rounds=3)
    assert r.pages_per_round == 2 and r.samples_per_round > 300
    assert r.samples_per_cpu_s > 0 and r.parse_only_per_cpu_s > 0 and r.prometheus_client_per_cpu_s > 0


def test_storage_part_runs() -> None:
    r = storage.run(nodes=1, engines=1, day_rounds=40)
    assert r.samples_per_day > 0 and r.series > 0
    assert 0 < r.week_compacted < r.as_ingested


@pytest.mark.slow
def test_fleet_part_runs() -> None:
    r = fleet.run(nodes=1, engines=1, interval=2.0, window_rounds=1)
    assert r.targets == 2 and r.rounds >= 2 and r.samples_per_round > 300
    assert r.cpu_percent_of_one_core > 0 and r.rss_mb_peak >= r.rss_mb_steady > 0


def test_table_lines_up() -> None:
    out = table([("a", "1", "-", "met"), ("longer measure", "22", "< 5", "MISSED")]).splitlines()
    assert len({len(line.rstrip()) for line in out[:2]}) == 1 and "MISSED" in out[-1]
