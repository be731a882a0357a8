//! Lake tables: the single source of truth for every table's columns (the Athena and Snowflake DDL
//! are generated from these lists), the row types the normalizer writes, and the partition layout
//! `<table>/dt=YYYY-MM-DD/hour=HH/` by event time (UTC).

use serde::{Deserialize, Serialize};

use crate::record::{Action, ActorType, Origin, TargetProperty, TargetType};
use crate::time::Timestamp;

/// A column's type, mapped to each engine's type by the DDL generators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// Text.
    String,
    /// 64-bit integer (counters are u64 on the wire; Athena BIGINT is signed, so values above
    /// 2^63-1 are rare enough to accept the cast; Snowflake NUMBER(20,0) holds them all).
    BigInt,
    /// 32-bit integer (ports, protocol numbers, DERP region).
    Int,
    /// true / false.
    Boolean,
    /// `YYYY-MM-DD HH:MM:SS.fff` UTC.
    Timestamp,
    /// Array of text.
    StringArray,
    /// JSON text (a string column whose content is JSON; query with json_extract / PARSE_JSON).
    JsonText,
    /// A JSON object (alert context, events) kept as nested JSON.
    Json,
}

/// One column of a lake table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// snake_case name, exactly as written in the JSON rows.
    pub name: &'static str,
    /// Type.
    pub ty: ColumnType,
    /// What it holds (becomes the DDL column comment).
    pub doc: &'static str,
}

const fn col(name: &'static str, ty: ColumnType, doc: &'static str) -> Column {
    Column { name, ty, doc }
}

use ColumnType as T;

/// Standard columns on every row of every table.
pub const STANDARD_COLUMNS: &[Column] = &[
    col(
        "p_log_type",
        T::String,
        "Log type: Tailscale.Audit, Tailscale.Network, Tailwatch.Alert, Tailwatch.Quarantine",
    ),
    col(
        "p_row_id",
        T::String,
        "Content hash of the original record: the same record always gets the same id",
    ),
    col("p_event_time", T::Timestamp, "Event time (UTC); the partition time"),
    col("p_parse_time", T::Timestamp, "When tailwatch parsed the record (UTC); empty in tailscale_network rows (one per object: its LastModified)"),
    col("p_source_label", T::String, "Which stream or export the record came from; empty in tailscale_network rows (one per object)"),
    col("p_source_file", T::String, "Raw object key or file the record was read from; empty in tailscale_network rows: the object is named after its raw batch (Athena \"$path\")"),
    col("p_any_ip_addresses", T::StringArray, "Every IP address in the row (audit rows; tailscale_network rows leave the p_any_ columns empty: query src_ip, dst_ip, node_id, peer_node_id, node_user, peer_user)"),
    col("p_any_emails", T::StringArray, "Every email address in the row"),
    col("p_any_usernames", T::StringArray, "Every user name in the row"),
    col("p_any_domain_names", T::StringArray, "Every domain name in the row"),
    col("p_any_actor_ids", T::StringArray, "Every actor or node id in the row"),
];

/// A lake table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    /// Table (and top-level prefix) name.
    pub name: &'static str,
    /// The `p_log_type` of its rows.
    pub log_type: &'static str,
    /// What a row is.
    pub doc: &'static str,
    /// Table-specific columns (after [`STANDARD_COLUMNS`]).
    pub columns: &'static [Column],
}

impl Table {
    /// Every column: standard then specific.
    pub fn all_columns(&self) -> impl Iterator<Item = &'static Column> {
        STANDARD_COLUMNS.iter().chain(self.columns.iter())
    }

    /// The partition prefix for an event time: `<table>/dt=YYYY-MM-DD/hour=HH`.
    pub fn partition(&self, event_time: &Timestamp) -> String {
        let (dt, hour) = event_time.partition();
        format!("{}/dt={dt}/hour={hour}", self.name)
    }
}

const EVENT_TIME_SOURCE_DOC: &str = "Where p_event_time came from, the first usable of: eventTime, time (HEC envelope), fields.recorded, logged, start, end (network), parse_time";

