"""Render snapshots as the text pages real exporters serve.

dcgm-exporter: one HELP/TYPE block per field, one line per GPU, labels in the exporter's
order, int64 fields printed with %d and float64 fields with Go's %f (6 decimals).
vLLM V1 (0.32, prometheus_client): labels sorted by name, values as Go-style floats,
counters as ``_total`` plus a ``_created`` gauge, histograms as ``_bucket``/``_count``/``_sum``
plus ``_created``. Templates: the real vLLM page in tests/data/vllm-cpu-live.prom and real dcgm-exporter pages.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from simulator.snapshot import EngineState, GpuReading, HistogramState, NodeState

# -- dcgm-exporter ------------------------------------------------------------------------

Field = tuple[str, str, str, Callable[[GpuReading], int | float]]
# Order and help texts of dcgm-exporter's etc/default-counters.csv (4.x, DCP rows included).
DCGM_FIELDS: tuple[Field, ...] = (
    ("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz).", lambda g: g.sm_clock),
    ("DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock frequency (in MHz).", lambda g: g.mem_clock),
    ("DCGM_FI_DEV_MEMORY_TEMP", "gauge", "Memory temperature (in C).", lambda g: g.memory_temp),
    ("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C).", lambda g: g.gpu_temp),
    ("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W).", lambda g: g.power_w),
    (
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
        "counter",
        "Total energy consumption since boot (in mJ).",
        lambda g: g.energy_mj,
    ),
    ("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "counter", "Total number of PCIe retries.", lambda g: 0),
    ("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %).", lambda g: g.gpu_util),
    ("DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "Memory utilization (in %).", lambda g: g.mem_copy_util),
    ("DCGM_FI_DEV_ENC_UTIL", "gauge", "Encoder utilization (in %).", lambda g: 0),
    ("DCGM_FI_DEV_DEC_UTIL", "gauge", "Decoder utilization (in %).", lambda g: 0),
    ("DCGM_FI_DEV_XID_ERRORS", "gauge", "Value of the last XID error encountered.", lambda g: 0),
    ("DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB).", lambda g: g.fb_free),
    ("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB).", lambda g: g.fb_used),
    ("DCGM_FI_DEV_FB_RESERVED", "gauge", "Framebuffer memory reserved (in MiB).", lambda g: g.fb_reserved),
    (
        "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL",
        "counter",
        "Total number of NVLink bandwidth counters for all lanes",
        lambda g: g.nvlink_total,
    ),
    ("DCGM_FI_DEV_VGPU_LICENSE_STATUS", "gauge", "vGPU License status", lambda g: 0),
    (
        "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
        "counter",
        "Number of remapped rows for uncorrectable errors",
        lambda g: 0,
    ),
    ("DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", "counter", "Number of remapped rows for correctable errors", lambda g: 0),
    ("DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge", "Whether remapping of rows has failed", lambda g: 0),
    (
        "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
        "gauge",
        "Ratio of time the graphics engine is active.",
        lambda g: g.gr_engine_active,
    ),
    (
        "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE",
        "gauge",
        "Ratio of cycles the tensor (HMMA) pipe is active.",
        lambda g: g.tensor_active,
    ),
    (
        "DCGM_FI_PROF_DRAM_ACTIVE",
        "gauge",
        "Ratio of cycles the device memory interface is active sending or receiving data.",
        lambda g: g.dram_active,
    ),
    (
        "DCGM_FI_PROF_PCIE_TX_BYTES",
        "gauge",
        "The rate of data transmitted over the PCIe bus - including both protocol headers and data "
        "payloads - in bytes per second.",
        lambda g: g.pcie_tx_bytes,
    ),
    (
        "DCGM_FI_PROF_PCIE_RX_BYTES",
        "gauge",
        "The rate of data received over the PCIe bus - including both protocol headers and data "
        "payloads - in bytes per second.",
        lambda g: g.pcie_rx_bytes,
    ),
)


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def dcgm_labels(state: NodeState, g: GpuReading) -> str:
    node = state.node
    parts = [
        f'gpu="{g.gpu.index}"',
        f'UUID="{g.gpu.uuid}"',
        f'pci_bus_id="{g.gpu.pci_bus_id}"',
        f'device="{g.gpu.device}"',
        f'modelName="{_esc(node.model_name)}"',
        f'Hostname="{_esc(node.hostname)}"',
        f'DCGM_FI_DRIVER_VERSION="{node.driver_version}"',
    ]
    if g.pod is not None:  # newer exporters omit the k8s labels when no pod holds the GPU
        container, namespace, pod = g.pod
        parts += [f'container="{_esc(container)}"', f'namespace="{_esc(namespace)}"', f'pod="{_esc(pod)}"']
    return "{" + ",".join(parts) + "}"


def render_dcgm(state: NodeState) -> str:
    labels = [dcgm_labels(state, g) for g in state.gpus]
    out: list[str] = []
    for name, kind, help_text, get in DCGM_FIELDS:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")
        for g, lab in zip(state.gpus, labels):
            v = get(g)
            out.append(f"{name}{lab} {v:f}" if isinstance(v, float) else f"{name}{lab} {v:d}")
    return "\n".join(out) + "\n"


# -- vLLM ---------------------------------------------------------------------------------


def go_float(d: float) -> str:
    """prometheus_client's floatToGoString: repr, but Go's exponent form for large values."""
    d = float(d)
    if d == math.inf:
        return "+Inf"
    if d == -math.inf:
        return "-Inf"
    if math.isnan(d):
        return "NaN"
    s = repr(d)
    dot = s.find(".")
    if d > 0 and dot > 6:
        mantissa = f"{s[0]}.{s[1:dot]}{s[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return s


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_esc(v)}"' for k, v in sorted(labels.items())) + "}"


class _Page:
    """Accumulates families in prometheus_client's text layout; stamps _created values."""

    def __init__(self, created: float) -> None:
        self.lines: list[str] = []
        self.created = created
        self.n_created = 0

    def _head(self, name: str, kind: str, help_text: str) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")

    def _created(self, name: str, help_text: str, label_sets: Iterable[dict[str, str]]) -> None:
        self._head(f"{name}_created", "gauge", help_text)
        for labels in label_sets:
            # Each child is created a few microseconds after the previous one, as in vLLM.
            self.n_created += 1
            stamp = self.created + self.n_created * 7e-6
            self.lines.append(f"{name}_created{_labels(labels)} {go_float(stamp)}")

    def gauge(self, name: str, help_text: str, samples: Iterable[tuple[dict[str, str], float]]) -> None:
        self._head(name, "gauge", help_text)
        self.lines += [f"{name}{_labels(lab)} {go_float(v)}" for lab, v in samples]

    def counter(self, name: str, help_text: str, samples: list[tuple[dict[str, str], float]]) -> None:
        self._head(f"{name}_total", "counter", help_text)
        self.lines += [f"{name}_total{_labels(lab)} {go_float(v)}" for lab, v in samples]
        self._created(name, help_text, (lab for lab, _ in samples))

    def histogram(self, name: str, help_text: str, labels: dict[str, str], h: HistogramState) -> None:
        self._head(name, "histogram", help_text)
        bounds = [*(go_float(b) for b in h.bounds), "+Inf"]
        for le, c in zip(bounds, h.cumulative):
            self.lines.append(f"{name}_bucket{_labels({**labels, 'le': le})} {go_float(c)}")
        self.lines.append(f"{name}_count{_labels(labels)} {go_float(h.count)}")
        self.lines.append(f"{name}_sum{_labels(labels)} {go_float(h.sum)}")
        self._created(name, help_text, (labels,))

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


