-- Read-side queries of the dashboard (dashboard/). Every one is also a normal named query:
-- `memmoat query dash_kv_summary --param start=-1h` shows what the KV page shows.
--
-- Filters: cluster, namespace and model are SQL LIKE patterns ('%' = all; \ escapes % and _). A GPU's namespace
-- and model are those of the engine that holds it, by the chargeback's attribution rules
-- (pod labels, else the engine target's hostname + gpu_indices; see gpu_attribution).
-- Times are UTC. bucket_s is the width of one point on a time chart, in seconds.

-- name: dash_dimensions
-- Clusters, namespaces and models seen in the store: the choices of the dashboard's filters.
SELECT DISTINCT 'cluster' AS dim, cluster AS value FROM series WHERE cluster IS NOT NULL AND entity IN ('gpu', 'engine')
UNION
SELECT DISTINCT 'namespace', namespace FROM series WHERE namespace IS NOT NULL AND entity IN ('gpu', 'engine')
UNION
SELECT DISTINCT 'model', model FROM series WHERE model IS NOT NULL AND entity = 'engine'
ORDER BY dim, value;

-- name: dash_target_labels
-- Cluster of every target, and namespace and model of engine targets: the dashboard filters
-- results of queries that carry only the target name by these.
SELECT t.name AS target, coalesce(t.cluster, e.cluster) AS cluster, e.namespace, e.model
FROM targets t
LEFT JOIN (
    SELECT target, max(cluster) AS cluster, max(namespace) AS namespace, max(model) AS model
    FROM series WHERE entity = 'engine' GROUP BY target
) e ON e.target = t.name
ORDER BY target;

-- name: dash_freshness
-- How fresh the store is: the newest scrape, the newest successful one, targets and samples.
SELECT
    max(started_at)                            AS last_scrape,
    max(started_at) FILTER (WHERE error IS NULL) AS last_success,
    count(DISTINCT target)                     AS targets_scraped,
    (SELECT count(*) FROM samples)             AS samples
FROM scrapes;

-- name: dash_engine_timeseries
-- Per engine and time bucket: KV-cache usage, running and waiting requests, KV capacity.
-- param: start TIMESTAMP = -1h : window start (UTC)
-- param: end TIMESTAMP = now : window end (UTC)
-- param: bucket_s INTEGER = 60 : seconds per point
-- param: cluster VARCHAR = % : cluster (LIKE pattern)
-- param: namespace VARCHAR = % : namespace (LIKE pattern)
-- param: model VARCHAR = % : model (LIKE pattern)
SELECT
    time_bucket(to_seconds($bucket_s), ts)                    AS ts,
    target || CASE WHEN engine <> '0' THEN '/' || engine ELSE '' END AS instance,
    max(model)                                                AS model,
    max(namespace)                                            AS namespace,
    avg(kv_usage)                                             AS kv_usage,
    max(kv_usage)                                             AS kv_usage_max,
    avg(requests_running)                                     AS running,
    avg(requests_waiting)                                     AS waiting,
    max(requests_waiting)                                     AS waiting_max,
    max(kv_capacity_tokens)                                   AS kv_capacity_tokens,
    avg(coalesce(kv_used_tokens, kv_usage * kv_capacity_tokens)) AS kv_used_tokens
FROM engine_metrics
WHERE ts > $start AND ts <= $end
  AND coalesce(cluster, '') LIKE $cluster ESCAPE '\' AND coalesce(namespace, '') LIKE $namespace ESCAPE '\'
  AND coalesce(model, '') LIKE $model ESCAPE '\'
GROUP BY ALL
ORDER BY ts, instance;

-- name: dash_engine_rates
-- Per engine and time bucket, from reset-safe counter increments: input and output tokens/s,
-- requests/s, preemptions per minute, prefix-cache hit rate and counter resets (the rows of
-- engine_increments, read through the windowed macro of queries/economics.sql).
-- param: start TIMESTAMP = -1h : window start (UTC)
-- param: end TIMESTAMP = now : window end (UTC)
-- param: bucket_s INTEGER = 60 : seconds per point
-- param: cluster VARCHAR = % : cluster (LIKE pattern)
-- param: namespace VARCHAR = % : namespace (LIKE pattern)
-- param: model VARCHAR = % : model (LIKE pattern)
SELECT
    time_bucket(to_seconds($bucket_s), ts)                    AS ts,
    target || CASE WHEN engine <> '0' THEN '/' || engine ELSE '' END AS instance,
    max(model)                                                AS model,
    max(namespace)                                            AS namespace,
    sum(prompt_tokens) / nullif(sum(epoch(ts) - epoch(prev_ts)), 0)              AS input_tokens_per_s,
    sum(generation_tokens) / nullif(sum(epoch(ts) - epoch(prev_ts)), 0)          AS output_tokens_per_s,
    sum(requests_finished) / nullif(sum(epoch(ts) - epoch(prev_ts)), 0)          AS requests_per_s,
    60 * sum(preemptions) / nullif(sum(epoch(ts) - epoch(prev_ts)), 0)           AS preemptions_per_min,
    sum(cached_prompt_tokens) / nullif(sum(prefix_cache_queries), 0)             AS prefix_hit_rate,
    count(*) FILTER (WHERE reset)                                                AS resets
FROM engine_increments_between($start, $end)
WHERE coalesce(cluster, '') LIKE $cluster ESCAPE '\' AND coalesce(namespace, '') LIKE $namespace ESCAPE '\'
  AND coalesce(model, '') LIKE $model ESCAPE '\'
GROUP BY ALL
ORDER BY ts, instance;

-- name: dash_kv_summary
-- Per engine over the window: KV capacity in tokens (where the engine reports it), usage,
-- waiting requests, preemptions and prefix-cache hit rate.
-- param: start TIMESTAMP = -1h : window start (UTC)
-- param: end TIMESTAMP = now : window end (UTC)
-- param: cluster VARCHAR = % : cluster (LIKE pattern)
-- param: namespace VARCHAR = % : namespace (LIKE pattern)
-- param: model VARCHAR = % : model (LIKE pattern)
WITH g AS (
    SELECT target, engine,
           max(model) AS model, max(namespace) AS namespace, max(cluster) AS cluster,
           arg_max(kv_usage, ts) AS kv_usage_now,
           avg(kv_usage) AS kv_usage_avg, max(kv_usage) AS kv_usage_peak,
           arg_max(kv_capacity_tokens, ts) AS kv_capacity_tokens,
           avg(requests_waiting) AS waiting_avg, max(requests_waiting) AS waiting_peak,
           avg(requests_running) AS running_avg
    FROM engine_metrics
    WHERE ts > $start AND ts <= $end
    GROUP BY target, engine
),
c AS (
    SELECT target, engine,
           sum(preemptions) AS preemptions,
           60 * sum(preemptions) / nullif(sum(epoch(ts) - epoch(prev_ts)), 0) AS preemptions_per_min,
           sum(cached_prompt_tokens) AS cached_prompt_tokens,
           sum(prefix_cache_queries) AS prefix_cache_queries,
           count(*) FILTER (WHERE reset) AS resets
    FROM engine_increments_between($start, $end)
    GROUP BY target, engine
)
SELECT g.target || CASE WHEN g.engine <> '0' THEN '/' || g.engine ELSE '' END AS instance,
       g.model, g.namespace, g.cluster,
       g.kv_capacity_tokens,
       g.kv_usage_now, g.kv_usage_avg, g.kv_usage_peak,
       g.kv_usage_now * g.kv_capacity_tokens AS kv_tokens_now,
       g.running_avg, g.waiting_avg, g.waiting_peak,
       c.preemptions, c.preemptions_per_min,
       c.cached_prompt_tokens / nullif(c.prefix_cache_queries, 0) AS prefix_hit_rate,
       c.prefix_cache_queries, c.resets
FROM g LEFT JOIN c USING (target, engine)
WHERE coalesce(g.cluster, '') LIKE $cluster ESCAPE '\' AND coalesce(g.namespace, '') LIKE $namespace ESCAPE '\'
  AND coalesce(g.model, '') LIKE $model ESCAPE '\'
ORDER BY g.kv_usage_peak DESC NULLS LAST, instance;

-- name: dash_kv_tiers
-- KV-cache tiers beyond HBM where an engine reports them: prompt tokens served per cache tier
-- (vllm:prompt_tokens_cached_by_source: device, host, disk, p2p), KV offload traffic
-- (vllm:kv_offload_*, by transfer type or tier) and LMCache usage. Counters give the
-- reset-safe increase over the window, gauges their last value. No rows: no tier is reported.
-- param: start TIMESTAMP = -1h : window start (UTC)
-- param: end TIMESTAMP = now : window end (UTC)
WITH s AS (
    SELECT se.series_id, se.target, se.family, se.mtype, se.labels,
           coalesce(se.labels['source'], se.labels['transfer_type'], se.labels['tier'], '') AS tier
    FROM series se
    WHERE (se.family IN ('vllm:prompt_tokens_cached_by_source', 'vllm:prompt_tokens_by_source')
           OR se.family LIKE 'vllm:kv_offload%' OR se.family LIKE 'lmcache:%')
      AND se.metric NOT LIKE '%\_created' ESCAPE '\'
      AND se.metric NOT LIKE '%\_bucket' ESCAPE '\'
),
v AS (
    SELECT s.*, x.ts, x.value,
           lag(x.value) OVER (PARTITION BY x.series_id ORDER BY x.ts) AS prev
    FROM s JOIN samples x USING (series_id)
    WHERE x.ts > $start AND x.ts <= $end
)
SELECT target, family AS metric, tier, max(mtype) AS kind,
       CASE WHEN max(mtype) IN ('counter', 'histogram')
            THEN sum(CASE WHEN prev IS NULL THEN 0 WHEN value < prev THEN value ELSE value - prev END)
       END AS increase,
       arg_max(value, ts) AS last_value
FROM v
GROUP BY target, family, tier
ORDER BY family, target, tier;

-- name: dash_gpu_timeseries
-- Per GPU and time bucket: graphics-engine, DRAM, tensor and SM activity (0-1), GPU_UTIL,
-- power (W), HBM used and free (bytes) and temperature (°C), with the engine that holds it.
-- param: start TIMESTAMP = -1h : window start (UTC)
-- param: end TIMESTAMP = now : window end (UTC)
-- param: bucket_s INTEGER = 60 : seconds per point
-- param: cluster VARCHAR = % : cluster (LIKE pattern)
-- param: namespace VARCHAR = % : namespace of the holding engine (LIKE pattern)
-- param: model VARCHAR = % : model of the holding engine (LIKE pattern)
WITH owner AS (
    -- the engine target holding each GPU, by the chargeback's rules (gpu_slots_between in
    -- queries/economics.sql); a GPU shared by several: the one with the largest share
    SELECT uuid, arg_max(engine_target, gpu_seconds) AS engine_target
    FROM (SELECT uuid, engine_target, sum(gpu_seconds) AS gpu_seconds
          FROM gpu_slots_between($start, $end, NULL) WHERE engine_target IS NOT NULL GROUP BY ALL)
    GROUP BY uuid
),
eng AS (
    SELECT target, max(model) AS model, max(namespace) AS namespace
    FROM series WHERE entity = 'engine' GROUP BY target
),
m AS (
    SELECT time_bucket(to_seconds($bucket_s), ts) AS ts, uuid,
           max(cluster) AS cluster, max(hostname) AS hostname, max(gpu) AS gpu, max(gpu_model) AS gpu_model,
           max(namespace) AS namespace, max(pod) AS pod,
           avg(gr_engine_active) AS gr_engine_active, avg(dram_active) AS dram_active,
           avg(tensor_active) AS tensor_active, avg(sm_active) AS sm_active, avg(gpu_util) AS gpu_util,
           avg(power_w) AS power_w, avg(fb_used_bytes) AS fb_used_bytes, avg(fb_free_bytes) AS fb_free_bytes,
           avg(gpu_temp_c) AS gpu_temp_c
    FROM gpu_metrics
    WHERE ts > $start AND ts <= $end AND gpu_instance IS NULL
    GROUP BY ALL
)
SELECT m.ts, m.cluster, m.hostname, m.gpu, m.hostname || ' · GPU ' || m.gpu AS gpu_label, m.uuid, m.gpu_model,
       coalesce(m.namespace, e.namespace) AS namespace,
       e.model,
       o.engine_target,
       m.gr_engine_active, m.dram_active, m.tensor_active, m.sm_active, m.gpu_util,
       m.power_w, m.fb_used_bytes, m.fb_free_bytes, m.gpu_temp_c