/// `tailscale_audit`: one row per configuration audit record.
pub const TAILSCALE_AUDIT: Table = Table {
    name: "tailscale_audit",
    log_type: "Tailscale.Audit",
    doc: "Tailscale configuration audit log: one row per audited change",
    columns: &[
        col(
            "event_name",
            T::String,
            "TARGET_TYPE.ACTION[.PROPERTY], e.g. TAILNET.DISABLE.MAGIC_DNS",
        ),
        col("event_group_id", T::String, "Groups the events of one operation"),
        col(
            "origin",
            T::String,
            "ADMIN_CONSOLE, CONFIG_API, CONTROL, IDENTITY_PROVIDER, NODE, SUPPORT_REQUEST, …",
        ),
        col("action", T::String, "LOGIN, CREATE, UPDATE, DELETE, ENABLE, DISABLE, APPROVE, …"),
        col("actor_id", T::String, "Actor id"),
        col("actor_type", T::String, "USER, NODE, AUTOMATED_WORKER, OAUTH_CLIENT, SCIM, …"),
        col("actor_login_name", T::String, "Actor login name (empty for automation)"),
        col("actor_display_name", T::String, "Actor display name"),
        col("actor_tags", T::StringArray, "Actor tags (tagged nodes)"),
        col("target_id", T::String, "Target id"),
        col("target_name", T::String, "Target name"),
        col("target_type", T::String, "TAILNET, USER, NODE, API_KEY, …"),
        col("target_property", T::String, "Changed property: MAGIC_DNS, ACL, USER_ROLE, …"),
        col("target_is_ephemeral", T::Boolean, "Whether the target node is ephemeral"),
        col("old", T::JsonText, "Value before the change, as JSON text"),
        col("new", T::JsonText, "Value after the change, as JSON text"),
        col("action_details", T::String, "Free-text details (scopes, reasons)"),
        col("error", T::String, "Set when the change failed"),
        col("deferred_at", T::Timestamp, "When a rate-limited event was deferred"),
        col("recorded_time", T::Timestamp, "When Tailscale recorded or logged the event"),
        col("event_time_source", T::String, EVENT_TIME_SOURCE_DOC),
        col(
            "unknown_fields",
            T::JsonText,
            "Members not in Tailscale's documented schema, and time values tailwatch could not use (by source name), as a JSON object",
        ),
    ],
};

/// `tailscale_network`: one row per connection entry of a flow record.
pub const TAILSCALE_NETWORK: Table = Table {
    name: "tailscale_network",
    log_type: "Tailscale.Network",
    doc: "Tailscale network flow log: one row per connection entry in a node's window",
    columns: &[
        col(
            "node_id",
            T::String,
            "Reporting node id (name, OS, user, tags: join tailscale_nodes on node_id)",
        ),
        col("window_start", T::Timestamp, "Start of the counting window (node clock)"),
        col("window_end", T::Timestamp, "End of the counting window (node clock)"),
        col("traffic_kind", T::String, "virtual, subnet, exit or physical"),
        col("proto", T::Int, "IANA protocol number"),
        col("proto_name", T::String, "Protocol name (tcp, udp, icmp, …)"),
        col("src_ip", T::String, "Source address (the reporting node's side)"),
        col("src_port", T::Int, "Source port"),
        col("dst_ip", T::String, "Destination address"),
        col("dst_port", T::Int, "Destination port"),
        col("tx_pkts", T::BigInt, "Packets sent by the reporting node"),
        col("tx_bytes", T::BigInt, "Bytes sent by the reporting node"),
        col("rx_pkts", T::BigInt, "Packets received by the reporting node"),
        col("rx_bytes", T::BigInt, "Bytes received by the reporting node"),
        col(
            "peer_node_id",
            T::String,
            "Peer node id, resolved from dstNodes by address (name, OS, user, tags: join tailscale_nodes on node_id = peer_node_id)",
        ),
        col(
            "derp_region",
            T::Int,
            "DERP region id when the physical path is relayed (127.3.3.40:<region>)",
        ),
        col("event_time_source", T::String, EVENT_TIME_SOURCE_DOC),
        col(
            "unknown_fields",
            T::JsonText,
            "Members not in Tailscale's documented schema, and time values tailwatch could not use (by source name), as a JSON object",
        ),
    ],
};

