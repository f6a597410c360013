-- Canonical views: one meaning per column, whatever names the sources used.

-- Each canonical series per entity keeps only the preferred source name (lowest priority),
-- so a page carrying a deprecated name beside its successor is not counted twice.
CREATE VIEW canonical_series AS
SELECT *
FROM series
WHERE canonical IS NOT NULL
QUALIFY priority = min(priority) OVER (
    PARTITION BY target, entity, canonical, coalesce(uuid, ''), coalesce(gpu_instance, ''),
                 coalesce(engine, ''), part, coalesce(le, 0)
);

-- Counter increments with reset detection. A counter restarts when its value drops or its
-- _created timestamp changes; the increment after a restart is the new value itself, so an
-- engine restart between two scrapes loses no tokens and never goes negative.
CREATE VIEW counter_increments AS
WITH c AS (
    SELECT s.ts, s.series_id, s.value, cs.target, cs.group_key, cs.canonical, cs.entity, cs.part
    FROM samples s JOIN canonical_series cs USING (series_id)
    WHERE cs.part IN ('', 'sum', 'count', 'bucket') AND cs.mtype IN ('counter', 'histogram')
),
created AS (
    SELECT s.ts, cs.target, cs.group_key, s.value AS created
    FROM samples s JOIN series cs USING (series_id)
    WHERE cs.part = 'created'
),
joined AS (
    SELECT c.*, cr.created
    FROM c LEFT JOIN created cr USING (ts, target, group_key)
),
lagged AS (
    SELECT *,
        lag(value)   OVER w AS prev_value,
        lag(created) OVER w AS prev_created,
        lag(ts)      OVER w AS prev_ts
    FROM joined
    WINDOW w AS (PARTITION BY series_id ORDER BY ts)
)
SELECT ts, prev_ts, series_id, target, canonical, entity, part, value, prev_value,
    (value < prev_value OR (created IS NOT NULL AND prev_created IS NOT NULL AND created <> prev_created)) AS reset,
    CASE
        WHEN value < prev_value THEN value
        WHEN created IS NOT NULL AND prev_created IS NOT NULL AND created <> prev_created THEN value
        ELSE value - prev_value
    END AS increment
FROM lagged
WHERE prev_value IS NOT NULL;

-- One row per GPU (or MIG instance) per scrape.
CREATE VIEW gpu_metrics AS
SELECT
    s.ts, cs.target, coalesce(cs.uuid, cs.hostname || ':' || cs.gpu) AS uuid, cs.gpu_instance,
    max(cs.cluster) AS cluster, max(cs.hostname) AS hostname, max(cs.gpu) AS gpu,
    max(cs.gpu_model) AS gpu_model, max(cs.mig_profile) AS mig_profile,
    max(cs.namespace) AS namespace, max(cs.pod) AS pod, max(cs.container) AS container,
    max(cs.vgpu) AS vgpu,
    max(s.value * cs.scale) FILTER (WHERE cs.canonical = 'dram_active')       AS dram_active,
    max(s.value * cs.scale) FILTER (WHERE cs.canonical = 'tensor_active')     AS tensor_active,
    max(s.value * cs.scale) FILTER (WHERE cs.canonical = 'gr_engine_active')  AS gr_engine_active,
    max(s.value * cs.scale) FILTER (WHERE cs.canonical = 'sm_active')         AS sm_active,
    max(s.value * cs.scale) FILTER (WHERE cs.canonical = 'gpu_util')          AS gpu_util,
    max(s.value * cs.scale) FILTER (WHERE cs.canonical = 'mem_copy_util')     AS mem_copy_util,
    max(s.value * cs.scale) FILTER (WHERE cs.canonical = 'fb_used_bytes')     AS fb_used_bytes,
    max(s.value * cs.scale) FILTER (WHERE cs.canonical = 'fb_free_bytes')     AS fb_free_bytes,
    max(s.value * cs.scale) FILTER (WHERE cs.canonical = 'fb_reserved_bytes') AS fb_reserved_bytes,
    max(s.value * cs.scale) FILTER (WHERE cs.canonical = 'power_w')           AS power_w,
    max(s.value * cs.scale) FILTER (WHERE cs.canonical = 'energy_j')          AS energy_j,
    max(s.value * cs.scale) FILTER (WHERE cs.canonical = 'sm_clock_mhz')      AS sm_clock_mhz,
    max(s.value * cs.scale) FILTER (WHERE cs.canonical = 'gpu_temp_c')        AS gpu_temp_c
FROM samples s JOIN canonical_series cs USING (series_id)
WHERE cs.entity = 'gpu'
GROUP BY s.ts, cs.target, coalesce(cs.uuid, cs.hostname || ':' || cs.gpu), cs.gpu_instance;

