-- The economics of serving: what a token costs, who pays, what idles, against the cloud.
-- Building blocks (engine_costs_between, gpu_slots_between, ...) are table macros defined in
-- queries/economics.sql; prices and reference tables come from the settings (queries/reference.py).

-- name: cost_per_token
-- $ per 1M tokens, total and split into input and output, per engine, model, namespace,
-- cluster or the fleet. The split follows each engine's measured prefill vs decode seconds
-- (a fixed output/input ratio only where an engine reports neither; split_basis says which).
-- Idle GPUs are never spread over engines: for cluster and fleet they are shown beside, with
-- the $ per 1M tokens they would add.
-- param: start TIMESTAMP = -1h : window start (UTC)
-- param: end TIMESTAMP = now : window end (UTC)
-- param: by VARCHAR = engine : engine | model | namespace | cluster | fleet
WITH c AS MATERIALIZED (
    SELECT * FROM costs_between($start, $end, 0, NULL)
),
e AS (
    SELECT *,
        CASE lower($by)
            WHEN 'engine' THEN target || '/' || engine
            WHEN 'model' THEN coalesce(model, '(unknown model)')
            WHEN 'namespace' THEN coalesce(namespace, '(no namespace)')
            WHEN 'cluster' THEN coalesce(cluster, '(no cluster)')
            WHEN 'fleet' THEN 'fleet'
            ELSE error('by must be engine, model, namespace, cluster or fleet, not ' || $by)
        END AS grp
    FROM c WHERE kind = 'engine'
),
idle AS (
    -- GPU cost no engine claims, by the cluster of its dcgm target (cluster and fleet only)
    SELECT CASE lower($by) WHEN 'cluster' THEN coalesce(cluster, '(no cluster)') ELSE 'fleet' END AS grp,
           sum(cost_usd) AS idle_usd, sum(gpu_seconds) / 3600.0 AS idle_gpu_hours
    FROM c
    WHERE kind = 'idle' AND lower($by) IN ('cluster', 'fleet')
    GROUP BY ALL
),
g AS (
    SELECT grp,
        -- descriptive columns: filled where the whole group shares one value
        CASE WHEN count(DISTINCT cluster) = 1 THEN any_value(cluster) END AS cluster,
        CASE WHEN count(DISTINCT namespace) = 1 THEN any_value(namespace) END AS namespace,
        CASE WHEN count(DISTINCT model) = 1 THEN any_value(model) END AS model,
        count(*) AS engines,
        string_agg(DISTINCT gpu_models, ', ' ORDER BY gpu_models) AS gpu_models,
        sum(gpus) AS gpus,
        sum(gpu_seconds) / 3600.0 AS gpu_hours,
        sum(cost_usd) AS cost_usd,
        sum(input_cost_usd) AS input_cost_usd,
        sum(output_cost_usd) AS output_cost_usd,
        sum(energy_cost_usd) AS energy_cost_usd,
        sum(energy_j) / 3.6e6 AS energy_kwh,
        sum(energy_usd) AS energy_usd,
        sum(prompt_tokens) AS prompt_tokens,
        sum(generation_tokens) AS generation_tokens,
        sum(cached_prompt_tokens) AS cached_prompt_tokens,
        sum(tokens) AS tokens,
        sum(tokens_per_s) AS tokens_per_s,
        sum(prefix_cache_savings_usd) AS prefix_cache_savings_usd,
        count(*) FILTER (WHERE split_basis LIKE 'measured%') AS measured,
        count(*) FILTER (WHERE split_basis LIKE 'fixed%') AS fallback,
        any_value(split_basis) FILTER (WHERE split_basis LIKE 'fixed%') AS fallback_label
    FROM e
    GROUP BY grp
)
SELECT
    lower($by) AS by,
    g.grp AS "group",
    g.cluster, g.namespace, g.model, g.engines, g.gpu_models, g.gpus, g.gpu_hours,
    g.cost_usd,
    g.prompt_tokens, g.generation_tokens, g.cached_prompt_tokens, g.tokens, g.tokens_per_s,
    g.cost_usd / nullif(g.tokens, 0) * 1e6                       AS usd_per_1m_tokens,
    g.input_cost_usd / nullif(g.prompt_tokens, 0) * 1e6          AS usd_per_1m_input,
    g.output_cost_usd / nullif(g.generation_tokens, 0) * 1e6     AS usd_per_1m_output,
    CASE WHEN g.measured > 0 AND g.fallback = 0 THEN 'measured prefill/decode seconds'
         WHEN g.fallback > 0 AND g.measured = 0 THEN g.fallback_label
         WHEN g.fallback > 0 THEN printf('mixed: %d of %d engines by fixed ratio (fallback)', g.fallback, g.fallback + g.measured)
    END                                                          AS split_basis,
    g.cached_prompt_tokens / nullif(g.prompt_tokens, 0)          AS prefix_cache_hit_rate,
    g.prefix_cache_savings_usd,
    g.energy_kwh,
    g.energy_kwh * 3.6e6 / nullif(g.tokens, 0)                   AS joules_per_token,
    g.energy_usd,
    g.energy_usd / nullif(g.cost_usd, 0)                         AS energy_share_of_cost,
    g.energy_cost_usd,
    idle.idle_usd,
    idle.idle_gpu_hours,
    (g.cost_usd + coalesce(idle.idle_usd, 0)) / nullif(g.tokens, 0) * 1e6 AS usd_per_1m_tokens_with_idle
