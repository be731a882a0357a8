-- Alerts of the last 7 days by detection: how many alerts (distinct alert_id), notifications
-- and matching events, and when they started and last fired. Alert rows are partitioned by the
-- event time of their first match.
-- Athena (engine v3) and DuckDB; the dt predicate limits the partitions Athena reads.
SELECT
  id AS detection,
  severity,
  count(DISTINCT alert_id) AS alerts,
  count(*) AS notifications,
  sum(event_count) AS events,
  min(first_event_time) AS first_match,
  max(created_at) AS last_notified,
  min(title) AS example_title
FROM tailwatch_alerts
WHERE dt >= cast(cast(current_timestamp - interval '7' day AS date) AS varchar)
  AND p_event_time >= current_timestamp - interval '7' day
GROUP BY id, severity
ORDER BY alerts DESC, detection;
