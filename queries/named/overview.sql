-- name: fleet_overview
-- Fleet totals over a window: tokens, tokens/s, GPUs seen, GPU-hours and $ per 1M tokens
-- at a flat GPU-hour price.
-- param: start TIMESTAMP = -15m : window start (UTC)
-- param: end TIMESTAMP = now : window end (UTC)
-- param: usd_per_gpu_hour DOUBLE = 2.0 : price of one GPU-hour
WITH tok AS (
    SELECT coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
           coalesce(sum(generation_tokens), 0) AS generation_tokens,
           min(prev_ts) AS t0, max(ts) AS t1
    FROM engine_increments
    WHERE ts > $start AND ts <= $end
),
gpu AS (
    SELECT count(DISTINCT uuid) AS gpus
    FROM gpu_metrics
    WHERE ts > $start AND ts <= $end AND gpu_instance IS NULL
)
SELECT
    tok.prompt_tokens,
    tok.generation_tokens,
    (tok.prompt_tokens + tok.generation_tokens)
        / nullif(epoch(tok.t1) - epoch(tok.t0), 0)                    AS tokens_per_s,
    gpu.gpus,
    gpu.gpus * (epoch(tok.t1) - epoch(tok.t0)) / 3600.0              AS gpu_hours,
    gpu.gpus * (epoch(tok.t1) - epoch(tok.t0)) / 3600.0 * $usd_per_gpu_hour
        / nullif(tok.prompt_tokens + tok.generation_tokens, 0) * 1e6  AS usd_per_1m_tokens
FROM tok, gpu;

-- name: tokens_per_second
-- Tokens per second per engine, per scrape interval.
-- param: start TIMESTAMP = -1h : window start (UTC)
-- param: end TIMESTAMP = now : window end (UTC)
SELECT ts, target, engine, model,
       prompt_tokens / nullif(epoch(ts) - epoch(prev_ts), 0)     AS prompt_tokens_per_s,
       generation_tokens / nullif(epoch(ts) - epoch(prev_ts), 0) AS generation_tokens_per_s
FROM engine_increments
WHERE ts > $start AND ts <= $end
ORDER BY ts, target, engine;

-- name: sample_count
-- Number of raw samples stored.
SELECT count(*) AS n FROM samples;
