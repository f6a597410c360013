-- name: fleet_overview
-- Fleet totals over a window: tokens, tokens/s, GPUs seen, GPU-hours and $ per 1M tokens at
-- the configured prices ([prices]: cloud rates and on-prem TCO with measured energy). The
-- bill includes idle GPUs (shown apart in idle_cost_usd, never spread over engines).
-- param: start TIMESTAMP = -15m : window start (UTC)
-- param: end TIMESTAMP = now : window end (UTC)
-- param: usd_per_gpu_hour DOUBLE = NULL : $/GPU-hour for GPU models without a [[prices.gpus]] entry (NULL: prices.default_usd_per_gpu_hour)
WITH c AS MATERIALIZED (
    -- engine rows and idle GPU shares of the window, one pass (queries/economics.sql)
    SELECT * FROM costs_between($start, $end, 0, $usd_per_gpu_hour)
),
tok AS (
    -- tokens/s over the span of the engines' intervals: first interval start to last scrape
    SELECT coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
           coalesce(sum(generation_tokens), 0) AS generation_tokens,
           min(interval_start) AS t0, max(interval_end) AS t1,
           sum(cost_usd) AS engine_cost_usd, sum(input_cost_usd) AS input_cost_usd,
           sum(output_cost_usd) AS output_cost_usd
    FROM c WHERE kind = 'engine'
),
gpu AS (
    SELECT (SELECT count(DISTINCT k) FROM (SELECT unnest(gpu_keys) AS k FROM c)) AS gpus,
           sum(gpu_seconds) / 3600.0 AS gpu_hours,
           sum(cost_usd) AS cost_usd,
           sum(cost_usd) FILTER (WHERE kind = 'idle') AS idle_cost_usd,
           sum(gpu_seconds) FILTER (WHERE kind = 'idle') / 3600.0 AS idle_gpu_hours,
           sum(energy_j) / 3.6e6 AS energy_kwh,
           array_to_string(list_sort(list_distinct(flatten(list(string_split(price_basis, ', '))))), ', ')
               AS price_basis
    FROM c
)
SELECT
    tok.prompt_tokens,
    tok.generation_tokens,
    (tok.prompt_tokens + tok.generation_tokens) / nullif(epoch(tok.t1) - epoch(tok.t0), 0) AS tokens_per_s,
    gpu.gpus,
    gpu.gpu_hours,
    gpu.cost_usd / nullif(tok.prompt_tokens + tok.generation_tokens, 0) * 1e6 AS usd_per_1m_tokens,
    gpu.cost_usd,
    tok.engine_cost_usd,
    gpu.idle_cost_usd,
    gpu.idle_cost_usd / nullif(gpu.cost_usd, 0) AS idle_share,
    gpu.idle_gpu_hours,
    -- engines only: what serving costs without the idle GPUs
    tok.engine_cost_usd / nullif(tok.prompt_tokens + tok.generation_tokens, 0) * 1e6 AS usd_per_1m_tokens_engines,
    tok.input_cost_usd / nullif(tok.prompt_tokens, 0) * 1e6 AS usd_per_1m_input,
    tok.output_cost_usd / nullif(tok.generation_tokens, 0) * 1e6 AS usd_per_1m_output,
    gpu.energy_kwh,
    gpu.energy_kwh * 3.6e6 / nullif(tok.prompt_tokens + tok.generation_tokens, 0) AS joules_per_token,
    gpu.price_basis
FROM tok, gpu;

-- name: tokens_per_second
-- Tokens per second per engine, per scrape interval.
-- param: start TIMESTAMP = -1h : window start (UTC)
-- param: end TIMESTAMP = now : window end (UTC)
SELECT ts, target, engine, model,
       prompt_tokens / nullif(epoch(ts) - epoch(prev_ts), 0)     AS prompt_tokens_per_s,
       generation_tokens / nullif(epoch(ts) - epoch(prev_ts), 0) AS generation_tokens_per_s
FROM engine_increments_between($start, $end)
ORDER BY ts, target, engine;

-- name: sample_count
-- Number of raw samples stored.
SELECT count(*) AS n FROM samples;