FROM g
LEFT JOIN idle USING (grp)
ORDER BY g.cost_usd DESC NULLS LAST, g.grp;

-- name: chargeback
-- Who pays what, per namespace: engines' GPU cost, GPUs held by the namespace's other pods (no
-- engine memmoat scrapes), and one row for idle GPUs no pod holds. Rows add up to the bill.
-- param: start TIMESTAMP = -1d : window start (UTC)
-- param: end TIMESTAMP = now : window end (UTC)
WITH c AS MATERIALIZED (
    SELECT * FROM costs_between($start, $end, 0, NULL)
),
e AS (
    SELECT coalesce(namespace, '(no namespace)') AS namespace, count(*) AS engines,
           string_agg(DISTINCT model, ', ' ORDER BY model) AS models,
           sum(gpu_seconds) AS gpu_seconds, sum(cost_usd) AS engine_cost_usd,
           sum(input_cost_usd) AS input_cost_usd, sum(output_cost_usd) AS output_cost_usd,
           sum(prompt_tokens) AS prompt_tokens, sum(generation_tokens) AS generation_tokens,
           sum(energy_j) AS energy_j, sum(prefix_cache_savings_usd) AS prefix_cache_savings_usd
    FROM c WHERE kind = 'engine'
    GROUP BY ALL
),
other AS (
    -- GPUs no engine claims: a pod's namespace pays for them, else they are idle
    SELECT coalesce(namespace, '(idle GPUs: no pod)') AS namespace,
           sum(gpu_seconds) AS gpu_seconds, sum(cost_usd) AS other_cost_usd, sum(energy_j) AS energy_j
    FROM c WHERE kind = 'idle'
    GROUP BY ALL
),
j AS (
    SELECT namespace, coalesce(e.engines, 0) AS engines, e.models,
           coalesce(e.gpu_seconds, 0) + coalesce(other.gpu_seconds, 0) AS gpu_seconds,
           coalesce(e.engine_cost_usd, 0) AS engine_cost_usd, e.engine_cost_usd AS engine_cost_known,
           coalesce(other.other_cost_usd, 0) AS other_gpu_cost_usd,
           e.input_cost_usd, e.output_cost_usd, coalesce(e.prompt_tokens, 0) AS prompt_tokens,
           coalesce(e.generation_tokens, 0) AS generation_tokens,
           coalesce(e.energy_j, 0) + coalesce(other.energy_j, 0) AS energy_j, e.prefix_cache_savings_usd
    FROM e FULL JOIN other USING (namespace)
)
SELECT namespace, engines, models,
    gpu_seconds / 3600.0                                   AS gpu_hours,
    engine_cost_usd + other_gpu_cost_usd                   AS cost_usd,
    (engine_cost_usd + other_gpu_cost_usd) / nullif(sum(engine_cost_usd + other_gpu_cost_usd) OVER (), 0)
                                                           AS share_of_bill,
    engine_cost_usd,
    other_gpu_cost_usd,
    prompt_tokens, generation_tokens,
    -- per token over the engines' cost only (NULL where no GPU is attributed to the engines)
    engine_cost_known / nullif(prompt_tokens + generation_tokens, 0) * 1e6 AS usd_per_1m_tokens,
    input_cost_usd / nullif(prompt_tokens, 0) * 1e6        AS usd_per_1m_input,
    output_cost_usd / nullif(generation_tokens, 0) * 1e6   AS usd_per_1m_output,
    energy_j / 3.6e6                                       AS energy_kwh,
    prefix_cache_savings_usd