FROM m
LEFT JOIN owner o ON o.uuid = m.uuid
LEFT JOIN eng e ON e.target = o.engine_target
WHERE coalesce(m.cluster, '') LIKE $cluster ESCAPE '\'
  AND coalesce(m.namespace, e.namespace, '') LIKE $namespace ESCAPE '\'
  AND coalesce(e.model, '') LIKE $model ESCAPE '\'
ORDER BY m.ts, m.hostname, m.gpu;

-- name: dash_gpu_summary
-- Per GPU over the window: mean and peak activity, power, energy (kWh) and the latest HBM
-- used / free / reserved bytes, with the engine that holds it.
-- param: start TIMESTAMP = -1h : window start (UTC)
-- param: end TIMESTAMP = now : window end (UTC)
-- param: cluster VARCHAR = % : cluster (LIKE pattern)
-- param: namespace VARCHAR = % : namespace of the holding engine (LIKE pattern)
-- param: model VARCHAR = % : model of the holding engine (LIKE pattern)
WITH owner AS (
    -- the engine target holding each GPU, by the chargeback's rules (gpu_slots_between in
    -- queries/economics.sql); a GPU shared by several: the one with the largest share
    SELECT uuid, arg_max(engine_target, gpu_seconds) AS engine_target
    FROM (SELECT uuid, engine_target, sum(gpu_seconds) AS gpu_seconds
          FROM gpu_slots_between($start, $end, NULL) WHERE engine_target IS NOT NULL GROUP BY ALL)
    GROUP BY uuid
),
eng AS (
    SELECT target, max(model) AS model, max(namespace) AS namespace
    FROM series WHERE entity = 'engine' GROUP BY target
),
m AS (
    SELECT uuid, max(cluster) AS cluster, max(hostname) AS hostname, max(gpu) AS gpu,
           max(gpu_model) AS gpu_model, max(namespace) AS namespace, max(pod) AS pod,
           avg(gr_engine_active) AS gr_engine_active, max(gr_engine_active) AS gr_engine_active_peak,
           avg(dram_active) AS dram_active, max(dram_active) AS dram_active_peak,
           avg(tensor_active) AS tensor_active, max(tensor_active) AS tensor_active_peak,
           avg(sm_active) AS sm_active, avg(gpu_util) AS gpu_util, avg(power_w) AS power_w,
           arg_max(fb_used_bytes, ts) AS fb_used_bytes, arg_max(fb_free_bytes, ts) AS fb_free_bytes,
           arg_max(fb_reserved_bytes, ts) AS fb_reserved_bytes, max(ts) AS last_seen
    FROM gpu_metrics
    WHERE ts > $start AND ts <= $end AND gpu_instance IS NULL
    GROUP BY uuid
),
e AS (
    -- the DCGM energy counter's reset-safe increments, else mean power x time
    SELECT uuid, sum(coalesce(energy_counter_j, energy_power_j)) / 3.6e6 AS energy_kwh
    FROM gpu_intervals_between($start, $end)
    WHERE gpu_instance IS NULL
    GROUP BY uuid
)
SELECT m.cluster, m.hostname, m.gpu, m.hostname || ' · GPU ' || m.gpu AS gpu_label, m.uuid, m.gpu_model,
       coalesce(m.namespace, e.namespace) AS namespace,
       e.model,
       o.engine_target,
       m.gr_engine_active, m.gr_engine_active_peak, m.dram_active, m.dram_active_peak,
       m.tensor_active, m.tensor_active_peak, m.sm_active, m.gpu_util, m.power_w, e.energy_kwh,
       m.fb_used_bytes, m.fb_free_bytes, m.fb_reserved_bytes,
       m.fb_used_bytes / nullif(coalesce(m.fb_used_bytes, 0) + coalesce(m.fb_free_bytes, 0)
                                + coalesce(m.fb_reserved_bytes, 0), 0) AS fb_used_share,
       m.last_seen
