"""Benchmarks of the collector: ``python -m bench`` prints a table (see docs/benchmarks.md).

- ingest: page text to committed rows, samples per CPU-second, for a dcgm-shaped and a
  vLLM-shaped round of pages from the simulator (the collector's path: parse, series ids,
  Arrow batch, one transaction per round).
- fleet: CPU and resident memory of a real ``memmoat collect`` process scraping a simulated
  fleet of 64 nodes x 8 GPUs and 64 vLLM engines every 15 s, the simulator in another process.
- storage: bytes per stored sample as ingested, after the daily compaction and after the
  weekly one.

Everything measured in the benchmark process runs pinned to one CPU core.
"""
