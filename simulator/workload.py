"""The simulation clock: integrates every engine in fixed steps, keeps exact ground truth.

Wall time drives the integration (rates are per real second); the simulated clock, which sets
the time of day and the episode schedules, runs ``time_scale`` times faster from
``start_epoch``, so ``time_scale=60`` plays a day in 24 minutes.
"""

from __future__ import annotations

import math
import random
import threading

from simulator.engine_model import BLOCK_SIZE, TRUTH_KEYS, EngineModel
from simulator.fleet import Fleet
from simulator.histogram import PARAMS_N
from simulator.snapshot import (
    EngineState,
    EngineTruth,
    GpuReading,
    GpuTruth,
    HistogramState,
    NodeState,
    Truth,
)

DAY = 86400.0


class Simulation:
    """Deterministic: same fleet, seed and integrated time give identical state.

    The state before ``start_epoch`` is a warm-up (engines reach steady load); ground truth
    counts from ``start_epoch``. ``advance_to`` integrates whole steps only, so ``now`` is the
    last step boundary not after the requested time.
    """

    def __init__(
        self,
        fleet: Fleet,
        start_epoch: float,
        seed: int = 0,
        time_scale: float = 1.0,
        step_s: float = 1.0,
        warmup_s: float = 180.0,
    ) -> None:
        if time_scale <= 0 or step_s <= 0:
            raise ValueError("time_scale and step_s must be positive")
        self.fleet = fleet
        self.start = float(start_epoch)
        self.seed = seed
        self.time_scale = float(time_scale)
        self.step_s = float(step_s)
        self._lock = threading.RLock()
        self._k = -round(warmup_s / step_s)  # step index; 0 is start_epoch
        t0 = self.now
        self.models = {
            e.name: EngineModel(e, fleet.node(e.node).spec, seed, t0, self.sim_seconds(t0), time_scale)
            for e in fleet.engines
        }
        self._models = list(self.models.values())
        # Static per-GPU traits: power factor (silicon lottery), temperature offset, energy
        # counted since boot before the simulation existed.
        self._gpu_traits: dict[tuple[str, int], tuple[float, float, float]] = {}
        for node in fleet.nodes:
            for g in node.gpus:
                rng = random.Random(f"{seed}/{g.uuid}")
                boot_j = rng.uniform(1.0, 10.0) * DAY * node.spec.idle_w * 2.5
                self._gpu_traits[(node.hostname, g.index)] = (rng.uniform(0.97, 1.03), rng.uniform(-2.0, 3.0), boot_j)
        self._t_first = t0
        self.advance_to(self.start)
        self._base = {name: self._lifetime(m) for name, m in self.models.items()}
        self._base_restarts = {name: m.restarts for name, m in self.models.items()}

    # -- clock ---------------------------------------------------------------------------

    @property
    def now(self) -> float:
        """Integrated wall time (unix seconds)."""
        return self.start + self._k * self.step_s

    def sim_seconds(self, t: float) -> float:
        """Simulated seconds since start_epoch at wall time t (negative during warm-up)."""
        return (t - self.start) * self.time_scale

    def sim_hour(self, t: float | None = None) -> float:
        """Hour of day (UTC) on the simulated clock."""
        s = self.start + self.sim_seconds(self.now if t is None else t)
        return (s % DAY) / 3600.0

    def advance_to(self, t: float) -> None:
        with self._lock:
            target = math.floor((t - self.start) / self.step_s + 1e-9)
            dt = self.step_s
            models = self._models
            day0 = self.start % DAY
            while self._k < target:
                self._k += 1
                now = self.start + self._k * dt
                sim_s = self._k * dt * self.time_scale
                angle = 2.0 * math.pi * ((day0 + sim_s) % DAY) / DAY
                ca, sa = math.cos(angle), math.sin(angle)
                for m in models:
                    m.step(now, dt, sim_s, ca, sa)

    # -- episodes on demand --------------------------------------------------------------

    def trigger_restart(self, engine: str) -> None:
        with self._lock:
            self.models[engine].restart(self.now)

    def set_kv_pressure(self, engine: str, on: bool | None) -> None:
        """Force a KV-pressure episode on or off; None returns to the schedule."""
        with self._lock:
            self.models[engine].kv_override = on

    def kv_pressure_active(self, engine: str) -> bool:
        with self._lock:
            return self.models[engine].kv_pressure_active(self.sim_seconds(self.now))

    def is_up(self, engine: str) -> bool:
        with self._lock:
            return self.models[engine].up

    # -- snapshots -----------------------------------------------------------------------

    def node_state(self, hostname: str) -> NodeState:
        with self._lock:
            node = self.fleet.node(hostname)
            spec = node.spec
            out = []
            for g in node.gpus:
                k, toff, boot_j = self._gpu_traits[(hostname, g.index)]
                owner = self.fleet.owner(hostname, g.index)
                if owner is None:
                    power = spec.idle_w * k
                    energy = boot_j + power * (self.now - self._t_first)
                    out.append(
                        GpuReading(
                            g,
                            None,
                            spec.sm_clock_idle_mhz,
                            spec.mem_clock_mhz,
                            int(33 + toff),
                            int(29 + toff),
                            power,
                            int(energy * 1000.0),
                            0,
                            0,
                            spec.fb_usable_mib,
                            0,
                            spec.fb_reserved_mib,
                            0,
                            0.0,
                            0.0,
                            0.0,
                            9_500,
                            11_800,
                        )
                    )
                    continue
                m = self.models[owner.name]
                power = m.power * k
                clock = spec.sm_clock_idle_mhz
                if m.gr > 0.02:
                    clock = spec.sm_clock_max_mhz - int(0.12 * spec.sm_clock_max_mhz * m.power / spec.tdp_w)
                used = m.fb_used_mib(self.now)
                out.append(
                    GpuReading(
                        g,
                        (owner.container, owner.namespace, owner.pod),
                        clock,
                        spec.mem_clock_mhz,
                        int(m.temp + toff + 4.0),
                        int(m.temp + toff),
                        power,
                        int((boot_j + m.energy_j * k) * 1000.0),
                        round(100.0 * m.gr),
                        round(100.0 * m.dram),
                        spec.fb_usable_mib - used,
                        used,
                        spec.fb_reserved_mib,
                        int(m.nvlink),
                        m.gr,
                        m.tensor,
                        m.dram,
                        int(m.pcie_tx),
                        int(m.pcie_rx),
                    )
                )
            return NodeState(node, tuple(out))

    def engine_state(self, name: str) -> EngineState:
        with self._lock:
            m = self.models[name]
            hists = {key: HistogramState(h.bounds, h.cumulative(), h.sum, h.count) for key, h in m.hist.items()}
            # Per-request parameters are the same for every request: derive from the count.
            tokens = m.hist["request_prompt_tokens"].bounds
            n_req = m.n_fin
            for key, bounds, value in (
                ("request_max_num_generation_tokens", tokens, m.max_tokens),
                ("request_params_n", PARAMS_N, 1),
                ("request_params_max_tokens", tokens, m.max_tokens),
            ):
                cum = (*(n_req if value <= b else 0 for b in bounds), n_req)
                hists[key] = HistogramState(bounds, cum, float(value * n_req), n_req)
            return EngineState(
                engine=m.engine,
                up=m.up,
                created=m.created,
                running=round(m.r),
                waiting=round(m.w),
                kv_usage=min(1.0, math.ceil(m.k / BLOCK_SIZE - 1e-6) / m.num_blocks),
                prompt_tokens=int(m.f_prompt),
                generation_tokens=int(m.f_gen),
                prefix_queries=int(m.f_prompt),
                prefix_hits=int(m.f_hits),
                preemptions=int(m.f_pre),
                finished=m.finished(),
                est_flops=m.est_flops,
                est_read_bytes=m.est_read,
                est_write_bytes=m.est_write,
                histograms=hists,
                num_gpu_blocks=m.num_blocks,
                block_size=BLOCK_SIZE,
                kv_cache_memory_bytes=m.kv_bytes_gpu,
            )

    # -- ground truth --------------------------------------------------------------------

    @staticmethod
    def _lifetime(m: EngineModel) -> dict[str, float]:
        return {k: m.lifetime(k) for k in TRUTH_KEYS} | {"energy": m.energy_j}

    def truth(self) -> Truth:
        """Exact totals from start_epoch to ``now``, independent of any scraping."""
        with self._lock:
            elapsed = self.now - self.start
            gpus: dict[str, GpuTruth] = {}
            for node in self.fleet.nodes:
                for g in node.gpus:
                    k = self._gpu_traits[(node.hostname, g.index)][0]
                    owner = self.fleet.owner(node.hostname, g.index)
                    if owner is None:
                        joules = node.spec.idle_w * k * elapsed
                    else:
                        m = self.models[owner.name]
                        joules = k * (m.energy_j - self._base[owner.name]["energy"])
                    gpus[g.uuid] = GpuTruth(node.hostname, g.index, owner.name if owner else None, joules, elapsed)
            engines: dict[str, EngineTruth] = {}
            for name, m in self.models.items():
                now, base = self._lifetime(m), self._base[name]
                d = {k: now[k] - base[k] for k in TRUTH_KEYS}
                node = self.fleet.node(m.engine.node)
                uuids = tuple(node.gpus[i].uuid for i in m.engine.gpu_indices)
                engines[name] = EngineTruth(
                    prompt_tokens=int(d["prompt"]),
                    generation_tokens=int(d["gen"]),
                    cached_prompt_tokens=int(d["hits"]),
                    requests_finished=int(d["fin"]),
                    preemptions=int(d["pre"]),
                    prefill_seconds=d["prefill_s"],
                    decode_seconds=d["decode_s"],
                    gpu_seconds=m.engine.tp * elapsed,
                    energy_joules=sum(gpus[u].energy_joules for u in uuids),
                    restarts=m.restarts - self._base_restarts[name],
                    gpus=uuids,
                )
            return Truth(self.now, self.start, engines, gpus)