FROM m
LEFT JOIN e USING (uuid)
LEFT JOIN owner o ON o.uuid = m.uuid
LEFT JOIN eng e ON e.target = o.engine_target
WHERE coalesce(m.cluster, '') LIKE $cluster ESCAPE '\'
  AND coalesce(m.namespace, e.namespace, '') LIKE $namespace ESCAPE '\'
  AND coalesce(e.model, '') LIKE $model ESCAPE '\'
ORDER BY m.cluster, m.hostname, m.gpu;

-- name: dash_missing_fields
-- GPU fields no exporter reported in the window, per GPU. The profiling (DCP) fields
-- dram_active, tensor_active, gr_engine_active and sm_active drive the bottleneck verdicts;
-- they go missing when the DCGM profiling module is not loaded, on some MIG setups and on
-- mixed-model nodes. fb_* and energy_j feed the memory page and energy per token.
-- param: start TIMESTAMP = -1h : window start (UTC)
-- param: end TIMESTAMP = now : window end (UTC)
WITH m AS (
    SELECT uuid, max(target) AS exporter, max(cluster) AS cluster, max(hostname) AS hostname, max(gpu) AS gpu,
           max(gpu_model) AS gpu_model, count(*) AS scrapes,
           count(dram_active) AS dram_active, count(tensor_active) AS tensor_active,
           count(gr_engine_active) AS gr_engine_active, count(sm_active) AS sm_active,
           count(gpu_util) AS gpu_util, count(fb_used_bytes) AS fb_used_bytes,
           count(fb_free_bytes) AS fb_free_bytes, count(power_w) AS power_w, count(energy_j) AS energy_j
    FROM gpu_metrics
    WHERE ts > $start AND ts <= $end AND gpu_instance IS NULL
    GROUP BY uuid
)
SELECT exporter, cluster, hostname, gpu, uuid, gpu_model, scrapes,
       concat_ws(', ',
           CASE WHEN dram_active = 0 THEN 'dram_active' END, CASE WHEN tensor_active = 0 THEN 'tensor_active' END,
           CASE WHEN gr_engine_active = 0 THEN 'gr_engine_active' END
       ) AS missing_profiling,
       concat_ws(', ',
           CASE WHEN sm_active = 0 THEN 'sm_active' END, CASE WHEN gpu_util = 0 THEN 'gpu_util' END,
           CASE WHEN fb_used_bytes = 0 THEN 'fb_used_bytes' END,
           CASE WHEN fb_free_bytes = 0 THEN 'fb_free_bytes' END, CASE WHEN power_w = 0 THEN 'power_w' END,
           CASE WHEN energy_j = 0 THEN 'energy_j' END
       ) AS missing_other