MFU = "(for Model Flops Utilization calculations)."
HISTOGRAM_HELP = (
    ("request_prompt_tokens", "Number of prefill tokens processed."),
    ("request_generation_tokens", "Number of generation tokens processed."),
    ("iteration_tokens_total", "Histogram of number of tokens per engine_step."),
    ("request_max_num_generation_tokens", "Histogram of maximum number of requested generation tokens."),
    ("request_params_n", "Histogram of the n request parameter."),
    ("request_params_max_tokens", "Histogram of the max_tokens request parameter."),
    ("time_to_first_token_seconds", "Histogram of time to first token in seconds."),
    ("inter_token_latency_seconds", "Histogram of inter-token latency in seconds."),
    ("request_time_per_output_token_seconds", "Histogram of time_per_output_token_seconds per request."),
    ("e2e_request_latency_seconds", "Histogram of e2e request latency in seconds."),
    ("request_queue_time_seconds", "Histogram of time spent in WAITING phase for request."),
    ("request_inference_time_seconds", "Histogram of time spent in RUNNING phase for request."),
    ("request_prefill_time_seconds", "Histogram of time spent in PREFILL phase for request."),
    ("request_decode_time_seconds", "Histogram of time spent in DECODE phase for request."),
    ("request_num_preemptions", "Histogram of the number of times a request was preempted."),
    (
        "request_prefill_kv_computed_tokens",
        "Histogram of new KV tokens computed during prefill (excluding cached tokens).",
    ),
)
WAITING_BY_REASON_HELP = (
    "Number of waiting requests by reason. Reason labels: 'capacity' = waiting for scheduling "
    "capacity; 'deferred' = deferred by transient constraints (LoRA budget, KV transfer, blocked "
    "status). Sum of all reasons equals vllm:num_requests_waiting."
)
SLEEP_HELP = (
    "Engine sleep state; awake = 0 means engine is sleeping; awake = 1 means engine is awake; "
    "weights_offloaded = 1 means sleep level 1; discard_all = 1 means sleep level 2."
)
CACHED_BY_SOURCE_HELP = (
    "Prefix-cache hit tokens by the cache tier that supplied them: device (local HBM), host "
    "(offloaded to DRAM), disk, p2p (transferred from another vLLM instance) or "
    "external_unspecified. Counted at admission; sums to vllm:prefix_cache_hits + "
    "vllm:external_prefix_cache_hits."
)


