-- Rollups of the canonical views and the state of the collector's maintenance jobs.
-- Written by store/rollups.py (see docs/collector.md) from the canonical views: ts is the start
-- of the bucket (UTC); scrapes counts the rows of gpu_metrics / engine_metrics aggregated;
-- <gauge>_avg / <gauge>_max aggregate a gauge over them; counter columns are sums of the
-- reset-safe increments of engine_increments / gpu_energy_increments, each in the bucket of the
-- later scrape of its interval; resets counts intervals in which a counter restarted.

CREATE TABLE gpu_rollup_1m (
    ts TIMESTAMP NOT NULL, target VARCHAR NOT NULL, uuid VARCHAR, gpu_instance VARCHAR,
    namespace VARCHAR, pod VARCHAR, container VARCHAR,
    cluster VARCHAR, hostname VARCHAR, gpu INTEGER, gpu_model VARCHAR, mig_profile VARCHAR,
    scrapes INTEGER NOT NULL,
    dram_active_avg DOUBLE, dram_active_max DOUBLE,
    tensor_active_avg DOUBLE, tensor_active_max DOUBLE,
    gr_engine_active_avg DOUBLE, gr_engine_active_max DOUBLE,
    sm_active_avg DOUBLE, sm_active_max DOUBLE,
    gpu_util_avg DOUBLE, gpu_util_max DOUBLE,
    mem_copy_util_avg DOUBLE, mem_copy_util_max DOUBLE,
    fb_used_bytes_avg DOUBLE, fb_used_bytes_max DOUBLE,
    fb_free_bytes_avg DOUBLE, fb_free_bytes_max DOUBLE,
    power_w_avg DOUBLE, power_w_max DOUBLE,
    sm_clock_mhz_avg DOUBLE, sm_clock_mhz_max DOUBLE,
    gpu_temp_c_avg DOUBLE, gpu_temp_c_max DOUBLE,
    sm_occupancy_avg DOUBLE, sm_occupancy_max DOUBLE,
    pcie_tx_bytes_per_s_avg DOUBLE, pcie_tx_bytes_per_s_max DOUBLE,
    pcie_rx_bytes_per_s_avg DOUBLE, pcie_rx_bytes_per_s_max DOUBLE,
    energy_j DOUBLE,
    resets INTEGER NOT NULL
);
CREATE TABLE gpu_rollup_1h AS SELECT * FROM gpu_rollup_1m WITH NO DATA;

CREATE TABLE engine_rollup_1m (
    ts TIMESTAMP NOT NULL, target VARCHAR NOT NULL, engine VARCHAR NOT NULL,
    cluster VARCHAR, model VARCHAR, namespace VARCHAR, pod VARCHAR, hostname VARCHAR,
    scrapes INTEGER NOT NULL,
    kv_usage_avg DOUBLE, kv_usage_max DOUBLE,
    requests_running_avg DOUBLE, requests_running_max DOUBLE,
    requests_waiting_avg DOUBLE, requests_waiting_max DOUBLE,
    requests_swapped_avg DOUBLE, requests_swapped_max DOUBLE,
    kv_used_tokens_avg DOUBLE, kv_used_tokens_max DOUBLE,
    kv_capacity_config_tokens_avg DOUBLE, kv_capacity_config_tokens_max DOUBLE,
    kv_capacity_gauge_tokens_avg DOUBLE, kv_capacity_gauge_tokens_max DOUBLE,
    kv_capacity_tokens_avg DOUBLE, kv_capacity_tokens_max DOUBLE,
    prompt_tokens DOUBLE, generation_tokens DOUBLE, cached_prompt_tokens DOUBLE,
    prefix_cache_queries DOUBLE, preemptions DOUBLE, requests_finished DOUBLE,
    prefill_seconds DOUBLE, decode_seconds DOUBLE,
    ttft_seconds_sum DOUBLE, ttft_count DOUBLE, itl_seconds_sum DOUBLE, itl_count DOUBLE,
    e2e_seconds_sum DOUBLE, e2e_count DOUBLE, queue_seconds_sum DOUBLE, queue_count DOUBLE,
    resets INTEGER NOT NULL
);
CREATE TABLE engine_rollup_1h AS SELECT * FROM engine_rollup_1m WITH NO DATA;

-- How far each maintenance job got: rollup_1m, rollup_1h (done_until = end of the last bucket
-- written) and compact (raw samples before done_until are stored sorted by series).
CREATE TABLE maintenance_state (
    name       VARCHAR PRIMARY KEY,
    done_until TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- The last sample before the rolled-up window of every series that counter_increments reads
-- (counters, histograms, their _created lines, process start times): the next window's first
-- increment is computed against it, so none is lost at a window edge or across an outage.
CREATE TABLE rollup_seed (
    series_id INTEGER PRIMARY KEY,
    ts        TIMESTAMP NOT NULL,
    value     DOUBLE NOT NULL
);
