"""A two-day fixture store built from small literal pages, with figures worked out by hand.

Timeline (UTC, the report's timezone): scrapes every 6 h from 2026-01-01 00:00 to 2026-01-03
00:00. Day D-1 = 2026-01-01, day D = 2026-01-02. An interval (prev, ts] belongs to the day of ts,
so the scrape at 2026-01-02 00:00 closes D-1's last interval.

node-a (dcgm-exporter), one on-prem H100 node, two GPUs:
    GPU 0: held by pod chat/chat-0 (the engine below). Busy (GR_ENGINE_ACTIVE) 0.60 on D-1,
           0.50 on D. Power 400 W on D-1, 500 W on D (energy counter in mJ agrees).
    GPU 1: no pod, busy 0, 100 W: idle cost.
    The scrape at D 18:00 fails (HTTP 503): an outage from 18:00 to the next success at 24:00.
chat (vLLM), model "llama", on GPU 0, namespace chat, pod chat-0:
    D-1: +2.5M prompt and +0.5M generation tokens per 6 h; prefill 80 s, decode 320 s.
    D:   +2.0M prompt and +0.6M generation tokens per 6 h; prefill 100 s, decode 300 s.
    Restarts between D 06:00 and D 12:00 (counters start again from 0, new process start
    time): the increment after the restart is the new value itself, so no token is lost.
    KV pressure at D 12:00: KV cache 95 % full with 3 requests waiting; gone at 18:00.

Prices: H100 on-prem, purchase $52,560 over 4 years = 52560 / (4 x 8760) = $1.50/h, overhead
$4,380/year = $0.50/h: $2.00/h without power; power $0.16/kWh x PUE 1.25 = $0.20 per kWh.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from collector.ingest import Batch, Ingestor
from memmoat import config as cfg
from store.writer import commit_batches, ensure_schema, upsert_targets

D_PREV = date(2026, 1, 1)
D = date(2026, 1, 2)
START = datetime(2026, 1, 1, 0, 0)
STEP = timedelta(hours=6)
SCRAPES = 9  # 2026-01-01 00:00 ... 2026-01-03 00:00
FAILED_DCGM = datetime(2026, 1, 2, 18, 0)
RESTART_AT = datetime(2026, 1, 2, 12, 0)  # first scrape after the restart
KV_PRESSURE_AT = datetime(2026, 1, 2, 12, 0)

H100 = "NVIDIA H100 80GB HBM3"
UUID0 = "GPU-00000000-0000-0000-0000-000000000000"
UUID1 = "GPU-11111111-1111-1111-1111-111111111111"
MJ_PER_KWH = 3.6e9

CONFIG = """
[storage]
path = "memmoat.duckdb"

[report]
timezone = "UTC"
output_dir = "reports"
delivery_attempts = 2
delivery_backoff_seconds = 0.01

[prices]
default_usd_per_gpu_hour = 9.0
power_usd_per_kwh = 0.16
pue = 1.25

[[prices.gpus]]
gpu_model = "H100"
[prices.gpus.on_prem]
purchase_usd = 52560.0
depreciation_years = 4.0
overhead_usd_per_year = 4380.0

[[targets]]
name = "node-a"
url = "http://127.0.0.1:9/metrics"
kind = "dcgm"
cluster = "lab"

[[targets]]
name = "chat"
url = "http://127.0.0.1:9/metrics"
kind = "vllm"
cluster = "lab"
labels = { namespace = "chat", pod = "chat-0" }
"""


@dataclass
class Built:
    """The fixture store with the report of day D made by `memmoat report --date 2026-01-02`."""

    folder: Path  # holds memmoat.toml, the store and reports/
    config: Path
    settings: cfg.Settings
    report_dir: Path  # reports/2026-01-02
    cli_output: str


def day_of(ts: datetime) -> date:
    """The day an interval ending at ts belongs to."""
    return (ts - timedelta(microseconds=1)).date()


def dcgm_page(ts: datetime, energy0_mj: float, energy1_mj: float) -> str:
    on_d = day_of(ts) == D
    busy0 = 0.50 if on_d else 0.60
    power0 = 500.0 if on_d else 400.0
    lines = [
        "# HELP DCGM_FI_PROF_GR_ENGINE_ACTIVE Ratio of time the graphics engine is active.",
        "# TYPE DCGM_FI_PROF_GR_ENGINE_ACTIVE gauge",
        "# HELP DCGM_FI_PROF_DRAM_ACTIVE Ratio of cycles the device memory interface is active.",
        "# TYPE DCGM_FI_PROF_DRAM_ACTIVE gauge",
        "# HELP DCGM_FI_PROF_PIPE_TENSOR_ACTIVE Ratio of cycles the tensor pipe is active.",
        "# TYPE DCGM_FI_PROF_PIPE_TENSOR_ACTIVE gauge",
        "# HELP DCGM_FI_DEV_POWER_USAGE Power draw (in W).",
        "# TYPE DCGM_FI_DEV_POWER_USAGE gauge",
        "# HELP DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION Total energy consumption since boot (in mJ).",
        "# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter",
    ]
    for gpu, uuid, pod, busy, dram, tensor, power, energy in (
        (0, UUID0, 'namespace="chat",pod="chat-0",container="vllm"', busy0, 0.62, 0.20, power0, energy0_mj),
        (1, UUID1, 'namespace="",pod="",container=""', 0.0, 0.0, 0.0, 100.0, energy1_mj),
    ):
        labels = f'gpu="{gpu}",UUID="{uuid}",device="nvidia{gpu}",modelName="{H100}",Hostname="node-a",{pod}'
        lines += [
            f"DCGM_FI_PROF_GR_ENGINE_ACTIVE{{{labels}}} {busy}",
            f"DCGM_FI_PROF_DRAM_ACTIVE{{{labels}}} {dram}",
            f"DCGM_FI_PROF_PIPE_TENSOR_ACTIVE{{{labels}}} {tensor}",
            f"DCGM_FI_DEV_POWER_USAGE{{{labels}}} {power}",
            f"DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{{{labels}}} {energy:.0f}",
        ]
    return "\n".join(lines) + "\n"


def vllm_page(ts: datetime, c: dict[str, float], started: float) -> str:
    m = 'engine="0",model_name="llama"'
    pressure = ts == KV_PRESSURE_AT
    kv = 0.95 if pressure else 0.40
    waiting = 3 if pressure else 0
    return f"""# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.
