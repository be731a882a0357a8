-- What tailwatch rejected in the last 7 days, and why: rows per reason and field, with a sample
-- message and source. A new reason or a jump in count usually means Tailscale changed a field
-- (query `original` for the exact text), or something other than Tailscale posts to the intake.
-- Athena (engine v3) and DuckDB; the dt predicate limits the partitions Athena reads.
SELECT
  reason,
  coalesce(field, '') AS field,
  count(*) AS rejected,
  sum(original_bytes) AS bytes,
  min(p_event_time) AS first_seen,
  max(p_event_time) AS last_seen,
  min(message) AS example_message,
  min(p_source_file) AS example_source
FROM tailwatch_quarantine
WHERE dt >= cast(cast(current_timestamp - interval '7' day AS date) AS varchar)
  AND p_event_time >= current_timestamp - interval '7' day
GROUP BY 1, 2
ORDER BY rejected DESC, reason, field;
