-- Everything one actor did in the last 90 days: every audited change they made, oldest first.
-- Parameter (?): the actor's login name, display name or id, e.g. 'alice@example.com'.
--   Athena console: run, then enter the value; CLI: aws athena start-query-execution
--   --execution-parameters "'alice@example.com'"; DuckDB: con.execute(sql, ['alice@example.com']).
-- Athena (engine v3) and DuckDB; the dt predicate limits the partitions Athena reads.
SELECT
  p_event_time,
  event_name,
  origin,
  action,
  target_type,
  coalesce(target_name, target_id) AS target,
  target_property,
  error IS NULL AS succeeded,
  action_details,
  event_group_id,
  p_source_label,
  p_row_id
FROM tailscale_audit
WHERE dt >= cast(cast(current_timestamp - interval '90' day AS date) AS varchar)
  AND ? IN (actor_login_name, actor_display_name, actor_id)
ORDER BY p_event_time, event_name;
