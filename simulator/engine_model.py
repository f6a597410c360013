"""Physics of one vLLM engine and the GPUs it holds, integrated in fixed steps.

Requests are fluids: a waiting pool and a running pool, each tracked by request count and
token totals, moved between pools in proportion. Per step:

1. arrivals join the waiting pool (daily load curve x episode surge x a little noise);
2. admission moves waiting requests to running while batch slots, free KV blocks and the
   prefill time budget allow;
3. engine steps follow a per-step roofline, max(memory time, compute time) + CPU overhead:
   every step reads the weight shard plus the batch's KV shard (decode is bandwidth bound),
   prefill chunks ride on steps and make them compute bound when large;
4. output lengths are memoryless, so the share of running requests that finish equals the
   share of remaining output tokens generated;
5. if KV outgrows the pool, requests are preempted back to waiting and must be recomputed;
   clients that wait too long give up.

GPU activity, power and energy follow from the bytes moved and FLOPs done in the step.
Token counters are float accumulators shown floored, so pages and ground truth agree to the
token. Finished requests are observed into the histograms once per window of OBS_WINDOW steps
(latencies averaged over the window): request_success and the histogram counts move together.
"""

from __future__ import annotations

import math
import random

from simulator.fleet import Engine
from simulator.hardware import MIB, GpuSpec
from simulator.histogram import (
    ITERATION_TOKENS,
    ITL,
    PREEMPTIONS,
    REQUEST_TIME,
    TTFT,
    Histogram,
    one_two_five,
)

BLOCK_SIZE = 16
# Share of peak HBM bandwidth a decode step achieves: small batches leave HBM idle between
# latency-bound kernels, large batches approach ~85 %: 0.55 + 0.30 * B / (B + 16).
BW_EFF_SMALL, BW_EFF_GAIN, BW_EFF_HALF = 0.55, 0.30, 16.0
COMPUTE_MFU = 0.65  # share of peak BF16 FLOPs a compute-bound step achieves
STEP_OVERHEAD_S = 0.0015  # CPU side of an engine step (schedule, sample): the GPU waits
PREFILL_SHARE_MAX = 0.9  # chunked prefill never starves running decodes completely
KV_ADMIT_WATERMARK = 0.99  # vLLM keeps ~1 % of blocks free when admitting
# A fluid pool never overflows on average (finishing requests free more than decoding adds);
# real pools do, because requests admitted together grow together. When admission is blocked
# by KV, this share of the tokens decoded in a step needs a block that is not there.
PREEMPT_GAIN = 1.0
PATIENCE_S = 90.0  # mean time a client waits in the queue before giving up
CUDA_CONTEXT_MIB = 512
ACTIVATION_SHARE = 0.04  # of total FB: activation peak, CUDA graphs, non-torch memory
TEMP_TAU_S = 60.0
OBS_WINDOW = 5  # steps per histogram observation window
LENGTH_SHARE, ABORT_SHARE = 0.15, 0.005  # finished_reason mix; the rest is "stop"

FINISH_REASONS = ("stop", "length", "abort", "error", "repetition")
TRUTH_KEYS = ("prompt", "gen", "hits", "fin", "pre", "prefill_s", "decode_s")


def histogram_layout(max_model_len: int) -> dict[str, tuple[float, ...]]:
    """The histograms the engine observes (the constant per-request parameters are derived)."""
    tokens = one_two_five(max_model_len)
    return {
        "request_prompt_tokens": tokens,
        "request_generation_tokens": tokens,
        "iteration_tokens_total": ITERATION_TOKENS,
        "time_to_first_token_seconds": TTFT,
        "inter_token_latency_seconds": ITL,
        "request_time_per_output_token_seconds": ITL,
        "e2e_request_latency_seconds": REQUEST_TIME,
        "request_queue_time_seconds": REQUEST_TIME,
        "request_inference_time_seconds": REQUEST_TIME,
        "request_prefill_time_seconds": REQUEST_TIME,
        "request_decode_time_seconds": REQUEST_TIME,
        "request_num_preemptions": PREEMPTIONS,
        "request_prefill_kv_computed_tokens": tokens,
    }