FROM m
WHERE dram_active = 0 OR tensor_active = 0 OR gr_engine_active = 0 OR sm_active = 0
   OR gpu_util = 0 OR fb_used_bytes = 0 OR fb_free_bytes = 0 OR power_w = 0 OR energy_j = 0
ORDER BY hostname, gpu;

-- name: dash_engine_fields
-- Engine fields missing in the window, per engine: what the cost split, KV and prefix-cache
-- views cannot show for it. prefill/decode seconds split cost between input and output tokens
-- (without them a fixed ratio is used); KV capacity comes from cache_config_info.
-- param: start TIMESTAMP = -1h : window start (UTC)
-- param: end TIMESTAMP = now : window end (UTC)
WITH m AS (
    SELECT target, engine, max(cluster) AS cluster, count(*) AS scrapes,
           count(kv_usage) AS kv_usage, count(kv_capacity_tokens) AS kv_capacity_tokens,
           count(prompt_tokens) AS prompt_tokens, count(generation_tokens) AS generation_tokens,
           count(prefill_seconds) AS prefill_seconds, count(decode_seconds) AS decode_seconds,
           count(prefix_cache_queries) AS prefix_cache_queries, count(preemptions) AS preemptions
    FROM engine_metrics
    WHERE ts > $start AND ts <= $end
    GROUP BY target, engine
)
SELECT target || CASE WHEN engine <> '0' THEN '/' || engine ELSE '' END AS instance, target, cluster, scrapes,
       concat_ws(', ',
           CASE WHEN kv_usage = 0 THEN 'kv_usage' END, CASE WHEN kv_capacity_tokens = 0 THEN 'kv_capacity_tokens' END,
           CASE WHEN prompt_tokens = 0 THEN 'prompt_tokens' END,
           CASE WHEN generation_tokens = 0 THEN 'generation_tokens' END,
           CASE WHEN prefill_seconds = 0 THEN 'prefill_seconds' END,
           CASE WHEN decode_seconds = 0 THEN 'decode_seconds' END,
           CASE WHEN prefix_cache_queries = 0 THEN 'prefix_cache_queries' END,
           CASE WHEN preemptions = 0 THEN 'preemptions' END
       ) AS missing
