"""Physical consistency of the signals, counter semantics, and ground truth against pages."""

from __future__ import annotations

import pytest

from simulator.exposition import render_dcgm, render_vllm
from simulator.workload import Simulation
from tests.simulator.helpers import START, new_sim, pick, samples

pytestmark = pytest.mark.timeout(20)
DAY = 86400.0


def vllm(sim: Simulation, engine: str) -> dict[str, float]:
    return samples(render_vllm(sim.engine_state(engine)))


def dcgm(sim: Simulation, host: str) -> dict[str, float]:
    return samples(render_dcgm(sim.node_state(host)))


def gpu(values: dict[str, float], field: str, index: int) -> float:
    return pick(values, f"DCGM_FI_{field}", f'gpu="{index}"')


def rate_and_gauges(start: float, seconds: float = 120.0) -> tuple[float, float, float]:
    """Generation tokens/s of the decode engine, its DRAM and tensor activity, at `start`."""
    sim = new_sim(start)
    g0 = pick(vllm(sim, "chat-llama70b"), "vllm:generation_tokens_total")
    sim.advance_to(start + seconds)
    v = vllm(sim, "chat-llama70b")
    g1 = pick(v, "vllm:generation_tokens_total")
    d = dcgm(sim, "gpu-node-a")
    return (g1 - g0) / seconds, gpu(d, "PROF_DRAM_ACTIVE", 0), gpu(d, "PROF_PIPE_TENSOR_ACTIVE", 0)


def test_dram_activity_follows_decode_token_rate() -> None:
    night = rate_and_gauges(START - 12 * 3600)  # 03:00, the trough of the chat engine
    day = rate_and_gauges(START)  # 15:00, its peak
    assert day[0] > 2 * night[0]
    assert day[1] > night[1] + 0.05
    assert 0.45 < day[1] < 0.95 and day[2] < 0.5 * day[1]  # bandwidth bound: DRAM >> tensor


def test_prefill_heavy_engine_is_compute_bound() -> None:
    sim = new_sim()
    sim.advance_to(START + 120)
    d = dcgm(sim, "gpu-node-a")
    rag = gpu(d, "PROF_PIPE_TENSOR_ACTIVE", 4), gpu(d, "PROF_DRAM_ACTIVE", 4)
    chat = gpu(d, "PROF_PIPE_TENSOR_ACTIVE", 0), gpu(d, "PROF_DRAM_ACTIVE", 0)
    assert rag[0] > chat[0] + 0.15 and rag[0] > rag[1]
    assert chat[1] > rag[1]
    truth = sim.truth().engines
    share = {
        n: truth[n].prefill_seconds / (truth[n].prefill_seconds + truth[n].decode_seconds)
        for n in ("rag-llama8b", "chat-llama70b")
    }
    assert share["rag-llama8b"] > 0.2 > 0.05 > share["chat-llama70b"]


def test_kv_pressure_on_demand() -> None:
    sim = new_sim()
    engine = "agents-qwen32b"
    assert pick(vllm(sim, engine), "vllm:kv_cache_usage_perc") < 0.8
    sim.set_kv_pressure(engine, True)
    sim.advance_to(START + 150)
    mid = vllm(sim, engine)
    sim.advance_to(START + 300)
    end = vllm(sim, engine)
    assert pick(end, "vllm:kv_cache_usage_perc") > 0.9
    assert pick(end, "vllm:num_requests_waiting") > 0
    p0 = pick(mid, "vllm:num_preemptions_total")
    assert pick(end, "vllm:num_preemptions_total") > p0 > 0
    assert pick(end, "vllm:request_queue_time_seconds_sum") > pick(mid, "vllm:request_queue_time_seconds_sum")
    sim.set_kv_pressure(engine, False)
    sim.advance_to(START + 700)
    assert pick(vllm(sim, engine), "vllm:num_requests_waiting") == 0  # the backlog drains


def test_kv_pressure_recurs_on_the_simulated_clock() -> None:
    # time_scale 60: the episode runs 10-30 sim-minutes in, i.e. 10-30 wall seconds.
    sim = new_sim(time_scale=60)
    engine = "agents-qwen32b"
    seen = []
    for t in range(2, 40, 2):
        sim.advance_to(START + t)
        seen.append((t, sim.kv_pressure_active(engine), pick(vllm(sim, engine), "vllm:kv_cache_usage_perc")))
    assert [t for t, on, _ in seen if on] == list(range(10, 30, 2))
    assert max(kv for _, on, kv in seen if on) > 0.9
    sim.advance_to(START + 2 * 3600 / 60 + 15)  # the next one, two sim-hours later
    assert sim.kv_pressure_active(engine)


def test_counters_never_decrease_except_at_a_restart() -> None:
    # time_scale 60: the support engine restarts 45 sim-minutes in (45 wall seconds).
    sim = new_sim(time_scale=60)
    prev: dict[str, dict[str, float]] = {}
    created: dict[str, float] = {}
    resets = 0
    for t in range(0, 121, 3):
        sim.advance_to(START + t)
        for e in sim.fleet.engines:
            if not sim.is_up(e.name):
                continue
            v = vllm(sim, e.name)
            c = pick(v, "vllm:prompt_tokens_created")
            restarted = e.name in created and c != created[e.name]
            resets += restarted
            for key, val in v.items():
                if key.split("{")[0].endswith(("_total", "_count", "_sum", "_bucket")) and e.name in prev:
                    assert restarted or val >= prev[e.name][key], (e.name, key)
            prev[e.name], created[e.name] = v, c
    assert resets == 1


