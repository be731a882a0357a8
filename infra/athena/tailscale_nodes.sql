-- tailscale_nodes: Tailscale nodes seen in network flow logs: one row per node per raw batch and hour, joined to tailscale_network on node_id or peer_node_id
-- Generated from shared/core/src/lake.rs by `tailwatch ddl`: do not edit; see infra/README.md.
-- Lake bucket: ${LakeBucket} (the stack's LakeBucketName output; `tailwatch ddl athena --lake-bucket NAME` fills it in).
-- The SAM template already creates this table in its Glue database; this file is for other accounts and engines.
CREATE EXTERNAL TABLE IF NOT EXISTS `tailscale_nodes` (
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
  `node_id` string COMMENT 'Node id (tailscale_network.node_id or peer_node_id)',
  `node_name` string COMMENT 'Node name (MagicDNS name)',
  `node_os` string COMMENT 'Node OS',
  `node_user` string COMMENT 'Node\'s user (untagged nodes)',
  `node_tags` array<string> COMMENT 'Node\'s tags',
  `first_seen` timestamp COMMENT 'Earliest p_event_time of the batch\'s connection rows in this hour naming the node (as reporter or peer)',
  `last_seen` timestamp COMMENT 'Latest such p_event_time (= p_event_time); when the node\'s facts changed within the batch, the row holds those of the latest record',
  `connections` bigint COMMENT 'Connection rows in this hour of the batch naming the node'
)
COMMENT 'Tailscale nodes seen in network flow logs: one row per node per raw batch and hour, joined to tailscale_network on node_id or peer_node_id'
PARTITIONED BY (
  `dt` string COMMENT 'Event date (UTC), YYYY-MM-DD: the partition; filter on it to limit the data scanned',
  `hour` string COMMENT 'Event hour (UTC), 00-23: the partition under dt'
)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://${LakeBucket}/tailscale_nodes/'
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
  'storage.location.template' = 's3://${LakeBucket}/tailscale_nodes/dt=${dt}/hour=${hour}/'
);
