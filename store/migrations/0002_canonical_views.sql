-- Canonical views: one meaning per column, whatever names the sources used.
--
-- series -> mapped_series     which canonical column a series feeds, for which GPU or engine
--        -> canonical_samples values in canonical units, one source name per thing at a time
--        -> gpu_metrics / engine_metrics               one row per GPU or engine per scrape
--        -> counter_increments -> engine_increments, engine_histogram_increments,
--                                 gpu_energy_increments  reset-safe amounts per interval
-- Which source name and unit maps to which column lives in collector/metric_map.csv.

-- Every mapped series, with the thing it describes (entity_key: GPU uuid/MIG instance, or the
-- engine index) and the time from which a preferred source name (lower priority) for the same
-- column of the same thing was reported. So a page that carries a deprecated name beside its
-- successor counts once, and what an engine reported under the old name before an upgrade
-- stays visible.
CREATE VIEW mapped_series AS
WITH m AS (
    SELECT *,
        CASE entity
            WHEN 'gpu'    THEN coalesce(uuid, hostname || ':' || gpu, '') || '/' || coalesce(gpu_instance, '')
            WHEN 'engine' THEN coalesce(engine, '0')
            ELSE ''
        END AS entity_key
    FROM series
    WHERE canonical IS NOT NULL
),
successor AS (
    SELECT a.series_id, min(b.first_seen) AS superseded_at
    FROM m a JOIN m b
      ON b.target = a.target AND b.entity = a.entity AND b.canonical = a.canonical
     AND b.entity_key = a.entity_key AND b.priority < a.priority
     AND b.part <> 'created'           -- a lone _created line is no successor
    GROUP BY a.series_id
)
SELECT m.*, successor.superseded_at
FROM m LEFT JOIN successor USING (series_id);

-- The preferred source of each canonical column: mapped series never superseded.
CREATE VIEW canonical_series AS
SELECT * EXCLUDE (entity_key, superseded_at)
FROM mapped_series
WHERE superseded_at IS NULL;

-- Samples of mapped series, value_c in the canonical unit (value x scale). A source name's
-- samples count only from before a preferred name for the same thing appeared. _created
-- lines are no values (they are timestamps): counter_increments reads them from samples.
CREATE VIEW canonical_samples AS
SELECT s.ts, s.value, s.value * m.scale AS value_c, m.*
FROM samples s JOIN mapped_series m USING (series_id)
WHERE m.part <> 'created' AND (m.superseded_at IS NULL OR s.ts < m.superseded_at);

-- Counter increments per series and scrape interval. A counter restarted, since the previous
-- sample of its series, when any value of its group dropped (a histogram's count drops even
-- when its sum does not), when its _created time changed, or when its process's start time
-- changed (V0 pages have no _created). The increment after a restart is the new value itself,
-- so a restart between two scrapes loses no tokens; an increment is never negative. The first
-- sample of a series has no increment (there is nothing to subtract it from).
CREATE VIEW counter_increments AS
WITH c AS (
    SELECT s.ts, s.series_id, s.value, m.target, m.group_key, m.canonical, m.entity, m.entity_key,
           m.part, m.le, m.scale
    FROM samples s JOIN mapped_series m USING (series_id)
    WHERE m.part IN ('', 'sum', 'count', 'bucket') AND m.mtype IN ('counter', 'histogram')
      -- A superseded name still counts the interval that ends at its successor's first scrape:
      -- the successor's first sample has no previous one, so nothing is counted twice or lost.
      AND (m.superseded_at IS NULL OR s.ts <= m.superseded_at)
),
created AS (
    SELECT s.ts, se.target, se.group_key, max(s.value) AS created
    FROM samples s JOIN series se USING (series_id)
    WHERE se.part = 'created'
    GROUP BY s.ts, se.target, se.group_key
),
started AS (
    SELECT ts, target, max(value) AS started
    FROM canonical_samples
    WHERE canonical = 'process_start'
    GROUP BY ts, target
),
lagged AS (
    SELECT c.*, cr.created, st.started,
        lag(c.ts)    OVER w AS prev_ts,
        lag(c.value) OVER w AS prev_value,
        -- IGNORE NULLS: one page without the _created line must not hide a restart
        lag(cr.created IGNORE NULLS) OVER w AS prev_created,
        lag(st.started IGNORE NULLS) OVER w AS prev_started
    FROM c
    LEFT JOIN created cr USING (ts, target, group_key)
    LEFT JOIN started st USING (ts, target)
    WINDOW w AS (PARTITION BY c.series_id ORDER BY c.ts)
),
flagged AS (
    SELECT *,
        coalesce(value < prev_value, false)
        OR coalesce(created <> prev_created, false)
        OR coalesce(abs(started - prev_started) > 1, false) AS own_reset
    FROM lagged
    WHERE prev_ts IS NOT NULL
),
grouped AS (
    SELECT *, bool_or(own_reset) OVER (PARTITION BY target, group_key, ts) AS reset
    FROM flagged
)
SELECT ts, prev_ts, series_id, target, canonical, entity, part, value, prev_value, reset,
    CASE WHEN reset THEN greatest(value, 0) ELSE value - prev_value END AS increment,
    entity_key, group_key, le, scale