class EngineModel:
    """State of one engine (fluid request pools, counters, histograms) and of its GPUs."""

    def __init__(self, engine: Engine, spec: GpuSpec, seed: int, t0: float, sim_s0: float, time_scale: float) -> None:
        p = engine.profile
        m = engine.model
        tp = engine.tp
        self.engine = engine
        self.spec = spec
        self.rng = random.Random(f"{seed}/engine/{engine.name}")
        # Per-GPU constants: each GPU holds 1/TP of the weights and of every token's KV.
        self.w_gpu = m.weight_bytes / tp
        self.kvb_gpu = m.kv_bytes_per_token / tp
        self.flop_tok_gpu = 2.0 * m.params / tp
        self.peak_bw = spec.peak_bw_bytes
        self.tok_compute_s = self.flop_tok_gpu / (spec.peak_bf16_flops * COMPUTE_MFU)
        self.nvlink_per_token = 0.0 if tp == 1 else 4.0 * m.layers * m.hidden * (tp - 1) / tp
        # KV pool: what gpu_memory_utilization leaves after weights and activations.
        budget_mib = p.gpu_memory_utilization * spec.fb_total_mib
        overhead_mib = ACTIVATION_SHARE * spec.fb_total_mib
        kv_mib = budget_mib - self.w_gpu / MIB - overhead_mib
        if kv_mib <= 0:
            raise ValueError(f"{engine.name}: {m.name} does not fit on {tp} x {spec.model_name}")
        self.kv_bytes_gpu = int(kv_mib * MIB)
        self.num_blocks = self.kv_bytes_gpu * tp // m.kv_bytes_per_token // BLOCK_SIZE
        self.capacity = float(self.num_blocks * BLOCK_SIZE)
        self.kv_admit = KV_ADMIT_WATERMARK * self.capacity
        self.fb_running_mib = int(budget_mib) + CUDA_CONTEXT_MIB
        self.fb_weights_mib = int(self.w_gpu / MIB) + CUDA_CONTEXT_MIB
        # Workload constants, hoisted for the hot loop.
        self.miss = 1.0 - p.prefix_hit
        self.swing = (1.0 - p.trough_ratio) / 2.0
        angle = 2.0 * math.pi * p.peak_hour / 24.0
        self.cb, self.sb = math.cos(angle), math.sin(angle)
        self.max_tokens = min(p.max_model_len, 2 * p.output_tokens)
        self.time_scale = time_scale
        self.kv_override: bool | None = None
        self.restart_idx = p.restart.index(sim_s0) if p.restart else 0
        self.pressure = False
        # Lifetime totals carried over restarts (ground truth never resets).
        self.carried: dict[str, float] = dict.fromkeys(TRUTH_KEYS, 0.0)
        self.restarts = 0
        self.energy_j = 0.0  # per GPU of this engine, since the simulation started
        self.temp = 32.0
        self.power = spec.idle_w
        self.gr = self.dram = self.tensor = 0.0
        self.pcie_tx = self.pcie_rx = 0.0
        self.nvlink = 0.0
        self.down_at = t0
        self._reset(t0)

    def _reset(self, created: float) -> None:
        """A fresh process: empty pools, zero counters, new _created stamps."""
        self.up = True
        self.up_at = created
        # Metrics register a moment after the process starts; the delay varies per start.
        self.start_delay = 0.2 + 0.7 * self.rng.random()
        self.created = created + self.start_delay
        self.w = self.wc = self.wk = self.wn = self.wo = 0.0  # waiting: reqs, compute, kv, new prompt, output
        self.r = self.ro = self.k = 0.0  # running: reqs, remaining output tokens, KV tokens held
        self.f_prompt = self.f_gen = self.f_hits = self.f_fin = self.f_pre = self.f_steps = 0.0
        self.n_fin = 0  # finished requests observed so far (= histogram counts)
        self.f_gone = 0.0  # requests abandoned while waiting (reported as aborts)
        self.est_flops = self.est_read = self.est_write = 0.0
        self.last_queue = 0.002
        self.admit_kv = float(self.engine.profile.prompt_tokens)  # KV per admitted request
        # Observation window: finished requests, engine steps, prefill time, tokens, preemptions.
        self.win_k = self.win_done = self.win_iter = 0
        self.win_steps = self.win_busy = self.win_tokens = self.win_pre = self.win_tp = 0.0
        self.tau_p = 0.05  # duration of the latest step that carried prefill
        self.hist = {name: Histogram(b) for name, b in histogram_layout(self.engine.profile.max_model_len).items()}

    # -- episodes ------------------------------------------------------------------------

    def restart(self, t: float) -> None:
        """Kill the process: in-flight work is lost, counters restart from 0 once it is back up."""
        self.carried = {key: self.lifetime(key) for key in TRUTH_KEYS}
        ep = self.engine.profile.restart
        self.restarts += 1
        self._reset(t)
        self.up = False
        self.down_at = t
        self.up_at = t + (ep.duration_s if ep else 120.0) / self.time_scale

    def kv_pressure_active(self, sim_s: float) -> bool:
        if self.kv_override is not None:
            return self.kv_override
        ep = self.engine.profile.kv_pressure
        return ep is not None and ep.active(sim_s)

    # -- integration ---------------------------------------------------------------------

    def step(self, t: float, dt: float, sim_s: float, ca: float, sa: float) -> None:
        """Advance by dt wall seconds ending at t; ca/sa = cos/sin of the simulated hour angle."""
        p = self.engine.profile
        if p.restart is not None:
            idx = p.restart.index(sim_s)
            if idx != self.restart_idx:
                self.restart_idx = idx
                self.restart(t - dt)
        if not self.up:
            if t < self.up_at:
                self._loading(dt)
                return
            self.up = True
            self.created = self.up_at + self.start_delay
        u = self.rng.random()
        lam = p.peak_rps * (p.trough_ratio + self.swing * (1.0 + ca * self.cb + sa * self.sb))
        prompt = float(p.prompt_tokens)
        pressure = self.kv_override
        if pressure is None:  # kv_pressure_active(), inlined: this loop is the hot path
            ep = p.kv_pressure
            pressure = ep is not None and (sim_s - ep.offset_s) % ep.period_s < ep.duration_s
        self.pressure = pressure
        if pressure:
            lam *= p.surge_rate
            prompt *= p.surge_prompt
        a = lam * dt * (0.75 + 0.5 * u)
        backlog = self.w
        w = backlog + a
        wc = self.wc + a * prompt * self.miss
        wk = self.wk + a * prompt
        wn = self.wn + a * prompt
        wo = self.wo + a * p.output_tokens
        r, ro, k = self.r, self.ro, self.k

        # Engine steps follow a roofline: a step takes max(memory time, compute time) plus the
        # CPU overhead. Decode-only steps stream the weight shard and the batch's KV shard;
        # prefill rides on steps in chunks of up to max_num_batched_tokens (chunked prefill).
        batch = r if r > 1.0 else 1.0
        bytes_step = self.w_gpu + (k if r >= 1.0 else k / r if r > 1e-9 else 0.0) * self.kvb_gpu
        mem_s = bytes_step / (self.peak_bw * (BW_EFF_SMALL + BW_EFF_GAIN * batch / (batch + BW_EFF_HALF)))
        q = self.tok_compute_s
        chunk = p.max_num_batched_tokens - batch

        # Admission, limited by batch slots, free KV and the step's prefill time budget.
        n = nc = nn = t_p = n_pre = tau_p = 0.0
        kv_bound = False
        if w > 1e-9:
            f = 1.0
            slots = p.max_num_seqs - r
            if slots < w:
                f = slots / w
            free = self.kv_admit - k
            if free < f * wk:
                f = free / wk
                kv_bound = True
            if f > 0.0:
                # Each admitted request starts in a step of its own; long prompts take several.
                n_pre = max(f * wc / chunk, min(f * w, dt / (mem_s + STEP_OVERHEAD_S)))
                tau_p = max(mem_s, (batch + f * wc / n_pre) * q) + STEP_OVERHEAD_S
                budget = dt * PREFILL_SHARE_MAX if r > 0.5 else dt
                if n_pre * tau_p > budget:
                    scale = budget / (n_pre * tau_p)
                    f *= scale
                    n_pre *= scale
                n, nc, nn = f * w, f * wc, f * wn
                nk, no = f * wk, f * wo
                w -= n
                wc -= nc
                wk -= nk
                wn -= nn
                wo -= no
                r += n
                k += nk
                ro += no
                t_p = n_pre * tau_p
                self.admit_kv = nk / n
                self.tau_p = tau_p

        # Decode-only steps fill the rest; below one request, r is the share of time busy.
        steps = g = fin = 0.0
        busy = t_p - n_pre * STEP_OVERHEAD_S
        if r > 1e-9 and ro > 1e-9:
            occ = r if r < 1.0 else 1.0
            n_dec = occ * (dt - t_p) / (mem_s + STEP_OVERHEAD_S)
            steps = n_pre + n_dec
            g = n_dec * (r if r > 1.0 else 1.0) + n_pre * r
            if g > ro:
                g = ro
            busy += n_dec * mem_s
            fin = r * g / ro
            k += g - k * fin / r
            r -= fin
            ro -= g

        # KV pool full: preempt (recompute) requests back to waiting. vLLM preempts the most
        # recently scheduled requests, which hold little more than their prompt.
        pre = 0.0
        if r > 1e-9 and (kv_bound or k > self.capacity):
            per = min(k / r, self.admit_kv)
            pre = min(r, max(0.0, k - self.capacity) / per + PREEMPT_GAIN * g * r / k)
            moved = ro * pre / r
            r -= pre
            ro -= moved
            k -= pre * per
            w += pre
            wc += pre * per
            wk += pre * per
            wo += moved
        if r < 1e-9:
            r = ro = k = 0.0
        if w > 1e-9:  # clients give up on a long queue (the pools shrink in proportion)
            keep = 1.0 - dt / PATIENCE_S
            self.f_gone += w * (1.0 - keep)
            w, wc, wk, wn, wo = w * keep, wc * keep, wk * keep, wn * keep, wo * keep
        self.w, self.wc, self.wk, self.wn, self.wo = w, wc, wk, wn, wo
        self.r, self.ro, self.k = r, ro, k

        # Counters, and the observation window.
        self.f_prompt += nn
        self.f_hits += nn * p.prefix_hit
        self.f_gen += g
        self.f_pre += pre
        old = self.f_steps
        self.f_steps = old + max(steps, n_pre)
        self.win_iter += int(self.f_steps) - int(old)
        old = self.f_fin
        self.f_fin = old + fin
        self.win_done += int(self.f_fin) - int(old)
        self.win_steps += steps
        self.win_busy += dt * (r if r < 1.0 else 1.0)
        self.win_tp += t_p
        self.win_tokens += nc + g
        self.win_pre += pre
        if n > 0.0:
            self.last_queue = backlog / (n / dt) + 0.002
        self.win_k += 1
        if self.win_k >= OBS_WINDOW:
            self._observe(dt, u, prompt)

        # GPUs: bytes and FLOPs of this step -> DCP activity -> power -> energy.
        read = max(steps, n_pre) * bytes_step
        write = (nc + g) * self.kvb_gpu
        flops = (nc + g) * self.flop_tok_gpu
        self.est_flops += flops
        self.est_read += read
        self.est_write += write
        self.nvlink += (nc + g) * self.nvlink_per_token
        spec = self.spec
        self._gpu(
            dt,
            min(1.0, busy / dt),
            min(0.98, (read + write) / (dt * spec.peak_bw_bytes)),
            min(0.95, flops / (dt * spec.peak_bf16_flops)),
            u,
        )
        self.pcie_rx = 24_000.0 + (nn * 4.0 + n * 2048.0) / dt
        self.pcie_tx = 17_000.0 + (g * 8.0 + n * 1024.0) / dt

    def _observe(self, dt: float, u: float, prompt: float) -> None:
        """Close the window: its finished requests get the window's mean latencies."""
        done, steps = self.win_done, self.win_steps
        h = self.hist
        if self.win_iter:
            h["iteration_tokens_total"].observe(self.win_tokens / self.win_iter, self.win_iter)
        if done:
            p = self.engine.profile
            gen = max(1, round(p.output_tokens * (0.8 + 0.4 * u)))
            ptoks = max(1, round(prompt * (1.2 - 0.4 * u)))
            itl = min(60.0, self.win_busy / steps) if steps > 0.0 else 0.05
            decode = (gen - 1) * itl
            # Chunks of one prompt wait behind other prompts' chunks (M/D/1 queueing).
            rho = min(0.9, self.win_tp / (self.win_k * dt))
            service = max(1.0, ptoks * self.miss / p.max_num_batched_tokens) * self.tau_p
            prefill = service * (1.0 + rho / (2.0 * (1.0 - rho)))
            queue = self.last_queue
            ttft = queue + prefill
            h["request_prompt_tokens"].observe(ptoks, done)
            h["request_generation_tokens"].observe(gen, done)
            h["time_to_first_token_seconds"].observe(ttft, done)
            if gen > 1:  # one inter-token gap per token after the first
                h["inter_token_latency_seconds"].observe(itl, done * (gen - 1))
            h["request_time_per_output_token_seconds"].observe(itl if gen > 1 else 0.0, done)
            h["e2e_request_latency_seconds"].observe(ttft + decode + 0.002, done)
            h["request_queue_time_seconds"].observe(queue, done)
            h["request_inference_time_seconds"].observe(prefill + decode, done)
            h["request_prefill_time_seconds"].observe(prefill, done)
            h["request_decode_time_seconds"].observe(decode, done)
            h["request_num_preemptions"].observe(round(self.win_pre / done), done)
            h["request_prefill_kv_computed_tokens"].observe(round(ptoks * self.miss), done)
            self.n_fin += done
        self.win_k = self.win_done = self.win_iter = 0
        self.win_steps = self.win_busy = self.win_tokens = self.win_pre = self.win_tp = 0.0

    def _gpu(self, dt: float, gr: float, dram: float, tensor: float, u: float) -> None:
        spec = self.spec
        self.gr, self.dram, self.tensor = gr, dram, tensor
        f = 0.12 * gr + 0.35 * dram + 0.9 * tensor
        if f > 1.0:
            f = 1.0
        self.power = power = (spec.idle_w + (spec.tdp_w - spec.idle_w) * f) * (0.997 + 0.006 * u)
        self.energy_j += power * dt
        target = 31.0 + 48.0 * power / spec.tdp_w
        self.temp += (target - self.temp) * min(1.0, dt / TEMP_TAU_S)

    def _loading(self, dt: float) -> None:
        """A restarting engine: the new process reads weights from disk into HBM."""
        self.pcie_rx = 2.0e9
        self.pcie_tx = 30_000.0
        self._gpu(dt, 0.05, 0.02, 0.0, 0.5)

    # -- views ---------------------------------------------------------------------------

    def finished(self) -> dict[str, int]:
        """request_success by finished_reason: a fixed mix of the observed requests, plus the
        abandoned ones as aborts."""
        length, abort = int(self.n_fin * LENGTH_SHARE), int(self.n_fin * ABORT_SHARE)
        out = dict.fromkeys(FINISH_REASONS, 0)
        out.update(stop=self.n_fin - length - abort, length=length, abort=abort + int(self.f_gone))
        return out

    def fb_used_mib(self, t: float) -> int:
        if self.up:
            return self.fb_running_mib
        progress = min(1.0, (t - self.down_at) / max(self.up_at - self.down_at, 1e-9))
        return CUDA_CONTEXT_MIB + int((self.fb_weights_mib - CUDA_CONTEXT_MIB) * progress)

    def lifetime(self, key: str) -> float:
        """Ground truth since the engine's first start: carried totals plus this process's."""
        live = {
            "prompt": int(self.f_prompt),
            "gen": int(self.f_gen),
            "hits": int(self.f_hits),
            "fin": self.n_fin,
            "pre": int(self.f_pre),
            "prefill_s": self.hist["request_prefill_time_seconds"].sum,
            "decode_s": self.hist["request_decode_time_seconds"].sum,
        }[key]
        return self.carried[key] + live
