-- Read-side queries of the daily report (reports/daily.py) beyond the economics queries:
-- whether a day has data, the factors of the cost-per-token decomposition, KV-pressure
-- incidents and data quality (targets down, gaps, counter resets). Windows are (start, end],
-- as everywhere: an interval or sample belongs to the window of its end time.

-- name: report_data_presence
-- How much was collected during a window: samples strictly inside it (a sample taken at the
-- very end only closes the window's last interval, so a day whose only sample falls on the
-- next midnight has no data), successful and failed scrapes, first and last sample. The
-- daily report is made only for days with samples.
-- param: start TIMESTAMP = -1d : window start (UTC)
-- param: end TIMESTAMP = now : window end (UTC)
SELECT
    (SELECT count(*) FROM samples WHERE ts > $start AND ts < $end) AS samples,
    (SELECT count(*) FROM scrapes WHERE started_at > $start AND started_at <= $end AND error IS NULL) AS scrapes_ok,
    (SELECT count(*) FROM scrapes WHERE started_at > $start AND started_at <= $end AND error IS NOT NULL)
        AS scrapes_failed,
    (SELECT min(ts) FROM samples WHERE ts > $start AND ts <= $end) AS first_sample,
    (SELECT max(ts) FROM samples WHERE ts > $start AND ts <= $end) AS last_sample;

-- name: report_factors
-- The factors of $ per 1M input/output tokens over a window, engines only (idle GPUs are
-- shown apart, as in fleet_overview): GPU-hours, utilization (busy share of those GPU-hours:
-- GR_ENGINE_ACTIVE, else GPU_UTIL), cost without and with energy, the input/output cost split
-- and tokens. $/1M X = cost x share_X / X tokens (docs/read-the-report.md).
-- param: start TIMESTAMP = -1d : window start (UTC)
-- param: end TIMESTAMP = now : window end (UTC)
WITH e AS (
    SELECT * FROM engine_costs_between($start, $end, 0, NULL)
)
SELECT
    count(*) AS engines,
    coalesce(sum(gpu_seconds), 0) / 3600.0 AS gpu_hours,
    sum(busy * gpu_seconds) / nullif(sum(gpu_seconds) FILTER (WHERE busy IS NOT NULL), 0) AS utilization,
    coalesce(sum(cost_usd), 0) AS cost_usd,
    coalesce(sum(cost_usd), 0) - coalesce(sum(energy_cost_usd), 0) AS price_usd,
    coalesce(sum(energy_cost_usd), 0) AS energy_usd,
    sum(energy_j) / 3.6e6 AS energy_kwh,
    coalesce(sum(input_cost_usd), 0) AS input_cost_usd,
    coalesce(sum(output_cost_usd), 0) AS output_cost_usd,
    coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
    coalesce(sum(generation_tokens), 0) AS generation_tokens,
    sum(input_cost_usd) / nullif(sum(prompt_tokens), 0) * 1e6 AS usd_per_1m_input,
    sum(output_cost_usd) / nullif(sum(generation_tokens), 0) * 1e6 AS usd_per_1m_output,
    count(*) FILTER (WHERE split_basis LIKE 'fixed%') AS engines_fallback_split
FROM e;

-- name: report_kv_incidents
-- KV-cache pressure incidents: runs of consecutive scrapes of one engine where the KV cache
-- was at least diagnosis.kv_usage_high full while at least diagnosis.waiting_requests_min
-- requests waited, or the engine preempted at least diagnosis.preemptions_per_min_high
-- requests per minute. An incident ends at the first scrape without pressure (ended); when
-- the window ends first, ended is the last scrape seen.
-- param: start TIMESTAMP = -1d : window start (UTC)
-- param: end TIMESTAMP = now : window end (UTC)
WITH th AS (
    SELECT kv_usage_high, waiting_requests_min, preemptions_per_min_high FROM diagnosis_thresholds
),
g AS (
    SELECT ts, target, entity_key AS engine, max(model) AS model, max(namespace) AS namespace,
        max(value_c) FILTER (WHERE canonical = 'kv_usage')         AS kv_usage,
        max(value_c) FILTER (WHERE canonical = 'requests_waiting') AS waiting,
        max(value_c) FILTER (WHERE canonical = 'requests_running') AS running
    FROM canonical_samples
    WHERE entity = 'engine' AND canonical IN ('kv_usage', 'requests_waiting', 'requests_running')
      AND ts > $start AND ts <= $end
    GROUP BY ts, target, entity_key
),
p AS (
    SELECT ts, target, engine, preemptions, epoch(ts) - epoch(prev_ts) AS dt_s
    FROM engine_increments_between($start, $end)
),
j AS (
    SELECT g.*, coalesce(p.preemptions, 0) AS preemptions,
        coalesce(g.kv_usage >= th.kv_usage_high AND coalesce(g.waiting, 0) >= th.waiting_requests_min, false)
        OR coalesce(60.0 * p.preemptions / nullif(p.dt_s, 0) >= th.preemptions_per_min_high
                    AND p.preemptions > 0, false) AS hot,
        lead(g.ts) OVER (PARTITION BY g.target, g.engine ORDER BY g.ts) AS next_ts
    FROM g
    LEFT JOIN p USING (ts, target, engine)
    CROSS JOIN th
),
isl AS (
    SELECT *,
        row_number() OVER (PARTITION BY target, engine ORDER BY ts)
        - row_number() OVER (PARTITION BY target, engine, hot ORDER BY ts) AS run
    FROM j
)
SELECT target, engine, any_value(model) AS model, any_value(namespace) AS namespace,
    min(ts) AS started,
    coalesce(arg_max(next_ts, ts), max(ts)) AS ended,
    (epoch(coalesce(arg_max(next_ts, ts), max(ts))) - epoch(min(ts))) / 60.0 AS minutes,
    count(*) AS scrapes,
    max(kv_usage) AS peak_kv_usage,
    max(waiting) AS max_waiting,
    avg(running) AS mean_running,
    sum(preemptions) AS preemptions