FROM j
ORDER BY cost_usd DESC, namespace;

-- name: cost_timeseries
-- Cost and tokens per engine per time bucket, and the idle GPUs' cost per bucket (target
-- '(idle GPUs)'): for charts of cost per token over time.
-- param: start TIMESTAMP = -1d : window start (UTC)
-- param: end TIMESTAMP = now : window end (UTC)
-- param: bucket_minutes INTEGER = 60 : bucket length
WITH c AS MATERIALIZED (
    SELECT * FROM costs_between($start, $end, $bucket_minutes * 60, NULL)
)
SELECT bucket_start, bucket_end, target, engine, model, namespace, cluster,
       gpus, cost_usd, tokens, tokens_per_s, usd_per_1m_tokens, usd_per_1m_input, usd_per_1m_output,
       energy_j / 3.6e6 AS energy_kwh, joules_per_token
FROM c WHERE kind = 'engine'
UNION ALL BY NAME
-- the idle shares of a bucket, added up per cluster
SELECT bucket_start, bucket_end, '(idle GPUs)' AS target, cluster,
       sum(gpus) AS gpus, sum(cost_usd) AS cost_usd, sum(energy_j) / 3.6e6 AS energy_kwh
FROM c WHERE kind = 'idle'
GROUP BY ALL
ORDER BY bucket_start, target, engine;

-- name: gpu_hour_cost
-- $ per GPU-hour per GPU model over a window, with its breakdown: the cloud rate, or on-prem
-- capex (purchase / depreciation) + overhead + power (measured energy x PUE x $/kWh).
-- param: start TIMESTAMP = -1d : window start (UTC)
-- param: end TIMESTAMP = now : window end (UTC)
WITH s AS (
    SELECT coalesce(gpu_model, '') AS gpu_model, count(DISTINCT target || '|' || uuid) AS gpus,
           sum(gpu_seconds) AS gpu_seconds, sum(cost_usd) AS cost_usd, sum(billed_energy_usd) AS power_usd,
           sum(energy_j) AS energy_j,
           string_agg(DISTINCT energy_source, ', ' ORDER BY energy_source) AS energy_source
    FROM gpu_slots_between($start, $end, NULL)
    GROUP BY ALL
)
SELECT nullif(s.gpu_model, '') AS gpu_model, m.spec_model, m.price_basis, m.price_entry,
    s.gpus, s.gpu_seconds / 3600.0 AS gpu_hours,
    m.cloud_usd_per_hour,
    m.capex_usd_per_hour,
    m.overhead_usd_per_hour,
    -- measured: only on-prem pays its energy on top of the fixed part
    CASE WHEN m.energy_billed THEN s.power_usd / nullif(s.gpu_seconds / 3600.0, 0) END AS power_usd_per_hour,
    s.cost_usd / nullif(s.gpu_seconds / 3600.0, 0) AS usd_per_gpu_hour,
    s.energy_j / nullif(s.gpu_seconds, 0) AS mean_power_w,
    s.energy_j / 3.6e6 AS energy_kwh,
    m.pue, m.power_usd_per_kwh, s.energy_source,
    s.cost_usd
FROM s LEFT JOIN gpu_models m USING (gpu_model)
ORDER BY s.cost_usd DESC;

