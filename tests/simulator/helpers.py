"""Shared helpers for the simulator tests: a fixed start time, a simulation, a sample reader."""

from __future__ import annotations

import calendar
import re

from simulator.fleet import default_fleet
from simulator.workload import Simulation

# 2026-03-10 15:00 UTC: the afternoon peak of most default engines.
START = float(calendar.timegm((2026, 3, 10, 15, 0, 0)))
LINE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(\{.*\})? (\S+)$")


def samples(text: str) -> dict[str, float]:
    """Series (name plus label text, as printed) -> value. Pages we render are regular enough."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            m = LINE.match(line)
            assert m, f"unparsable line {line!r}"
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def pick(values: dict[str, float], name: str, *must: str) -> float:
    """The one sample of `name` whose label text contains every string in `must`."""
    hits = [v for k, v in values.items() if k.split("{")[0] == name and all(s in k for s in must)]
    assert len(hits) == 1, f"{name} {must}: {len(hits)} matches"
    return hits[0]


def new_sim(start: float = START, time_scale: float = 1.0) -> Simulation:
    return Simulation(default_fleet(), start, time_scale=time_scale)
