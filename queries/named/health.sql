-- name: target_health
-- Each target's state: up or down, last scrape and success, failures, last error.
-- A target is down when its latest scrape failed.
SELECT
    t.name AS target,
    coalesce(t.detected, t.kind) AS kind,
    t.cluster,
    CASE WHEN h.last_scrape IS NULL THEN 'never scraped'
         WHEN h.last_success = h.last_scrape THEN 'up'
         ELSE 'down' END AS state,
    h.last_scrape,
    h.last_success,
    h.scrapes,
    h.failures,
    h.last_samples,
    round(h.mean_duration_s * 1000, 1) AS mean_ms,
    h.last_error,
    t.url
FROM targets t
LEFT JOIN scrape_health h ON h.target = t.name
ORDER BY state DESC, t.name;

-- name: scrape_log
-- Recent scrapes, newest first, with their errors.
-- param: start TIMESTAMP = -1h : window start (UTC)
-- param: target VARCHAR = % : target name (SQL LIKE pattern)
SELECT target, started_at, round(duration_s * 1000, 1) AS ms, bytes, samples, new_series, issues, error, error_line
FROM scrapes
WHERE started_at >= $start AND target LIKE $target
ORDER BY started_at DESC
LIMIT 1000;