def test_idle_gpu_is_idle() -> None:
    sim = new_sim()
    sim.advance_to(START + 60)
    for host, index in (("gpu-node-a", 7), ("gpu-node-b", 7)):
        d = dcgm(sim, host)
        for field in ("PROF_GR_ENGINE_ACTIVE", "PROF_PIPE_TENSOR_ACTIVE", "PROF_DRAM_ACTIVE", "DEV_GPU_UTIL"):
            assert gpu(d, field, index) < 0.01
        assert 55 < gpu(d, "DEV_POWER_USAGE", index) < 75
        assert gpu(d, "DEV_FB_USED", index) == 0
    busy = dcgm(sim, "gpu-node-a")
    assert gpu(busy, "DEV_POWER_USAGE", 0) > 3 * gpu(busy, "DEV_POWER_USAGE", 7)


def test_energy_counter_integrates_power() -> None:
    sim = new_sim()
    first = dcgm(sim, "gpu-node-b")
    joules = dict.fromkeys(range(8), 0.0)
    for t in range(1, 61):
        sim.advance_to(START + t)
        d = dcgm(sim, "gpu-node-b")
        for i in joules:
            joules[i] += gpu(d, "DEV_POWER_USAGE", i) * 1.0  # the gauge holds over the 1 s step
    truth = sim.truth()
    for i, expected in joules.items():
        delta_j = (gpu(d, "DEV_TOTAL_ENERGY_CONSUMPTION", i) - gpu(first, "DEV_TOTAL_ENERGY_CONSUMPTION", i)) / 1000
        assert delta_j == pytest.approx(expected, rel=0.01)
        uuid = sim.fleet.node("gpu-node-b").gpus[i].uuid
        assert truth.gpus[uuid].energy_joules == pytest.approx(delta_j, rel=0.01)


def test_truth_matches_page_deltas() -> None:
    sim = new_sim()
    engines = [e.name for e in sim.fleet.engines if e.profile.restart is None]
    t0, p0 = sim.truth(), {e: vllm(sim, e) for e in engines}
    sim.advance_to(START + 300)
    t1, p1 = sim.truth(), {e: vllm(sim, e) for e in engines}
    assert t1.elapsed - t0.elapsed == 300
    for e in engines:
        a, b = t0.engines[e], t1.engines[e]

        def delta(name: str, e: str = e) -> float:
            return pick(p1[e], name) - pick(p0[e], name)

        assert delta("vllm:prompt_tokens_total") == b.prompt_tokens - a.prompt_tokens > 0
        assert delta("vllm:generation_tokens_total") == b.generation_tokens - a.generation_tokens > 0
        assert delta("vllm:prefix_cache_hits_total") == b.cached_prompt_tokens - a.cached_prompt_tokens
        assert delta("vllm:request_prefill_time_seconds_sum") == pytest.approx(b.prefill_seconds - a.prefill_seconds)
        assert delta("vllm:request_decode_time_seconds_sum") == pytest.approx(b.decode_seconds - a.decode_seconds)
        assert delta("vllm:e2e_request_latency_seconds_count") == b.requests_finished - a.requests_finished
        assert b.gpu_seconds - a.gpu_seconds == 300 * sim.fleet.engine(e).tp


def test_truth_continues_across_a_restart() -> None:
    sim = new_sim()
    e = "support-mistral7b"
    name = "vllm:generation_tokens_total"
    t0, v0 = sim.truth(), vllm(sim, e)
    sim.advance_to(START + 60)
    before = vllm(sim, e)  # the last scrape of the old process, at the restart instant
    sim.trigger_restart(e)
    sim.advance_to(START + 100)
    assert not sim.is_up(e)  # the new process is still loading its weights
    sim.advance_to(START + 300)
    after, t1 = vllm(sim, e), sim.truth()
    assert pick(after, "vllm:prompt_tokens_created") > pick(before, "vllm:prompt_tokens_created") + 100
    assert 0 < pick(after, name) < pick(before, name)
    for key, field in ((name, "generation_tokens"), ("vllm:prompt_tokens_total", "prompt_tokens")):
        scraped = pick(before, key) - pick(v0, key) + pick(after, key)
        assert scraped == getattr(t1.engines[e], field) - getattr(t0.engines[e], field)
    assert t1.engines[e].restarts == 1
    decode = pick(before, "vllm:request_decode_time_seconds_sum") - pick(v0, "vllm:request_decode_time_seconds_sum")
    decode += pick(after, "vllm:request_decode_time_seconds_sum")
    assert decode == pytest.approx(t1.engines[e].decode_seconds - t0.engines[e].decode_seconds)


def test_restart_shows_in_dcgm_memory() -> None:
    sim = new_sim()
    sim.trigger_restart("support-mistral7b")
    sim.advance_to(START + 10)
    loading = dcgm(sim, "gpu-node-b")
    sim.advance_to(START + 200)
    running = dcgm(sim, "gpu-node-b")
    assert gpu(loading, "DEV_FB_USED", 1) < 0.5 * gpu(running, "DEV_FB_USED", 1)
    assert gpu(loading, "PROF_GR_ENGINE_ACTIVE", 1) < 0.1 < gpu(running, "PROF_GR_ENGINE_ACTIVE", 1)


def test_fb_accounting_adds_up() -> None:
    sim = new_sim()
    spec = sim.fleet.node("gpu-node-a").spec
    d = dcgm(sim, "gpu-node-a")
    for i in range(8):
        total = sum(gpu(d, f"DEV_FB_{k}", i) for k in ("FREE", "USED", "RESERVED"))
        assert total == spec.fb_total_mib
    state = sim.engine_state("chat-llama70b")
    assert state.num_gpu_blocks * state.block_size > 100_000  # room left after 35 GB of weights per GPU