/// The node facts a network row carries in memory (detections and alert events read them) but the
/// lake keeps once per node per object, in [`TAILSCALE_NODES`], instead of on every connection row.
pub const NETWORK_NODE_FACTS: &[&str] = &[
    "node_name",
    "node_os",
    "node_user",
    "node_tags",
    "peer_node_name",
    "peer_os",
    "peer_user",
    "peer_tags",
];

/// `tailscale_nodes`: one row per node per lake object of `tailscale_network` (per raw batch and
/// hour partition), the facts its flow records gave about it. Analysts join it on `node_id` /
/// `peer_node_id`.
pub const TAILSCALE_NODES: Table = Table {
    name: "tailscale_nodes",
    log_type: "Tailscale.Node",
    doc: "Tailscale nodes seen in network flow logs: one row per node per raw batch and hour, joined to tailscale_network on node_id or peer_node_id",
    columns: &[
        col("node_id", T::String, "Node id (tailscale_network.node_id or peer_node_id)"),
        col("node_name", T::String, "Node name (MagicDNS name)"),
        col("node_os", T::String, "Node OS"),
        col("node_user", T::String, "Node's user (untagged nodes)"),
        col("node_tags", T::StringArray, "Node's tags"),
        col(
            "first_seen",
            T::Timestamp,
            "Earliest p_event_time of the batch's connection rows in this hour naming the node (as reporter or peer)",
        ),
        col(
            "last_seen",
            T::Timestamp,
            "Latest such p_event_time (= p_event_time); when the node's facts changed within the batch, the row holds those of the latest record",
        ),
        col("connections", T::BigInt, "Connection rows in this hour of the batch naming the node"),
    ],
};

/// `tailwatch_alerts`: one row per alert notification.
pub const TAILWATCH_ALERTS: Table = Table {
    name: "tailwatch_alerts",
    log_type: "Tailwatch.Alert",
    doc: "Alerts tailwatch sent: one row per notification",
    columns: &[
        col("id", T::String, "Detection id"),
        col("alert_id", T::String, "Stable alert id"),
        col("created_at", T::Timestamp, "When the alert was created"),
        col("severity", T::String, "INFO, LOW, MEDIUM, HIGH, CRITICAL"),
        col("title", T::String, "Alert title"),
        col("name", T::String, "Detection name"),
        col("dedup", T::String, "Dedup string"),
        col("event_count", T::BigInt, "Matching events when notified"),
        col("log_types", T::StringArray, "Log types the detection reads"),
        col("first_event_time", T::Timestamp, "Event time of the first match"),
        col("alert_context", T::Json, "Detection-specific context"),
        col("alert", T::Json, "The full alert payload as sent"),
    ],
};

/// `tailwatch_quarantine`: one row per rejected value.
pub const TAILWATCH_QUARANTINE: Table = Table {
    name: "tailwatch_quarantine",
    log_type: "Tailwatch.Quarantine",
    doc: "Values tailwatch could not turn into lake rows, with the reason",
    columns: &[
        col(
            "reason",
            T::String,
            "Stable reason code: invalid_json, invalid_field, unrecognized_record, …",
        ),
        col("message", T::String, "What is wrong, naming the field and what was expected"),
        col("field", T::String, "Dotted path of the field at fault"),
        col("value_index", T::BigInt, "0-based index of the value in its body"),
        col("line", T::BigInt, "1-based line where the value starts"),
        col("original", T::String, "The original bytes (lossy UTF-8, at most 256 KiB)"),
        col("original_bytes", T::BigInt, "Size of the original value"),
        col("original_truncated", T::Boolean, "Whether original was cut"),
    ],
};

/// Every lake table.
pub const TABLES: &[&Table] = &[
    &TAILSCALE_AUDIT,
    &TAILSCALE_NETWORK,
    &TAILSCALE_NODES,
    &TAILWATCH_ALERTS,
    &TAILWATCH_QUARANTINE,
];

