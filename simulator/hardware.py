"""What the simulated hardware and models can do: GPU and model catalogues.

GPU figures come from the GPU spec table (queries/reference/gpu_specs.csv: peak bandwidth, dense BF16, TDP);
idle power, clocks and framebuffer sizes are typical nvidia-smi readings, not datasheet values.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class GpuSpec:
    model_name: str  # dcgm-exporter's modelName label
    fb_total_mib: int
    fb_reserved_mib: int
    peak_bw_bytes: float  # bytes/s
    peak_bf16_flops: float  # dense FLOP/s
    tdp_w: float
    idle_w: float
    sm_clock_max_mhz: int
    sm_clock_idle_mhz: int
    mem_clock_mhz: int
    pci_bus_ids: tuple[str, ...]  # one per GPU slot of an 8-GPU baseboard

    @property
    def fb_usable_mib(self) -> int:
        return self.fb_total_mib - self.fb_reserved_mib


def _bdf(*buses: str) -> tuple[str, ...]:
    return tuple(f"00000000:{bus}:00.0" for bus in buses)


H100 = GpuSpec(
    "NVIDIA H100 80GB HBM3",
    81559,
    553,
    3350e9,
    989e12,
    700.0,
    68.0,
    1980,
    345,
    2619,
    _bdf("18", "2A", "3A", "5D", "9A", "AB", "BA", "DB"),
)
A100 = GpuSpec(
    "NVIDIA A100-SXM4-80GB",
    81920,
    491,
    2000e9,
    312e12,
    400.0,
    61.0,
    1410,
    210,
    1593,
    _bdf("07", "0F", "47", "4E", "87", "90", "B7", "BD"),
)
H200 = GpuSpec(
    "NVIDIA H200",
    143771,
    611,
    4800e9,
    989e12,
    700.0,
    76.0,
    1980,
    345,
    3201,
    _bdf("19", "3B", "4C", "5D", "9B", "BB", "CB", "DB"),
)
L40S = GpuSpec(
    "NVIDIA L40S",
    46068,
    463,
    864e9,
    362e12,
    350.0,
    36.0,
    2520,
    210,
    9001,
    _bdf("01", "25", "41", "61", "81", "A1", "C1", "E1"),
)
GPU_SPECS: dict[str, GpuSpec] = {s.model_name: s for s in (H100, A100, H200, L40S)}


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A served model's shape: enough to size weights, KV cache and FLOPs per token."""

    name: str  # --served-model-name, vLLM's model_name label
    params: float
    layers: int
    kv_heads: int
    head_dim: int
    hidden: int
    dtype_bytes: int = 2  # bf16 weights and KV cache

    @property
    def weight_bytes(self) -> float:
        return self.params * self.dtype_bytes

    @property
    def kv_bytes_per_token(self) -> int:
        # K and V, every layer, every KV head.
        return 2 * self.layers * self.kv_heads * self.head_dim * self.dtype_bytes


LLAMA_70B = ModelSpec("meta-llama/Llama-3.1-70B-Instruct", 70.6e9, 80, 8, 128, 8192)
LLAMA_8B = ModelSpec("meta-llama/Llama-3.1-8B-Instruct", 8.03e9, 32, 8, 128, 4096)
QWEN_32B = ModelSpec("Qwen/Qwen2.5-32B-Instruct", 32.8e9, 64, 8, 128, 5120)
MISTRAL_7B = ModelSpec("mistralai/Mistral-7B-Instruct-v0.3", 7.25e9, 32, 8, 128, 4096)
