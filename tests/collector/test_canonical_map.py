"""The data tables: which source name, label variant and unit means which canonical column.

Pages here are small hand-written variants of the real formats (the real pages themselves are
checked in test_real_pages.py); each one exercises a variant no saved real page shows.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

import pytest

from collector import canonical
from collector.exposition import PageParser

MIB = 1048576


def test_map_rows_are_well_formed() -> None:
    rows = canonical.metric_map()
    assert rows
    seen = set()
    for r in rows:
        assert r.kind in canonical.KINDS, r
        assert r.entity in ("gpu", "engine", "process"), r
        assert r.type in ("gauge", "counter", "histogram", "info"), r
        assert r.scale > 0 and r.priority >= 1, r
        ident = (r.kind, r.source, r.match)
        assert ident not in seen, f"duplicate row {ident}"
        seen.add(ident)


def test_every_view_column_has_a_source_row() -> None:
    """A canonical name used by a view but mapped by no row would be a column that is always NULL."""
    sql = resources.files("store").joinpath("migrations/0002_canonical_views.sql").read_text(encoding="utf-8")
    used = set(re.findall(r"canonical = '([a-z_]+)'", sql))
    mapped = {r.canonical for r in canonical.metric_map()}
    assert used and used <= mapped, used - mapped


def test_label_map_has_every_variant_the_exporters_print() -> None:
    variants = canonical.label_map()
    for attr, label in [("hostname", "hostname"), ("hostname", "Hostname"), ("uuid", "UUID"), ("uuid", "uuid"),
                        ("pod", "pod_name"), ("namespace", "pod_namespace"), ("container", "container_name"),
                        ("gpu_instance", "GPU_I_ID"), ("mig_profile", "GPU_I_PROFILE"), ("vgpu", "vgpu"),
                        ("engine", "engine"), ("model", "model_name")]:  # fmt: skip
        assert (attr, label) in variants


@pytest.mark.parametrize(
    ("kind", "name", "canonical_name", "part"),
    [
        ("vllm", "vllm:kv_cache_usage_perc", "kv_usage", ""),
        ("vllm", "vllm:gpu_cache_usage_perc", "kv_usage", ""),
        ("vllm", "vllm:prompt_tokens_total", "prompt_tokens", ""),
        ("vllm", "vllm:prompt_tokens_created", "prompt_tokens", "created"),
        ("vllm", "vllm:inter_token_latency_seconds_bucket", "itl_seconds", "bucket"),
        ("vllm", "vllm:time_per_output_token_seconds_sum", "itl_seconds", "sum"),
        ("vllm", "vllm:time_to_first_token_seconds_created", "ttft_seconds", "created"),
        ("vllm", "vllm:prefix_cache_hits_total", "cached_prompt_tokens", ""),
        ("vllm", "process_start_time_seconds", "process_start", ""),
        ("sglang", "sglang:token_usage", "kv_usage", ""),
        ("tgi", "tgi_request_success", "requests_finished", ""),
        ("tgi", "tgi_request_input_length_sum", "prompt_tokens", "sum"),
        ("nim", "gpu_cache_usage_perc", "kv_usage", ""),
        ("nim", "prompt_tokens_total", "prompt_tokens", ""),
        ("dcgm", "DCGM_FI_PROF_DRAM_ACTIVE", "dram_active", ""),
        ("dcgm", "dcgm_fi_prof_dram_active", "dram_active", ""),
    ],
)
def test_resolve(kind: str, name: str, canonical_name: str, part: str) -> None:
    m = canonical.resolve(kind, name, {})
    assert m is not None and (m.canonical, m.part) == (canonical_name, part)


def test_resolve_refuses_what_it_should_not_map() -> None:
    assert canonical.resolve("vllm", "vllm:kv_cache_usage_perc_sum", {}) is None  # a gauge has no parts
    assert canonical.resolve("vllm", "vllm:prompt_tokens_bucket", {}) is None
    assert canonical.resolve("vllm", "vllm:kv_cache_usage_perc_created", {}) is None
    assert canonical.resolve("nim", "vllm:prompt_tokens_total", {}) is None  # names are per kind
    assert canonical.resolve("vllm", "vllm:iteration_tokens_total_sum", {}) is None


def test_tgi_batch_duration_splits_on_the_method_label() -> None:
    pre = canonical.resolve("tgi", "tgi_batch_inference_duration_sum", {"method": "prefill"})
    dec = canonical.resolve("tgi", "tgi_batch_inference_duration_sum", {"method": "decode"})
    assert pre is not None and pre.canonical == "prefill_seconds"
    assert dec is not None and dec.canonical == "decode_seconds"
    assert canonical.resolve("tgi", "tgi_batch_inference_duration_sum", {"method": "other"}) is None


V1_08_HELP = "GPU prefix cache queries, in terms of number of queried blocks."  # production-stack#318 page
V1_010_HELP = (
    "GPU prefix cache hits, in terms of number of cached tokens. DEPRECATED: Use vllm:prefix_cache_hits instead."
)


def test_gpu_prefix_cache_counted_blocks_in_v1_0_8_and_tokens_later() -> None:
    blocks = canonical.resolve("vllm", "vllm:gpu_prefix_cache_queries_total", {}, help_text=V1_08_HELP)
    tokens = canonical.resolve("vllm", "vllm:gpu_prefix_cache_hits_total", {}, help_text=V1_010_HELP)
    assert blocks is not None and blocks.canonical == "prefix_cache_query_blocks"
    assert tokens is not None and tokens.canonical == "cached_prompt_tokens"
    # The created gauge follows its counter.
    created = canonical.resolve("vllm", "vllm:gpu_prefix_cache_queries_created", {}, help_text=V1_08_HELP)
    assert created is not None and (created.canonical, created.part) == ("prefix_cache_query_blocks", "created")


def test_the_parser_hands_the_help_text_that_decides_the_unit() -> None:
    text = (
        f"# HELP vllm:gpu_prefix_cache_queries_total {V1_08_HELP}\n"
        "# TYPE vllm:gpu_prefix_cache_queries_total counter\n"
        'vllm:gpu_prefix_cache_queries_total{model_name="Qwen/Qwen2.5-Coder-32B-Instruct"} 3.0\n'
    )
    parser = PageParser()
    info = parser.info(parser.parse(text).keys[0])
    m = canonical.resolve("vllm", info.name, info.label_dict, help_text=info.help)
    assert m is not None and m.canonical == "prefix_cache_query_blocks"


def test_v1_0_8_prefix_blocks_are_not_counted_as_tokens_in_the_store(page_store: Any) -> None:
    text = (
        f"# HELP vllm:gpu_prefix_cache_queries_total {V1_08_HELP}\n"
        "# TYPE vllm:gpu_prefix_cache_queries_total counter\n"
        'vllm:gpu_prefix_cache_queries_total{model_name="m"} 3.0\n'
        'vllm:num_requests_running{model_name="m"} 0.0\n'
    )
    page_store.add("v08", text)
    assert page_store.one("SELECT prefix_cache_queries FROM engine_metrics")["prefix_cache_queries"] is None


@pytest.mark.parametrize(
    ("names", "kind"),
    [
        ({"DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_GPU_TEMP"}, "dcgm"),
        ({"dcgm_fb_used"}, "dcgm"),
        ({"vllm:num_requests_running", "python_gc_objects_collected_total", "process_start_time_seconds"}, "vllm"),
        ({"sglang:token_usage"}, "sglang"),
        ({"tgi_request_success", "tgi_queue_size"}, "tgi"),
        ({"num_requests_running", "gpu_cache_usage_perc", "process_start_time_seconds"}, "nim"),
        ({"process_start_time_seconds", "python_info"}, None),  # generic process metrics say nothing
        ({"http_requests_total"}, None),
    ],
)
def test_detect_kind(names: set[str], kind: str | None) -> None:
    assert canonical.detect_kind(names) == kind


def test_attributes_prefer_the_newer_label_and_drop_empty_values() -> None:
    attrs = canonical.attributes({"Hostname": "old", "hostname": "new", "pod": "", "UUID": "GPU-1", "vgpu": "2"})
    assert attrs == {"hostname": "new", "uuid": "GPU-1", "vgpu": "2"}


# --- dcgm-exporter variants through the store ---------------------------------------------------


def gpu_rows(store: Any) -> list[dict[str, Any]]:
    return store.rows("SELECT * FROM gpu_metrics ORDER BY uuid, gpu_instance")


def test_dcgm_old_namespace_labels_and_1x_names(page_store: Any) -> None:
    # --use-old-namespace: lowercase uuid, pod_name/pod_namespace/container_name; 1.x compatibility CSV names
    page_store.add("old", (
        '# TYPE dcgm_fb_used gauge\n'
        'dcgm_fb_used{gpu="0",uuid="GPU-aa",device="nvidia0",Hostname="node-1",pod_name="p-1",'
        'pod_namespace="team",container_name="c"} 1024\n'
        '# TYPE dcgm_gpu_utilization gauge\n'
        'dcgm_gpu_utilization{gpu="0",uuid="GPU-aa",device="nvidia0",Hostname="node-1",pod_name="p-1",'
        'pod_namespace="team",container_name="c"} 57\n'
    ))  # fmt: skip
    (r,) = gpu_rows(page_store)
    assert (r["uuid"], r["hostname"], r["pod"], r["namespace"], r["container"]) == (
        "GPU-aa",
        "node-1",
        "p-1",
        "team",
        "c",
    )
    assert r["fb_used_bytes"] == 1024 * MIB
    assert r["gpu_util"] == pytest.approx(0.57)  # percent -> 0-1


H100 = 'gpu="0",UUID="GPU-bb",modelName="NVIDIA H100 80GB HBM3",hostname="node-2"'
DCGM_FULL = f"""# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL{{{H100}}} 93
# TYPE DCGM_FI_DEV_POWER_USAGE gauge
DCGM_FI_DEV_POWER_USAGE{{{H100}}} 302.206000
# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter
DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{{{H100}}} 4335301032
# TYPE DCGM_FI_DEV_MEMORY_TEMP gauge
DCGM_FI_DEV_MEMORY_TEMP{{{H100}}} 9223372036854775794
"""
DCGM_PROF = f"""# TYPE DCGM_FI_PROF_DRAM_ACTIVE gauge
DCGM_FI_PROF_DRAM_ACTIVE{{{H100}}} 0.412000
# TYPE DCGM_FI_PROF_PIPE_TENSOR_ACTIVE gauge
DCGM_FI_PROF_PIPE_TENSOR_ACTIVE{{{H100}}} 0.250000
"""


def test_dcgm_profiling_fields_present_or_missing_and_blank_sentinel(page_store: Any) -> None:
    without = page_store.add("plain", DCGM_FULL)
    assert without.issues == []
    with_prof = page_store.add("prof", DCGM_FULL + DCGM_PROF)
    assert with_prof.issues == []
    rows = {r["target"]: r for r in gpu_rows(page_store)}
    plain, prof = rows["plain"], rows["prof"]
    assert plain["dram_active"] is None and plain["tensor_active"] is None
    assert (prof["dram_active"], prof["tensor_active"]) == (0.412, 0.25)
    for r in (plain, prof):
        assert r["gpu_util"] == pytest.approx(0.93)
        assert r["power_w"] == 302.206
        assert r["energy_j"] == pytest.approx(4335301.032)  # mJ -> J
        assert r["hostname"] == "node-2"
    # the MEMORY_TEMP blank sentinel is neither a sample nor an issue
    assert page_store.rows("SELECT * FROM series WHERE metric = 'DCGM_FI_DEV_MEMORY_TEMP'") == []


def test_dcgm_mig_instances_carry_parent_gpu_labels(page_store: Any) -> None:
    page_store.add("mig", (
        '# TYPE DCGM_FI_PROF_GR_ENGINE_ACTIVE gauge\n'
        'DCGM_FI_PROF_GR_ENGINE_ACTIVE{gpu="0",UUID="GPU-cc",modelName="NVIDIA A100 80GB PCIe",Hostname="n",'
        'GPU_I_PROFILE="3g.40gb",GPU_I_ID="1",pod="a"} 0.5\n'
        'DCGM_FI_PROF_GR_ENGINE_ACTIVE{gpu="0",UUID="GPU-cc",modelName="NVIDIA A100 80GB PCIe",Hostname="n",'
        'GPU_I_PROFILE="4g.40gb",GPU_I_ID="2",pod="b"} 0.25\n'
        '# TYPE DCGM_FI_DEV_FB_USED gauge\n'
        'DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-cc",modelName="NVIDIA A100 80GB PCIe",Hostname="n"} 2048\n'
    ))  # fmt: skip
    rows = gpu_rows(page_store)
    got = [(r["uuid"], r["gpu_instance"], r["mig_profile"], r["pod"], r["gr_engine_active"], r["fb_used_bytes"])
           for r in rows]  # fmt: skip
    assert got == [
        ("GPU-cc", "1", "3g.40gb", "a", 0.5, None),
        ("GPU-cc", "2", "4g.40gb", "b", 0.25, None),
        ("GPU-cc", None, None, None, None, 2048.0 * MIB),  # the parent GPU's own row
    ]


# --- engines through the store ------------------------------------------------------------------


def _v1_engine(engine: str, kv: float, prompt: int, blocks: int) -> str:
    labels = f'engine="{engine}",model_name="m"'
    return (
        f'vllm:cache_config_info{{block_size="16",engine="{engine}",num_gpu_blocks="{blocks}"}} 1.0\n'
        f"vllm:kv_cache_usage_perc{{{labels}}} {kv}\n"
        f"vllm:prompt_tokens_total{{{labels}}} {prompt}.0\n"
        f"vllm:prompt_tokens_created{{{labels}}} 1.75e+09\n"
    )


def test_several_engines_on_one_page_give_one_row_each(page_store: Any) -> None:
    text = (
        "# TYPE vllm:cache_config_info gauge\n# TYPE vllm:kv_cache_usage_perc gauge\n"
        "# TYPE vllm:prompt_tokens_total counter\n# TYPE vllm:prompt_tokens_created gauge\n"
        + _v1_engine("0", 0.5, 100, 1000)
        + _v1_engine("1", 0.25, 300, 2000)
        + "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds 1.7e+09\n"
    )
    page_store.add("dp", text)
    rows = page_store.rows(
        "SELECT engine, kv_usage, prompt_tokens, kv_capacity_tokens FROM engine_metrics ORDER BY engine"
    )
    assert [tuple(r.values()) for r in rows] == [("0", 0.5, 100.0, 16000.0), ("1", 0.25, 300.0, 32000.0)]


BOTH_NAMES = """# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{engine="0",model_name="m"} 0.5
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.5
# HELP vllm:gpu_prefix_cache_hits_total GPU prefix cache hits, in terms of number of cached tokens. DEPRECATED
# TYPE vllm:gpu_prefix_cache_hits_total counter
vllm:gpu_prefix_cache_hits_total{engine="0",model_name="m"} 100.0
# TYPE vllm:prefix_cache_hits_total counter
vllm:prefix_cache_hits_total{engine="0",model_name="m"} 100.0
"""


def test_a_page_with_a_deprecated_name_beside_its_successor_counts_once(page_store: Any) -> None:
    page_store.add("v010", BOTH_NAMES)
    row = page_store.one("SELECT kv_usage, cached_prompt_tokens FROM engine_metrics")
    assert row == {"kv_usage": 0.5, "cached_prompt_tokens": 100.0}  # not 200


def test_kv_usage_is_one_series_whatever_name_the_engine_used(page_store: Any, real_page: Any) -> None:
    """V0 and V1 pages side by side in one store, and one target upgraded from V0 to V1."""
    page_store.add("v0", real_page("vllm-v0-datadog-fixture-2024-06.prom"))  # gpu_cache_usage_perc 0.0
    page_store.add(
        "v1-0.8", real_page("vllm-v1-0.8-production-stack-issue318-partial.prom")
    )  # gpu_cache_usage_perc 0.0
    page_store.add("v1-0.10", real_page("vllm-v1-0.10.0-production-stack-issue617-partial.prom"))  # kv_cache_usage_perc
    page_store.add("up", 'vllm:gpu_cache_usage_perc{model_name="m"} 0.25\n', at=0)  # V0 name, no engine label
    page_store.add("up", BOTH_NAMES, at=15)  # 0.9/0.10 print both names
    page_store.add("up", 'vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.75\n', at=30)  # 0.12: new only
    got = page_store.rows("SELECT target, ts, engine, kv_usage FROM engine_metrics ORDER BY target, ts")
    assert [(r["target"], r["engine"], r["kv_usage"]) for r in got] == [
        ("up", "0", 0.25),
        ("up", "0", 0.5),
        ("up", "0", 0.75),
        ("v0", "0", 0.0),
        ("v1-0.10", "0", 9.75010481363281e-06),
        ("v1-0.8", "0", 0.0),
    ]
    # The source names really differ: the views did the unifying.
    names = page_store.rows("SELECT DISTINCT target, metric FROM series WHERE canonical = 'kv_usage' ORDER BY ALL")
    assert {(r["target"], r["metric"]) for r in names} >= {
        ("v0", "vllm:gpu_cache_usage_perc"), ("v1-0.10", "vllm:kv_cache_usage_perc"),
        ("up", "vllm:gpu_cache_usage_perc"), ("up", "vllm:kv_cache_usage_perc"),
    }  # fmt: skip


def test_engine_pages_take_pod_and_model_from_the_target_labels(page_store: Any) -> None:
    page_store.add("tgi", "# TYPE tgi_queue_size gauge\ntgi_queue_size 3\n",
                   labels={"model": "llama", "namespace": "team", "pod": "tgi-0"})  # fmt: skip
    row = page_store.one("SELECT model, namespace, pod, requests_waiting FROM engine_metrics")
    assert row == {"model": "llama", "namespace": "team", "pod": "tgi-0", "requests_waiting": 3.0}