FROM m
WHERE kv_usage = 0 OR kv_capacity_tokens = 0 OR prompt_tokens = 0 OR generation_tokens = 0
   OR prefill_seconds = 0 OR decode_seconds = 0 OR prefix_cache_queries = 0 OR preemptions = 0
ORDER BY instance;

-- name: dash_counter_resets
-- Counter resets seen in the window (an engine or exporter restarted; the increment after a
-- reset is the new value itself, so nothing is lost): engines' token/request counters and
-- GPUs' energy counters (a drop means the driver reloaded).
-- param: start TIMESTAMP = -24h : window start (UTC)
-- param: end TIMESTAMP = now : window end (UTC)
WITH energy AS (
    SELECT s.ts, s.value, se.cluster, se.hostname, se.gpu, se.uuid,
           lag(s.ts) OVER w AS prev_ts, lag(s.value) OVER w AS prev_value
    FROM samples s JOIN series se USING (series_id)
    WHERE se.canonical = 'energy_j' AND se.gpu_instance IS NULL AND se.part <> 'created'
      AND s.ts > $start - INTERVAL 1 HOUR AND s.ts <= $end
    WINDOW w AS (PARTITION BY s.series_id ORDER BY s.ts)
)
SELECT ts, 'engine' AS kind, target || CASE WHEN engine <> '0' THEN '/' || engine ELSE '' END AS source,
       prev_ts, model AS detail, cluster