def cache_config_labels(s: EngineState) -> dict[str, str]:
    """vllm:cache_config_info labels as vLLM 0.32 prints them (values are str() of Python)."""
    p = s.engine.profile
    tokens = s.num_gpu_blocks * s.block_size
    return {
        "_block_size_resolved": "True",
        "block_size": str(s.block_size),
        "cache_dtype": "auto",
        "cache_hit_alignment_tokens": "None",
        "effective_attention_block_size": str(s.block_size),
        "enable_mamba_shared_prefix_checkpoint": "False",
        "enable_prefix_caching": "True",
        "engine": "0",
        "gpu_memory_utilization": str(p.gpu_memory_utilization),
        "hash_block_size": "None",
        "is_attention_free": "False",
        "kv_cache_dtype_skip_layers": "[]",
        "kv_cache_layout": "None",
        "kv_cache_max_concurrency": str(tokens / p.max_model_len),
        "kv_cache_memory_bytes": str(s.kv_cache_memory_bytes),
        "kv_cache_size_tokens": str(tokens),
        "kv_offloading_backend": "native",
        "kv_offloading_size": "None",
        "kv_sharing_fast_prefill": "False",
        "mamba_block_size": "None",
        "mamba_cache_dtype": "auto",
        "mamba_cache_mode": "none",
        "mamba_page_size_padded": "None",
        "mamba_ssm_cache_dtype": "float32",
        "num_cpu_blocks": "None",
        "num_gpu_blocks": str(s.num_gpu_blocks),
        "num_gpu_blocks_override": "None",
        "prefix_cache_retention_interval": "0",
        "prefix_caching_hash_algo": "sha256",
        "prefix_match_unit": "None",
        "replayssm_buffer_len": "16",
        "skip_page_size_padded": "None",
        "sliding_window": "None",
        "swa_bounded_replay": "True",
        "use_kda_recoverssm": "False",
        "use_replayssm": "False",
        "user_specified_block_size": "False",
    }


def _process_block(s: EngineState) -> list[str]:
    """python_/process_ families of the API server process (static but plausible)."""
    rss = 2.1e9 + s.engine.params * 0.004
    return [
        "# HELP python_info Python platform information",
        "# TYPE python_info gauge",
        'python_info{implementation="CPython",major="3",minor="12",patchlevel="11",version="3.12.11"} 1.0',
        "# HELP process_resident_memory_bytes Resident memory size in bytes.",
        "# TYPE process_resident_memory_bytes gauge",
        f"process_resident_memory_bytes {go_float(rss)}",
        "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.",
        "# TYPE process_start_time_seconds gauge",
        f"process_start_time_seconds {go_float(round(s.created - 41.0, 2))}",
        "# HELP process_open_fds Number of open file descriptors.",
        "# TYPE process_open_fds gauge",
        "process_open_fds 61.0",
        "# HELP process_max_fds Maximum number of open file descriptors.",
        "# TYPE process_max_fds gauge",
        "process_max_fds 1.048576e+06",
    ]


