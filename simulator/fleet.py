"""The shape of a simulated fleet: nodes, GPUs, vLLM engines and their workload profiles.

Everything here is immutable and deterministic from a seed, so two simulations of the same
fleet produce identical pages.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from simulator.hardware import (
    A100,
    GPU_SPECS,
    H100,
    LLAMA_8B,
    LLAMA_70B,
    MISTRAL_7B,
    QWEN_32B,
    GpuSpec,
    ModelSpec,
)

GPUS_PER_NODE = 8
DRIVER_VERSION = "550.90.07"
HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class Episode:
    """Recurring window in simulated seconds since the simulation start: [offset + k*period, +duration)."""

    period_s: float
    duration_s: float
    offset_s: float = 0.0

    def active(self, sim_s: float) -> bool:
        return (sim_s - self.offset_s) % self.period_s < self.duration_s

    def index(self, sim_s: float) -> int:
        """How many windows have started by sim_s (a change means one just began)."""
        return int((sim_s - self.offset_s) // self.period_s)


@dataclass(frozen=True, slots=True)
class Profile:
    """Workload of one engine. Rates are per real second; hours are on the simulated clock (UTC)."""

    peak_rps: float
    trough_ratio: float  # night rate / peak rate
    peak_hour: float
    prompt_tokens: int  # mean per request
    output_tokens: int  # mean per request
    prefix_hit: float  # share of prompt tokens served from the prefix cache
    max_num_seqs: int = 256
    max_model_len: int = 8192
    max_num_batched_tokens: int = 8192
    gpu_memory_utilization: float = 0.9
    kv_pressure: Episode | None = None
    surge_rate: float = 2.0  # during KV pressure: arrival multiplier ...
    surge_prompt: float = 2.5  # ... and prompt-length multiplier (long-context burst)
    restart: Episode | None = None  # duration_s = downtime while the new process loads


@dataclass(frozen=True, slots=True)
class Gpu:
    index: int
    uuid: str
    pci_bus_id: str

    @property
    def device(self) -> str:
        return f"nvidia{self.index}"


@dataclass(frozen=True, slots=True)
class Node:
    hostname: str
    spec: GpuSpec
    gpus: tuple[Gpu, ...]
    driver_version: str = DRIVER_VERSION

    @property
    def model_name(self) -> str:
        return self.spec.model_name


@dataclass(frozen=True, slots=True)
class Engine:
    name: str
    namespace: str
    pod: str
    model: ModelSpec
    node: str  # hostname
    gpu_indices: tuple[int, ...]  # tensor parallel = len(gpu_indices)
    profile: Profile
    container: str = "vllm"

    @property
    def tp(self) -> int:
        return len(self.gpu_indices)

    @property
    def model_name(self) -> str:
        return self.model.name

    @property
    def params(self) -> float:
        return self.model.params


@dataclass(frozen=True, slots=True)
class Fleet:
    nodes: tuple[Node, ...]
    engines: tuple[Engine, ...]
    cluster: str = "sim"
    # Lookup indexes, filled once: the fields above are immutable.
    _owners: dict[tuple[str, int], Engine] = field(default_factory=dict, init=False, repr=False, compare=False)
    _hosts: dict[str, Node] = field(default_factory=dict, init=False, repr=False, compare=False)
    _names: dict[str, Engine] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        hosts, engines = self._hosts, self._names
        hosts.update((n.hostname, n) for n in self.nodes)
        engines.update((e.name, e) for e in self.engines)
        names = [e.name for e in self.engines]
        if len(hosts) != len(self.nodes) or len(engines) != len(names):
            raise ValueError("hostnames and engine names must be unique")
        if set(names) & set(hosts):
            raise ValueError("an engine may not share its name with a node")
        for e in self.engines:
            node = hosts.get(e.node)
            if node is None or not e.gpu_indices:
                raise ValueError(f"engine {e.name}: unknown node {e.node!r} or no GPUs")
            for i in e.gpu_indices:
                if not 0 <= i < len(node.gpus) or (e.node, i) in self._owners:
                    raise ValueError(f"engine {e.name}: GPU {i} on {e.node} is invalid or taken")
                self._owners[(e.node, i)] = e

    def node(self, hostname: str) -> Node:
        return self._hosts[hostname]

    def engine(self, name: str) -> Engine:
        return self._names[name]

    def owner(self, hostname: str, index: int) -> Engine | None:
        """The engine whose pod holds this GPU, None for an unallocated GPU."""
        return self._owners.get((hostname, index))


def make_node(hostname: str, spec: GpuSpec, seed: int, gpus: int = GPUS_PER_NODE) -> Node:
    rng = random.Random(f"{seed}/{hostname}")
    uuids = []
    for _ in range(gpus):
        h = f"{rng.getrandbits(128):032x}"
        uuids.append(f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return Node(hostname, spec, tuple(Gpu(i, uuids[i], spec.pci_bus_ids[i]) for i in range(gpus)))


def pod_name(deployment: str, seed: int) -> str:
    rng = random.Random(f"{seed}/pod/{deployment}")
    alnum = "bcdfghjklmnpqrstvwxz2456789"
    rs = "".join(rng.choice("0123456789abcdef") for _ in range(9))
    return f"{deployment}-{rs}-{''.join(rng.choice(alnum) for _ in range(5))}"


def default_fleet(seed: int = 0) -> Fleet:
    """2 nodes x 8 GPUs, 7 engines; GPU 7 of each node is left without a pod (idle)."""
    a = make_node("gpu-node-a", H100, seed)
    b = make_node("gpu-node-b", A100, seed)
    kv_burst = Episode(period_s=2 * HOUR, duration_s=20 * 60, offset_s=10 * 60)
    restart = Episode(period_s=3 * HOUR, duration_s=120, offset_s=45 * 60)

    def eng(name: str, ns: str, model: ModelSpec, node: Node, gpus: tuple[int, ...], p: Profile) -> Engine:
        return Engine(name, ns, pod_name(name, seed), model, node.hostname, gpus, p)

    engines = (
        # Decode-heavy chat on a big model: weights + KV streamed every step -> bandwidth bound.
        eng("chat-llama70b", "chat", LLAMA_70B, a, (0, 1, 2, 3), Profile(7.0, 0.06, 15.0, 900, 650, 0.45)),
        # Long documents in, a short answer out: prefill FLOPs dominate -> compute bound.
        eng("rag-llama8b", "rag", LLAMA_8B, a, (4,), Profile(4.8, 0.2, 14.0, 7000, 24, 0.05, max_model_len=32768)),
        eng("code-qwen32b", "code", QWEN_32B, a, (5, 6), Profile(2.5, 0.1, 15.0, 2500, 300, 0.6, max_model_len=16384)),
        # One A100 barely holds the weights: little KV room, bursts of long agent contexts.
        eng(
            "agents-qwen32b",
            "agents",
            QWEN_32B,
            b,
            (0,),
            Profile(
                0.22,
                0.3,
                16.0,
                2500,
                400,
                0.5,
                max_model_len=16384,
                kv_pressure=kv_burst,
                surge_rate=1.6,
                surge_prompt=2.0,
            ),
        ),
        eng(
            "support-mistral7b", "support", MISTRAL_7B, b, (1,), Profile(3.0, 0.2, 13.0, 600, 250, 0.3, restart=restart)
        ),
        # Offline batch runs at night (peak 03:00).
        eng("batch-llama70b", "batch", LLAMA_70B, b, (2, 3, 4, 5), Profile(2.0, 0.35, 3.0, 1200, 900, 0.05)),
        eng("translate-llama8b", "translate", LLAMA_8B, b, (6,), Profile(2.0, 0.25, 11.0, 400, 400, 0.2)),
    )
    return Fleet((a, b), engines)


# Templates for generated fleets, by tensor-parallel size: (model, profile at TP scale).
_TEMPLATES: dict[int, tuple[ModelSpec, Profile]] = {
    8: (LLAMA_70B, Profile(12.0, 0.15, 15.0, 900, 650, 0.45)),
    4: (LLAMA_70B, Profile(6.0, 0.2, 14.0, 1200, 500, 0.3)),
    2: (QWEN_32B, Profile(2.5, 0.1, 15.0, 2500, 300, 0.6, max_model_len=16384)),
    1: (LLAMA_8B, Profile(3.0, 0.2, 13.0, 3000, 120, 0.2, max_model_len=32768)),
}


def generate_fleet(nodes: int, engines: int, seed: int = 0) -> Fleet:
    """A larger fleet for benchmarks: engines spread round-robin over nodes, powers-of-two TP.

    Every fourth node keeps its last GPU unallocated so idle cost exists but stays small.
    """
    if nodes < 1 or engines < 0 or engines > nodes * GPUS_PER_NODE:
        raise ValueError("need nodes >= 1 and 0 <= engines <= 8 * nodes")
    rng = random.Random(seed)
    specs = list(GPU_SPECS.values())[:3]
    node_list = [make_node(f"gpu-node-{i:03d}", specs[i % len(specs)], seed) for i in range(nodes)]
    per_node = [engines // nodes + (1 if i < engines % nodes else 0) for i in range(nodes)]
    kv_burst = Episode(2 * HOUR, 20 * 60, 10 * 60)
    restart = Episode(3 * HOUR, 120, 45 * 60)
    out: list[Engine] = []
    for n, k in enumerate(per_node):
        free = GPUS_PER_NODE - (1 if n % 4 == 3 else 0)
        start = 0
        for j in range(k):
            left = k - j
            tp = 1
            while tp * 2 <= (free - start) // left and tp < 8:
                tp *= 2
            model, prof = _TEMPLATES[tp]
            i = len(out)
            p = replace(
                prof,
                peak_rps=prof.peak_rps * (0.7 + 0.6 * rng.random()),
                peak_hour=rng.choice((3.0, 11.0, 14.0, 15.0, 16.0)),
                kv_pressure=kv_burst if i % 8 == 3 else None,
                restart=restart if i % 8 == 5 else None,
            )
            name = f"llm-{i:03d}"
            out.append(
                Engine(
                    name,
                    f"team-{i % 16:02d}",
                    pod_name(name, seed),
                    model,
                    node_list[n].hostname,
                    tuple(range(start, start + tp)),
                    p,
                )
            )
            start += tp
    return Fleet(tuple(node_list), tuple(out))