FROM isl
WHERE hot
GROUP BY target, engine, run
ORDER BY started, target, engine;

-- name: report_target_health
-- Per target over a window: scrapes, failures, the longest run of failed scrapes (an outage:
-- from its first failure to the next success, or the window's last scrape) and the last
-- error. Targets known to the store but never scraped in the window are listed with 0 scrapes.
-- param: start TIMESTAMP = -1d : window start (UTC)
-- param: end TIMESTAMP = now : window end (UTC)
WITH s AS (
    SELECT target, started_at, error,
        lead(started_at) OVER (PARTITION BY target ORDER BY started_at) AS next_at,
        row_number() OVER (PARTITION BY target ORDER BY started_at)
        - row_number() OVER (PARTITION BY target, error IS NULL ORDER BY started_at) AS run
    FROM scrapes
    WHERE started_at > $start AND started_at <= $end
),
outages AS (
    SELECT target, min(started_at) AS down_from, coalesce(arg_max(next_at, started_at), max(started_at)) AS down_to,
           count(*) AS failed_scrapes
    FROM s
    WHERE error IS NOT NULL
    GROUP BY target, run
),
longest AS (
    SELECT target, arg_max(down_from, epoch(down_to) - epoch(down_from)) AS down_from,
           arg_max(down_to, epoch(down_to) - epoch(down_from)) AS down_to,
           max(epoch(down_to) - epoch(down_from)) / 60.0 AS longest_outage_minutes,
           count(*) AS outages
    FROM outages
    GROUP BY target
),
per AS (
    SELECT target, count(*) AS scrapes, count(*) FILTER (WHERE error IS NOT NULL) AS failures,
           max(started_at) FILTER (WHERE error IS NULL) AS last_success,
           arg_max(error, started_at) FILTER (WHERE error IS NOT NULL) AS last_error,
           arg_max(error IS NOT NULL, started_at) AS down_at_end
    FROM s
    GROUP BY target
)
SELECT t.name AS target, coalesce(t.detected, t.kind) AS kind,
    coalesce(per.scrapes, 0) AS scrapes, coalesce(per.failures, 0) AS failures,
    coalesce(per.failures, 0) / nullif(per.scrapes, 0) AS failure_share,
    coalesce(l.outages, 0) AS outages, l.longest_outage_minutes, l.down_from, l.down_to,
    coalesce(per.down_at_end, false) AS down_at_end,
    per.last_success, per.last_error
FROM targets t
LEFT JOIN per ON per.target = t.name
LEFT JOIN longest l ON l.target = t.name
ORDER BY coalesce(per.failures, 0) = 0 AND coalesce(per.scrapes, 0) > 0, failure_share DESC NULLS FIRST, t.name;

-- name: report_gaps
-- Holes in each target's data: stretches longer than gap_factor scrape intervals (the
-- target's median interval in the window) without a successful scrape, including from the
-- window start to the first one and from the last one to the window end. A collector that
-- was down shows as the same gap on every target; a target that was down, on that target only.
-- param: start TIMESTAMP = -1d : window start (UTC)
-- param: end TIMESTAMP = now : window end (UTC)
-- param: gap_factor DOUBLE = 3 : a gap is longer than this many median intervals
WITH ok AS (
    SELECT target, started_at AS ts FROM scrapes
    WHERE started_at > $start AND started_at <= $end AND error IS NULL
),
d AS (
    SELECT target, lag(ts) OVER (PARTITION BY target ORDER BY ts) AS gap_from, ts AS gap_to FROM ok
),
med AS (
    SELECT target, median(epoch(gap_to) - epoch(gap_from)) AS interval_s FROM d WHERE gap_from IS NOT NULL
    GROUP BY target
),
edges AS (
    SELECT target, min(ts) AS first_ok, max(ts) AS last_ok FROM ok GROUP BY target
),
all_gaps AS (
    SELECT target, gap_from, gap_to, 'between scrapes' AS kind FROM d WHERE gap_from IS NOT NULL
    UNION ALL
    SELECT target, $start, first_ok, 'before the first scrape' FROM edges
    UNION ALL
    SELECT target, last_ok, $end, 'after the last scrape' FROM edges
)
SELECT g.target, g.kind, g.gap_from, g.gap_to, (epoch(g.gap_to) - epoch(g.gap_from)) / 60.0 AS minutes,
       m.interval_s AS usual_interval_s
FROM all_gaps g JOIN med m USING (target)
WHERE epoch(g.gap_to) - epoch(g.gap_from) > $gap_factor * m.interval_s
ORDER BY g.gap_from, g.target;

-- name: report_counter_resets
-- Counter resets in a window: engines' token and request counters (a restart; the increment
-- after it is the new value itself, so no tokens are lost) and GPUs' energy counters (a
-- driver reload).
-- param: start TIMESTAMP = -1d : window start (UTC)
-- param: end TIMESTAMP = now : window end (UTC)
WITH e AS (
    SELECT target, engine, any_value(model) AS model, count(*) AS resets, min(ts) AS first_at, max(ts) AS last_at
    FROM engine_increments_between($start, $end)
    WHERE reset
    GROUP BY target, engine
),
energy AS (
    SELECT ts, target, coalesce(uuid, hostname || ':' || gpu) AS gpu, max(hostname) AS hostname,
           max(gpu) AS gpu_index, max(value_c) AS energy_j
    FROM canonical_samples
    WHERE canonical = 'energy_j' AND gpu_instance IS NULL AND ts > $start - INTERVAL 1 HOUR AND ts <= $end
    GROUP BY ts, target, coalesce(uuid, hostname || ':' || gpu)
),
er AS (
    SELECT target, gpu, any_value(hostname) AS hostname, any_value(gpu_index) AS gpu_index, count(*) AS resets,
           min(ts) AS first_at, max(ts) AS last_at
    FROM (SELECT *, lag(energy_j) OVER (PARTITION BY target, gpu ORDER BY ts) AS prev FROM energy)
    WHERE energy_j < prev AND ts > $start
    GROUP BY target, gpu
)
SELECT 'engine' AS kind, target || CASE WHEN engine <> '0' THEN '/' || engine ELSE '' END AS source,
       model AS detail, resets, first_at, last_at
