-- tailscale_network: Tailscale network flow log: one row per connection entry in a node's window
-- Generated from shared/core/src/lake.rs by `tailwatch ddl`: do not edit; see infra/README.md.
-- Run 00_stage_and_format.sql first (file format, stage, and the notes on AUTO_REFRESH).
CREATE OR REPLACE EXTERNAL TABLE tailscale_network (
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
  node_id VARCHAR AS (value:"node_id"::VARCHAR),                               -- Reporting node id (name, OS, user, tags: join tailscale_nodes on node_id)
  window_start TIMESTAMP_NTZ(3) AS (value:"window_start"::TIMESTAMP_NTZ(3)),   -- Start of the counting window (node clock)
  window_end TIMESTAMP_NTZ(3) AS (value:"window_end"::TIMESTAMP_NTZ(3)),       -- End of the counting window (node clock)
  traffic_kind VARCHAR AS (value:"traffic_kind"::VARCHAR),                     -- virtual, subnet, exit or physical
  proto NUMBER(10,0) AS (value:"proto"::NUMBER(10,0)),                         -- IANA protocol number
  proto_name VARCHAR AS (value:"proto_name"::VARCHAR),                         -- Protocol name (tcp, udp, icmp, …)
  src_ip VARCHAR AS (value:"src_ip"::VARCHAR),                                 -- Source address (the reporting node's side)
  src_port NUMBER(10,0) AS (value:"src_port"::NUMBER(10,0)),                   -- Source port
  dst_ip VARCHAR AS (value:"dst_ip"::VARCHAR),                                 -- Destination address
  dst_port NUMBER(10,0) AS (value:"dst_port"::NUMBER(10,0)),                   -- Destination port
  tx_pkts NUMBER(20,0) AS (value:"tx_pkts"::NUMBER(20,0)),                     -- Packets sent by the reporting node
  tx_bytes NUMBER(20,0) AS (value:"tx_bytes"::NUMBER(20,0)),                   -- Bytes sent by the reporting node
  rx_pkts NUMBER(20,0) AS (value:"rx_pkts"::NUMBER(20,0)),                     -- Packets received by the reporting node
  rx_bytes NUMBER(20,0) AS (value:"rx_bytes"::NUMBER(20,0)),                   -- Bytes received by the reporting node
  peer_node_id VARCHAR AS (value:"peer_node_id"::VARCHAR),                     -- Peer node id, resolved from dstNodes by address (name, OS, user, tags: join tailscale_nodes on node_id = peer_node_id)
  derp_region NUMBER(10,0) AS (value:"derp_region"::NUMBER(10,0)),             -- DERP region id when the physical path is relayed (127.3.3.40:<region>)
  event_time_source VARCHAR AS (value:"event_time_source"::VARCHAR),           -- Where p_event_time came from, the first usable of: eventTime, time (HEC envelope), fields.recorded, logged, start, end (network), parse_time
  unknown_fields VARCHAR AS (value:"unknown_fields"::VARCHAR)                  -- Members not in Tailscale's documented schema, and time values tailwatch could not use (by source name), as a JSON object
)
PARTITION BY (dt, hour)
LOCATION = @tailwatch_lake/tailscale_network/
AUTO_REFRESH = TRUE
FILE_FORMAT = (FORMAT_NAME = 'tailwatch_ndjson_gzip')
COMMENT = 'Tailscale network flow log: one row per connection entry in a node''s window';