/// The standard `p_*` fields every row carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standard {
    /// Log type.
    pub p_log_type: String,
    /// Content hash.
    pub p_row_id: String,
    /// Event time.
    pub p_event_time: Timestamp,
    /// Parse time. Lake objects of network rows leave it out (it is one value per object), so a
    /// row read back from them gets [`LAKE_RANGE_START`](crate::time::LAKE_RANGE_START).
    #[serde(default = "unknown_parse_time")]
    pub p_parse_time: Timestamp,
    /// Source label (empty when read back from a network lake object).
    #[serde(default)]
    pub p_source_label: String,
    /// Source file / object key (empty when read back from a network lake object).
    #[serde(default)]
    pub p_source_file: String,
    /// IP indicators.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub p_any_ip_addresses: Vec<String>,
    /// Email indicators.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub p_any_emails: Vec<String>,
    /// User name indicators.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub p_any_usernames: Vec<String>,
    /// Domain name indicators.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub p_any_domain_names: Vec<String>,
    /// Actor id indicators.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub p_any_actor_ids: Vec<String>,
}

fn unknown_parse_time() -> Timestamp {
    crate::time::LAKE_RANGE_START
}

/// A `tailscale_audit` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    /// Standard fields.
    #[serde(flatten)]
    pub p: Standard,
    /// `TARGET_TYPE.ACTION[.PROPERTY]`.
    pub event_name: String,
    /// Operation group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_group_id: Option<String>,
    /// Origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    /// Action.
    pub action: Action,
    /// Actor id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<String>,
    /// Actor type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_type: Option<ActorType>,
    /// Actor login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_login_name: Option<String>,
    /// Actor display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_display_name: Option<String>,
    /// Actor tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actor_tags: Vec<String>,
    /// Target id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
    /// Target name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_name: Option<String>,
    /// Target type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_type: Option<TargetType>,
    /// Changed property.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_property: Option<TargetProperty>,
    /// Ephemeral target node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_is_ephemeral: Option<bool>,
    /// Old value, JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    /// New value, JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
    /// Details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_details: Option<String>,
    /// Error, when the change failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Deferral time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deferred_at: Option<Timestamp>,
    /// Recorded / logged time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_time: Option<Timestamp>,
    /// Where `p_event_time` came from (`eventTime`, `time`, `fields.recorded`, `logged`, `parse_time`).
    #[serde(default)]
    pub event_time_source: String,
    /// Unknown members, JSON object text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_fields: Option<String>,
}

/// How a flow's packets travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum TrafficKind {
    /// Node ↔ node over Tailscale IPs.
    Virtual,
    /// Through a subnet router.
    Subnet,
    /// Through an exit node.
    Exit,
    /// The WireGuard underlay.
    Physical,
}

impl TrafficKind {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            TrafficKind::Virtual => "virtual",
            TrafficKind::Subnet => "subnet",
            TrafficKind::Exit => "exit",
            TrafficKind::Physical => "physical",
        }
    }
}

/// A `tailscale_network` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkRow {
    /// Standard fields.
    #[serde(flatten)]
    pub p: Standard,
    /// Reporting node.
    pub node_id: String,
    /// Reporting node name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// Reporting node OS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_os: Option<String>,
    /// Reporting node user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_user: Option<String>,
    /// Reporting node tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_tags: Vec<String>,
    /// Window start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_start: Option<Timestamp>,
    /// Window end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_end: Option<Timestamp>,
    /// Traffic kind.
    pub traffic_kind: TrafficKind,
    /// Protocol number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proto: Option<u8>,
    /// Protocol name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proto_name: Option<String>,
    /// Source address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_ip: Option<String>,
    /// Source port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_port: Option<u16>,
    /// Destination address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_ip: Option<String>,
    /// Destination port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_port: Option<u16>,
    /// Packets sent.
    #[serde(default)]
    pub tx_pkts: u64,
    /// Bytes sent.
    #[serde(default)]
    pub tx_bytes: u64,
    /// Packets received.
    #[serde(default)]
    pub rx_pkts: u64,
    /// Bytes received.
    #[serde(default)]
    pub rx_bytes: u64,
    /// Peer node id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_node_id: Option<String>,
    /// Peer node name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_node_name: Option<String>,
    /// Peer node OS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_os: Option<String>,
    /// Peer user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_user: Option<String>,
    /// Peer tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peer_tags: Vec<String>,
    /// DERP region of a relayed physical path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derp_region: Option<u32>,
    /// Where `p_event_time` came from (`eventTime`, `time`, `fields.recorded`, `logged`, `start`,
    /// `end`, `parse_time`).
    #[serde(default)]
    pub event_time_source: String,
    /// Unknown members, JSON object text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_fields: Option<String>,
}

