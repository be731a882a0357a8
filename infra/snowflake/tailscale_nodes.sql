-- tailscale_nodes: Tailscale nodes seen in network flow logs: one row per node per raw batch and hour, joined to tailscale_network on node_id or peer_node_id
-- Generated from shared/core/src/lake.rs by `tailwatch ddl`: do not edit; see infra/README.md.
-- Run 00_stage_and_format.sql first (file format, stage, and the notes on AUTO_REFRESH).
CREATE OR REPLACE EXTERNAL TABLE tailscale_nodes (
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
  node_id VARCHAR AS (value:"node_id"::VARCHAR),                               -- Node id (tailscale_network.node_id or peer_node_id)
  node_name VARCHAR AS (value:"node_name"::VARCHAR),                           -- Node name (MagicDNS name)
  node_os VARCHAR AS (value:"node_os"::VARCHAR),                               -- Node OS
  node_user VARCHAR AS (value:"node_user"::VARCHAR),                           -- Node's user (untagged nodes)
  node_tags ARRAY AS (value:"node_tags"::ARRAY),                               -- Node's tags
  first_seen TIMESTAMP_NTZ(3) AS (value:"first_seen"::TIMESTAMP_NTZ(3)),       -- Earliest p_event_time of the batch's connection rows in this hour naming the node (as reporter or peer)
  last_seen TIMESTAMP_NTZ(3) AS (value:"last_seen"::TIMESTAMP_NTZ(3)),         -- Latest such p_event_time (= p_event_time); when the node's facts changed within the batch, the row holds those of the latest record
  connections NUMBER(20,0) AS (value:"connections"::NUMBER(20,0))              -- Connection rows in this hour of the batch naming the node
)
PARTITION BY (dt, hour)
LOCATION = @tailwatch_lake/tailscale_nodes/
AUTO_REFRESH = TRUE
FILE_FORMAT = (FORMAT_NAME = 'tailwatch_ndjson_gzip')
COMMENT = 'Tailscale nodes seen in network flow logs: one row per node per raw batch and hour, joined to tailscale_network on node_id or peer_node_id';