# TYPE process_start_time_seconds gauge
process_start_time_seconds {started}
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{{{m}}} 12
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{{{m}}} {waiting}
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{{{m}}} {kv}
# HELP vllm:prompt_tokens_total Number of prefill tokens processed.
# TYPE vllm:prompt_tokens_total counter
vllm:prompt_tokens_total{{{m}}} {c["prompt"]:.0f}
# HELP vllm:generation_tokens_total Number of generation tokens processed.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{{{m}}} {c["generation"]:.0f}
# HELP vllm:num_preemptions_total Cumulative number of preemption from the engine.
# TYPE vllm:num_preemptions_total counter
vllm:num_preemptions_total{{{m}}} {c["preemptions"]:.0f}
# HELP vllm:request_prefill_time_seconds Histogram of time spent in PREFILL phase for request.
# TYPE vllm:request_prefill_time_seconds histogram
vllm:request_prefill_time_seconds_bucket{{{m},le="+Inf"}} {c["requests"]:.0f}
vllm:request_prefill_time_seconds_sum{{{m}}} {c["prefill"]}
vllm:request_prefill_time_seconds_count{{{m}}} {c["requests"]:.0f}
# HELP vllm:request_decode_time_seconds Histogram of time spent in DECODE phase for request.
# TYPE vllm:request_decode_time_seconds histogram
vllm:request_decode_time_seconds_bucket{{{m},le="+Inf"}} {c["requests"]:.0f}
vllm:request_decode_time_seconds_sum{{{m}}} {c["decode"]}
vllm:request_decode_time_seconds_count{{{m}}} {c["requests"]:.0f}
"""


def build(folder: Path) -> cfg.Settings:
    """Write memmoat.toml and the store into folder; returns the settings."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "memmoat.toml").write_text(CONFIG, encoding="utf-8")
    settings = cfg.load(folder / "memmoat.toml", must_exist=True)
    ensure_schema(settings.store_path)
    targets = {t.name: t for t in settings.targets}
    ing = Ingestor()
    batches: list[Batch] = []
    e0, e1 = 1.0e9, 5.0e8
    counters = {"prompt": 1.0e6, "generation": 5.0e5, "preemptions": 0.0, "prefill": 0.0, "decode": 0.0,
                "requests": 0.0}  # fmt: skip
    started = 1.7672e9
    for i in range(SCRAPES):
        ts = START + i * STEP
        if i > 0:
            on_d = day_of(ts) == D
            e0 += (500.0 if on_d else 400.0) * 6 * 3600 * 1000  # W x s x 1000 = mJ
            e1 += 100.0 * 6 * 3600 * 1000
            if ts == RESTART_AT:  # a new process: counters from 0, then this interval's work
                counters = dict.fromkeys(counters, 0.0)
                started += 30 * 3600
                counters["preemptions"] += 10
            counters["prompt"] += 2.0e6 if on_d else 2.5e6
            counters["generation"] += 6.0e5 if on_d else 5.0e5
            counters["prefill"] += 100.0 if on_d else 80.0
            counters["decode"] += 300.0 if on_d else 320.0
            counters["requests"] += 1000
        if ts == FAILED_DCGM:
            batches.append(Batch(target="node-a", ts=ts, error="HTTP 503 from http://127.0.0.1:9/metrics"))
        else:
            batches.append(ing.ingest(targets["node-a"], ts, dcgm_page(ts, e0, e1)))
        batches.append(ing.ingest(targets["chat"], ts, vllm_page(ts, counters, started)))
    commit_batches(settings.store_path, batches)
    upsert_targets(settings.store_path, settings.targets, {"node-a": "dcgm", "chat": "vllm"})
    return settings


_shared: Built | None = None


def shared(tmp_path_factory: Any) -> Built:
    """The fixture store and the report of day D, built once per test session (a few seconds)."""
    global _shared
    if _shared is None:
        from click.testing import CliRunner

        from memmoat.cli import main

        folder = tmp_path_factory.mktemp("report-fixture")
        settings = build(folder)
        config = folder / "memmoat.toml"
        res = CliRunner().invoke(main, ["--config", str(config), "report", "--date", D.isoformat()])
        assert res.exit_code == 0, res.output
        _shared = Built(folder, config, settings, folder / "reports" / D.isoformat(), res.output)
    return _shared