-- name: idle_cost
-- GPU shares no engine claims (no matching namespace/pod, hostname + gpu_indices), what they
-- cost and why: idle cost, shown and never spread over the engines.
-- param: start TIMESTAMP = -1d : window start (UTC)
-- param: end TIMESTAMP = now : window end (UTC)
WITH s AS (
    -- the GPU side alone is enough here (queries/economics.sql)
    SELECT * FROM gpu_slots_between($start, $end, NULL)
)
SELECT cluster, hostname, gpu, uuid, gpu_instance, mig_profile, gpu_model, namespace, pod,
    CASE WHEN gpu_instance = 'unallocated' THEN 'MIG slices without an instance'
         WHEN pod IS NOT NULL THEN 'held by pod ' || coalesce(namespace || '/', '') || pod || ', which is no scraped engine'
         ELSE 'no pod holds it and no engine target claims it (namespace/pod labels, hostname + gpu_indices)'
    END AS reason,
    sum(gpu_seconds) / 3600.0 AS gpu_hours,
    sum(cost_usd) AS cost_usd,
    sum(cost_usd) / (SELECT sum(cost_usd) FROM s) AS share_of_fleet_cost,
    sum(energy_j) / 3.6e6 AS energy_kwh,
    sum(energy_j) / nullif(sum(gpu_seconds), 0) AS mean_power_w,
    sum(coalesce(gr_engine_active, gpu_util) * gpu_seconds)
        / nullif(sum(gpu_seconds) FILTER (WHERE coalesce(gr_engine_active, gpu_util) IS NOT NULL), 0) AS busy
FROM s
WHERE engine_target IS NULL
GROUP BY ALL
ORDER BY cost_usd DESC, hostname, gpu, gpu_instance;

-- name: gpu_attribution
-- Which engine each GPU (or MIG instance) belongs to over a window, by which rule, with what
-- share; to check the attribution before trusting the chargeback.
-- param: start TIMESTAMP = -1h : window start (UTC)
-- param: end TIMESTAMP = now : window end (UTC)
SELECT cluster, hostname, gpu, uuid, gpu_instance, mig_profile, gpu_model, spec_model, namespace, pod,
    coalesce(engine_target, '(idle)') AS engine_target, rule, weight, share, share_basis, price_basis,
    sum(gpu_seconds) / 3600.0 AS gpu_hours, sum(cost_usd) AS cost_usd,
    string_agg(DISTINCT energy_source, ', ' ORDER BY energy_source) AS energy_source
FROM gpu_slots_between($start, $end, NULL)
GROUP BY ALL
ORDER BY hostname, gpu, gpu_instance, engine_target;

-- name: api_comparison
-- Self-hosted $ per 1M input/output tokens per engine against hosted API list prices, what
-- the same traffic would cost there, and the utilization at which self-hosting breaks even.
-- Utilization = tokens/s as a share of the engine's demonstrated peak (the peak_quantile of
-- its per-scrape token rates); the GPU bill is fixed, so at utilization u the self-hosted
-- cost per token is cost_per_hour / (u x peak tokens per hour), equal to the API's at u =
-- breakeven_utilization (above 1: not even at the demonstrated peak).
-- param: start TIMESTAMP = -1d : window start (UTC)
-- param: end TIMESTAMP = now : window end (UTC)
-- param: provider VARCHAR = % : API provider (SQL LIKE pattern, case-insensitive)
-- param: api_model VARCHAR = % : API model (SQL LIKE pattern, case-insensitive)
-- param: peak_quantile DOUBLE = 0.95 : quantile of per-scrape token rates taken as peak throughput
WITH e AS (
    SELECT * FROM costs_between($start, $end, 0, NULL, peak_quantile := $peak_quantile)
    WHERE kind = 'engine' AND tokens > 0 AND cost_usd > 0
),
j AS (
    SELECT e.*, a.provider, a.model AS api_model, a.input_usd_per_1m,
           a.cached_input_usd_per_1m, a.output_usd_per_1m, a.as_of, a.source,
           -- the API bill for the same traffic; cached prompt tokens at the API's cached price where it has one
           ((e.prompt_tokens - coalesce(e.cached_prompt_tokens, 0)) * a.input_usd_per_1m
            + coalesce(e.cached_prompt_tokens, 0) * coalesce(a.cached_input_usd_per_1m, a.input_usd_per_1m)
            + e.generation_tokens * a.output_usd_per_1m) / 1e6 AS api_usd,
           e.cost_usd / nullif(e.engine_seconds / 3600.0, 0) AS self_usd_per_hour
    FROM e CROSS JOIN api_prices a
    WHERE a.provider ILIKE $provider AND a.model ILIKE $api_model
)
SELECT target, engine, model, namespace,
    usd_per_1m_input AS self_usd_per_1m_input,
    usd_per_1m_output AS self_usd_per_1m_output,
    usd_per_1m_tokens AS self_usd_per_1m_tokens,
    provider, api_model, input_usd_per_1m AS api_usd_per_1m_input,
    cached_input_usd_per_1m AS api_usd_per_1m_cached_input, output_usd_per_1m AS api_usd_per_1m_output,
    api_usd / nullif(tokens, 0) * 1e6 AS api_usd_per_1m_tokens,
    cost_usd AS self_usd, api_usd, api_usd - cost_usd AS savings_usd,
    cost_usd / nullif(api_usd, 0) AS self_vs_api,
    tokens_per_s, peak_tokens_per_s,
    tokens_per_s / nullif(peak_tokens_per_s, 0) AS utilization,
    -- self cost per token at utilization u: self_usd_per_hour / (u * peak * 3600); the API's per
    -- token is api_usd / tokens; equal at:
    self_usd_per_hour / nullif(peak_tokens_per_s * 3600.0 * api_usd / nullif(tokens, 0), 0) AS breakeven_utilization,
    as_of AS api_as_of, source AS api_source
