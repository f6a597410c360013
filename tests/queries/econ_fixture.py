"""A small fleet written as literal exposition pages, stored through the collector's real path.

Two scrapes 60 s apart (T0, T1). Every expected number in the economics tests is worked out
by hand from the values here; keep the two in step.

node-a (dcgm, cloud H100 at $3.60/GPU-hour):
    GPU 0  pod chat/chat-0          -> engine `chat` by namespace/pod labels
           energy counter +36,000 J (600 W); DRAM 0.70, tensor 0.10, GR 0.90
    GPU 1  no pod, no energy line   -> engine `batch` by hostname + gpu_indices [1]
           power 200 W then 400 W: 300 W x 60 s = 18,000 J by power x time; GR 0.10
    GPU 2  no pod                   -> idle; +30,000 J
    GPU 3  pod train/trainer-0      -> no engine has that pod: idle, charged to `train`; +42,000 J
node-b (dcgm, on-prem A100: $24,528 over 4 years + $2,628/year = $1.00/GPU-hour, power
        $0.10/kWh at PUE 1.2), GPU 0 split by MIG, energy +21,000 J on the device row:
    instance 1  3g.40gb pod rag/rag-0  -> engine `rag` (3/7 of the GPU)
    instance 2  2g.20gb no pod         -> idle (2/7)
    unallocated                        -> idle (2/7)
engines (vLLM pages), increments T0 -> T1:
    chat   prompt +300,000  gen +100,000  cached +60,000  prefill +10 s  decode +30 s
    batch  prompt +100,000  gen +50,000   (no prefill/decode histograms: fallback ratio 2.5)
    rag    prompt +50,000   gen +10,000   prefill +6 s   decode +18 s   KV 0.97, 5 waiting
    orphan prompt +1,000    gen +1,000    (no GPU matches its labels, no hostname)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from collector.ingest import Ingestor
from memmoat import config
from memmoat.config import Target
from store.writer import commit_batches, ensure_schema, upsert_targets

T0 = datetime(2026, 3, 10, 12, 0, 0)
T1 = T0 + timedelta(seconds=60)

H100 = 'modelName="NVIDIA H100 80GB HBM3",Hostname="node-a"'
A100 = 'modelName="NVIDIA A100-SXM4-80GB",Hostname="node-b"'


def _gpu(i: int, extra: str = "") -> str:
    return f'gpu="{i}",UUID="GPU-a{i}",device="nvidia{i}",{H100}{extra}'


POD = {0: ',container="vllm",namespace="chat",pod="chat-0"', 3: ',container="train",namespace="train",pod="trainer-0"'}


def node_a(step: int) -> str:
    """dcgm-exporter page of node-a at T0 (step 0) or T1 (step 1)."""
    energy_mj = {
        0: (1_000_000_000, 1_036_000_000),
        2: (2_000_000_000, 2_030_000_000),
        3: (3_000_000_000, 3_042_000_000),
    }
    power = {0: (600, 600), 1: (200, 400), 2: (500, 500), 3: (700, 700)}
    dram = {0: 0.7, 1: 0.05, 2: 0.0, 3: 0.3}
    tensor = {0: 0.1, 1: 0.02, 2: 0.0, 3: 0.5}
    gr = {0: 0.9, 1: 0.1, 2: 0.0, 3: 0.8}
    lines = ["# HELP DCGM_FI_DEV_POWER_USAGE Power draw (in W).", "# TYPE DCGM_FI_DEV_POWER_USAGE gauge"]
    lines += [f"DCGM_FI_DEV_POWER_USAGE{{{_gpu(i, POD.get(i, ''))}}} {power[i][step]:.6f}" for i in range(4)]
    lines += ["# HELP DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION Total energy consumption since boot (in mJ).",
              "# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter"]  # fmt: skip
    lines += [
        f"DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{{{_gpu(i, POD.get(i, ''))}}} {energy_mj[i][step]}" for i in (0, 2, 3)
    ]
    for name, vals in (("DCGM_FI_PROF_DRAM_ACTIVE", dram), ("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", tensor),
                       ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", gr)):  # fmt: skip
        lines += [f"# TYPE {name} gauge"]
        lines += [f"{name}{{{_gpu(i, POD.get(i, ''))}}} {vals[i]:.6f}" for i in range(4)]
    return "\n".join(lines) + "\n"


def node_b(step: int) -> str:
    """dcgm-exporter page of node-b: one A100 in MIG mode (device row + two instances)."""
    dev = f'gpu="0",UUID="GPU-b0",device="nvidia0",{A100}'
    i1 = dev + ',GPU_I_PROFILE="3g.40gb",GPU_I_ID="1",container="vllm",namespace="rag",pod="rag-0"'
    i2 = dev + ',GPU_I_PROFILE="2g.20gb",GPU_I_ID="2"'
    return "\n".join([
        "# TYPE DCGM_FI_DEV_POWER_USAGE gauge",
        f"DCGM_FI_DEV_POWER_USAGE{{{dev}}} 350.000000",
        "# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter",
        f"DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{{{dev}}} {(5_000_000_000, 5_021_000_000)[step]}",
        "# TYPE DCGM_FI_PROF_DRAM_ACTIVE gauge",
        f"DCGM_FI_PROF_DRAM_ACTIVE{{{i1}}} 0.400000",
        f"DCGM_FI_PROF_DRAM_ACTIVE{{{i2}}} 0.000000",
        "# TYPE DCGM_FI_PROF_PIPE_TENSOR_ACTIVE gauge",
        f"DCGM_FI_PROF_PIPE_TENSOR_ACTIVE{{{i1}}} 0.200000",
        f"DCGM_FI_PROF_PIPE_TENSOR_ACTIVE{{{i2}}} 0.000000",
        "# TYPE DCGM_FI_PROF_GR_ENGINE_ACTIVE gauge",
        f"DCGM_FI_PROF_GR_ENGINE_ACTIVE{{{i1}}} 0.600000",
        f"DCGM_FI_PROF_GR_ENGINE_ACTIVE{{{i2}}} 0.000000",
    ]) + "\n"  # fmt: skip


def vllm_page(
    model: str,
    *,
    prompt: float,
    gen: float,
    hits: float = 0.0,
    queries: float = 0.0,
    prefill_s: float | None = None,
    decode_s: float | None = None,
    kv: float = 0.3,
    running: float = 4,
    waiting: float = 0,
    preemptions: float = 0,
    created: float = 1_773_144_000.0,
) -> str:
    """A vLLM V1 page with the families the economics read (values as given)."""
    lab = f'engine="0",model_name="{model}"'
    out = [
        "# TYPE process_start_time_seconds gauge",
        f"process_start_time_seconds {created - 30:.2f}",
        "# TYPE vllm:num_requests_running gauge",
        f"vllm:num_requests_running{{{lab}}} {running:.1f}",
        "# TYPE vllm:num_requests_waiting gauge",
        f"vllm:num_requests_waiting{{{lab}}} {waiting:.1f}",
        "# TYPE vllm:kv_cache_usage_perc gauge",
        f"vllm:kv_cache_usage_perc{{{lab}}} {kv}",
    ]
    counters = (("prompt_tokens", prompt), ("generation_tokens", gen), ("prefix_cache_hits", hits),
                ("prefix_cache_queries", queries), ("num_preemptions", preemptions))  # fmt: skip
    for name, value in counters:
        out += [
            f"# TYPE vllm:{name}_total counter",
            f"vllm:{name}_total{{{lab}}} {value:.1f}",
            f"# TYPE vllm:{name}_created gauge",
            f"vllm:{name}_created{{{lab}}} {created}",
        ]
    for name, seconds in (("request_prefill_time_seconds", prefill_s), ("request_decode_time_seconds", decode_s)):
        if seconds is None:
            continue
        out += [
            f"# TYPE vllm:{name} histogram",
            f'vllm:{name}_bucket{{{lab},le="+Inf"}} 100.0',
            f"vllm:{name}_count{{{lab}}} 100.0",
            f"vllm:{name}_sum{{{lab}}} {seconds}",
            f"# TYPE vllm:{name}_created gauge",
            f"vllm:{name}_created{{{lab}}} {created}",
        ]
    return "\n".join(out) + "\n"


def engine_pages() -> dict[str, tuple[str, str]]:
    """Engine target -> (page at T0, page at T1)."""
    return {
        "chat": (
            vllm_page("llama-70b", prompt=1_000, gen=500, hits=100, queries=1_000, prefill_s=5.0, decode_s=20.0),
            vllm_page("llama-70b", prompt=301_000, gen=100_500, hits=60_100, queries=301_000, prefill_s=15.0,
                      decode_s=50.0, kv=0.5, running=40, waiting=0),
        ),
        "batch": (
            vllm_page("llama-8b", prompt=2_000, gen=1_000),
            vllm_page("llama-8b", prompt=102_000, gen=51_000, kv=0.1, running=1),
        ),
        "rag": (
            vllm_page("qwen-32b", prompt=10_000, gen=1_000, prefill_s=1.0, decode_s=2.0),
            vllm_page("qwen-32b", prompt=60_000, gen=11_000, prefill_s=7.0, decode_s=20.0, kv=0.97, running=8,
                      waiting=5),
        ),
        "orphan": (
            vllm_page("tiny", prompt=0, gen=0),
            vllm_page("tiny", prompt=1_000, gen=1_000, kv=0.2, running=1),
        ),
    }  # fmt: skip


SETTINGS_TOML = """
[prices]
default_usd_per_gpu_hour = 2.0
power_usd_per_kwh = 0.10
pue = 1.5