/// A network row as the lake stores it: every column but the facts that are one value per lake
/// object (`p_parse_time`, `p_source_label`, `p_source_file`: a network record becomes ~90 rows, and
/// those three made up 130 of its ~820 bytes of JSON). The object's key names the raw batch.
#[derive(Serialize)]
struct NetworkLakeLine<'a> {
    p_log_type: &'a str,
    p_row_id: &'a str,
    p_event_time: &'a Timestamp,
    node_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    window_start: &'a Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    window_end: &'a Option<Timestamp>,
    traffic_kind: TrafficKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    proto: &'a Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    proto_name: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    src_ip: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    src_port: &'a Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dst_ip: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dst_port: &'a Option<u16>,
    tx_pkts: u64,
    tx_bytes: u64,
    rx_pkts: u64,
    rx_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    peer_node_id: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    derp_region: &'a Option<u32>,
    event_time_source: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    unknown_fields: &'a Option<String>,
}

impl<'a> NetworkLakeLine<'a> {
    fn new(r: &'a NetworkRow) -> Self {
        NetworkLakeLine {
            p_log_type: &r.p.p_log_type,
            p_row_id: &r.p.p_row_id,
            p_event_time: &r.p.p_event_time,
            node_id: &r.node_id,
            window_start: &r.window_start,
            window_end: &r.window_end,
            traffic_kind: r.traffic_kind,
            proto: &r.proto,
            proto_name: &r.proto_name,
            src_ip: &r.src_ip,
            src_port: &r.src_port,
            dst_ip: &r.dst_ip,
            dst_port: &r.dst_port,
            tx_pkts: r.tx_pkts,
            tx_bytes: r.tx_bytes,
            rx_pkts: r.rx_pkts,
            rx_bytes: r.rx_bytes,
            peer_node_id: &r.peer_node_id,
            derp_region: &r.derp_region,
            event_time_source: &r.event_time_source,
            unknown_fields: &r.unknown_fields,
        }
    }
}

/// A normalized row of one of the Tailscale tables.
#[derive(Debug, Clone, PartialEq)]
pub enum LakeRow {
    /// `tailscale_audit`.
    Audit(AuditRow),
    /// `tailscale_network`.
    Network(NetworkRow),
}

impl LakeRow {
    /// The row's table.
    pub fn table(&self) -> &'static Table {
        match self {
            LakeRow::Audit(_) => &TAILSCALE_AUDIT,
            LakeRow::Network(_) => &TAILSCALE_NETWORK,
        }
    }

    /// The standard fields.
    pub fn standard(&self) -> &Standard {
        match self {
            LakeRow::Audit(r) => &r.p,
            LakeRow::Network(r) => &r.p,
        }
    }

    /// Appends the row as one JSON line.
    pub fn write_json_line(&self, out: &mut Vec<u8>) {
        // Serializing plain structs of strings and numbers into a Vec cannot fail.
        let _ = match self {
            LakeRow::Audit(r) => serde_json::to_writer(&mut *out, r),
            LakeRow::Network(r) => serde_json::to_writer(&mut *out, r),
        };
        out.push(b'\n');
    }

    /// Appends the row as the lake stores it, newline-terminated: audit rows whole, network rows
    /// without the per-object facts (see the `p_parse_time`, `p_source_label` and `p_source_file`
    /// column docs). [`LakeRow::from_json_line`] reads both forms.
    pub fn write_lake_line(&self, out: &mut Vec<u8>) {
        let _ = match self {
            LakeRow::Audit(r) => serde_json::to_writer(&mut *out, r),
            LakeRow::Network(r) => serde_json::to_writer(&mut *out, &NetworkLakeLine::new(r)),
        };
        out.push(b'\n');
    }

    /// Reads one JSON line of `table` back into a row (backtests, the detect function).
    ///
    /// # Errors
    /// The JSON error when the line is not a row of that table.
    pub fn from_json_line(table: &Table, line: &[u8]) -> Result<LakeRow, serde_json::Error> {
        if table.name == TAILSCALE_NETWORK.name {
            serde_json::from_slice(line).map(LakeRow::Network)
        } else {
            serde_json::from_slice(line).map(LakeRow::Audit)
        }
    }
}