FROM grouped;

-- One row per GPU (or MIG instance: gpu_instance not NULL) per scrape. Where several pods
-- share a GPU (vgpu, MPS, time-slicing) dcgm-exporter repeats the device's series once per
-- pod: values are taken once (max), pod is one of them and pods lists them all.
CREATE VIEW gpu_metrics AS
SELECT
    c.ts, c.target, coalesce(c.uuid, c.hostname || ':' || c.gpu) AS uuid, c.gpu_instance,
    max(c.cluster) AS cluster, max(c.hostname) AS hostname, max(c.gpu) AS gpu,
    max(c.gpu_model) AS gpu_model, max(c.mig_profile) AS mig_profile,
    max(c.namespace) AS namespace, max(c.pod) AS pod, max(c.container) AS container,
    max(c.vgpu) AS vgpu,
    max(c.value_c) FILTER (WHERE c.canonical = 'dram_active')       AS dram_active,
    max(c.value_c) FILTER (WHERE c.canonical = 'tensor_active')     AS tensor_active,
    max(c.value_c) FILTER (WHERE c.canonical = 'gr_engine_active')  AS gr_engine_active,
    max(c.value_c) FILTER (WHERE c.canonical = 'sm_active')         AS sm_active,
    max(c.value_c) FILTER (WHERE c.canonical = 'gpu_util')          AS gpu_util,
    max(c.value_c) FILTER (WHERE c.canonical = 'mem_copy_util')     AS mem_copy_util,
    max(c.value_c) FILTER (WHERE c.canonical = 'fb_used_bytes')     AS fb_used_bytes,
    max(c.value_c) FILTER (WHERE c.canonical = 'fb_free_bytes')     AS fb_free_bytes,
    max(c.value_c) FILTER (WHERE c.canonical = 'fb_reserved_bytes') AS fb_reserved_bytes,
    max(c.value_c) FILTER (WHERE c.canonical = 'power_w')           AS power_w,
    max(c.value_c) FILTER (WHERE c.canonical = 'energy_j')          AS energy_j,
    max(c.value_c) FILTER (WHERE c.canonical = 'sm_clock_mhz')      AS sm_clock_mhz,
    max(c.value_c) FILTER (WHERE c.canonical = 'gpu_temp_c')        AS gpu_temp_c,
    coalesce(list(DISTINCT c.pod ORDER BY c.pod) FILTER (WHERE c.pod IS NOT NULL), [])::VARCHAR[] AS pods,
    max(c.value_c) FILTER (WHERE c.canonical = 'sm_occupancy')      AS sm_occupancy,
    max(c.value_c) FILTER (WHERE c.canonical = 'pcie_tx_bytes_per_s') AS pcie_tx_bytes_per_s,
    max(c.value_c) FILTER (WHERE c.canonical = 'pcie_rx_bytes_per_s') AS pcie_rx_bytes_per_s
FROM canonical_samples c
WHERE c.entity = 'gpu'
GROUP BY c.ts, c.target, coalesce(c.uuid, c.hostname || ':' || c.gpu), c.gpu_instance;

