-- tailscale_network: Tailscale network flow log: one row per connection entry in a node's window
-- Generated from shared/core/src/lake.rs by `tailwatch ddl`: do not edit; see infra/README.md.
-- Lake bucket: ${LakeBucket} (the stack's LakeBucketName output; `tailwatch ddl athena --lake-bucket NAME` fills it in).
-- The SAM template already creates this table in its Glue database; this file is for other accounts and engines.
CREATE EXTERNAL TABLE IF NOT EXISTS `tailscale_network` (
  `p_log_type` string COMMENT 'Log type: Tailscale.Audit, Tailscale.Network, Tailwatch.Alert, Tailwatch.Quarantine',
  `p_row_id` string COMMENT 'Content hash of the original record: the same record always gets the same id',
  `p_event_time` timestamp COMMENT 'Event time (UTC); the partition time',
  `p_parse_time` timestamp COMMENT 'When tailwatch parsed the record (UTC); empty in tailscale_network rows (one per object: its LastModified)',
  `p_source_label` string COMMENT 'Which stream or export the record came from; empty in tailscale_network rows (one per object)',
  `p_source_file` string COMMENT 'Raw object key or file the record was read from; empty in tailscale_network rows: the object is named after its raw batch (Athena "$path")',
  `p_any_ip_addresses` array<string> COMMENT 'Every IP address in the row (audit rows; tailscale_network rows leave the p_any_ columns empty: query src_ip, dst_ip, node_id, peer_node_id, node_user, peer_user)',
  `p_any_emails` array<string> COMMENT 'Every email address in the row',
  `p_any_usernames` array<string> COMMENT 'Every user name in the row',
  `p_any_domain_names` array<string> COMMENT 'Every domain name in the row',
  `p_any_actor_ids` array<string> COMMENT 'Every actor or node id in the row',
  `node_id` string COMMENT 'Reporting node id (name, OS, user, tags: join tailscale_nodes on node_id)',
  `window_start` timestamp COMMENT 'Start of the counting window (node clock)',
  `window_end` timestamp COMMENT 'End of the counting window (node clock)',
  `traffic_kind` string COMMENT 'virtual, subnet, exit or physical',
  `proto` int COMMENT 'IANA protocol number',
  `proto_name` string COMMENT 'Protocol name (tcp, udp, icmp, …)',
  `src_ip` string COMMENT 'Source address (the reporting node\'s side)',
  `src_port` int COMMENT 'Source port',
  `dst_ip` string COMMENT 'Destination address',
  `dst_port` int COMMENT 'Destination port',
  `tx_pkts` bigint COMMENT 'Packets sent by the reporting node',
  `tx_bytes` bigint COMMENT 'Bytes sent by the reporting node',
  `rx_pkts` bigint COMMENT 'Packets received by the reporting node',
  `rx_bytes` bigint COMMENT 'Bytes received by the reporting node',
  `peer_node_id` string COMMENT 'Peer node id, resolved from dstNodes by address (name, OS, user, tags: join tailscale_nodes on node_id = peer_node_id)',
  `derp_region` int COMMENT 'DERP region id when the physical path is relayed (127.3.3.40:<region>)',
  `event_time_source` string COMMENT 'Where p_event_time came from, the first usable of: eventTime, time (HEC envelope), fields.recorded, logged, start, end (network), parse_time',
  `unknown_fields` string COMMENT 'Members not in Tailscale\'s documented schema, and time values tailwatch could not use (by source name), as a JSON object'
)
COMMENT 'Tailscale network flow log: one row per connection entry in a node\'s window'
PARTITIONED BY (
  `dt` string COMMENT 'Event date (UTC), YYYY-MM-DD: the partition; filter on it to limit the data scanned',
  `hour` string COMMENT 'Event hour (UTC), 00-23: the partition under dt'
)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://${LakeBucket}/tailscale_network/'
TBLPROPERTIES (
  'classification' = 'json',
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2019-01-01,NOW+1DAYS',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.hour.type' = 'integer',
  'projection.hour.range' = '0,23',
  'projection.hour.digits' = '2',
  'storage.location.template' = 's3://${LakeBucket}/tailscale_network/dt=${dt}/hour=${hour}/'
);