FROM e
UNION ALL
SELECT 'gpu energy', target || ' · ' || coalesce(hostname || ' GPU ' || gpu_index, gpu), gpu, resets, first_at, last_at
FROM er
ORDER BY kind, source;

-- name: report_hourly
-- Fleet totals per hour of a window (hours counted from the window start): engines' cost,
-- input and output tokens, tokens/s and $ per 1M tokens; idle GPUs' cost apart.
-- param: start TIMESTAMP = -1d : window start (UTC)
-- param: end TIMESTAMP = now : window end (UTC)
WITH e AS (
    SELECT bucket_start, sum(cost_usd) AS cost_usd, sum(prompt_tokens) AS prompt_tokens,
           sum(generation_tokens) AS generation_tokens, sum(input_cost_usd) AS input_cost_usd,
           sum(output_cost_usd) AS output_cost_usd
    FROM engine_costs_between($start, $end, 3600, NULL)
    GROUP BY bucket_start
),
idle AS (
    SELECT time_bucket(INTERVAL 1 HOUR, ts - INTERVAL 1 MICROSECOND, $start) AS bucket_start,
           sum(cost_usd) AS idle_cost_usd
    FROM gpu_slots_between($start, $end, NULL)
    WHERE engine_target IS NULL
    GROUP BY ALL
),
hours AS (
    SELECT unnest(generate_series($start, $end - INTERVAL 1 MICROSECOND, INTERVAL 1 HOUR)) AS bucket_start
)
SELECT h.bucket_start AS hour_start,
    coalesce(e.prompt_tokens, 0) AS prompt_tokens,
    coalesce(e.generation_tokens, 0) AS generation_tokens,
    (coalesce(e.prompt_tokens, 0) + coalesce(e.generation_tokens, 0))
        / (epoch(least(h.bucket_start + INTERVAL 1 HOUR, $end)) - epoch(h.bucket_start)) AS tokens_per_s,
    coalesce(e.cost_usd, 0) AS cost_usd,
    coalesce(idle.idle_cost_usd, 0) AS idle_cost_usd,
    e.input_cost_usd / nullif(e.prompt_tokens, 0) * 1e6 AS usd_per_1m_input,
    e.output_cost_usd / nullif(e.generation_tokens, 0) * 1e6 AS usd_per_1m_output
FROM hours h
LEFT JOIN e USING (bucket_start)
LEFT JOIN idle USING (bucket_start)
ORDER BY hour_start;
