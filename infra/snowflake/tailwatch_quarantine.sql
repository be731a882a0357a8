-- tailwatch_quarantine: Values tailwatch could not turn into lake rows, with the reason
-- Generated from shared/core/src/lake.rs by `tailwatch ddl`: do not edit; see infra/README.md.
-- Run 00_stage_and_format.sql first (file format, stage, and the notes on AUTO_REFRESH).
CREATE OR REPLACE EXTERNAL TABLE tailwatch_quarantine (
  dt VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, '/', 2), '=', 2)),   -- Event date (UTC), YYYY-MM-DD: the partition; filter on it to limit the data scanned
  hour VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, '/', 3), '=', 2)), -- Event hour (UTC), 00-23: the partition under dt
  p_log_type VARCHAR AS (value:"p_log_type"::VARCHAR),                         -- Log type: Tailscale.Audit, Tailscale.Network, Tailwatch.Alert, Tailwatch.Quarantine
  p_row_id VARCHAR AS (value:"p_row_id"::VARCHAR),                             -- Content hash of the original record: the same record always gets the same id
  p_event_time TIMESTAMP_NTZ(3) AS (value:"p_event_time"::TIMESTAMP_NTZ(3)),   -- Event time (UTC); the partition time
  p_parse_time TIMESTAMP_NTZ(3) AS (value:"p_parse_time"::TIMESTAMP_NTZ(3)),   -- When tailwatch parsed the record (UTC); empty in tailscale_network rows (one per object: its LastModified)
  p_source_label VARCHAR AS (value:"p_source_label"::VARCHAR),                 -- Which stream or export the record came from; empty in tailscale_network rows (one per object)
  p_source_file VARCHAR AS (value:"p_source_file"::VARCHAR),                   -- Raw object key or file the record was read from; empty in tailscale_network rows: the object is named after its raw batch (Athena "$path")
  p_any_ip_addresses ARRAY AS (value:"p_any_ip_addresses"::ARRAY),             -- Every IP address in the row (audit rows; tailscale_network rows leave the p_any_ columns empty: query src_ip, dst_ip, node_id, peer_node_id, node_user, peer_user)
  p_any_emails ARRAY AS (value:"p_any_emails"::ARRAY),                         -- Every email address in the row
  p_any_usernames ARRAY AS (value:"p_any_usernames"::ARRAY),                   -- Every user name in the row
  p_any_domain_names ARRAY AS (value:"p_any_domain_names"::ARRAY),             -- Every domain name in the row
  p_any_actor_ids ARRAY AS (value:"p_any_actor_ids"::ARRAY),                   -- Every actor or node id in the row
  reason VARCHAR AS (value:"reason"::VARCHAR),                                 -- Stable reason code: invalid_json, invalid_field, unrecognized_record, …
  message VARCHAR AS (value:"message"::VARCHAR),                               -- What is wrong, naming the field and what was expected
  field VARCHAR AS (value:"field"::VARCHAR),                                   -- Dotted path of the field at fault
  value_index NUMBER(20,0) AS (value:"value_index"::NUMBER(20,0)),             -- 0-based index of the value in its body
  line NUMBER(20,0) AS (value:"line"::NUMBER(20,0)),                           -- 1-based line where the value starts
  original VARCHAR AS (value:"original"::VARCHAR),                             -- The original bytes (lossy UTF-8, at most 256 KiB)
  original_bytes NUMBER(20,0) AS (value:"original_bytes"::NUMBER(20,0)),       -- Size of the original value
  original_truncated BOOLEAN AS (value:"original_truncated"::BOOLEAN)          -- Whether original was cut
)
PARTITION BY (dt, hour)
LOCATION = @tailwatch_lake/tailwatch_quarantine/
AUTO_REFRESH = TRUE
FILE_FORMAT = (FORMAT_NAME = 'tailwatch_ndjson_gzip')
COMMENT = 'Values tailwatch could not turn into lake rows, with the reason';