[[prices.gpus]]
gpu_model = "H100 SXM"
usd_per_gpu_hour = 3.60

[[prices.gpus]]
gpu_model = "NVIDIA A100-SXM4-80GB"
[prices.gpus.on_prem]
purchase_usd = 24528.0
depreciation_years = 4.0
pue = 1.2
overhead_usd_per_year = 2628.0
"""


def targets() -> list[Target]:
    url = "http://127.0.0.1:9/metrics"
    return [
        Target(name="node-a", url=url, kind="dcgm", cluster="c1"),
        Target(name="node-b", url=url, kind="dcgm", cluster="c1"),
        Target(name="chat", url=url, kind="vllm", cluster="c1", labels={"namespace": "chat", "pod": "chat-0"}),
        Target(name="batch", url=url, kind="vllm", cluster="c1", labels={"namespace": "batch", "pod": "batch-0"},
               hostname="NODE-A", gpu_indices=[1]),
        Target(name="rag", url=url, kind="vllm", cluster="c1", labels={"namespace": "rag", "pod": "rag-0"}),
        Target(name="orphan", url=url, kind="vllm", cluster="c1", labels={"namespace": "lab", "pod": "tiny-0"}),
    ]  # fmt: skip


def settings(extra: str = "", base_dir: Path | None = None) -> config.Settings:
    return config.loads(SETTINGS_TOML + extra, base_dir=base_dir)


def build(path: Path) -> Path:
    """Write the fixture fleet into a new store at ``path`` the way the collector does."""
    ensure_schema(path)
    ts = targets()
    upsert_targets(path, ts, {})
    by_name = {t.name: t for t in ts}
    ing = Ingestor()
    pages = engine_pages()
    for step, at in enumerate((T0, T1)):
        batches = [ing.ingest(by_name["node-a"], at, node_a(step)), ing.ingest(by_name["node-b"], at, node_b(step))]
        batches += [ing.ingest(by_name[name], at, texts[step]) for name, texts in pages.items()]
        commit_batches(path, batches)
    return path
