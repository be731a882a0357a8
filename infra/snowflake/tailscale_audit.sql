-- tailscale_audit: Tailscale configuration audit log: one row per audited change
-- Generated from shared/core/src/lake.rs by `tailwatch ddl`: do not edit; see infra/README.md.
-- Run 00_stage_and_format.sql first (file format, stage, and the notes on AUTO_REFRESH).
CREATE OR REPLACE EXTERNAL TABLE tailscale_audit (
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
  event_name VARCHAR AS (value:"event_name"::VARCHAR),                         -- TARGET_TYPE.ACTION[.PROPERTY], e.g. TAILNET.DISABLE.MAGIC_DNS
  event_group_id VARCHAR AS (value:"event_group_id"::VARCHAR),                 -- Groups the events of one operation
  origin VARCHAR AS (value:"origin"::VARCHAR),                                 -- ADMIN_CONSOLE, CONFIG_API, CONTROL, IDENTITY_PROVIDER, NODE, SUPPORT_REQUEST, …
  action VARCHAR AS (value:"action"::VARCHAR),                                 -- LOGIN, CREATE, UPDATE, DELETE, ENABLE, DISABLE, APPROVE, …
  actor_id VARCHAR AS (value:"actor_id"::VARCHAR),                             -- Actor id
  actor_type VARCHAR AS (value:"actor_type"::VARCHAR),                         -- USER, NODE, AUTOMATED_WORKER, OAUTH_CLIENT, SCIM, …
  actor_login_name VARCHAR AS (value:"actor_login_name"::VARCHAR),             -- Actor login name (empty for automation)
  actor_display_name VARCHAR AS (value:"actor_display_name"::VARCHAR),         -- Actor display name
  actor_tags ARRAY AS (value:"actor_tags"::ARRAY),                             -- Actor tags (tagged nodes)
  target_id VARCHAR AS (value:"target_id"::VARCHAR),                           -- Target id
  target_name VARCHAR AS (value:"target_name"::VARCHAR),                       -- Target name
  target_type VARCHAR AS (value:"target_type"::VARCHAR),                       -- TAILNET, USER, NODE, API_KEY, …
  target_property VARCHAR AS (value:"target_property"::VARCHAR),               -- Changed property: MAGIC_DNS, ACL, USER_ROLE, …
  target_is_ephemeral BOOLEAN AS (value:"target_is_ephemeral"::BOOLEAN),       -- Whether the target node is ephemeral
  old VARCHAR AS (value:"old"::VARCHAR),                                       -- Value before the change, as JSON text
  new VARCHAR AS (value:"new"::VARCHAR),                                       -- Value after the change, as JSON text
  action_details VARCHAR AS (value:"action_details"::VARCHAR),                 -- Free-text details (scopes, reasons)
  error VARCHAR AS (value:"error"::VARCHAR),                                   -- Set when the change failed
  deferred_at TIMESTAMP_NTZ(3) AS (value:"deferred_at"::TIMESTAMP_NTZ(3)),     -- When a rate-limited event was deferred
  recorded_time TIMESTAMP_NTZ(3) AS (value:"recorded_time"::TIMESTAMP_NTZ(3)), -- When Tailscale recorded or logged the event
  event_time_source VARCHAR AS (value:"event_time_source"::VARCHAR),           -- Where p_event_time came from, the first usable of: eventTime, time (HEC envelope), fields.recorded, logged, start, end (network), parse_time
  unknown_fields VARCHAR AS (value:"unknown_fields"::VARCHAR)                  -- Members not in Tailscale's documented schema, and time values tailwatch could not use (by source name), as a JSON object
)
PARTITION BY (dt, hour)
LOCATION = @tailwatch_lake/tailscale_audit/
AUTO_REFRESH = TRUE
FILE_FORMAT = (FORMAT_NAME = 'tailwatch_ndjson_gzip')
COMMENT = 'Tailscale configuration audit log: one row per audited change';
