-- tailwatch_alerts: Alerts tailwatch sent: one row per notification
-- Generated from shared/core/src/lake.rs by `tailwatch ddl`: do not edit; see infra/README.md.
-- Run 00_stage_and_format.sql first (file format, stage, and the notes on AUTO_REFRESH).
CREATE OR REPLACE EXTERNAL TABLE tailwatch_alerts (
  dt VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, '/', 2), '=', 2)),         -- Event date (UTC), YYYY-MM-DD: the partition; filter on it to limit the data scanned
  hour VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, '/', 3), '=', 2)),       -- Event hour (UTC), 00-23: the partition under dt
  p_log_type VARCHAR AS (value:"p_log_type"::VARCHAR),                               -- Log type: Tailscale.Audit, Tailscale.Network, Tailwatch.Alert, Tailwatch.Quarantine
  p_row_id VARCHAR AS (value:"p_row_id"::VARCHAR),                                   -- Content hash of the original record: the same record always gets the same id
  p_event_time TIMESTAMP_NTZ(3) AS (value:"p_event_time"::TIMESTAMP_NTZ(3)),         -- Event time (UTC); the partition time
  p_parse_time TIMESTAMP_NTZ(3) AS (value:"p_parse_time"::TIMESTAMP_NTZ(3)),         -- When tailwatch parsed the record (UTC); empty in tailscale_network rows (one per object: its LastModified)
  p_source_label VARCHAR AS (value:"p_source_label"::VARCHAR),                       -- Which stream or export the record came from; empty in tailscale_network rows (one per object)
  p_source_file VARCHAR AS (value:"p_source_file"::VARCHAR),                         -- Raw object key or file the record was read from; empty in tailscale_network rows: the object is named after its raw batch (Athena "$path")
  p_any_ip_addresses ARRAY AS (value:"p_any_ip_addresses"::ARRAY),                   -- Every IP address in the row (audit rows; tailscale_network rows leave the p_any_ columns empty: query src_ip, dst_ip, node_id, peer_node_id, node_user, peer_user)
  p_any_emails ARRAY AS (value:"p_any_emails"::ARRAY),                               -- Every email address in the row
  p_any_usernames ARRAY AS (value:"p_any_usernames"::ARRAY),                         -- Every user name in the row
  p_any_domain_names ARRAY AS (value:"p_any_domain_names"::ARRAY),                   -- Every domain name in the row
  p_any_actor_ids ARRAY AS (value:"p_any_actor_ids"::ARRAY),                         -- Every actor or node id in the row
  id VARCHAR AS (value:"id"::VARCHAR),                                               -- Detection id
  alert_id VARCHAR AS (value:"alert_id"::VARCHAR),                                   -- Stable alert id
  created_at TIMESTAMP_NTZ(3) AS (value:"created_at"::TIMESTAMP_NTZ(3)),             -- When the alert was created
  severity VARCHAR AS (value:"severity"::VARCHAR),                                   -- INFO, LOW, MEDIUM, HIGH, CRITICAL
  title VARCHAR AS (value:"title"::VARCHAR),                                         -- Alert title
  name VARCHAR AS (value:"name"::VARCHAR),                                           -- Detection name
  dedup VARCHAR AS (value:"dedup"::VARCHAR),                                         -- Dedup string
  event_count NUMBER(20,0) AS (value:"event_count"::NUMBER(20,0)),                   -- Matching events when notified
  log_types ARRAY AS (value:"log_types"::ARRAY),                                     -- Log types the detection reads
  first_event_time TIMESTAMP_NTZ(3) AS (value:"first_event_time"::TIMESTAMP_NTZ(3)), -- Event time of the first match
  alert_context VARIANT AS (value:"alert_context"::VARIANT),                         -- Detection-specific context
  alert VARIANT AS (value:"alert"::VARIANT)                                          -- The full alert payload as sent
)
PARTITION BY (dt, hour)
LOCATION = @tailwatch_lake/tailwatch_alerts/
AUTO_REFRESH = TRUE
FILE_FORMAT = (FORMAT_NAME = 'tailwatch_ndjson_gzip')
COMMENT = 'Alerts tailwatch sent: one row per notification';
