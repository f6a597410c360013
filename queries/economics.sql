-- Building blocks of the economics queries: table macros created on every read-only connection
-- (queries/runner.py), after the reference relations (gpu_models, price_settings, ...) are
-- registered. Named queries and `memmoat query --sql` call them like tables:
--
--   engine_counter_increments_between(t0, t1)   reset-safe increments per engine counter group
--   engine_increments_between(t0, t1)           engine_increments rows with ts in (t0, t1]
--   gpu_intervals_between(t0, t1)               one row per GPU / MIG instance per scrape interval
--   gpu_slots_between(t0, t1, fallback_rate)    billable GPU shares, attributed, priced
--   costs_between(t0, t1, bucket_s, fallback_rate [, peak_quantile := 0.95])
--                                               engines' cost, tokens and activity, and idle GPU
--                                               shares, per bucket, in one pass
--   engine_costs_between(t0, t1, bucket_s, fallback_rate)   the engine rows of costs_between
--
-- Why macros and not views: the store's views compute lag() over a counter's whole history
-- before a time filter can apply (a filter cannot cross a window function), which costs
-- seconds on a day of data. A macro takes the window as arguments and reads only the samples
-- it needs (plus one hour before t0, to find each series' previous sample), so a day of a
-- 16-GPU fleet answers in a fraction of a second on two cores.
--
-- Conventions: an interval (prev_ts, ts] belongs to a window or bucket by its end ts, as in
-- engine_increments. fallback_rate (NULL: [prices] default_usd_per_gpu_hour) is the $/GPU-hour
-- of GPU models that have no [[prices.gpus]] entry.

-- Increments of the engine counters the economics need, one row per counter group (a counter,
-- or a histogram's sum) and scrape interval, with the reset rules of counter_increments
-- (store/migrations/0002): a group restarted when any of its values dropped, its _created time
-- changed or its target's process start time changed; after a restart the increment is the
-- new value itself. Columns: ts, prev_ts, target, engine, canonical, reset, amount (canonical unit).
CREATE OR REPLACE TEMP MACRO engine_counter_increments_between(t0, t1) AS TABLE
WITH cs AS (
    -- the engine counters the economics read, each tied to its group: a counter, or a
    -- histogram's sum and count (a restart shows in the count even when the sum does not drop)
    SELECT series_id, target, group_key, canonical, part, scale, entity_key, superseded_at,
           min(series_id) OVER (PARTITION BY target, group_key) AS group_id
    FROM mapped_series
    WHERE entity = 'engine' AND mtype IN ('counter', 'histogram') AND part IN ('', 'sum', 'count')
      AND canonical IN ('prompt_tokens', 'generation_tokens', 'cached_prompt_tokens', 'prefix_cache_queries',
                        'preemptions', 'requests_finished', 'prefill_seconds', 'decode_seconds')
),
wanted AS (
    -- every series this macro reads: the counters, their groups' _created lines, process starts
    SELECT series_id, superseded_at FROM cs
    UNION ALL
    SELECT series_id, NULL FROM series WHERE part = 'created' AND entity = 'engine'
    UNION ALL
    SELECT series_id, superseded_at FROM mapped_series WHERE canonical = 'process_start'
),
raw AS MATERIALIZED (
    -- one pass over the window's samples (the table is the big thing here, so read it once);
    -- canonical_samples' rule: a source name counts only until a preferred name replaced it
    SELECT s.ts, s.series_id, s.value
    FROM samples s JOIN wanted w USING (series_id)
    WHERE s.ts > t0 - INTERVAL 1 HOUR AND s.ts <= t1 AND (w.superseded_at IS NULL OR s.ts < w.superseded_at)
),
lagged AS (
    SELECT r.ts, r.value, cs.series_id, cs.group_id, cs.target, cs.part, cs.scale,
           lag(r.ts) OVER w AS prev_ts, lag(r.value) OVER w AS prev_value
    FROM raw r JOIN cs USING (series_id)
    WINDOW w AS (PARTITION BY r.series_id ORDER BY r.ts)
),
-- Restart marks, one row per group (or target) and scrape:
count_drops AS (
    SELECT DISTINCT ts, group_id FROM lagged WHERE part = 'count' AND value < prev_value
),
-- the group's _created time or its target's process start time took a new value. Each
-- distinct value is grouped to the first scrape that showed it (a GROUP BY over few values,
-- much cheaper than lag() over every _created sample); every value after the first marks a
-- restart at that scrape.
created_values AS (
    SELECT se.target, se.group_key, r.value AS created, min(r.ts) AS ts
    FROM raw r JOIN series se USING (series_id)
    WHERE se.part = 'created'
    GROUP BY ALL
),
created_resets AS (
    SELECT DISTINCT v.ts, g.group_id
    FROM (SELECT *, lag(created) OVER (PARTITION BY target, group_key ORDER BY ts) AS prev_created
          FROM created_values) v
    JOIN (SELECT DISTINCT target, group_key, group_id FROM cs) g USING (target, group_key)
    WHERE v.created <> v.prev_created
),
start_values AS (
    SELECT ms.target, r.value AS started, min(r.ts) AS ts
    FROM raw r JOIN mapped_series ms USING (series_id)
    WHERE ms.canonical = 'process_start'
    GROUP BY ALL
),
start_resets AS (
    SELECT DISTINCT ts, target FROM (
        SELECT *, lag(started) OVER (PARTITION BY target ORDER BY ts) AS prev_started FROM start_values)
    WHERE abs(started - prev_started) > 1
),
marks AS (
    SELECT ts, group_id FROM count_drops
    UNION
    SELECT ts, group_id FROM created_resets
    UNION
    SELECT sr.ts, g.group_id FROM start_resets sr JOIN (SELECT DISTINCT target, group_id FROM cs) g USING (target)
),
groups AS (
    SELECT group_id, any_value(canonical) AS canonical, any_value(entity_key) AS engine
    FROM cs GROUP BY group_id
)
-- One row per counter group and scrape interval: a counter's value (part ''), a histogram's
-- sum (part 'sum'); after a restart the increment is the new value itself.
SELECT ts, prev_ts, target, engine, canonical, reset,
    scale * CASE WHEN reset THEN greatest(value, 0) ELSE value - prev_value END AS amount
FROM (
    SELECT l.*, g.engine, g.canonical, coalesce(l.value < l.prev_value, false) OR m.ts IS NOT NULL AS reset
    FROM lagged l
    JOIN groups g USING (group_id)
    LEFT JOIN marks m USING (ts, group_id)
    WHERE l.part IN ('', 'sum') AND l.prev_ts IS NOT NULL AND l.ts > t0
);

CREATE OR REPLACE TEMP MACRO engine_increments_between(t0, t1) AS TABLE
WITH about AS (
    SELECT target, entity_key AS engine, max(cluster) AS cluster, max(model) AS model, max(namespace) AS namespace,
           max(pod) AS pod, max(hostname) AS hostname
    FROM mapped_series
    WHERE entity = 'engine'
    GROUP BY ALL
)
SELECT
    i.ts, i.target, i.engine, min(i.prev_ts) AS prev_ts,
    any_value(a.cluster) AS cluster, any_value(a.model) AS model, any_value(a.namespace) AS namespace,
    any_value(a.pod) AS pod,
    sum(amount) FILTER (WHERE canonical = 'prompt_tokens')        AS prompt_tokens,
    sum(amount) FILTER (WHERE canonical = 'generation_tokens')    AS generation_tokens,
    sum(amount) FILTER (WHERE canonical = 'cached_prompt_tokens') AS cached_prompt_tokens,
    sum(amount) FILTER (WHERE canonical = 'prefix_cache_queries') AS prefix_cache_queries,
    sum(amount) FILTER (WHERE canonical = 'preemptions')          AS preemptions,
    sum(amount) FILTER (WHERE canonical = 'requests_finished')    AS requests_finished,
    sum(amount) FILTER (WHERE canonical = 'prefill_seconds')      AS prefill_seconds,
    sum(amount) FILTER (WHERE canonical = 'decode_seconds')       AS decode_seconds,
    bool_or(reset) AS reset,
    any_value(a.hostname) AS hostname
FROM engine_counter_increments_between(t0, t1) i
LEFT JOIN about a USING (target, engine)
GROUP BY i.ts, i.target, i.engine;

-- One row per GPU (or MIG instance) per scrape interval (prev_ts, ts], ts in (t0, t1].
-- energy_counter_j: increment of the DCGM energy counter (reset-safe: a drop means the driver
-- reloaded, and the new value is the energy since); energy_power_j: mean power x time, the
-- fallback where the counter is missing.
CREATE OR REPLACE TEMP MACRO gpu_intervals_between(t0, t1) AS TABLE
WITH gs AS (
    -- the GPU series the economics read (gpu_metrics' pivot, restricted to its needed columns),
    -- with integer ids for the GPU and the pod, so the pivot below groups numbers, not strings
    SELECT series_id, canonical, scale, superseded_at,
        dense_rank() OVER (ORDER BY target, coalesce(uuid, hostname || ':' || gpu), gpu_instance) AS gid,
        CASE WHEN pod IS NOT NULL THEN dense_rank() OVER (ORDER BY namespace NULLS FIRST, pod) END AS pod_id,
        -- a GPU whose series name more than one pod: shared (or its pod changed); only those need a pod list
        count(DISTINCT coalesce(namespace, '') || '/' || pod) OVER (
            PARTITION BY target, coalesce(uuid, hostname || ':' || gpu), gpu_instance) > 1 AS multi_pod,
        target, coalesce(uuid, hostname || ':' || gpu) AS uuid, gpu_instance, cluster, hostname, gpu, gpu_model,
        mig_profile, namespace, pod
    FROM mapped_series
    WHERE entity = 'gpu' AND canonical IN ('dram_active', 'tensor_active', 'gr_engine_active', 'gpu_util',
                                           'fb_used_bytes', 'power_w', 'energy_j')
),
gpus AS (
    SELECT gid, any_value(target) AS target, any_value(uuid) AS uuid, any_value(gpu_instance) AS gpu_instance,
           max(cluster) AS cluster, max(hostname) AS hostname, max(gpu) AS gpu, max(gpu_model) AS gpu_model,
           max(mig_profile) AS mig_profile
    FROM gs GROUP BY gid
),
pods AS (
    SELECT DISTINCT pod_id, namespace, pod FROM gs WHERE pod_id IS NOT NULL
),
g AS (
    -- one row per GPU (or MIG instance) per scrape; a source name counts until a preferred
    -- one replaced it (canonical_samples' rule). pod_ids: every pod dcgm-exporter names on the
    -- GPU at that scrape (several when pods share it: time-slicing, MPS, vgpu)
    SELECT s.ts, gs.gid, max(gs.pod_id) AS pod_id,
        list(DISTINCT gs.pod_id) FILTER (WHERE gs.multi_pod AND gs.pod_id IS NOT NULL) AS pod_ids,
        max(s.value * gs.scale) FILTER (WHERE gs.canonical = 'dram_active')      AS dram_active,
        max(s.value * gs.scale) FILTER (WHERE gs.canonical = 'tensor_active')    AS tensor_active,
        max(s.value * gs.scale) FILTER (WHERE gs.canonical = 'gr_engine_active') AS gr_engine_active,
        max(s.value * gs.scale) FILTER (WHERE gs.canonical = 'gpu_util')         AS gpu_util,
        max(s.value * gs.scale) FILTER (WHERE gs.canonical = 'fb_used_bytes')    AS fb_used_bytes,
        max(s.value * gs.scale) FILTER (WHERE gs.canonical = 'power_w')          AS power_w,
        max(s.value * gs.scale) FILTER (WHERE gs.canonical = 'energy_j')         AS energy_j
    FROM samples s JOIN gs USING (series_id)
    WHERE s.ts > t0 - INTERVAL 1 HOUR AND s.ts <= t1 AND (gs.superseded_at IS NULL OR s.ts < gs.superseded_at)
    GROUP BY s.ts, gs.gid
),
lagged AS (
    SELECT *, lag(ts) OVER w AS prev_ts, lag(power_w) OVER w AS prev_power_w, lag(energy_j) OVER w AS prev_energy_j
    FROM g
    WINDOW w AS (PARTITION BY gid ORDER BY ts)
)
SELECT l.ts, l.prev_ts, epoch(l.ts) - epoch(l.prev_ts) AS dt_s,
    u.target, u.uuid, u.gpu_instance, u.cluster, u.hostname, u.gpu, u.gpu_model, u.mig_profile, p.namespace, p.pod,
    -- a GPU several pods share is split evenly between them (dcgm-exporter repeats the device's
    -- values for each pod, so its activity says nothing about who used how much)
    1.0 / greatest(coalesce(len(l.pod_ids), 1), 1) AS pod_share,
    l.dram_active, l.tensor_active, l.gr_engine_active, l.gpu_util, l.fb_used_bytes, l.power_w,
    CASE WHEN l.energy_j < l.prev_energy_j THEN greatest(l.energy_j, 0) ELSE l.energy_j - l.prev_energy_j END
        AS energy_counter_j,
    (l.power_w + coalesce(l.prev_power_w, l.power_w)) / 2.0 * (epoch(l.ts) - epoch(l.prev_ts)) AS energy_power_j
FROM (
    SELECT * EXCLUDE (pod_id), unnest(coalesce(pod_ids, [pod_id])) AS pod_id FROM lagged
) l
JOIN gpus u USING (gid)
LEFT JOIN pods p USING (pod_id)
WHERE l.prev_ts IS NOT NULL AND l.ts > t0;

-- Billable GPU shares per scrape interval, each attributed to an engine target (or to none:
-- idle cost) and priced. Amounts (gpu_seconds, energy_j, *_usd) are already multiplied by the
-- row's share and weight, so any grouping just sums them.
--
-- share: a whole GPU is 1. A MIG instance holds N of the GPU's compute slices (profile
-- 'Ng.XXgb', N / mig_slices of gpu_specs: 7 on A100/H100-class parts, 4 on A30); compute
-- slices, not memory, because they are what an instance takes exclusively and they add up to
-- the whole GPU (a 1g.10gb instance on an A100-80GB holds 1/7 of the SMs but 1/8 of the memory).
-- Slices no instance holds are a row of their own ('unallocated'). A partitioned GPU's parent
-- row is not billed (its instances are); it only lends the device energy counter.
--
-- Attribution, per distinct GPU identity (not per sample, so it stays cheap):
--   1. 'namespace/pod labels': dcgm-exporter's pod mapping names the pod of an engine target
--      (the target's config labels, else the labels on its pages);
--   2. 'hostname + gpu_indices': the engine target's configured node and GPU indices
--      (hostnames compared case-insensitively, up to the first dot);
--   3. otherwise none: the share is idle cost, never spread over the engines.
-- A share that several targets claim is split evenly between them (weight).
CREATE OR REPLACE TEMP MACRO gpu_slots_between(t0, t1, fallback_rate) AS TABLE
WITH iv AS (
    SELECT * FROM gpu_intervals_between(t0, t1)
),
dev AS (
    -- the physical GPU at each scrape: partitioned or not, and its energy (device counter, the
    -- same on every row of the device)
    SELECT ts, target, uuid, count(DISTINCT gpu_instance) AS instances,
           max(energy_counter_j) AS dev_energy_counter_j, max(energy_power_j) AS dev_energy_power_j
    FROM iv
    GROUP BY ts, target, uuid
),
billed AS (
    SELECT iv.*, d.dev_energy_counter_j, d.dev_energy_power_j,
        iv.pod_share * CASE WHEN iv.gpu_instance IS NULL THEN 1.0
             ELSE coalesce(
                 try_cast(regexp_extract(iv.mig_profile, '(\d+)g\.\d+gb', 1) AS DOUBLE) / coalesce(m.mig_slices, 7),
                 1.0 / d.instances)
        END AS share,
        CASE WHEN iv.pod_share < 1 THEN printf('shared by %d pods: equal split', round(1 / iv.pod_share)::INT)
             WHEN iv.gpu_instance IS NULL THEN 'whole GPU'
             WHEN regexp_matches(coalesce(iv.mig_profile, ''), '(\d+)g\.\d+gb') THEN 'MIG compute slices'
             ELSE 'MIG profile unknown: equal split'
        END AS share_basis
    FROM iv
    JOIN dev d USING (ts, target, uuid)
    LEFT JOIN gpu_models m ON m.gpu_model = coalesce(iv.gpu_model, '')
    WHERE iv.gpu_instance IS NOT NULL OR d.instances = 0
),
unallocated AS (
    SELECT ts, target, uuid, 'unallocated' AS gpu_instance,
           any_value(prev_ts) AS prev_ts, max(dt_s) AS dt_s, any_value(cluster) AS cluster,
           any_value(hostname) AS hostname, any_value(gpu) AS gpu, any_value(gpu_model) AS gpu_model,
           any_value(dev_energy_counter_j) AS dev_energy_counter_j,
           any_value(dev_energy_power_j) AS dev_energy_power_j,
           1.0 - sum(share) AS share, 'MIG slices without an instance' AS share_basis
    FROM billed
    WHERE gpu_instance IS NOT NULL
    GROUP BY ts, target, uuid
    HAVING 1.0 - sum(share) > 1e-9
),
slots AS (
    SELECT *, concat_ws('|', target, uuid, coalesce(gpu_instance, '~'), coalesce(namespace, '~'), coalesce(pod, '~'))
              AS slot_key
    FROM (SELECT * FROM billed UNION ALL BY NAME SELECT * FROM unallocated)
),
engine_targets AS (
    -- every engine target: namespace/pod from its config labels (targets), else from its pages
    SELECT coalesce(t.name, e.target) AS engine_target,
           coalesce(t.labels['namespace'], e.namespace) AS e_namespace,
           coalesce(t.labels['pod'], e.pod) AS e_pod,
           split_part(lower(coalesce(t.hostname, e.hostname)), '.', 1) AS e_host,
           t.gpu_indices AS e_gpus
    FROM (SELECT target, max(namespace) AS namespace, max(pod) AS pod, max(hostname) AS hostname
          FROM series WHERE entity = 'engine' GROUP BY target) e
    FULL JOIN (SELECT * FROM targets WHERE coalesce(detected, kind) <> 'dcgm') t ON t.name = e.target
),
keys AS (
    SELECT DISTINCT slot_key, namespace, pod, split_part(lower(hostname), '.', 1) AS host, gpu FROM slots
),
by_pod AS (
    SELECT k.slot_key, e.engine_target, 'namespace/pod labels' AS rule
    FROM keys k JOIN engine_targets e
      ON k.pod = e.e_pod AND (k.namespace IS NULL OR e.e_namespace IS NULL OR k.namespace = e.e_namespace)
),
by_host AS (
    SELECT k.slot_key, e.engine_target, 'hostname + gpu_indices' AS rule
    FROM keys k JOIN engine_targets e ON k.host = e.e_host AND list_contains(e.e_gpus, k.gpu)
    WHERE k.slot_key NOT IN (SELECT slot_key FROM by_pod)
),
attributed AS (
    SELECT *, 1.0 / count(*) OVER (PARTITION BY slot_key) AS weight
    FROM (SELECT * FROM by_pod UNION ALL SELECT * FROM by_host)
),
priced AS (
    SELECT s.*, a.engine_target, coalesce(a.rule, 'none') AS rule, coalesce(a.weight, 1.0) AS weight,
        m.spec_model, m.peak_memory_bandwidth_gbps AS peak_bw_gbps, m.dense_bf16_tflops AS peak_tflops,
        coalesce(m.price_basis, 'default rate') AS price_basis,
        CASE WHEN coalesce(m.price_basis, 'default rate') = 'default rate'
             THEN coalesce(fallback_rate, p.default_usd_per_gpu_hour)
             ELSE m.fixed_usd_per_hour END AS fixed_usd_per_hour,
        coalesce(m.energy_billed, false) AND fallback_rate IS NULL AS energy_billed,
        coalesce(m.pue, p.pue) AS pue, coalesce(m.power_usd_per_kwh, p.power_usd_per_kwh) AS power_usd_per_kwh,
        coalesce(s.dev_energy_counter_j, s.dev_energy_power_j) AS dev_energy_j,
        CASE WHEN s.dev_energy_counter_j IS NOT NULL THEN 'dcgm energy counter'
             WHEN s.dev_energy_power_j IS NOT NULL THEN 'power x time' END AS energy_source
    FROM slots s
    LEFT JOIN attributed a USING (slot_key)
    LEFT JOIN gpu_models m ON m.gpu_model = coalesce(s.gpu_model, '')
    CROSS JOIN price_settings p
)
SELECT ts, prev_ts, dt_s, target, cluster, hostname, gpu, uuid, gpu_instance, gpu_model, spec_model, mig_profile,
    namespace, pod, share, share_basis, engine_target, rule, weight,
    dram_active, tensor_active, gr_engine_active, gpu_util, fb_used_bytes, power_w, peak_bw_gbps, peak_tflops,
    price_basis, fixed_usd_per_hour, energy_billed, pue, power_usd_per_kwh, energy_source,
    share * weight * dt_s                                                   AS gpu_seconds,
    share * weight * dev_energy_j                                           AS energy_j,
    share * weight * dt_s / 3600.0 * fixed_usd_per_hour                     AS fixed_usd,
    -- what the energy is worth: on-prem pays it on top; for a cloud rate it is the share of
    -- the rate that electricity stands for (shown, not charged again)
    share * weight * dev_energy_j / 3.6e6 * pue * power_usd_per_kwh         AS energy_usd,
    CASE WHEN energy_billed THEN share * weight * dev_energy_j / 3.6e6 * pue * power_usd_per_kwh ELSE 0 END
                                                                            AS billed_energy_usd,
    share * weight * dt_s / 3600.0 * fixed_usd_per_hour
        + CASE WHEN energy_billed THEN coalesce(share * weight * dev_energy_j / 3.6e6 * pue * power_usd_per_kwh, 0)
               ELSE 0 END                                                   AS cost_usd
FROM priced;

-- Cost, tokens and activity per engine per bucket, and the idle GPU shares beside them, from
-- one pass over the window: kind = 'engine' rows (target, engine) and kind = 'idle' rows (one
-- per GPU share no engine claims: gpu_target, hostname, gpu, gpu_instance, namespace, pod).
-- bucket_s = 0: one bucket, the window. peak_quantile: which quantile of an engine's
-- per-scrape token rates is its demonstrated peak (peak_tokens_per_s).
-- An engine target's GPUs are shared evenly by its engines (vLLM data-parallel ranks carry an
-- `engine` label; a pod does not say which GPU serves which rank).
-- Input/output split of the cost: by the engine's measured prefill vs decode seconds (the sums
-- of its request prefill/decode time histograms, or TGI's batch prefill/decode time); where an
-- engine reports neither, by price_settings.fallback_output_cost_ratio (an output token costs
-- that many input tokens), labelled as a fallback in split_basis.
CREATE OR REPLACE TEMP MACRO costs_between(t0, t1, bucket_s, fallback_rate, peak_quantile := 0.95) AS TABLE
WITH slots AS MATERIALIZED (
    SELECT *,
        CASE WHEN bucket_s > 0 THEN time_bucket(to_seconds(greatest(bucket_s, 1)), ts - INTERVAL 1 MICROSECOND, t0)
             ELSE t0 END AS bucket_start
    FROM gpu_slots_between(t0, t1, fallback_rate)
),
gs AS (
    SELECT engine_target AS target, bucket_start,
        sum(gpu_seconds) AS gpu_seconds, sum(cost_usd) AS cost_usd, sum(fixed_usd) AS fixed_usd,
        sum(billed_energy_usd) AS energy_cost_usd, sum(energy_j) AS energy_j, sum(energy_usd) AS energy_usd,
        -- activity: time- and share-weighted means over the engine's GPUs
        sum(dram_active * gpu_seconds) / nullif(sum(gpu_seconds) FILTER (WHERE dram_active IS NOT NULL), 0) AS dram_active,
        sum(tensor_active * gpu_seconds) / nullif(sum(gpu_seconds) FILTER (WHERE tensor_active IS NOT NULL), 0) AS tensor_active,
        sum(coalesce(gr_engine_active, gpu_util) * gpu_seconds)
            / nullif(sum(gpu_seconds) FILTER (WHERE coalesce(gr_engine_active, gpu_util) IS NOT NULL), 0) AS busy,
        any_value(CASE WHEN gr_engine_active IS NOT NULL THEN 'GR_ENGINE_ACTIVE' WHEN gpu_util IS NOT NULL THEN 'GPU_UTIL' END)
            AS busy_signal,
        -- bandwidth: DRAM active x the GPU's peak is the achieved bandwidth; GB moved = that x seconds
        sum(dram_active * peak_bw_gbps * gpu_seconds) AS dram_gb,
        sum(peak_bw_gbps * gpu_seconds) FILTER (WHERE dram_active IS NOT NULL) AS peak_gb,
        sum(tensor_active * peak_tflops * gpu_seconds) AS tensor_tflop,
        sum(peak_tflops * gpu_seconds) FILTER (WHERE tensor_active IS NOT NULL) AS peak_tflop,
        epoch(max(ts)) - epoch(min(prev_ts)) AS gpu_span_s,
        list(DISTINCT target || '|' || uuid) AS gpu_keys,
        string_agg(DISTINCT gpu_model, ', ' ORDER BY gpu_model) AS gpu_models,
        string_agg(DISTINCT gpu_model, ', ' ORDER BY gpu_model) FILTER (WHERE peak_bw_gbps IS NULL) AS models_without_spec,
        string_agg(DISTINCT rule, ', ' ORDER BY rule) AS attribution,
        string_agg(DISTINCT price_basis, ', ' ORDER BY price_basis) AS price_basis,
        string_agg(DISTINCT energy_source, ', ' ORDER BY energy_source) AS energy_source
    FROM slots
    WHERE engine_target IS NOT NULL
    GROUP BY ALL
),
idle AS (
    SELECT 'idle' AS kind, bucket_start, target AS gpu_target, cluster, hostname, gpu, uuid, gpu_instance, mig_profile,
        namespace, pod, gpu_model AS gpu_models,
        hostname || ':' || gpu || coalesce('/' || gpu_instance, '') AS subject,
        sum(gpu_seconds) AS gpu_seconds, sum(cost_usd) AS cost_usd, sum(fixed_usd) AS fixed_usd,
        sum(billed_energy_usd) AS energy_cost_usd, sum(energy_j) AS energy_j, sum(energy_usd) AS energy_usd,
        sum(coalesce(gr_engine_active, gpu_util) * gpu_seconds)
            / nullif(sum(gpu_seconds) FILTER (WHERE coalesce(gr_engine_active, gpu_util) IS NOT NULL), 0) AS busy,
        epoch(max(ts)) - epoch(min(prev_ts)) AS gpu_span_s,
        sum(gpu_seconds) / nullif(epoch(max(ts)) - epoch(min(prev_ts)), 0) AS gpus,
        list(DISTINCT target || '|' || uuid) AS gpu_keys,
        string_agg(DISTINCT price_basis, ', ' ORDER BY price_basis) AS price_basis,
        string_agg(DISTINCT energy_source, ', ' ORDER BY energy_source) AS energy_source
    FROM slots
    WHERE engine_target IS NULL
    GROUP BY ALL
),
inc AS MATERIALIZED (
    SELECT * FROM engine_counter_increments_between(t0, t1)
),
per_scrape AS (
    -- tokens per engine per scrape interval, for the engine's peak rate
    SELECT target, engine, ts, min(prev_ts) AS prev_ts,
        sum(amount) FILTER (WHERE canonical IN ('prompt_tokens', 'generation_tokens')) AS tokens
    FROM inc
    GROUP BY ALL
),
peak AS (
    SELECT target, engine,
        CASE WHEN bucket_s > 0 THEN time_bucket(to_seconds(greatest(bucket_s, 1)), ts - INTERVAL 1 MICROSECOND, t0)
             ELSE t0 END AS bucket_start,
        quantile_cont(tokens / nullif(epoch(ts) - epoch(prev_ts), 0), peak_quantile) AS peak_tokens_per_s
    FROM per_scrape
    GROUP BY ALL
),
ei AS (
    SELECT target, engine,
        CASE WHEN bucket_s > 0 THEN time_bucket(to_seconds(greatest(bucket_s, 1)), ts - INTERVAL 1 MICROSECOND, t0)
             ELSE t0 END AS bucket_start,
        sum(amount) FILTER (WHERE canonical = 'prompt_tokens')        AS prompt_tokens,
        sum(amount) FILTER (WHERE canonical = 'generation_tokens')    AS generation_tokens,
        sum(amount) FILTER (WHERE canonical = 'cached_prompt_tokens') AS cached_prompt_tokens,
        sum(amount) FILTER (WHERE canonical = 'prefix_cache_queries') AS prefix_cache_queries,
        sum(amount) FILTER (WHERE canonical = 'preemptions')          AS preemptions,
        sum(amount) FILTER (WHERE canonical = 'requests_finished')    AS requests_finished,
        sum(amount) FILTER (WHERE canonical = 'prefill_seconds')      AS prefill_seconds,
        sum(amount) FILTER (WHERE canonical = 'decode_seconds')       AS decode_seconds,
        -- consecutive intervals chain, so their lengths add up to last scrape - first start
        epoch(max(ts)) - epoch(min(prev_ts)) AS engine_seconds,
        min(prev_ts) AS interval_start, max(ts) AS interval_end,
        bool_or(reset) AS restarted
    FROM inc
    GROUP BY ALL
),
about AS (
    SELECT target, entity_key AS engine, max(cluster) AS cluster, max(model) AS model, max(namespace) AS namespace
    FROM mapped_series
    WHERE entity = 'engine'
    GROUP BY ALL
),
gauge_series AS (
    SELECT series_id, target, entity_key AS engine, canonical, scale, superseded_at
    FROM mapped_series
    WHERE entity = 'engine' AND part = '' AND canonical IN ('kv_usage', 'requests_waiting', 'requests_running')
),
eg AS (
    -- gauges (engine_metrics' columns, read from only the series they need), averaged over
    -- the scrapes in the bucket
    SELECT target, engine,
        CASE WHEN bucket_s > 0 THEN time_bucket(to_seconds(greatest(bucket_s, 1)), ts - INTERVAL 1 MICROSECOND, t0)
             ELSE t0 END AS bucket_start,
        avg(kv_usage) AS kv_usage_mean, max(kv_usage) AS kv_usage_max,
        avg(requests_waiting) AS waiting_mean, max(requests_waiting) AS waiting_max,
        avg(requests_running) AS running_mean
    FROM (
        SELECT s.ts, g.target, g.engine,
            max(s.value * g.scale) FILTER (WHERE g.canonical = 'kv_usage')         AS kv_usage,
            max(s.value * g.scale) FILTER (WHERE g.canonical = 'requests_waiting') AS requests_waiting,
            max(s.value * g.scale) FILTER (WHERE g.canonical = 'requests_running') AS requests_running
        FROM samples s JOIN gauge_series g USING (series_id)
        WHERE s.ts > t0 AND s.ts <= t1 AND (g.superseded_at IS NULL OR s.ts < g.superseded_at)
        GROUP BY s.ts, g.target, g.engine
    )
    GROUP BY ALL
),
engines AS (
    SELECT target, engine, bucket_start FROM ei
    UNION
    SELECT target, engine, bucket_start FROM eg
),
n_engines AS (
    SELECT target, bucket_start, count(*) AS n FROM engines GROUP BY ALL
),
keyed AS (
    -- GPUs whose engine target reported nothing in the bucket still cost: engine '0'
    SELECT * FROM engines
    UNION
    SELECT gs.target, '0', gs.bucket_start FROM gs ANTI JOIN n_engines USING (target, bucket_start)
),
j AS (
    SELECT 'engine' AS kind, k.target, k.engine, k.bucket_start,
        k.target || '/' || k.engine AS subject,
        a.cluster, a.namespace, a.model,
        gs.gpu_models, gs.attribution, gs.price_basis, gs.energy_source, gs.models_without_spec, gs.busy_signal,
        gs.gpu_keys,
        gs.gpu_seconds / coalesce(n.n, 1) AS gpu_seconds,
        gs.gpu_seconds / coalesce(n.n, 1) / nullif(gs.gpu_span_s, 0) AS gpus,   -- GPU equivalents
        gs.gpu_span_s,
        gs.cost_usd / coalesce(n.n, 1) AS cost_usd,   -- NULL: no GPU attributed (not free)
        gs.fixed_usd / coalesce(n.n, 1) AS fixed_usd,
        gs.energy_cost_usd / coalesce(n.n, 1) AS energy_cost_usd,
        gs.energy_j / coalesce(n.n, 1) AS energy_j,
        gs.energy_usd / coalesce(n.n, 1) AS energy_usd,
        gs.dram_active, gs.tensor_active, gs.busy,
        gs.dram_gb / coalesce(n.n, 1) AS dram_gb, gs.peak_gb / coalesce(n.n, 1) AS peak_gb,
        gs.tensor_tflop / coalesce(n.n, 1) AS tensor_tflop, gs.peak_tflop / coalesce(n.n, 1) AS peak_tflop,
        coalesce(ei.prompt_tokens, 0) AS prompt_tokens, coalesce(ei.generation_tokens, 0) AS generation_tokens,
        ei.cached_prompt_tokens, ei.prefix_cache_queries, ei.preemptions, ei.requests_finished,
        ei.prefill_seconds, ei.decode_seconds, ei.engine_seconds, ei.interval_start, ei.interval_end, ei.restarted,
        pk.peak_tokens_per_s,
        eg.kv_usage_mean, eg.kv_usage_max, eg.waiting_mean, eg.waiting_max, eg.running_mean,
        p.fallback_output_cost_ratio
    FROM keyed k
    LEFT JOIN ei USING (target, engine, bucket_start)
    LEFT JOIN eg USING (target, engine, bucket_start)
    LEFT JOIN peak pk USING (target, engine, bucket_start)
    LEFT JOIN gs USING (target, bucket_start)
    LEFT JOIN n_engines n USING (target, bucket_start)
    LEFT JOIN about a USING (target, engine)
    CROSS JOIN price_settings p
),
split AS (
    SELECT *,
        prompt_tokens + generation_tokens AS tokens,
        CASE WHEN coalesce(prefill_seconds, 0) + coalesce(decode_seconds, 0) > 0
             THEN 'measured prefill/decode seconds'
             WHEN prompt_tokens + generation_tokens > 0
             THEN printf('fixed ratio: output token = %g input tokens (fallback)', fallback_output_cost_ratio)
        END AS split_basis,
        CASE WHEN coalesce(prefill_seconds, 0) + coalesce(decode_seconds, 0) > 0
             THEN coalesce(prefill_seconds, 0) / (coalesce(prefill_seconds, 0) + coalesce(decode_seconds, 0))
             WHEN prompt_tokens + generation_tokens > 0
             THEN prompt_tokens / (prompt_tokens + fallback_output_cost_ratio * generation_tokens)
        END AS input_cost_share
    FROM j
),
engine_rows AS (
    SELECT * EXCLUDE (fallback_output_cost_ratio),
        cost_usd * input_cost_share                                   AS input_cost_usd,
        cost_usd * (1 - input_cost_share)                             AS output_cost_usd,
        cost_usd / nullif(tokens, 0) * 1e6                            AS usd_per_1m_tokens,
        cost_usd * input_cost_share / nullif(prompt_tokens, 0) * 1e6  AS usd_per_1m_input,
        cost_usd * (1 - input_cost_share) / nullif(generation_tokens, 0) * 1e6 AS usd_per_1m_output,
        -- prefix cache: cached prompt tokens skipped prefill; at the measured input cost per
        -- computed prompt token, this is what computing them would have cost
        cost_usd * input_cost_share * cached_prompt_tokens / nullif(prompt_tokens - cached_prompt_tokens, 0)
                                                                      AS prefix_cache_savings_usd,
        energy_j / nullif(tokens, 0)                                  AS joules_per_token,
        tokens / nullif(engine_seconds, 0)                            AS tokens_per_s,
        generation_tokens / nullif(engine_seconds, 0)                 AS generation_tokens_per_s,
        dram_gb / nullif(gpu_span_s, 0)                               AS achieved_bw_gbps,
        peak_gb / nullif(gpu_span_s, 0)                               AS peak_bw_gbps,
        tensor_tflop / nullif(gpu_span_s, 0)                          AS achieved_tflops,
        peak_tflop / nullif(gpu_span_s, 0)                            AS peak_tflops
    FROM split
)
SELECT *, CASE WHEN bucket_s > 0 THEN least(bucket_start + to_seconds(greatest(bucket_s, 1)), t1) ELSE t1 END
              AS bucket_end
FROM (SELECT * FROM engine_rows UNION ALL BY NAME SELECT * FROM idle);

-- Just the engine rows of costs_between.
CREATE OR REPLACE TEMP MACRO engine_costs_between(t0, t1, bucket_s, fallback_rate) AS TABLE
SELECT * EXCLUDE (kind, gpu_target, hostname, gpu, uuid, gpu_instance, mig_profile, pod)
FROM costs_between(t0, t1, bucket_s, fallback_rate)
WHERE kind = 'engine';
