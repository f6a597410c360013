-- What holds the GPUs back: a verdict per engine per window (or per bucket of it), with its
-- evidence and a recommendation, and the decode roofline behind it. Thresholds come from
-- [diagnosis] in the settings (relation diagnosis_thresholds); docs/diagnosis.md explains them.

-- name: diagnosis
-- Bottleneck per engine per window: KV-capacity-bound, memory-bandwidth-bound, compute-bound,
-- under-utilized (paying for idle capacity), no bottleneck, or unknown (and which signal is
-- missing); plus one 'idle cost' row per GPU no engine claims. Each verdict carries the
-- values and thresholds it rests on and a concrete recommendation.
-- param: start TIMESTAMP = -1h : window start (UTC)
-- param: end TIMESTAMP = now : window end (UTC)
-- param: bucket_minutes INTEGER = 0 : judge each bucket of this many minutes (0: the whole window)
WITH c AS MATERIALIZED (
    -- engine rows and idle GPU shares per bucket, one pass (queries/economics.sql)
    SELECT * FROM costs_between($start, $end, $bucket_minutes * 60, NULL)
),
e AS (
    SELECT e.*, t.*,
        preemptions / nullif(engine_seconds / 60.0, 0) AS preemptions_per_min,
        -- the signals each verdict needs; a missing one is named, never guessed
        list_value(
            CASE WHEN gpu_seconds IS NULL THEN 'GPU attribution: no dcgm GPU matched by namespace/pod labels or hostname + gpu_indices' END,
            CASE WHEN gpu_seconds IS NOT NULL AND dram_active IS NULL THEN 'DRAM activity (DCGM_FI_PROF_DRAM_ACTIVE: DCP profiling metrics not collected)' END,
            CASE WHEN gpu_seconds IS NOT NULL AND tensor_active IS NULL THEN 'tensor activity (DCGM_FI_PROF_PIPE_TENSOR_ACTIVE)' END,
            CASE WHEN gpu_seconds IS NOT NULL AND busy IS NULL THEN 'GPU busy time (DCGM_FI_PROF_GR_ENGINE_ACTIVE or DCGM_FI_DEV_GPU_UTIL)' END,
            CASE WHEN kv_usage_max IS NULL THEN 'KV cache usage (the engine''s kv cache usage gauge)' END,
            CASE WHEN waiting_mean IS NULL THEN 'waiting requests (the engine''s queue gauge)' END
        ) AS missing_list
    FROM c e
    CROSS JOIN diagnosis_thresholds t
    WHERE e.kind = 'engine'
),
judged AS (
    SELECT *,
        dram_active / bandwidth_high AS bw_pressure,
        tensor_active / compute_high AS compute_pressure,
        CASE
            -- KV first: a full cache with a queue (or evictions) caps throughput whatever the GPUs do
            WHEN (kv_usage_max >= kv_usage_high AND waiting_mean >= waiting_requests_min)
                 OR preemptions_per_min >= preemptions_per_min_high THEN 'KV-capacity-bound'
            WHEN busy IS NOT NULL AND busy < busy_low AND coalesce(waiting_mean, 0) < waiting_requests_min
                 THEN 'under-utilized'
            WHEN greatest(dram_active / bandwidth_high, coalesce(tensor_active / compute_high, 0)) >= 1
                 AND dram_active / bandwidth_high >= coalesce(tensor_active / compute_high, 0)
                 THEN 'memory-bandwidth-bound'
            WHEN tensor_active / compute_high >= 1 THEN 'compute-bound'
            WHEN dram_active IS NULL OR tensor_active IS NULL OR busy IS NULL OR gpu_seconds IS NULL THEN 'unknown'
            ELSE 'no bottleneck'
        END AS verdict
    FROM e
)
SELECT bucket_start, bucket_end,
    target || '/' || engine AS subject, target, engine, model, namespace, gpu_models,
    verdict,
    CASE verdict
        WHEN 'KV-capacity-bound' THEN printf(
            'KV cache peak %.0f%% (threshold %.0f%%), %.1f requests waiting on average (threshold %.1f), %.2f preemptions/min (threshold %.2f)',
            100 * coalesce(kv_usage_max, 0), 100 * kv_usage_high, coalesce(waiting_mean, 0), waiting_requests_min,
            coalesce(preemptions_per_min, 0), preemptions_per_min_high)
        WHEN 'under-utilized' THEN printf(
            'GPUs busy %.0f%% of the time (%s; threshold %.0f%%), %.1f requests waiting; %.2f GPU-hours cost $%.2f for %,.0f tokens',
            100 * busy, busy_signal, 100 * busy_low, coalesce(waiting_mean, 0), gpu_seconds / 3600.0, cost_usd, tokens)
        WHEN 'memory-bandwidth-bound' THEN printf(
            'DRAM active %.0f%% of peak HBM bandwidth (threshold %.0f%%): %,.0f of %,.0f GB/s; tensor active %.0f%% (threshold %.0f%%)',
            100 * dram_active, 100 * bandwidth_high, coalesce(achieved_bw_gbps, 0), coalesce(peak_bw_gbps, 0),
            100 * coalesce(tensor_active, 0), 100 * compute_high)
        WHEN 'compute-bound' THEN printf(
            'tensor pipe active %.0f%% (threshold %.0f%%), DRAM active %.0f%% (threshold %.0f%%); prefill %.0f%% of request time',
            100 * tensor_active, 100 * compute_high, 100 * coalesce(dram_active, 0), 100 * bandwidth_high,
            100 * coalesce(prefill_seconds / nullif(prefill_seconds + decode_seconds, 0), 0))
        WHEN 'no bottleneck' THEN printf(
            'busy %.0f%%, DRAM active %.0f%% (threshold %.0f%%), tensor active %.0f%% (threshold %.0f%%), KV peak %.0f%%, %.1f waiting',
            100 * busy, 100 * dram_active, 100 * bandwidth_high, 100 * tensor_active, 100 * compute_high,
            100 * coalesce(kv_usage_max, 0), coalesce(waiting_mean, 0))
        ELSE 'cannot judge: ' || array_to_string(list_filter(missing_list, lambda x: x IS NOT NULL), '; ')
    END AS evidence,
    CASE verdict
        WHEN 'KV-capacity-bound' THEN
            'Give the KV cache room: raise --gpu-memory-utilization, store KV in FP8 (--kv-cache-dtype fp8 halves its bytes), '
            || 'lower --max-model-len or --max-num-seqs, or add GPUs (tensor parallel) or a replica; for long shared '
            || 'prompts raise the prefix-cache hit rate or offload KV to CPU.'
        WHEN 'under-utilized' THEN printf(
            'You pay for idle capacity ($%.2f in this window): consolidate replicas, move the model to a smaller GPU or a MIG '
            || 'slice, or co-locate another model on these GPUs.', cost_usd)
        WHEN 'memory-bandwidth-bound' THEN
            'Decode streams weights and KV from HBM every step: batch more requests per step (raise --max-num-seqs while KV '
            || 'allows) so each weight read serves more tokens, quantize weights (FP8/INT4) and KV (FP8), try speculative '
            || 'decoding, or move to GPUs with more bandwidth (H200: 4.8 TB/s).'
        WHEN 'compute-bound' THEN
            'Prefill FLOPs set the pace: raise the prefix-cache hit rate (shared system prompts), use FP8 compute, tune '
            || '--max-num-batched-tokens / chunked prefill, or split prefill and decode onto separate GPU pools.'
        WHEN 'no bottleneck' THEN
            'No resource is near its limit: there is headroom for more traffic on these GPUs.'
        ELSE 'Collect the missing signal(s): enable DCP metrics (DCGM_FI_PROF_*) in dcgm-exporter''s counters CSV, '
            || 'and map GPUs to the engine (dcgm pod labels matching the target''s namespace/pod labels, or hostname + '
            || 'gpu_indices on the target).'
    END AS recommendation,
    array_to_string(list_filter(missing_list, lambda x: x IS NOT NULL), '; ') AS missing,
    busy, dram_active, tensor_active, achieved_bw_gbps, peak_bw_gbps, kv_usage_mean, kv_usage_max,
    waiting_mean, running_mean, preemptions_per_min, tokens_per_s, generation_tokens_per_s,
    gpus, cost_usd, usd_per_1m_tokens
