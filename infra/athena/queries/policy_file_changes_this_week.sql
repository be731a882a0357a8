-- Who changed the tailnet policy file (ACL) in the last 7 days, newest first, including failed
-- attempts (error is set). `new` is the policy file after the change, as JSON text.
-- Athena (engine v3) and DuckDB; the dt predicate limits the partitions Athena reads.
SELECT
  p_event_time,
  coalesce(actor_login_name, actor_id) AS actor,
  actor_display_name,
  actor_type,
  origin,
  event_name,
  error IS NULL AS succeeded,
  error,
  action_details,
  length(new) AS new_policy_chars,
  p_source_label,
  p_row_id
FROM tailscale_audit
WHERE dt >= cast(cast(current_timestamp - interval '7' day AS date) AS varchar)
  AND p_event_time >= current_timestamp - interval '7' day
  AND target_property = 'ACL'
  AND target_type = 'TAILNET'
ORDER BY p_event_time DESC;