FROM j
ORDER BY target, engine, api_usd_per_1m_tokens;

-- name: api_prices
-- The reference table of hosted API list prices ($ per 1M tokens) with source and date
-- (queries/reference/api_prices.csv, or the file named by prices.api_prices_csv).
-- param: provider VARCHAR = % : provider (SQL LIKE pattern, case-insensitive)
SELECT provider, model, input_usd_per_1m, cached_input_usd_per_1m, output_usd_per_1m, as_of, as_of_note,
       source, source_type, notes
FROM api_prices
WHERE provider ILIKE $provider
ORDER BY provider, model;

-- name: gpu_specs
-- GPU facts per model (queries/reference/gpu_specs.csv): memory, peak bandwidth, dense BF16,
-- TDP, MIG compute slices, with sources. Blank = not confirmed from a readable source.
SELECT model, short_name, memory_gib, memory_type, peak_memory_bandwidth_gbps, dense_bf16_tflops,
       tdp_watts, mig_slices, source_quality, source_date, source, notes
FROM gpu_specs
ORDER BY model;

-- name: gpu_models
-- Each GPU modelName seen in the store, the spec row it matched (exact, family or none) and
-- its price: check here that every GPU found its spec and its [[prices.gpus]] entry.
SELECT nullif(m.gpu_model, '') AS gpu_model, m.spec_model, m.spec_match, m.peak_memory_bandwidth_gbps,
       m.dense_bf16_tflops, m.tdp_watts, m.mig_slices, m.price_basis, m.price_entry,
       m.fixed_usd_per_hour, m.energy_billed,
       (SELECT count(DISTINCT coalesce(uuid, hostname || ':' || gpu)) FROM series s
        WHERE s.entity = 'gpu' AND coalesce(s.gpu_model, '') = m.gpu_model) AS gpus_seen
FROM gpu_models m
WHERE m.gpu_model <> '' OR gpus_seen > 0
ORDER BY gpus_seen DESC, m.gpu_model;

-- name: gpu_prices
-- The configured prices ([prices] and [[prices.gpus]]) with the on-prem $ per GPU-hour broken
-- down: capex (purchase / depreciation years / 8760 h) + overhead (per year / 8760 h) + power
-- (here at TDP x PUE x $/kWh, an upper bound; gpu_hour_cost has the measured figure).
SELECT gpu_model, price_basis, spec_model, cloud_usd_per_hour, purchase_usd, depreciation_years,
       overhead_usd_per_year, capex_usd_per_hour, overhead_usd_per_hour, fixed_usd_per_hour,
       power_usd_per_kwh, pue, tdp_watts, power_usd_per_hour_at_tdp, usd_per_hour_at_tdp, matches_seen
FROM gpu_prices;
