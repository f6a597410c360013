"""Pages of a simulated fleet, rendered the way the simulator's HTTP server renders them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from memmoat.config import Target
from simulator.exposition import render_dcgm, render_vllm
from simulator.fleet import Fleet, generate_fleet
from simulator.workload import Simulation

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday: days and weeks of the storage run line up

Page = tuple[Target, str]


def targets(fleet: Fleet, kind: str) -> list[Target]:
    base = "http://127.0.0.1"
    if kind == "vllm":
        return [Target(name=e.name, url=f"{base}/engines/{e.name}/metrics", kind="vllm") for e in fleet.engines]
    return [Target(name=n.hostname, url=f"{base}/nodes/{n.hostname}/metrics", kind="dcgm") for n in fleet.nodes]


def rounds(
    nodes: int, engines: int, n: int, *, kinds: tuple[str, ...] = ("vllm", "dcgm"), step_s: float = 15.0, seed: int = 0
) -> Iterator[tuple[datetime, list[Page]]]:
    """``n`` scrape rounds ``step_s`` apart: (scrape time, pages of every target of ``kinds``)."""
    fleet = generate_fleet(nodes, engines, seed)
    sim = Simulation(fleet, START.timestamp(), seed=seed)
    by_kind = {k: targets(fleet, k) for k in kinds}
    for k in range(n):
        t = START.timestamp() + k * step_s
        sim.advance_to(t)
        pages: list[Page] = []
        for tg in by_kind.get("vllm", []):
            pages.append((tg, render_vllm(sim.engine_state(tg.name))))
        for tg in by_kind.get("dcgm", []):
            pages.append((tg, render_dcgm(sim.node_state(tg.name))))
        yield datetime.fromtimestamp(t, UTC).replace(tzinfo=None), pages
