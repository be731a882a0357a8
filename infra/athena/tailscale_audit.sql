-- tailscale_audit: Tailscale configuration audit log: one row per audited change
-- Generated from shared/core/src/lake.rs by `tailwatch ddl`: do not edit; see infra/README.md.
-- Lake bucket: ${LakeBucket} (the stack's LakeBucketName output; `tailwatch ddl athena --lake-bucket NAME` fills it in).
-- The SAM template already creates this table in its Glue database; this file is for other accounts and engines.
CREATE EXTERNAL TABLE IF NOT EXISTS `tailscale_audit` (
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
  `event_name` string COMMENT 'TARGET_TYPE.ACTION[.PROPERTY], e.g. TAILNET.DISABLE.MAGIC_DNS',
  `event_group_id` string COMMENT 'Groups the events of one operation',
  `origin` string COMMENT 'ADMIN_CONSOLE, CONFIG_API, CONTROL, IDENTITY_PROVIDER, NODE, SUPPORT_REQUEST, …',
  `action` string COMMENT 'LOGIN, CREATE, UPDATE, DELETE, ENABLE, DISABLE, APPROVE, …',
  `actor_id` string COMMENT 'Actor id',
  `actor_type` string COMMENT 'USER, NODE, AUTOMATED_WORKER, OAUTH_CLIENT, SCIM, …',
  `actor_login_name` string COMMENT 'Actor login name (empty for automation)',
  `actor_display_name` string COMMENT 'Actor display name',
  `actor_tags` array<string> COMMENT 'Actor tags (tagged nodes)',
  `target_id` string COMMENT 'Target id',
  `target_name` string COMMENT 'Target name',
  `target_type` string COMMENT 'TAILNET, USER, NODE, API_KEY, …',
  `target_property` string COMMENT 'Changed property: MAGIC_DNS, ACL, USER_ROLE, …',
  `target_is_ephemeral` boolean COMMENT 'Whether the target node is ephemeral',
  `old` string COMMENT 'Value before the change, as JSON text',
  `new` string COMMENT 'Value after the change, as JSON text',
  `action_details` string COMMENT 'Free-text details (scopes, reasons)',
  `error` string COMMENT 'Set when the change failed',
  `deferred_at` timestamp COMMENT 'When a rate-limited event was deferred',
  `recorded_time` timestamp COMMENT 'When Tailscale recorded or logged the event',
  `event_time_source` string COMMENT 'Where p_event_time came from, the first usable of: eventTime, time (HEC envelope), fields.recorded, logged, start, end (network), parse_time',
  `unknown_fields` string COMMENT 'Members not in Tailscale\'s documented schema, and time values tailwatch could not use (by source name), as a JSON object'
)
COMMENT 'Tailscale configuration audit log: one row per audited change'
PARTITIONED BY (
  `dt` string COMMENT 'Event date (UTC), YYYY-MM-DD: the partition; filter on it to limit the data scanned',
  `hour` string COMMENT 'Event hour (UTC), 00-23: the partition under dt'
)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://${LakeBucket}/tailscale_audit/'
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
  'storage.location.template' = 's3://${LakeBucket}/tailscale_audit/dt=${dt}/hour=${hour}/'
);