-- One row per engine per scrape. Token, request and seconds columns are raw cumulative
-- values; use engine_increments for amounts over a window. Latency histograms appear as
-- *_seconds_sum (seconds) and *_count (observations); buckets in engine_histogram_increments.
CREATE VIEW engine_metrics AS
SELECT *, coalesce(kv_capacity_config_tokens, kv_capacity_gauge_tokens) AS kv_capacity_tokens
FROM (
    SELECT
        c.ts, c.target, c.entity_key AS engine,
        max(c.cluster) AS cluster, max(c.model) AS model, max(c.namespace) AS namespace, max(c.pod) AS pod,
        max(c.value_c) FILTER (WHERE c.canonical = 'kv_usage')              AS kv_usage,
        max(c.value_c) FILTER (WHERE c.canonical = 'requests_running')      AS requests_running,
        max(c.value_c) FILTER (WHERE c.canonical = 'requests_waiting')      AS requests_waiting,
        max(c.value_c) FILTER (WHERE c.canonical = 'requests_swapped')      AS requests_swapped,
        max(c.value_c) FILTER (WHERE c.canonical = 'kv_used_tokens')        AS kv_used_tokens,
        -- vLLM: kv_cache_size_tokens (hybrid-model aware, newest) else num_gpu_blocks x block_size;
        -- SGLang: num_pages x page_size.
        max(coalesce(
            try_cast(c.labels['kv_cache_size_tokens'] AS DOUBLE),
            try_cast(c.labels['num_gpu_blocks'] AS DOUBLE) * try_cast(c.labels['block_size'] AS DOUBLE),
            try_cast(c.labels['num_pages'] AS DOUBLE) * try_cast(c.labels['page_size'] AS DOUBLE)
        )) FILTER (WHERE c.canonical = 'kv_cache_config')                    AS kv_capacity_config_tokens,
        max(c.value_c) FILTER (WHERE c.canonical = 'kv_capacity_tokens')    AS kv_capacity_gauge_tokens,
        sum(c.value_c) FILTER (WHERE c.canonical = 'prompt_tokens' AND c.part IN ('', 'sum'))     AS prompt_tokens,
        sum(c.value_c) FILTER (WHERE c.canonical = 'generation_tokens' AND c.part IN ('', 'sum')) AS generation_tokens,
        sum(c.value_c) FILTER (WHERE c.canonical = 'cached_prompt_tokens')  AS cached_prompt_tokens,
        sum(c.value_c) FILTER (WHERE c.canonical = 'prefix_cache_queries')  AS prefix_cache_queries,
        sum(c.value_c) FILTER (WHERE c.canonical = 'preemptions')           AS preemptions,
        sum(c.value_c) FILTER (WHERE c.canonical = 'requests_finished')     AS requests_finished,
        sum(c.value_c) FILTER (WHERE c.canonical = 'prefill_seconds' AND c.part = 'sum') AS prefill_seconds,
        sum(c.value_c) FILTER (WHERE c.canonical = 'decode_seconds' AND c.part = 'sum')  AS decode_seconds,
        max(c.hostname) AS hostname,
        sum(c.value_c) FILTER (WHERE c.canonical = 'ttft_seconds' AND c.part = 'sum')    AS ttft_seconds_sum,
        sum(c.value_c) FILTER (WHERE c.canonical = 'ttft_seconds' AND c.part = 'count')  AS ttft_count,
        sum(c.value_c) FILTER (WHERE c.canonical = 'itl_seconds' AND c.part = 'sum')     AS itl_seconds_sum,
        sum(c.value_c) FILTER (WHERE c.canonical = 'itl_seconds' AND c.part = 'count')   AS itl_count,
        sum(c.value_c) FILTER (WHERE c.canonical = 'e2e_seconds' AND c.part = 'sum')     AS e2e_seconds_sum,
        sum(c.value_c) FILTER (WHERE c.canonical = 'e2e_seconds' AND c.part = 'count')   AS e2e_count,
        sum(c.value_c) FILTER (WHERE c.canonical = 'queue_seconds' AND c.part = 'sum')   AS queue_seconds_sum,
        sum(c.value_c) FILTER (WHERE c.canonical = 'queue_seconds' AND c.part = 'count') AS queue_count
    FROM canonical_samples c
    WHERE c.entity = 'engine'
    GROUP BY c.ts, c.target, c.entity_key
);