def render_vllm(s: EngineState) -> str:
    base = {"engine": "0", "model_name": s.engine.model_name}
    page = _Page(s.created)
    page.lines += _process_block(s)

    def one(v: float) -> list[tuple[dict[str, str], float]]:
        return [(base, v)]

    def by(key: str, values: dict[str, float]) -> list[tuple[dict[str, str], float]]:
        return [({**base, key: k}, v) for k, v in values.items()]

    page.counter(
        "vllm:estimated_flops_per_gpu", f"Estimated number of floating point operations per GPU {MFU}", one(s.est_flops)
    )
    page.counter(
        "vllm:estimated_read_bytes_per_gpu",
        f"Estimated number of bytes read from memory per GPU {MFU}",
        one(s.est_read_bytes),
    )
    page.counter(
        "vllm:estimated_write_bytes_per_gpu",
        f"Estimated number of bytes written to memory per GPU {MFU}",
        one(s.est_write_bytes),
    )
    page.gauge("vllm:num_requests_running", "Number of requests in model execution batches.", one(s.running))
    page.gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.", one(s.waiting))
    page.gauge(
        "vllm:num_requests_waiting_by_reason",
        WAITING_BY_REASON_HELP,
        by("reason", {"capacity": s.waiting, "deferred": 0}),
    )
    page.gauge(
        "vllm:engine_sleep_state", SLEEP_HELP, by("sleep_state", {"awake": 1, "weights_offloaded": 0, "discard_all": 0})
    )
    page.gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", one(s.kv_usage))
    page.counter(
        "vllm:prefix_cache_queries",
        "Prefix cache queries, in terms of number of queried tokens.",
        one(s.prefix_queries),
    )
    page.counter(
        "vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens.", one(s.prefix_hits)
    )
    ext = "External prefix cache {} from KV connector cross-instance cache sharing, in terms of number of {} tokens."
    page.counter("vllm:external_prefix_cache_queries", ext.format("queries", "queried"), one(0))
    page.counter("vllm:external_prefix_cache_hits", ext.format("hits", "cached"), one(0))
    page.counter("vllm:mm_cache_queries", "Multi-modal cache queries, in terms of number of queried items.", one(0))
    page.counter("vllm:mm_cache_hits", "Multi-modal cache hits, in terms of number of cached items.", one(0))
    page.counter("vllm:num_preemptions", "Cumulative number of preemption from the engine.", one(s.preemptions))
    page.counter("vllm:prompt_tokens", "Number of prefill tokens processed.", one(s.prompt_tokens))
    page.counter(
        "vllm:prompt_tokens_by_source",
        "Number of prompt tokens by source.",
        by(
            "source",
            {
                "local_compute": s.prompt_tokens - s.prefix_hits,
                "local_cache_hit": s.prefix_hits,
                "external_kv_transfer": 0,
            },
        ),
    )
    page.counter("vllm:prompt_tokens_cached", "Number of cached prompt tokens (local + external).", one(s.prefix_hits))
    page.counter(
        "vllm:prompt_tokens_cached_by_source",
        CACHED_BY_SOURCE_HELP,
        by(
            "source",
            {
                "device": s.prefix_hits,
                "host": 0,
                "p2p": 0,
                "disk": 0,
                "external_unspecified": 0,
            },
        ),
    )
    page.counter("vllm:generation_tokens", "Number of generation tokens processed.", one(s.generation_tokens))
    page.counter(
        "vllm:request_success", "Count of successfully processed requests.", by("finished_reason", dict(s.finished))
    )
    page.counter(
        "vllm:admission_rejections",
        "Number of admission attempts rejected by a queue limit, by reason.",
        [
            ({"model_name": s.engine.model_name, "reason": r}, 0)
            for r in ("max_num_queued_reqs", "max_num_queued_tokens")
        ],
    )
    for name, help_text in HISTOGRAM_HELP:
        page.histogram(f"vllm:{name}", help_text, base, s.histograms[name])
    page.gauge("vllm:cache_config_info", "Information of the LLMEngine CacheConfig", [(cache_config_labels(s), 1.0)])
    return page.text()