/// Looks a table up by name.
pub fn table_by_name(name: &str) -> Option<&'static Table> {
    TABLES.iter().copied().find(|t| t.name == name)
}

/// A `tailscale_nodes` row: what one lake object's flow records said about one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRow {
    /// Standard fields (`p_event_time` = `last_seen`).
    #[serde(flatten)]
    pub p: Standard,
    /// Node id.
    pub node_id: String,
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// OS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_os: Option<String>,
    /// User.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_user: Option<String>,
    /// Tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_tags: Vec<String>,
    /// Earliest sighting in the object.
    pub first_seen: Timestamp,
    /// Latest sighting in the object.
    pub last_seen: Timestamp,
    /// Connection rows naming the node.
    #[serde(default)]
    pub connections: u64,
}

impl NodeRow {
    fn has_facts(name: &Option<String>, os: &Option<String>, user: &Option<String>, tags: &[String]) -> bool {
        name.is_some() || os.is_some() || user.is_some() || !tags.is_empty()
    }

    /// Copies this node's facts onto a network row read back from the lake, as reporter and/or peer.
    pub fn fill(&self, row: &mut NetworkRow) {
        if row.node_id == self.node_id {
            row.node_name.clone_from(&self.node_name);
            row.node_os.clone_from(&self.node_os);
            row.node_user.clone_from(&self.node_user);
            row.node_tags.clone_from(&self.node_tags);
        }
        if row.peer_node_id.as_deref() == Some(self.node_id.as_str()) {
            row.peer_node_name.clone_from(&self.node_name);
            row.peer_os.clone_from(&self.node_os);
            row.peer_user.clone_from(&self.node_user);
            row.peer_tags.clone_from(&self.node_tags);
        }
    }
}

/// The nodes named by one lake object's network rows, deduplicated by node id: one
/// [`NodeRow`] per node. When a node's facts differ between records of the batch, the facts of the
/// record with the latest event time win (on a tie, the one pushed last); a sighting without facts
/// (a flow record without `srcNode`, a peer not in `dstNodes`) only widens first/last seen and
/// counts its connection.
#[derive(Debug, Default, Clone)]
pub struct NodeDirectory {
    nodes: std::collections::BTreeMap<String, NodeRow>,
}