-- One row per engine per scrape. Counters are raw cumulative values; use counter_increments
-- (or engine_increments) for amounts over a window.
CREATE VIEW engine_metrics AS
SELECT
    s.ts, cs.target, coalesce(cs.engine, '0') AS engine,
    max(cs.cluster) AS cluster, max(cs.model) AS model, max(cs.namespace) AS namespace, max(cs.pod) AS pod,
    max(s.value * cs.scale) FILTER (WHERE cs.canonical = 'kv_usage')              AS kv_usage,
    max(s.value * cs.scale) FILTER (WHERE cs.canonical = 'requests_running')      AS requests_running,
    max(s.value * cs.scale) FILTER (WHERE cs.canonical = 'requests_waiting')      AS requests_waiting,
    max(s.value * cs.scale) FILTER (WHERE cs.canonical = 'requests_swapped')      AS requests_swapped,
    max(s.value * cs.scale) FILTER (WHERE cs.canonical = 'kv_used_tokens')        AS kv_used_tokens,
    max(coalesce(
        try_cast(cs.labels['kv_cache_size_tokens'] AS DOUBLE),
        try_cast(cs.labels['num_gpu_blocks'] AS DOUBLE) * try_cast(cs.labels['block_size'] AS DOUBLE),
        try_cast(cs.labels['num_pages'] AS DOUBLE) * try_cast(cs.labels['page_size'] AS DOUBLE)
    )) FILTER (WHERE cs.canonical = 'kv_cache_config')
      ::DOUBLE AS kv_capacity_config_tokens,
    max(s.value * cs.scale) FILTER (WHERE cs.canonical = 'kv_capacity_tokens')    AS kv_capacity_gauge_tokens,
    sum(s.value * cs.scale) FILTER (WHERE cs.canonical = 'prompt_tokens' AND cs.part IN ('', 'sum'))      AS prompt_tokens,
    sum(s.value * cs.scale) FILTER (WHERE cs.canonical = 'generation_tokens' AND cs.part IN ('', 'sum'))  AS generation_tokens,
    sum(s.value * cs.scale) FILTER (WHERE cs.canonical = 'cached_prompt_tokens')  AS cached_prompt_tokens,
    sum(s.value * cs.scale) FILTER (WHERE cs.canonical = 'prefix_cache_queries')  AS prefix_cache_queries,
    sum(s.value * cs.scale) FILTER (WHERE cs.canonical = 'preemptions')           AS preemptions,
    sum(s.value * cs.scale) FILTER (WHERE cs.canonical = 'requests_finished')     AS requests_finished,
    sum(s.value * cs.scale) FILTER (WHERE cs.canonical = 'prefill_seconds' AND cs.part = 'sum') AS prefill_seconds,
    sum(s.value * cs.scale) FILTER (WHERE cs.canonical = 'decode_seconds' AND cs.part = 'sum')  AS decode_seconds
FROM samples s JOIN canonical_series cs USING (series_id)
WHERE cs.entity = 'engine'
GROUP BY s.ts, cs.target, coalesce(cs.engine, '0');

-- Increments of engine counters per scrape interval, reset-safe.
CREATE VIEW engine_increments AS
SELECT
    ci.ts, cs.target, coalesce(cs.engine, '0') AS engine,
    min(ci.prev_ts) AS prev_ts, max(cs.cluster) AS cluster, max(cs.model) AS model,
    max(cs.namespace) AS namespace, max(cs.pod) AS pod,
    sum(ci.increment * cs.scale) FILTER (WHERE ci.canonical = 'prompt_tokens' AND ci.part IN ('', 'sum'))     AS prompt_tokens,
    sum(ci.increment * cs.scale) FILTER (WHERE ci.canonical = 'generation_tokens' AND ci.part IN ('', 'sum')) AS generation_tokens,
    sum(ci.increment * cs.scale) FILTER (WHERE ci.canonical = 'cached_prompt_tokens') AS cached_prompt_tokens,
    sum(ci.increment * cs.scale) FILTER (WHERE ci.canonical = 'prefix_cache_queries') AS prefix_cache_queries,
    sum(ci.increment * cs.scale) FILTER (WHERE ci.canonical = 'preemptions')          AS preemptions,
    sum(ci.increment * cs.scale) FILTER (WHERE ci.canonical = 'requests_finished')    AS requests_finished,
    sum(ci.increment * cs.scale) FILTER (WHERE ci.canonical = 'prefill_seconds' AND ci.part = 'sum') AS prefill_seconds,
    sum(ci.increment * cs.scale) FILTER (WHERE ci.canonical = 'decode_seconds' AND ci.part = 'sum')  AS decode_seconds,
    bool_or(ci.reset) AS reset
FROM counter_increments ci JOIN canonical_series cs USING (series_id)
WHERE ci.entity = 'engine'
GROUP BY ci.ts, cs.target, coalesce(cs.engine, '0');

-- Energy per GPU per scrape interval from the DCGM counter (mJ since boot), reset-safe.
CREATE VIEW gpu_energy_increments AS
SELECT ci.ts, ci.prev_ts, cs.target, cs.cluster, cs.hostname, cs.gpu, cs.uuid, cs.gpu_model,
       cs.gpu_instance, ci.increment * cs.scale AS energy_j, ci.reset
FROM counter_increments ci JOIN canonical_series cs USING (series_id)
WHERE ci.canonical = 'energy_j';

CREATE VIEW scrape_health AS
SELECT target,
       max(started_at) AS last_scrape,
       max(started_at) FILTER (WHERE error IS NULL) AS last_success,
       arg_max(error, started_at) AS last_error,
       count(*) AS scrapes,
       count(*) FILTER (WHERE error IS NOT NULL) AS failures,
       avg(duration_s) AS mean_duration_s,
       arg_max(samples, started_at) AS last_samples
FROM scrapes
GROUP BY target;