FROM judged
UNION ALL BY NAME
-- GPUs no engine claims: their whole cost is idle
SELECT bucket_start, bucket_end, subject, 'idle cost' AS verdict,
    printf('%.2f GPU-hours cost $%.2f serving no engine (%s); busy %s', gpu_seconds / 3600.0, cost_usd,
           coalesce('held by pod ' || pod, 'no pod'), coalesce(printf('%.0f%%', 100 * busy), 'unknown')) AS evidence,
    'Release or use it: scale the node group down, give the GPU to a pending workload, or, if an engine runs here, '
    || 'label its target (namespace/pod, or hostname + gpu_indices) so its cost is attributed.' AS recommendation,
    gpu_models, namespace, cost_usd, gpus, busy
FROM c
WHERE kind = 'idle'
ORDER BY bucket_start, verdict = 'idle cost', subject;

-- name: roofline
-- Decode roofline per engine per window (or bucket): achieved HBM bandwidth (DRAM active x
-- the GPU's peak) against the peak, tensor TFLOPS against dense BF16 peak, generated tokens/s
-- per GB/s of achieved bandwidth, and the decode tokens/s the same efficiency would reach at
-- peak bandwidth.
-- param: start TIMESTAMP = -1h : window start (UTC)
-- param: end TIMESTAMP = now : window end (UTC)
-- param: bucket_minutes INTEGER = 0 : one row per bucket of this many minutes (0: the whole window)
SELECT bucket_start, bucket_end, target, engine, model, gpu_models, gpus,
    achieved_bw_gbps, peak_bw_gbps,
    achieved_bw_gbps / nullif(peak_bw_gbps, 0) AS bw_utilization,
    achieved_tflops, peak_tflops,
    achieved_tflops / nullif(peak_tflops, 0) AS compute_utilization,
    generation_tokens_per_s,
    generation_tokens_per_s / nullif(achieved_bw_gbps, 0) AS tokens_per_s_per_gbps,
    generation_tokens_per_s / nullif(achieved_bw_gbps, 0) * peak_bw_gbps AS tokens_per_s_at_peak_bw,
    -- achieved FLOPs per byte moved: well below the GPU's ridge point (peak FLOP/s / peak B/s) means
    -- the kernels are bandwidth-limited
    achieved_tflops * 1e12 / nullif(achieved_bw_gbps * 1e9, 0) AS flop_per_byte,
    peak_tflops * 1e12 / nullif(peak_bw_gbps * 1e9, 0) AS ridge_flop_per_byte,
    busy, dram_active, tensor_active, tokens_per_s,
    CASE WHEN models_without_spec IS NOT NULL THEN 'no peak bandwidth/compute for ' || models_without_spec
                                                   || ' in gpu_specs' END AS missing
FROM engine_costs_between($start, $end, $bucket_minutes * 60, NULL)
ORDER BY bucket_start, target, engine;