impl NodeDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the reporting node and the peer of one connection row.
    pub fn observe(&mut self, row: &NetworkRow) {
        self.see(&row.node_id, (&row.node_name, &row.node_os, &row.node_user, &row.node_tags), row);
        if let Some(peer) = &row.peer_node_id {
            self.see(peer, (&row.peer_node_name, &row.peer_os, &row.peer_user, &row.peer_tags), row);
        }
    }

    #[allow(clippy::type_complexity)]
    fn see(
        &mut self,
        id: &str,
        (name, os, user, tags): (&Option<String>, &Option<String>, &Option<String>, &Vec<String>),
        row: &NetworkRow,
    ) {
        if id.is_empty() {
            return;
        }
        let t = row.p.p_event_time;
        let facts = NodeRow::has_facts(name, os, user, tags);
        if let Some(n) = self.nodes.get_mut(id) {
            n.connections += 1;
            n.first_seen = n.first_seen.min(t);
            if t >= n.last_seen {
                n.last_seen = t;
            }
            // Facts: those of the latest record that has any.
            if facts && t >= n.p.p_event_time {
                n.p.p_event_time = t;
                if n.node_name != *name || n.node_os != *os || n.node_user != *user || n.node_tags != *tags {
                    n.node_name.clone_from(name);
                    n.node_os.clone_from(os);
                    n.node_user.clone_from(user);
                    n.node_tags.clone_from(tags);
                }
            }
            return;
        }
        self.nodes.insert(
            id.to_owned(),
            NodeRow {
                p: Standard {
                    p_log_type: TAILSCALE_NODES.log_type.to_owned(),
                    p_row_id: String::new(),
                    // Until finish: the time of the facts held (LAKE_RANGE_START when none yet).
                    p_event_time: if facts { t } else { crate::time::LAKE_RANGE_START },
                    p_parse_time: row.p.p_parse_time,
                    p_source_label: row.p.p_source_label.clone(),
                    p_source_file: row.p.p_source_file.clone(),
                    p_any_ip_addresses: Vec::new(),
                    p_any_emails: Vec::new(),
                    p_any_usernames: Vec::new(),
                    p_any_domain_names: Vec::new(),
                    p_any_actor_ids: Vec::new(),
                },
                node_id: id.to_owned(),
                node_name: name.clone(),
                node_os: os.clone(),
                node_user: user.clone(),
                node_tags: tags.clone(),
                first_seen: t,
                last_seen: t,
                connections: 1,
            },
        );
    }

    /// Nodes seen so far.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node was seen.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The node rows, by node id: `p_event_time` = `last_seen`, `p_row_id` a hash of the row's
    /// content (the same batch always gives the same ids).
    pub fn into_rows(self) -> Vec<NodeRow> {
        self.nodes
            .into_values()
            .map(|mut n| {
                n.p.p_event_time = n.last_seen;
                let mut h = blake3::Hasher::new();
                h.update(b"node\0");
                for part in [&n.node_id, &n.p.p_source_file] {
                    h.update(part.as_bytes());
                    h.update(b"\0");
                }
                for part in [&n.node_name, &n.node_os, &n.node_user] {
                    h.update(part.as_deref().unwrap_or("").as_bytes());
                    h.update(b"\0");
                }
                for tag in &n.node_tags {
                    h.update(tag.as_bytes());
                    h.update(b",");
                }
                h.update(&n.first_seen.unix_nanos().to_le_bytes());
                h.update(&n.last_seen.unix_nanos().to_le_bytes());
                h.update(&n.connections.to_le_bytes());
                n.p.p_row_id = crate::normalize::hex128(h.finalize().as_bytes());
                n
            })
            .collect()
    }
}

/// Node facts read back from `tailscale_nodes` lines, for filling network rows read back from the
/// lake (backtests): per node id, the row seen last (latest `last_seen`; on a tie, the later line).
#[derive(Debug, Default, Clone)]
pub struct NodeFacts {
    nodes: std::collections::HashMap<String, NodeRow>,
}

impl NodeFacts {
    /// Adds one `tailscale_nodes` JSON line.
    ///
    /// # Errors
    /// The JSON error when the line is not a node row.
    pub fn add_json_line(&mut self, line: &[u8]) -> Result<(), serde_json::Error> {
        let row: NodeRow = serde_json::from_slice(line)?;
        match self.nodes.get(&row.node_id) {
            Some(old) if old.last_seen > row.last_seen => {}
            _ => {
                self.nodes.insert(row.node_id.clone(), row);
            }
        }
        Ok(())
    }

    /// The facts of a node id.
    pub fn get(&self, node_id: &str) -> Option<&NodeRow> {
        self.nodes.get(node_id)
    }

    /// Fills a network row's reporter and peer facts (other rows are left alone).
    pub fn fill(&self, row: &mut LakeRow) {
        if let LakeRow::Network(r) = row {
            if let Some(n) = self.nodes.get(&r.node_id) {
                n.fill(r);
            }
            if let Some(n) = r.peer_node_id.as_deref().and_then(|p| self.nodes.get(p)) {
                n.fill(r);
            }
        }
    }
}
