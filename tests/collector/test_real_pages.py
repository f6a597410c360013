"""Every real page maps to the canonical values read from it by hand.

Each expected number is written out, with the page line it comes from in a comment. Pages
other than the vllm-cpu-live captures are read in place (see tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

MIB = 1048576

# Every page of the real fixtures folder must have a test here: a new page without one fails.
COVERED = {
    "dcgm-exporter-dra-driver-issue166-a100-mig-dcp-partial.prom",
    "dcgm-exporter-gpu-operator-issue340-t4-k8s-pod-labels-partial.prom",
    "dcgm-exporter-issue512-h100-mig-k8s-dcp-partial.prom",
    "dcgm-exporter-issue58-titanv-k8s-empty-pod-labels-partial.prom",
    "dcgm-exporter-issue68-a30-mig-dcp-k8s-partial.prom",
    "dcgm-exporter-pr432-mps-vgpu-label-vllm-pod-partial.prom",
    "dcgm-exporter-pr736-lowercase-hostname-mixed-gpus-mig-k8s-partial.prom",
    "nim-llm-datadog-fixture.prom",
    "sglang-docs-production-metrics.prom",
    "tgi-datadog-fixture-partial.prom",
    "vllm-cpu-live.prom",
    "vllm-cpu-live-midflight.prom",
    "vllm-cpu-live-kvpressure.prom",
    "vllm-v0-aibrix-runtime-docs-partial.prom",
    "vllm-v0-datadog-fixture-2024-06.prom",
    "vllm-v1-0.10.0-production-stack-issue617-partial.prom",
    "vllm-v1-0.8-production-stack-issue318-partial.prom",
}


def test_every_real_page_has_a_test(real_fixtures: Path) -> None:
    assert {p.name for p in real_fixtures.glob("*.prom")} == COVERED


def test_live_captures_in_the_repo_are_the_real_ones(real_fixtures: Path, test_data_page: Callable[[str], str]) -> None:
    for name in ("vllm-cpu-live.prom", "vllm-cpu-live-midflight.prom", "vllm-cpu-live-kvpressure.prom"):
        assert test_data_page(name) == (real_fixtures / name).read_text(encoding="utf-8")


def load(page_store: Any, text: str, kind: str, **labels: str) -> Any:
    batch = page_store.add("t", text, labels=labels)
    assert batch.kind == kind  # detected from the page: the target says kind = "auto"
    assert batch.issues == [] and batch.values
    return batch


def gpus(page_store: Any) -> list[dict[str, Any]]:
    return page_store.rows("SELECT * FROM gpu_metrics ORDER BY uuid, gpu_instance")


def engine(page_store: Any) -> dict[str, Any]:
    return page_store.one("SELECT * FROM engine_metrics")


def approx(row: dict[str, Any], **expected: Any) -> None:
    for key, want in expected.items():
        got = row[key]
        if isinstance(want, float) and got is not None:
            assert got == pytest.approx(want, rel=1e-12, abs=1e-15), key
        else:
            assert got == want, key


# --- dcgm-exporter ----------------------------------------------------------------------------


def test_dcgm_a100_mig_instances_with_dcp_gr_engine(page_store: Any, real_page: Callable[[str], str]) -> None:
    load(page_store, real_page("dcgm-exporter-dra-driver-issue166-a100-mig-dcp-partial.prom"), "dcgm")
    rows = gpus(page_store)
    assert [r["gpu_instance"] for r in rows] == ["10", "8", "9"]
    for r in rows:
        # ...{gpu="0",UUID="GPU-2c2f45e8-0886-e3cc-02be-a4181a13fc9b",...,modelName="NVIDIA A100 80GB PCIe",
        #     GPU_I_PROFILE="1g.10gb",GPU_I_ID="8",Hostname="k8s-dra-driver-cluster-worker",...}
        approx(r, uuid="GPU-2c2f45e8-0886-e3cc-02be-a4181a13fc9b", gpu=0, gpu_model="NVIDIA A100 80GB PCIe",
               mig_profile="1g.10gb", hostname="k8s-dra-driver-cluster-worker", pod=None, pods=[],
               dram_active=None, tensor_active=None)  # fmt: skip
    by_id = {r["gpu_instance"]: r["gr_engine_active"] for r in rows}
    # DCGM_FI_PROF_GR_ENGINE_ACTIVE{...GPU_I_ID="8"...} 0.029399 / GPU_I_ID="9" 0.033893 / GPU_I_ID="10" 0.000000
    assert by_id == {"8": 0.029399, "9": 0.033893, "10": 0.0}


def test_dcgm_t4_with_pod_labels_and_a_cut_family(page_store: Any, real_page: Callable[[str], str]) -> None:
    load(page_store, real_page("dcgm-exporter-gpu-operator-issue340-t4-k8s-pod-labels-partial.prom"), "dcgm")
    (r,) = gpus(page_store)
    # DCGM_FI_DEV_FB_FREE{gpu="0",UUID="GPU-e1200d64-e918-4277-cad9-75da90b9f618",device="nvidia0",
    #   modelName="Tesla T4",Hostname="nvidia-dcgm-exporter-ml2wh",container="dcgmproftester11",
    #   namespace="default",pod="dcgmproftester"} 15109
    approx(r, uuid="GPU-e1200d64-e918-4277-cad9-75da90b9f618", gpu=0, gpu_instance=None, gpu_model="Tesla T4",
           hostname="nvidia-dcgm-exporter-ml2wh", pod="dcgmproftester", namespace="default",
           container="dcgmproftester11", pods=["dcgmproftester"], fb_free_bytes=15109.0 * MIB,
           fb_used_bytes=None)  # the page ends at "# TYPE DCGM_FI_DEV_FB_USED gauge"  # fmt: skip


def test_dcgm_h100_mig_pod_labels_present_and_absent(page_store: Any, real_page: Callable[[str], str]) -> None:
    load(page_store, real_page("dcgm-exporter-issue512-h100-mig-k8s-dcp-partial.prom"), "dcgm")
    rows = {r["gpu_instance"]: r for r in gpus(page_store)}
    assert set(rows) == {"7", "8", "9"}
    for r in rows.values():
        # ...UUID="GPU-58e8f5ea-13cc-013a-d88f-2bcf5ae8bc77",...,modelName="NVIDIA H100 80GB HBM3",
        #    GPU_I_PROFILE="1g.10gb",...,Hostname="gsrh100-074",... 0.000000
        approx(r, uuid="GPU-58e8f5ea-13cc-013a-d88f-2bcf5ae8bc77", gpu_model="NVIDIA H100 80GB HBM3",
               mig_profile="1g.10gb", hostname="gsrh100-074", gr_engine_active=0.0)  # fmt: skip
    # GPU_I_ID="7",...,container="kserve-container",namespace="model-playground-stg",
    #   pod="text-embedding-predictor-00008-deployment-57946f6c67-vdtjl"
    approx(rows["7"], pod="text-embedding-predictor-00008-deployment-57946f6c67-vdtjl",
           namespace="model-playground-stg", container="kserve-container")  # fmt: skip
    # GPU_I_ID="8",Hostname="gsrh100-074",DCGM_FI_DRIVER_VERSION="535.129.03"} (no pod labels at all)
    approx(rows["8"], pod=None, namespace=None, container=None, pods=[])
    # GPU_I_ID="9",...,pod="tts-predictor-00011-deployment-5554f75554-8j8pl"
    approx(rows["9"], pod="tts-predictor-00011-deployment-5554f75554-8j8pl", namespace="model-playground-stg")


def test_dcgm_titan_v_empty_pod_labels(page_store: Any, real_page: Callable[[str], str]) -> None:
    load(page_store, real_page("dcgm-exporter-issue58-titanv-k8s-empty-pod-labels-partial.prom"), "dcgm")
    rows = sorted(gpus(page_store), key=lambda r: r["gpu"])
    # DCGM_FI_DEV_SM_CLOCK{gpu="0",UUID="GPU-55274b56-9033-f166-7723-77088b0ff94d",...,
    #   container="",namespace="",pod=""} 135
    # ... gpu="1" 135, gpu="2" 135, gpu="3" 135, gpu="4",UUID="GPU-58fae45b-e5a5-0c62-d478-8ff7c485e74e" 1335
    assert [(r["gpu"], r["sm_clock_mhz"]) for r in rows] == [
        (0, 135.0),
        (1, 135.0),
        (2, 135.0),
        (3, 135.0),
        (4, 1335.0),
    ]
    assert rows[0]["uuid"] == "GPU-55274b56-9033-f166-7723-77088b0ff94d"
    assert rows[4]["uuid"] == "GPU-58fae45b-e5a5-0c62-d478-8ff7c485e74e"
    for r in rows:  # pod="" means no pod, not a pod named ""
        approx(r, pod=None, namespace=None, container=None, pods=[], hostname="dcgm-exporter-lcxpl",
               gpu_model="NVIDIA TITAN V", gpu_instance=None)  # fmt: skip


def test_dcgm_a30_mig_tensor_and_dram(page_store: Any, real_page: Callable[[str], str]) -> None:
    load(page_store, real_page("dcgm-exporter-issue68-a30-mig-dcp-k8s-partial.prom"), "dcgm")
    (r,) = gpus(page_store)
    # DCGM_FI_PROF_PIPE_TENSOR_ACTIVE{gpu="0",UUID="GPU-603a8873-0edd-c157-ce48-2078e8b1a935",...,
    #   modelName="NVIDIA A30",GPU_I_PROFILE="2g.12gb",GPU_I_ID="1",Hostname="dcgm-exporter-sn5rp",...} 0.000000
    # DCGM_FI_PROF_DRAM_ACTIVE{...same labels...} 0.000000
    approx(r, uuid="GPU-603a8873-0edd-c157-ce48-2078e8b1a935", gpu_instance="1", mig_profile="2g.12gb",
           gpu_model="NVIDIA A30", hostname="dcgm-exporter-sn5rp", tensor_active=0.0, dram_active=0.0,
           gr_engine_active=None, pod=None)  # fmt: skip


def test_dcgm_mps_shared_gpu_is_one_gpu_with_two_pods(page_store: Any, real_page: Callable[[str], str]) -> None:
    load(page_store, real_page("dcgm-exporter-pr432-mps-vgpu-label-vllm-pod-partial.prom"), "dcgm")
    (r,) = gpus(page_store)
    # DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-3bc239e1-4cc8-97e4-e817-5a36dfd2885e",...,
    #   pod="gpu-burn-deployment-1-85dc8ff699-clvh5",vgpu="1"} 15866
    # DCGM_FI_DEV_FB_USED{...same GPU...,pod="vllm-medgemma-4b-it-d599b4c99-f95nk",vgpu="3"} 15866
    approx(r, uuid="GPU-3bc239e1-4cc8-97e4-e817-5a36dfd2885e", gpu_model="NVIDIA A100-SXM4-80GB",
           fb_used_bytes=15866.0 * MIB,  # the device's value, once: not 2 x 15866
           pods=["gpu-burn-deployment-1-85dc8ff699-clvh5", "vllm-medgemma-4b-it-d599b4c99-f95nk"])  # fmt: skip
    vgpus = page_store.rows("SELECT vgpu FROM series ORDER BY vgpu")
    assert [v["vgpu"] for v in vgpus] == ["1", "3"]


def test_dcgm_lowercase_hostname_mixed_gpus(page_store: Any, real_page: Callable[[str], str]) -> None:
    load(page_store, real_page("dcgm-exporter-pr736-lowercase-hostname-mixed-gpus-mig-k8s-partial.prom"), "dcgm")
    rows = {r["uuid"]: r for r in gpus(page_store)}
    # DCGM_FI_DEV_FB_FREE{gpu="1",UUID="GPU-fc60126e-514d-3522-2828-c5daa8e99d85",...,
    #   modelName="NVIDIA RTX 2000 Ada Generation",hostname="dcgm-exporter-wwwjh"} 11275
    approx(rows["GPU-fc60126e-514d-3522-2828-c5daa8e99d85"], gpu=1, gpu_instance=None,
           gpu_model="NVIDIA RTX 2000 Ada Generation", hostname="dcgm-exporter-wwwjh",
           fb_free_bytes=11275.0 * MIB, pod=None)  # fmt: skip
    # DCGM_FI_DEV_FB_FREE{gpu="2",UUID="GPU-63bc0b91-2265-1b94-831c-15c41fe92675",...,modelName="NVIDIA A30",
    #   GPU_I_PROFILE="1g.6gb",GPU_I_ID="3",hostname="dcgm-exporter-wwwjh",container="triton-server",
    #   namespace="default",pod="triton-server-f7cb5d77-95xcf"} 2207
    approx(rows["GPU-63bc0b91-2265-1b94-831c-15c41fe92675"], gpu=2, gpu_instance="3", mig_profile="1g.6gb",
           gpu_model="NVIDIA A30", hostname="dcgm-exporter-wwwjh", fb_free_bytes=2207.0 * MIB,
           pod="triton-server-f7cb5d77-95xcf", namespace="default", container="triton-server")  # fmt: skip


# --- engines ----------------------------------------------------------------------------------


def test_nim_vllm_names_without_prefix(page_store: Any, real_page: Callable[[str], str]) -> None:
    load(page_store, real_page("nim-llm-datadog-fixture.prom"), "nim")
    approx(
        engine(page_store),
        engine="0",
        model="meta/llama-3.1-8b-instruct",  # num_requests_running{model_name="meta/llama-3.1-8b-instruct"} 1.0
        requests_running=1.0,  # num_requests_running{...} 1.0
        requests_waiting=0.0,  # num_requests_waiting{...} 0.0
        kv_usage=0.0002848191398461977,  # gpu_cache_usage_perc{...} 0.0002848191398461977
        prompt_tokens=109.0,  # prompt_tokens_total{...} 109.0
        generation_tokens=174.0,  # generation_tokens_total{...} 174.0
        requests_finished=5.0,  # request_success_total{...} 5.0
        ttft_seconds_sum=0.6119842529296875,  # time_to_first_token_seconds_sum{...} 0.6119842529296875
        ttft_count=5.0,  # time_to_first_token_seconds_count{...} 5.0
        itl_seconds_sum=1.856855869293213,  # time_per_output_token_seconds_sum{...} 1.856855869293213
        itl_count=169.0,  # time_per_output_token_seconds_count{...} 169.0
        e2e_seconds_sum=2.4688401222229004,  # e2e_request_latency_seconds_sum{...} 2.4688401222229004
        e2e_count=5.0,  # e2e_request_latency_seconds_count{...} 5.0
        kv_capacity_tokens=None,
    )


def test_sglang_docs_page(page_store: Any, real_page: Callable[[str], str]) -> None:
    load(page_store, real_page("sglang-docs-production-metrics.prom"), "sglang")
    approx(
        engine(page_store),
        model="meta-llama/Llama-3.1-8B-Instruct",
        prompt_tokens=8128902.0,  # sglang:prompt_tokens_total{...} 8.128902e+06
        generation_tokens=7557572.0,  # sglang:generation_tokens_total{...} 7.557572e+06
        kv_usage=0.28,  # sglang:token_usage{...} 0.28
        requests_running=162.0,  # sglang:num_running_reqs{...} 162.0
        requests_waiting=2826.0,  # sglang:num_queue_reqs{...} 2826.0
        kv_used_tokens=123859.0,  # sglang:num_used_tokens{...} 123859.0
        ttft_seconds_sum=2351897.9474117756,  # sglang:time_to_first_token_seconds_sum{...} 2.3518979474117756e+06
        ttft_count=11008.0,  # sglang:time_to_first_token_seconds_count{...} 11008.0
        e2e_seconds_sum=3116093.850019932,  # sglang:e2e_request_latency_seconds_sum{...} 3.116093850019932e+06
        e2e_count=11228.0,  # sglang:e2e_request_latency_seconds_count{...} 11228.0
        itl_seconds_sum=866964.5791549598,  # sglang:time_per_output_token_seconds_sum{...} 866964.5791549598
        itl_count=7400757.0,  # sglang:time_per_output_token_seconds_count{...} 7.400757e+06
        kv_capacity_tokens=None,  # neither cache_config_info nor max_total_num_tokens on this page
    )


def test_tgi_counters_without_total_and_no_model_label(page_store: Any, real_page: Callable[[str], str]) -> None:
    # TGI pages have no model label: the target's labels name the model.
    load(page_store, real_page("tgi-datadog-fixture-partial.prom"), "tgi", model="bigscience/bloom-560m")
    approx(
        engine(page_store),
        model="bigscience/bloom-560m",
        requests_finished=109.0,  # tgi_request_success 109
        requests_waiting=0.0,  # tgi_queue_size 0
        requests_running=0.0,  # tgi_batch_current_size 0
        prompt_tokens=662.0,  # tgi_request_input_length_sum 662
        generation_tokens=None,  # tgi_request_generated_tokens is past the end of this excerpt
        kv_usage=None,  # TGI has no KV-cache metric
    )
    metric = page_store.one("SELECT metric FROM series WHERE canonical = 'requests_finished'")["metric"]
    assert metric == "tgi_request_success"  # stored as written, not with prometheus_client's _total


def test_vllm_v0_aibrix_page(page_store: Any, real_page: Callable[[str], str]) -> None:
    load(page_store, real_page("vllm-v0-aibrix-runtime-docs-partial.prom"), "vllm")
    approx(
        engine(page_store),
        model="Qwen/Qwen2.5-Coder-1.5B-Instruct",
        requests_running=0.0,  # vllm:num_requests_running{...} 0.0
        requests_swapped=0.0,  # vllm:num_requests_swapped{...} 0.0
        kv_usage=0.0,  # vllm:gpu_cache_usage_perc{...} 0.0
        preemptions=0.0,  # vllm:num_preemptions_total{...} 0.0
        prompt_tokens=148.0,  # vllm:prompt_tokens_total{...} 148.0
        generation_tokens=955.0,  # vllm:generation_tokens_total{...} 955.0
        requests_finished=4.0,  # vllm:request_success_total{finished_reason="stop",...} 4.0
        # vllm:cache_config_info{block_size="16",...,num_gpu_blocks="81767",...} 1.0 -> 81767 x 16
        kv_capacity_tokens=1308272.0,
    )


def test_vllm_v0_datadog_page(page_store: Any, real_page: Callable[[str], str]) -> None:
    load(page_store, real_page("vllm-v0-datadog-fixture-2024-06.prom"), "vllm")
    approx(
        engine(page_store),
        model="facebook/opt-125m",
        prompt_tokens=5.0,  # vllm:prompt_tokens_total{model_name="facebook/opt-125m"} 5.0
        generation_tokens=7.0,  # vllm:generation_tokens_total{...} 7.0
        requests_finished=1.0,  # vllm:request_success_total{finished_reason="length",...} 1.0
        kv_usage=0.0,  # vllm:gpu_cache_usage_perc{...} 0.0
        requests_waiting=0.0,  # vllm:num_requests_waiting{...} 0.0
        ttft_seconds_sum=0.31326723098754883,  # vllm:time_to_first_token_seconds_sum{...} 0.31326723098754883
        ttft_count=1.0,  # vllm:time_to_first_token_seconds_count{...} 1.0
        itl_seconds_sum=0.19016313552856445,  # vllm:time_per_output_token_seconds_sum{...} 0.19016313552856445
        itl_count=6.0,  # vllm:time_per_output_token_seconds_count{...} 6.0
        e2e_seconds_sum=0.5034303665161133,  # vllm:e2e_request_latency_seconds_sum{...} 0.5034303665161133
        # vllm:cache_config_info{block_size="16",...,num_gpu_blocks="7281",...} 1.0 -> 7281 x 16
        kv_capacity_tokens=116496.0,
    )


def test_vllm_v1_0_10_page_with_deprecated_names(page_store: Any, real_page: Callable[[str], str]) -> None:
    load(page_store, real_page("vllm-v1-0.10.0-production-stack-issue617-partial.prom"), "vllm")
    approx(
        engine(page_store),
        engine="0",
        model="zai-org/GLM-4.5",
        kv_usage=9.75010481363281e-06,  # vllm:kv_cache_usage_perc{engine="0",...} 9.75010481363281e-06
        prefix_cache_queries=32.0,  # vllm:prefix_cache_queries_total{engine="0",...} 32.0
        # vllm:gpu_prefix_cache_hits_total{engine="0",...} 0.0, HELP "...in terms of number of cached tokens."
        cached_prompt_tokens=0.0,
    )


def test_vllm_v1_0_8_page_without_engine_label(page_store: Any, real_page: Callable[[str], str]) -> None:
    load(page_store, real_page("vllm-v1-0.8-production-stack-issue318-partial.prom"), "vllm")
    approx(
        engine(page_store),
        engine="0",  # no engine label on this page
        model="Qwen/Qwen2.5-Coder-32B-Instruct",
        requests_running=0.0,  # vllm:num_requests_running{model_name="Qwen/Qwen2.5-Coder-32B-Instruct"} 0.0
        requests_waiting=0.0,  # vllm:num_requests_waiting{...} 0.0
        kv_usage=0.0,  # vllm:gpu_cache_usage_perc{...} 0.0
        prefix_cache_queries=None,  # the page ends at "# TYPE vllm:gpu_prefix_cache_queries_total counter"
    )


LIVE = {
    # name: (running, waiting, kv_usage, prompt, generation, finished, preemptions, capacity)
    # vllm:num_requests_running{engine="0",model_name="tiny-llama"} 0.0 / 8.0 / 11.0
    # vllm:num_requests_waiting{...} 0.0 / 0.0 / 5.0
    # vllm:kv_cache_usage_perc{...} 0.0 / 0.003907203907203893 / 0.9565217391304348
    # vllm:prompt_tokens_total{...} 421.0 / 2083.0 / 1842.0
    # vllm:generation_tokens_total{...} 1680.0 / 12350.0 / 12582.0
    # vllm:request_success_total{engine="0",finished_reason="length",...} 20.0 / 68.0 / 48.0 (other reasons 0.0)
    # vllm:num_preemptions_total{...} 0.0 / 0.0 / 3.0
    # vllm:cache_config_info{...,kv_cache_size_tokens="524288",...} / same / kv_cache_size_tokens="3072"
    "vllm-cpu-live.prom": (0.0, 0.0, 0.0, 421.0, 1680.0, 20.0, 0.0, 524288.0),
    "vllm-cpu-live-midflight.prom": (8.0, 0.0, 0.003907203907203893, 2083.0, 12350.0, 68.0, 0.0, 524288.0),
    "vllm-cpu-live-kvpressure.prom": (11.0, 5.0, 0.9565217391304348, 1842.0, 12582.0, 48.0, 3.0, 3072.0),
}


@pytest.mark.parametrize("name", sorted(LIVE))
def test_vllm_live_cpu_pages(page_store: Any, test_data_page: Callable[[str], str], name: str) -> None:
    load(page_store, test_data_page(name), "vllm")
    running, waiting, kv, prompt, generation, finished, preemptions, capacity = LIVE[name]
    approx(
        engine(page_store), engine="0", model="tiny-llama", requests_running=running, requests_waiting=waiting,
        kv_usage=kv, prompt_tokens=prompt, generation_tokens=generation, requests_finished=finished,
        preemptions=preemptions, kv_capacity_tokens=capacity, cached_prompt_tokens=0.0,
    )  # fmt: skip


def test_vllm_live_idle_page_latency_and_phase_columns(page_store: Any, test_data_page: Callable[[str], str]) -> None:
    load(page_store, test_data_page("vllm-cpu-live.prom"), "vllm")
    approx(
        engine(page_store),
        prefix_cache_queries=421.0,  # vllm:prefix_cache_queries_total{engine="0",...} 421.0
        prefill_seconds=0.09464018299979671,  # vllm:request_prefill_time_seconds_sum{...} 0.09464018299979671
        decode_seconds=2.887861197999996,  # vllm:request_decode_time_seconds_sum{...} 2.887861197999996
        ttft_seconds_sum=0.14315390586853027,  # vllm:time_to_first_token_seconds_sum{...} 0.14315390586853027
        ttft_count=20.0,  # vllm:time_to_first_token_seconds_count{...} 20.0
        itl_seconds_sum=2.887861197999996,  # vllm:inter_token_latency_seconds_sum{...} 2.887861197999996
        itl_count=1660.0,  # vllm:inter_token_latency_seconds_count{...} 1660.0
        e2e_seconds_sum=3.026331901550293,  # vllm:e2e_request_latency_seconds_sum{...} 3.026331901550293
        queue_seconds_sum=0.0006161030001408108,  # vllm:request_queue_time_seconds_sum{...} 0.0006161030001408108
        queue_count=20.0,  # vllm:request_queue_time_seconds_count{...} 20.0
    )
