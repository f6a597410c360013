"""The fleet description: deterministic identities, the default fleet's cast, generated fleets."""

from __future__ import annotations

import re
import time

import pytest

from simulator.fleet import Engine, Fleet, default_fleet, generate_fleet
from simulator.hardware import GPU_SPECS
from simulator.workload import Simulation
from tests.simulator.helpers import START

pytestmark = pytest.mark.timeout(20)
UUID = re.compile(r"^GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_default_fleet_shape() -> None:
    fleet = default_fleet()
    assert [(n.hostname, n.model_name, len(n.gpus)) for n in fleet.nodes] == [
        ("gpu-node-a", "NVIDIA H100 80GB HBM3", 8),
        ("gpu-node-b", "NVIDIA A100-SXM4-80GB", 8),
    ]
    uuids = [g.uuid for n in fleet.nodes for g in n.gpus]
    assert all(UUID.match(u) for u in uuids) and len(set(uuids)) == 16
    assert all(re.match(r"^00000000:[0-9A-F]{2}:00\.0$", g.pci_bus_id) for n in fleet.nodes for g in n.gpus)
    assert len({e.namespace for e in fleet.engines}) == len(fleet.engines) >= 4
    assert all(e.container == "vllm" for e in fleet.engines)


def test_default_fleet_cast() -> None:
    fleet = default_fleet()
    decode = fleet.engine("chat-llama70b")
    assert decode.tp == 4 and decode.params > 60e9
    rag = fleet.engine("rag-llama8b")
    assert rag.profile.prompt_tokens > 50 * rag.profile.output_tokens
    assert fleet.engine("agents-qwen32b").profile.kv_pressure is not None
    assert fleet.engine("support-mistral7b").profile.restart is not None
    idle = [(n.hostname, g.index) for n in fleet.nodes for g in n.gpus if fleet.owner(n.hostname, g.index) is None]
    assert ("gpu-node-a", 7) in idle and 1 <= len(idle) <= 3


def test_identities_are_seeded() -> None:
    a, b, c = default_fleet(0), default_fleet(0), default_fleet(1)
    assert a == b
    assert a.nodes[0].gpus[0].uuid != c.nodes[0].gpus[0].uuid
    assert a.engine("chat-llama70b").pod != c.engine("chat-llama70b").pod


def test_fleet_rejects_shared_gpus() -> None:
    fleet = default_fleet()
    e = fleet.engines[0]
    clash = Engine("clash", "x", "clash-pod", e.model, e.node, e.gpu_indices[:1], e.profile)
    with pytest.raises(ValueError, match="taken"):
        Fleet(fleet.nodes, (*fleet.engines, clash))


def test_generated_fleet_for_the_benchmark() -> None:
    fleet = generate_fleet(64, 64, seed=3)
    assert len(fleet.nodes) == 64 and len(fleet.engines) == 64
    assert sum(len(n.gpus) for n in fleet.nodes) == 512
    assert {n.model_name for n in fleet.nodes} <= set(GPU_SPECS)
    used = sum(e.tp for e in fleet.engines)
    assert 0.75 * 512 <= used < 512  # some idle GPUs, not many
    assert all(e.tp in (1, 2, 4, 8) for e in fleet.engines)
    assert generate_fleet(64, 64, seed=3) == fleet


def test_benchmark_fleet_advances_15s_cheaply() -> None:
    sim = Simulation(generate_fleet(64, 64, seed=1), START)
    costs = []
    for i in range(1, 9):
        t = time.process_time()
        sim.advance_to(START + 15 * i)
        costs.append(time.process_time() - t)
    # About 3-5 ms on a laptop core; the bound leaves room for slow CI machines.
    assert sorted(costs)[len(costs) // 2] < 0.03