FROM engine_increments_between($start, $end)
WHERE reset
UNION ALL
SELECT DISTINCT ts, 'gpu energy', hostname || ' · GPU ' || gpu, prev_ts, uuid, cluster
FROM energy
WHERE value < prev_value AND ts > $start
ORDER BY ts DESC
LIMIT 500;

-- name: dash_scrape_timeseries
-- Scrapes per target and time bucket: mean duration (ms), samples per scrape and failures.
-- param: start TIMESTAMP = -1h : window start (UTC)
-- param: end TIMESTAMP = now : window end (UTC)
-- param: bucket_s INTEGER = 60 : seconds per point
SELECT time_bucket(to_seconds($bucket_s), started_at) AS ts, target,
       avg(duration_s) * 1000 AS duration_ms, avg(samples) AS samples,
       count(*) AS scrapes, count(*) FILTER (WHERE error IS NOT NULL) AS failures
FROM scrapes
WHERE started_at > $start AND started_at <= $end
GROUP BY ALL
ORDER BY ts, target;

-- name: dash_scrape_errors
-- Scrape errors in the window, grouped by target and message, newest first.
-- param: start TIMESTAMP = -24h : window start (UTC)
-- param: end TIMESTAMP = now : window end (UTC)
SELECT target, error, count(*) AS times, min(started_at) AS first_seen, max(started_at) AS last_seen,
       max(error_line) AS line
FROM scrapes
WHERE error IS NOT NULL AND started_at > $start AND started_at <= $end
GROUP BY target, error
ORDER BY last_seen DESC
LIMIT 200;
