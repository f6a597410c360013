-- memmoat schema v1: raw samples in long form, their series, and the scrape log.
-- Timestamps are TIMESTAMP in UTC.

CREATE TABLE targets (
    name        VARCHAR PRIMARY KEY,
    url         VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,          -- configured kind (may be 'auto')
    detected    VARCHAR,                   -- kind detected from the page
    cluster     VARCHAR NOT NULL,
    labels      MAP(VARCHAR, VARCHAR),
    hostname    VARCHAR,                   -- attribution fallback: node of the engine
    gpu_indices INTEGER[],                 -- attribution fallback: GPUs of the engine
    updated_at  TIMESTAMP NOT NULL
);

-- One row per distinct sample series of one target. The collector assigns series_id.
CREATE TABLE series (
    series_id    INTEGER PRIMARY KEY,
    target       VARCHAR NOT NULL,
    series_key   VARCHAR NOT NULL,         -- the raw name{labels} text as scraped
    metric       VARCHAR NOT NULL,         -- sample name as scraped
    family       VARCHAR NOT NULL,         -- metric family (sample name without suffix)
    labels       MAP(VARCHAR, VARCHAR) NOT NULL,
    group_key    VARCHAR NOT NULL,         -- family + labels without le: ties buckets, sum, count, created
    canonical    VARCHAR,                  -- canonical column, NULL when unmapped
    entity       VARCHAR,                  -- 'gpu' | 'engine' | NULL
    mtype        VARCHAR,                  -- gauge | counter | histogram | info
    part         VARCHAR,                  -- '' | bucket | sum | count | created
    scale        DOUBLE,
    priority     INTEGER,
    le           DOUBLE,                   -- histogram bucket bound
    cluster      VARCHAR,
    hostname     VARCHAR,
    gpu          INTEGER,
    uuid         VARCHAR,
    gpu_model    VARCHAR,
    gpu_instance VARCHAR,
    mig_profile  VARCHAR,
    namespace    VARCHAR,
    pod          VARCHAR,
    container    VARCHAR,
    vgpu         VARCHAR,
    engine       VARCHAR,
    model        VARCHAR,
    first_seen   TIMESTAMP NOT NULL,
    UNIQUE (target, series_key)
);

CREATE TABLE samples (
    ts        TIMESTAMP NOT NULL,
    series_id INTEGER   NOT NULL,
    value     DOUBLE    NOT NULL
);

-- Every scrape, successful or not.
CREATE TABLE scrapes (
    target      VARCHAR   NOT NULL,
    started_at  TIMESTAMP NOT NULL,
    duration_s  DOUBLE    NOT NULL,
    bytes       BIGINT    NOT NULL,
    samples     INTEGER   NOT NULL,
    new_series  INTEGER   NOT NULL,
    issues      INTEGER   NOT NULL,        -- lines skipped on the page
    error       VARCHAR,                   -- NULL when the scrape succeeded
    error_line  INTEGER
);
