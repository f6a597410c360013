"""Immutable snapshots: what a page shows at one instant, and the exact ground truth.

The simulation builds these under its lock; rendering and JSON encoding then need no lock.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from simulator.fleet import Engine, Gpu, Node


@dataclass(frozen=True, slots=True)
class GpuReading:
    """One GPU's dcgm-exporter fields (integers where DCGM's field is an int64)."""

    gpu: Gpu
    pod: tuple[str, str, str] | None  # (container, namespace, pod); None = no pod holds it
    sm_clock: int
    mem_clock: int
    memory_temp: int
    gpu_temp: int
    power_w: float
    energy_mj: int
    gpu_util: int
    mem_copy_util: int
    fb_free: int
    fb_used: int
    fb_reserved: int
    nvlink_total: int
    gr_engine_active: float
    tensor_active: float
    dram_active: float
    pcie_tx_bytes: int
    pcie_rx_bytes: int


@dataclass(frozen=True, slots=True)
class NodeState:
    node: Node
    gpus: tuple[GpuReading, ...]


@dataclass(frozen=True, slots=True)
class HistogramState:
    bounds: tuple[float, ...]
    cumulative: tuple[int, ...]  # one more than bounds: the last is +Inf
    sum: float
    count: int


@dataclass(frozen=True, slots=True)
class EngineState:
    engine: Engine
    up: bool
    created: float  # unix seconds the process registered its metrics
    running: int
    waiting: int
    kv_usage: float
    prompt_tokens: int
    generation_tokens: int
    prefix_queries: int
    prefix_hits: int
    preemptions: int
    finished: dict[str, int]  # by finished_reason
    est_flops: float  # per GPU, MFU counters
    est_read_bytes: float
    est_write_bytes: float
    histograms: dict[str, HistogramState]
    num_gpu_blocks: int
    block_size: int
    kv_cache_memory_bytes: int


@dataclass(frozen=True, slots=True)
class EngineTruth:
    """Totals since the simulation start; token totals continue across restarts."""

    prompt_tokens: int
    generation_tokens: int
    cached_prompt_tokens: int
    requests_finished: int
    preemptions: int
    prefill_seconds: float  # sum of request_prefill_time_seconds observations
    decode_seconds: float
    gpu_seconds: float  # GPUs held x elapsed wall seconds
    energy_joules: float  # over the engine's GPUs
    restarts: int
    gpus: tuple[str, ...]  # UUIDs


@dataclass(frozen=True, slots=True)
class GpuTruth:
    node: str
    index: int
    engine: str | None
    energy_joules: float
    seconds: float


@dataclass(frozen=True, slots=True)
class Truth:
    t: float  # integrated wall time (unix seconds) the totals refer to
    start: float
    engines: dict[str, EngineTruth]
    gpus: dict[str, GpuTruth]  # by UUID

    @property
    def elapsed(self) -> float:
        return self.t - self.start

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"elapsed": self.elapsed}
