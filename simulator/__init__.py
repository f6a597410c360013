"""A simulated GPU fleet whose dcgm-exporter and vLLM pages look like real ones.

    hardware.py     GPU and model catalogues (bandwidth, FLOPs, TDP, model shapes)
    fleet.py        nodes, GPUs, engines and workload profiles (frozen, seeded)
    engine_model.py one engine's physics: fluid request pools, KV, bandwidth-bound decode
    histogram.py    vLLM histogram bucket layouts
    workload.py     Simulation: fixed-step clock, episodes, snapshots, exact ground truth
    snapshot.py     immutable page contents and truth records
    exposition.py   render snapshots as dcgm-exporter / vLLM text pages
    server.py       FleetServer: all pages on one port, /truth, fault injection

The package uses only the standard library.
"""

from simulator.fleet import Engine, Episode, Fleet, Node, Profile, default_fleet, generate_fleet
from simulator.server import FleetServer
from simulator.workload import Simulation

__all__ = [
    "Engine",
    "Episode",
    "Fleet",
    "FleetServer",
    "Node",
    "Profile",
    "Simulation",
    "default_fleet",
    "generate_fleet",
]
