"""Golden tests of the economics queries on the fixture fleet of econ_fixture.py.

Every expected value is worked out by hand below from the pages in econ_fixture.py: two
scrapes 60 s apart, so each GPU interval is 60 s = 1/60 h.
  H100 (cloud $3.60/h): one GPU for 60 s costs 3.60 / 60 = $0.06.
  A100 (on-prem): capex 24,528 / (4 x 8,760) = $0.70/h, overhead 2,628 / 8,760 = $0.30/h,
    fixed $1.00/h -> $1/60 per 60 s; energy 21,000 J = 0.0058333 kWh x PUE 1.2 x $0.10
    = $0.0007 per 60 s; so the whole A100 costs 1/60 + 0.0007 = $0.0173333 in the window.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from memmoat import config
from memmoat.errors import QueryError
from queries.runner import Result, run_named
from tests.queries import econ_fixture as fx

pytestmark = pytest.mark.timeout(60)

WINDOW = {"start": fx.T0.isoformat(), "end": fx.T1.isoformat()}
H100_60S = 3.60 / 60  # $0.06
A100_60S = 1.0 / 60 + 21_000 / 3.6e6 * 1.2 * 0.10  # $0.0173333


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fx.build(tmp_path_factory.mktemp("econ") / "memmoat.duckdb")


def rows(res: Result) -> list[dict[str, Any]]:
    return [dict(zip(res.columns, r, strict=True)) for r in res.rows]


def run(store: Path, name: str, settings: config.Settings | None = None, **given: str) -> list[dict[str, Any]]:
    return rows(run_named(store, name, {**WINDOW, **given}, settings=settings or fx.settings()))


def with_prices(base_dir: Path | None = None, **changes: Any) -> config.Settings:
    s = fx.settings(base_dir=base_dir)
    return s.model_copy(update={"prices": s.prices.model_copy(update=changes)})


def by(items: list[dict[str, Any]], key: str) -> dict[Any, dict[str, Any]]:
    return {r[key]: r for r in items}


# -- cost per token ----------------------------------------------------------------------


def test_cost_per_token_per_engine(store: Path) -> None:
    got = by(run(store, "cost_per_token"), "group")
    assert set(got) == {"chat/0", "batch/0", "rag/0", "orphan/0"}

    chat = got["chat/0"]
    # GPU a0 via pod labels chat/chat-0: $0.06. Tokens 300,000 + 100,000 = 400,000.
    assert chat["cost_usd"] == pytest.approx(0.06)
    assert chat["tokens"] == 400_000
    assert chat["usd_per_1m_tokens"] == pytest.approx(0.06 / 0.4)  # = $0.15
    # Measured split: prefill 15 - 5 = 10 s, decode 50 - 20 = 30 s -> input share 10/40 = 0.25.
    # Input $0.015 / 0.3M = $0.05; output $0.045 / 0.1M = $0.45.
    assert chat["split_basis"] == "measured prefill/decode seconds"
    assert chat["usd_per_1m_input"] == pytest.approx(0.05)
    assert chat["usd_per_1m_output"] == pytest.approx(0.45)
    # Prefix cache: 60,000 of 300,000 prompt tokens were hits; computing them would have cost
    # 0.015 x 60,000 / (300,000 - 60,000) = $0.00375.
    assert chat["prefix_cache_hit_rate"] == pytest.approx(0.2)
    assert chat["prefix_cache_savings_usd"] == pytest.approx(0.00375)
    # Energy: counter +36,000 J over 400,000 tokens = 0.09 J/token; worth 0.01 kWh x PUE 1.5 x
    # $0.10 = $0.0015, 0.0015 / 0.06 = 2.5 % of the (cloud) cost, not charged on top.
    assert chat["joules_per_token"] == pytest.approx(0.09)
    assert chat["energy_usd"] == pytest.approx(0.0015)
    assert chat["energy_share_of_cost"] == pytest.approx(0.025)
    assert chat["energy_cost_usd"] == pytest.approx(0.0)

    batch = got["batch/0"]
    # GPU a1 via hostname NODE-A (case-insensitive) + gpu_indices [1]: $0.06 for 150,000 tokens.
    assert batch["usd_per_1m_tokens"] == pytest.approx(0.06 / 0.15)  # = $0.40
    # No prefill/decode histograms: fixed ratio 2.5 -> input share 100,000 / (100,000 + 2.5 x 50,000)
    # = 0.4444; input $0.026667 / 0.1M = $0.26667; output $0.033333 / 0.05M = $0.66667.
    assert "fallback" in batch["split_basis"] and "2.5" in batch["split_basis"]
    assert batch["usd_per_1m_input"] == pytest.approx(0.06 * (100_000 / 225_000) / 0.1)
    assert batch["usd_per_1m_output"] == pytest.approx(0.06 * (125_000 / 225_000) / 0.05)
    # No energy counter on GPU 1: power 200 W then 400 W, mean 300 W x 60 s = 18,000 J.
    assert batch["energy_kwh"] == pytest.approx(18_000 / 3.6e6)
    assert batch["joules_per_token"] == pytest.approx(18_000 / 150_000)  # = 0.12

    rag = got["rag/0"]
    # MIG 3g.40gb: 3/7 of the A100 -> 3/7 x $0.0173333 = $0.0074286; 3/7 x 60 s GPU time.
    assert rag["cost_usd"] == pytest.approx(3 / 7 * A100_60S)
    assert rag["gpus"] == pytest.approx(3 / 7)
    assert rag["gpu_hours"] == pytest.approx(3 / 7 / 60)
    # On-prem pays its energy: 3/7 x 21,000 J = 9,000 J = 0.0025 kWh x 1.2 x $0.10 = $0.0003.
    assert rag["energy_cost_usd"] == pytest.approx(0.0003)
    # Split: prefill 7 - 1 = 6 s, decode 20 - 2 = 18 s -> 0.25; 50,000 in, 10,000 out.
    assert rag["usd_per_1m_input"] == pytest.approx(3 / 7 * A100_60S * 0.25 / 0.05)
    assert rag["usd_per_1m_output"] == pytest.approx(3 / 7 * A100_60S * 0.75 / 0.01)

    orphan = got["orphan/0"]
    # No GPU matches lab/tiny-0 and the target has no hostname: its cost is unknown, not $0.
    assert orphan["tokens"] == 2_000
    assert orphan["cost_usd"] is None and orphan["usd_per_1m_tokens"] is None


def test_cost_per_token_fleet_keeps_idle_apart(store: Path) -> None:
    (fleet,) = run(store, "cost_per_token", by="fleet")
    # Engines: 0.06 + 0.06 + 3/7 x 0.0173333 = $0.1274286.
    engines = 0.12 + 3 / 7 * A100_60S
    assert fleet["cost_usd"] == pytest.approx(engines)
    # Tokens: prompt 300k + 100k + 50k + 1k = 451,000; generated 100k + 50k + 10k + 1k = 161,000.
    assert fleet["prompt_tokens"] == 451_000 and fleet["generation_tokens"] == 161_000
    assert fleet["usd_per_1m_tokens"] == pytest.approx(engines / 0.612)
    assert fleet["split_basis"] == "mixed: 2 of 4 engines by fixed ratio (fallback)"
    # Idle, never spread: GPU a2 + GPU a3 ($0.06 each) + MIG instance 2 and the unallocated
    # slices (2/7 + 2/7 of the A100): 0.12 + 4/7 x 0.0173333 = $0.1299048.
    idle = 0.12 + 4 / 7 * A100_60S
    assert fleet["idle_usd"] == pytest.approx(idle)
    assert fleet["idle_gpu_hours"] == pytest.approx((2 + 4 / 7) / 60)
    assert fleet["usd_per_1m_tokens_with_idle"] == pytest.approx((engines + idle) / 0.612)


def test_cost_per_token_by_model_namespace_cluster(store: Path) -> None:
    models = by(run(store, "cost_per_token", by="model"), "group")
    assert set(models) == {"llama-70b", "llama-8b", "qwen-32b", "tiny"}
    assert models["llama-70b"]["usd_per_1m_tokens"] == pytest.approx(0.15)
    namespaces = by(run(store, "cost_per_token", by="namespace"), "group")
    assert namespaces["rag"]["cost_usd"] == pytest.approx(3 / 7 * A100_60S)
    (cluster,) = run(store, "cost_per_token", by="cluster")
    assert cluster["group"] == "c1" and cluster["cluster"] == "c1"
    assert cluster["idle_usd"] == pytest.approx(0.12 + 4 / 7 * A100_60S)
    with pytest.raises(QueryError, match="by must be engine, model, namespace, cluster or fleet"):
        run(store, "cost_per_token", by="team")


def test_fallback_ratio_is_configurable(store: Path) -> None:
    batch = by(run(store, "cost_per_token", with_prices(fallback_output_cost_ratio=4.0)), "group")["batch/0"]
    # Ratio 4: input share 100,000 / (100,000 + 4 x 50,000) = 1/3: input $0.02 / 0.1M = $0.20,
    # output $0.04 / 0.05M = $0.80.
    assert batch["usd_per_1m_input"] == pytest.approx(0.20)
    assert batch["usd_per_1m_output"] == pytest.approx(0.80)
    assert "4" in batch["split_basis"]


# -- fleet overview and chargeback --------------------------------------------------------


def test_fleet_overview_uses_real_prices(store: Path) -> None:
    (ov,) = run(store, "fleet_overview")
    # Bill: four H100 x $0.06 + the whole A100 $0.0173333 = $0.2573333.
    bill = 4 * H100_60S + A100_60S
    assert ov["gpus"] == 5
    assert ov["gpu_hours"] == pytest.approx(5 / 60)
    assert ov["cost_usd"] == pytest.approx(bill)
    assert ov["tokens_per_s"] == pytest.approx(612_000 / 60)  # = 10,200
    assert ov["usd_per_1m_tokens"] == pytest.approx(bill / 0.612)
    assert ov["engine_cost_usd"] == pytest.approx(0.12 + 3 / 7 * A100_60S)
    assert ov["idle_cost_usd"] == pytest.approx(0.12 + 4 / 7 * A100_60S)
    assert ov["idle_share"] == pytest.approx((0.12 + 4 / 7 * A100_60S) / bill)
    # Energy: 36,000 + 18,000 + 30,000 + 42,000 + 21,000 J = 147,000 J over 612,000 tokens.
    assert ov["energy_kwh"] == pytest.approx(147_000 / 3.6e6)
    assert ov["joules_per_token"] == pytest.approx(147_000 / 612_000)
    assert ov["price_basis"] == "cloud, on_prem"


def test_fleet_overview_flat_rate_for_unpriced_models(store: Path) -> None:
    (ov,) = run(store, "fleet_overview", with_prices(gpus=[]), usd_per_gpu_hour="1.2")
    # No [[prices.gpus]]: every GPU at the given $1.20/h, no energy on top: 5 GPUs x 1.2 / 60 = $0.10.
    assert ov["cost_usd"] == pytest.approx(0.10)
    assert ov["price_basis"] == "default rate"


def test_chargeback_rows_add_up_to_the_bill(store: Path) -> None:
    got = by(run(store, "chargeback"), "namespace")
    bill = 4 * H100_60S + A100_60S
    assert sum(r["cost_usd"] for r in got.values()) == pytest.approx(bill)
    assert got["chat"]["cost_usd"] == pytest.approx(0.06) and got["chat"]["engines"] == 1
    # The train namespace holds GPU a3 with a pod that is no engine: it pays $0.06, no tokens.
    assert got["train"]["other_gpu_cost_usd"] == pytest.approx(0.06) and got["train"]["engines"] == 0
    assert got["train"]["share_of_bill"] == pytest.approx(0.06 / bill)
    # No pod at all: GPU a2 + MIG instance 2 + unallocated slices = 0.06 + 4/7 x 0.0173333.
    assert got["(idle GPUs: no pod)"]["cost_usd"] == pytest.approx(0.06 + 4 / 7 * A100_60S)
    assert got["lab"]["usd_per_1m_tokens"] is None  # the orphan engine has no GPU


# -- GPU prices, attribution, idle ----------------------------------------------------------


def test_gpu_hour_cost_breakdown(store: Path) -> None:
    got = by(run(store, "gpu_hour_cost"), "gpu_model")
    a100 = got["NVIDIA A100-SXM4-80GB"]
    assert a100["price_basis"] == "on_prem"
    assert a100["capex_usd_per_hour"] == pytest.approx(24_528 / (4 * 8760))  # = 0.70
    assert a100["overhead_usd_per_hour"] == pytest.approx(2_628 / 8760)  # = 0.30
    # Measured power: 0.0007 $ per 60 s = $0.042 per hour; total 0.70 + 0.30 + 0.042.
    assert a100["power_usd_per_hour"] == pytest.approx(0.042)
    assert a100["usd_per_gpu_hour"] == pytest.approx(1.042)
    assert a100["mean_power_w"] == pytest.approx(350)  # 21,000 J / 60 s
    h100 = got["NVIDIA H100 80GB HBM3"]
    assert h100["price_basis"] == "cloud" and h100["price_entry"] == "H100 SXM"
    assert h100["usd_per_gpu_hour"] == pytest.approx(3.60) and h100["gpus"] == 4
    # (36,000 + 18,000 + 30,000 + 42,000) J / (4 x 60 s) = 525 W.
    assert h100["mean_power_w"] == pytest.approx(525)
    assert h100["energy_source"] == "dcgm energy counter, power x time"


def test_gpu_prices_lists_configuration(store: Path) -> None:
    got = by(rows(run_named(store, "gpu_prices", settings=fx.settings())), "gpu_model")
    a100 = got["NVIDIA A100-SXM4-80GB"]
    assert a100["fixed_usd_per_hour"] == pytest.approx(1.0)
    # At TDP (400 W): 0.4 kW x PUE 1.2 x $0.10 = $0.048/h on top.
    assert a100["power_usd_per_hour_at_tdp"] == pytest.approx(0.048)
    assert a100["usd_per_hour_at_tdp"] == pytest.approx(1.048)
    assert got["H100 SXM"]["matches_seen"] == "NVIDIA H100 80GB HBM3"
    assert got["*"]["price_basis"] == "default rate" and got["*"]["fixed_usd_per_hour"] == 2.0


def test_gpu_attribution_rules(store: Path) -> None:
    got = {(r["hostname"], r["gpu"], r["gpu_instance"]): r for r in run(store, "gpu_attribution")}
    assert got[("node-a", 0, None)]["engine_target"] == "chat"
    assert got[("node-a", 0, None)]["rule"] == "namespace/pod labels"
    assert got[("node-a", 1, None)]["engine_target"] == "batch"
    assert got[("node-a", 1, None)]["rule"] == "hostname + gpu_indices"
    assert got[("node-a", 2, None)]["engine_target"] == "(idle)"
    rag = got[("node-b", 0, "1")]
    assert rag["engine_target"] == "rag" and rag["share"] == pytest.approx(3 / 7)
    assert rag["share_basis"] == "MIG compute slices"
    assert got[("node-b", 0, "unallocated")]["share"] == pytest.approx(2 / 7)


def test_idle_cost_lists_every_unclaimed_share(store: Path) -> None:
    got = {(r["hostname"], r["gpu"], r["gpu_instance"]): r for r in run(store, "idle_cost")}
    assert set(got) == {("node-a", 2, None), ("node-a", 3, None), ("node-b", 0, "2"), ("node-b", 0, "unallocated")}
    assert got[("node-a", 2, None)]["cost_usd"] == pytest.approx(0.06)
    assert "no pod holds it" in got[("node-a", 2, None)]["reason"]
    assert got[("node-a", 3, None)]["reason"] == "held by pod train/trainer-0, which is no scraped engine"
    assert got[("node-a", 3, None)]["busy"] == pytest.approx(0.8)
    assert got[("node-b", 0, "unallocated")]["reason"] == "MIG slices without an instance"
    # 2/7 of the A100's $0.0173333; its share of the bill 0.0049524 / 0.2573333.
    assert got[("node-b", 0, "2")]["cost_usd"] == pytest.approx(2 / 7 * A100_60S)
    assert got[("node-b", 0, "2")]["share_of_fleet_cost"] == pytest.approx(2 / 7 * A100_60S / (0.24 + A100_60S))


def test_cost_timeseries_buckets(store: Path) -> None:
    got = run(store, "cost_timeseries", bucket_minutes="1")
    assert {r["target"] for r in got} == {"chat", "batch", "rag", "orphan", "(idle GPUs)"}
    idle = next(r for r in got if r["target"] == "(idle GPUs)")
    # 2 whole H100 + 4/7 of the A100 over the one 60 s interval.
    assert idle["gpus"] == pytest.approx(2 + 4 / 7)
    assert idle["cost_usd"] == pytest.approx(0.12 + 4 / 7 * A100_60S)
    chat = next(r for r in got if r["target"] == "chat")
    assert chat["bucket_start"] == fx.T0 and chat["usd_per_1m_tokens"] == pytest.approx(0.15)


def test_tokens_per_second_and_sample_count(store: Path) -> None:
    got = by(run(store, "tokens_per_second"), "target")
    assert got["chat"]["prompt_tokens_per_s"] == pytest.approx(300_000 / 60)
    assert got["chat"]["generation_tokens_per_s"] == pytest.approx(100_000 / 60)
    (n,) = rows(run_named(store, "sample_count", settings=fx.settings()))
    # Samples per scrape round: node-a 4 power + 3 energy + 3 x 4 DCP = 19; node-b 1 + 1 + 3 x 2 = 8;
    # a vLLM page 4 gauges + 5 counters x (_total, _created) = 14, plus 2 histograms x (+Inf bucket,
    # _count, _sum, _created) = 8 for chat and rag: 19 + 8 + 22 + 14 + 22 + 14 = 99; two rounds: 198.
    assert n["n"] == 198


# -- against the cloud ---------------------------------------------------------------------

API_CSV = """# my prices
provider,model,input_usd_per_1m,cached_input_usd_per_1m,output_usd_per_1m,as_of,source
TestAI,m1,1.00,0.10,4.00,2026-11-01,https://example.invalid/prices
TestAI,m2,2.00,,8.00,,
"""


def test_api_comparison_and_breakeven(store: Path, tmp_path: Path) -> None:
    (tmp_path / "api.csv").write_text(API_CSV)
    # prices.api_prices_csv, relative to the settings file's folder, replaces the shipped table
    res = run(store, "api_comparison", with_prices(tmp_path, api_prices_csv="api.csv"), peak_quantile="1.0")
    chat = {r["api_model"]: r for r in res if r["target"] == "chat"}
    m1 = chat["m1"]
    # Same traffic at the API: (300,000 - 60,000) x $1 + 60,000 x $0.10 (cached) + 100,000 x $4
    # = (240,000 + 6,000 + 400,000) / 1e6 = $0.646, against $0.06 self-hosted.
    assert m1["api_usd"] == pytest.approx(0.646)
    assert m1["self_usd"] == pytest.approx(0.06)
    assert m1["savings_usd"] == pytest.approx(0.586)
    assert m1["self_usd_per_1m_input"] == pytest.approx(0.05)
    assert m1["api_usd_per_1m_tokens"] == pytest.approx(0.646 / 0.4)
    # Break-even: self-hosting costs 0.06 / (60/3600 h) = $3.60/h whatever the load. At the
    # demonstrated peak (one interval: 400,000 / 60 = 6,666.7 tokens/s = 24M tokens/h) the API
    # would bill 24M x 0.646 / 400,000 = $38.76/h; equal at utilization 3.60 / 38.76 = 0.092879.
    assert m1["utilization"] == pytest.approx(1.0)
    assert m1["breakeven_utilization"] == pytest.approx(3.60 / 38.76)
    # No cached price at m2: cached tokens at the input price: 300,000 x 2 + 100,000 x 8 = $1.40.
    assert chat["m2"]["api_usd"] == pytest.approx(1.40)
    assert chat["m2"]["api_as_of"] is None


def test_api_prices_shipped_table_is_dated_and_sourced(store: Path) -> None:
    got = rows(run_named(store, "api_prices", {"provider": "openai"}, settings=fx.settings()))
    gpt = by(got, "model")["GPT-5.4 Mini"]
    assert (gpt["input_usd_per_1m"], gpt["cached_input_usd_per_1m"], gpt["output_usd_per_1m"]) == (0.75, 0.075, 4.5)
    assert str(gpt["as_of"]) == "2026-05-04" and gpt["source"].startswith("https://")
    every = rows(run_named(store, "api_prices", settings=fx.settings()))
    assert all(r["source"] for r in every) and len(every) >= 20


def test_gpu_specs_and_models(store: Path) -> None:
    specs = by(rows(run_named(store, "gpu_specs", settings=fx.settings())), "model")
    assert specs["NVIDIA H100 80GB HBM3"]["peak_memory_bandwidth_gbps"] == 3350
    assert specs["NVIDIA A30"]["mig_slices"] == 4 and specs["NVIDIA A30"]["peak_memory_bandwidth_gbps"] is None
    models = by(rows(run_named(store, "gpu_models", settings=fx.settings())), "gpu_model")
    assert set(models) == {"NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB"}
    h100 = models["NVIDIA H100 80GB HBM3"]
    assert h100["spec_match"] == "exact" and h100["gpus_seen"] == 4


# -- diagnosis and roofline ------------------------------------------------------------------


def test_diagnosis_verdicts_with_evidence(store: Path) -> None:
    got = by(run(store, "diagnosis"), "subject")
    chat = got["chat/0"]
    # DRAM 0.70 / 0.50 = 1.4 >= 1 and above tensor 0.10 / 0.40 = 0.25.
    assert chat["verdict"] == "memory-bandwidth-bound"
    assert "DRAM active 70% of peak HBM bandwidth (threshold 50%): 2,345 of 3,350 GB/s" in chat["evidence"]
    assert "batch more requests" in chat["recommendation"]
    # batch: GR engine 0.10 < 0.20 with nothing waiting.
    assert got["batch/0"]["verdict"] == "under-utilized"
    assert "GPUs busy 10% of the time (GR_ENGINE_ACTIVE; threshold 20%)" in got["batch/0"]["evidence"]
    assert "$0.06" in got["batch/0"]["recommendation"]
    # rag: KV 0.97 >= 0.90 with 5 waiting >= 1.
    assert got["rag/0"]["verdict"] == "KV-capacity-bound"
    assert got["rag/0"]["evidence"].startswith("KV cache peak 97% (threshold 90%), 5.0 requests waiting")
    # orphan: no GPU -> cannot judge bandwidth or compute, and says why.
    assert got["orphan/0"]["verdict"] == "unknown"
    assert got["orphan/0"]["missing"].startswith("GPU attribution")
    # Idle GPUs are idle cost.
    assert got["node-a:2"]["verdict"] == "idle cost"
    assert got["node-a:2"]["cost_usd"] == pytest.approx(0.06)
    assert got["node-b:0/unallocated"]["verdict"] == "idle cost"


def test_diagnosis_thresholds_come_from_settings(store: Path) -> None:
    s = fx.settings().model_copy(update={"diagnosis": config.DiagnosisSettings(bandwidth_high=0.8)})
    got = by(run(store, "diagnosis", s), "subject")
    # DRAM 0.70 < 0.80 now; tensor 0.10 < 0.40; busy 0.90; KV 0.5 -> nothing near a limit.
    assert got["chat/0"]["verdict"] == "no bottleneck"
    assert "(threshold 80%)" in got["chat/0"]["evidence"]


def test_diagnosis_names_missing_dcp(tmp_path: Path) -> None:
    """A GPU without DCP fields: busy from GPU_UTIL, no DRAM/tensor -> unknown, DCP named."""
    from collector.ingest import Ingestor
    from memmoat.config import Target
    from store.writer import commit_batches, ensure_schema, upsert_targets

    path = tmp_path / "m.duckdb"
    ensure_schema(path)
    dcgm = Target(name="n", url="http://127.0.0.1:9/m", kind="dcgm")
    eng = Target(name="e", url="http://127.0.0.1:9/m", kind="vllm", labels={"namespace": "x", "pod": "p"})
    upsert_targets(path, [dcgm, eng], {})
    lab = 'gpu="0",UUID="GPU-x",modelName="Tesla T4",Hostname="n",namespace="x",pod="p"'
    ing = Ingestor()
    for step, at in enumerate((fx.T0, fx.T1)):
        page = f"# TYPE DCGM_FI_DEV_GPU_UTIL gauge\nDCGM_FI_DEV_GPU_UTIL{{{lab}}} 55\n"
        commit_batches(
            path,
            [ing.ingest(dcgm, at, page), ing.ingest(eng, at, fx.vllm_page("m", prompt=1000 * step, gen=1000 * step))],
        )
    (row,) = [r for r in rows(run_named(path, "diagnosis", WINDOW, settings=fx.settings())) if r["target"] == "e"]
    assert row["verdict"] == "unknown"
    assert row["busy"] == pytest.approx(0.55)
    assert "DCGM_FI_PROF_DRAM_ACTIVE" in row["missing"] and "GPU attribution" not in row["missing"]
    # Tesla T4 has a peak (320 GB/s) but no DRAM activity was scraped: no achieved bandwidth.
    (roof,) = rows(run_named(path, "roofline", WINDOW, settings=fx.settings()))
    assert roof["achieved_bw_gbps"] is None


def test_roofline(store: Path) -> None:
    got = by(run(store, "roofline"), "target")
    chat = got["chat"]
    # Achieved = DRAM 0.70 x 3,350 GB/s = 2,345 GB/s; 100,000 tokens / 60 s = 1,666.7 tokens/s;
    # per GB/s: 1,666.7 / 2,345 = 0.71073; at peak bandwidth: 0.71073 x 3,350 = 2,380.95 tokens/s.
    assert chat["achieved_bw_gbps"] == pytest.approx(2345)
    assert chat["peak_bw_gbps"] == pytest.approx(3350)
    assert chat["bw_utilization"] == pytest.approx(0.7)
    assert chat["tokens_per_s_per_gbps"] == pytest.approx((100_000 / 60) / 2345)
    assert chat["tokens_per_s_at_peak_bw"] == pytest.approx((100_000 / 60) / 0.7)
    # Tensor 0.10 x 989 TFLOPS = 98.9 TFLOPS; ridge 989e12 / 3350e9 = 295.2 FLOP/byte.
    assert chat["achieved_tflops"] == pytest.approx(98.9)
    assert chat["ridge_flop_per_byte"] == pytest.approx(989e12 / 3350e9)
    rag = got["rag"]
    # 3/7 of an A100: achieved 0.40 x 2,000 x 3/7 = 342.86 GB/s of 857.14.
    assert rag["achieved_bw_gbps"] == pytest.approx(0.4 * 2000 * 3 / 7)
    assert rag["peak_bw_gbps"] == pytest.approx(2000 * 3 / 7)


def test_shared_gpu_is_split_between_its_pods(tmp_path: Path) -> None:
    """Time-slicing / MPS: dcgm-exporter repeats the device's series once per pod (vgpu label)."""
    from collector.ingest import Ingestor
    from memmoat.config import Target
    from store.writer import commit_batches, ensure_schema, upsert_targets

    path = tmp_path / "m.duckdb"
    ensure_schema(path)
    dcgm = Target(name="n", url="http://127.0.0.1:9/m", kind="dcgm")
    engines = [
        Target(name=f"e{i}", url="http://127.0.0.1:9/m", kind="vllm", labels={"namespace": f"ns{i}", "pod": f"p{i}"})
        for i in (1, 2)
    ]
    upsert_targets(path, [dcgm, *engines], {})
    ing = Ingestor()
    for step, at in enumerate((fx.T0, fx.T1)):
        lines = ["# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter"]
        for i in (1, 2):
            lab = f'gpu="0",UUID="GPU-s",modelName="NVIDIA L4",Hostname="n",namespace="ns{i}",pod="p{i}",vgpu="{i}"'
            lines.append(f"DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{{{lab}}} {1_000_000 + 6_000_000 * step}")
        batches = [ing.ingest(dcgm, at, "\n".join(lines) + "\n")]
        batches += [ing.ingest(e, at, fx.vllm_page("m", prompt=10_000 * step, gen=10_000 * step)) for e in engines]
        commit_batches(path, batches)
    got = by(rows(run_named(path, "cost_per_token", WINDOW, settings=fx.settings())), "group")
    # One L4 at the default $2.00/h for 60 s = $0.0333, half each; energy +6,000 J, 3,000 J each.
    for name in ("e1/0", "e2/0"):
        assert got[name]["cost_usd"] == pytest.approx(2.0 / 60 / 2)
        assert got[name]["gpus"] == pytest.approx(0.5)
        assert got[name]["energy_kwh"] == pytest.approx(3_000 / 3.6e6)
    attribution = rows(run_named(path, "gpu_attribution", WINDOW, settings=fx.settings()))
    assert {r["share_basis"] for r in attribution} == {"shared by 2 pods: equal split"}