-- Increments of engine counters per scrape interval, reset-safe (see counter_increments).
CREATE VIEW engine_increments AS
SELECT
    ci.ts, ci.target, ci.entity_key AS engine,
    min(ci.prev_ts) AS prev_ts, max(ms.cluster) AS cluster, max(ms.model) AS model,
    max(ms.namespace) AS namespace, max(ms.pod) AS pod,
    sum(ci.increment * ci.scale) FILTER (WHERE ci.canonical = 'prompt_tokens' AND ci.part IN ('', 'sum'))     AS prompt_tokens,
    sum(ci.increment * ci.scale) FILTER (WHERE ci.canonical = 'generation_tokens' AND ci.part IN ('', 'sum')) AS generation_tokens,
    sum(ci.increment * ci.scale) FILTER (WHERE ci.canonical = 'cached_prompt_tokens') AS cached_prompt_tokens,
    sum(ci.increment * ci.scale) FILTER (WHERE ci.canonical = 'prefix_cache_queries') AS prefix_cache_queries,
    sum(ci.increment * ci.scale) FILTER (WHERE ci.canonical = 'preemptions')          AS preemptions,
    sum(ci.increment * ci.scale) FILTER (WHERE ci.canonical = 'requests_finished')    AS requests_finished,
    sum(ci.increment * ci.scale) FILTER (WHERE ci.canonical = 'prefill_seconds' AND ci.part = 'sum') AS prefill_seconds,
    sum(ci.increment * ci.scale) FILTER (WHERE ci.canonical = 'decode_seconds' AND ci.part = 'sum')  AS decode_seconds,
    bool_or(ci.reset) AS reset,
    max(ms.hostname) AS hostname,
    sum(ci.increment * ci.scale) FILTER (WHERE ci.canonical = 'ttft_seconds' AND ci.part = 'sum')    AS ttft_seconds_sum,
    sum(ci.increment)            FILTER (WHERE ci.canonical = 'ttft_seconds' AND ci.part = 'count')  AS ttft_count,
    sum(ci.increment * ci.scale) FILTER (WHERE ci.canonical = 'itl_seconds' AND ci.part = 'sum')     AS itl_seconds_sum,
    sum(ci.increment)            FILTER (WHERE ci.canonical = 'itl_seconds' AND ci.part = 'count')   AS itl_count,
    sum(ci.increment * ci.scale) FILTER (WHERE ci.canonical = 'e2e_seconds' AND ci.part = 'sum')     AS e2e_seconds_sum,
    sum(ci.increment)            FILTER (WHERE ci.canonical = 'e2e_seconds' AND ci.part = 'count')   AS e2e_count,
    sum(ci.increment * ci.scale) FILTER (WHERE ci.canonical = 'queue_seconds' AND ci.part = 'sum')   AS queue_seconds_sum,
    sum(ci.increment)            FILTER (WHERE ci.canonical = 'queue_seconds' AND ci.part = 'count') AS queue_count
FROM counter_increments ci JOIN mapped_series ms USING (series_id)
WHERE ci.entity = 'engine'
GROUP BY ci.ts, ci.target, ci.entity_key;

-- Histogram bucket increments per engine and interval, reset-safe: for quantiles over a
-- window. canonical names the histogram (ttft_seconds, itl_seconds, e2e_seconds, ...);
-- le is the bucket bound in the source unit (seconds or tokens), count how many observations
-- at or below it arrived in the interval.
CREATE VIEW engine_histogram_increments AS
SELECT ci.ts, ci.prev_ts, ci.target, ci.entity_key AS engine, ms.model, ci.canonical, ci.le,
       ci.increment AS count, ci.reset
FROM counter_increments ci JOIN mapped_series ms USING (series_id)
WHERE ci.entity = 'engine' AND ci.part = 'bucket';

-- Energy per GPU per scrape interval from the DCGM counter (mJ since boot), reset-safe. A GPU
-- shared by several pods repeats the counter per pod: taken once. MIG instance rows
-- (gpu_instance not NULL), where an exporter prints them, repeat their parent's counter:
-- sum over gpu_instance IS NULL only.
CREATE VIEW gpu_energy_increments AS
SELECT ci.ts, min(ci.prev_ts) AS prev_ts, ci.target, max(ms.cluster) AS cluster,
       max(ms.hostname) AS hostname, max(ms.gpu) AS gpu,
       coalesce(ms.uuid, ms.hostname || ':' || ms.gpu) AS uuid, max(ms.gpu_model) AS gpu_model,
       ms.gpu_instance, max(ci.increment * ci.scale) AS energy_j, bool_or(ci.reset) AS reset
FROM counter_increments ci JOIN mapped_series ms USING (series_id)
WHERE ci.canonical = 'energy_j'
GROUP BY ci.ts, ci.target, coalesce(ms.uuid, ms.hostname || ':' || ms.gpu), ms.gpu_instance;

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
