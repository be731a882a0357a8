//! Normalization: one framed Tailscale record → typed lake rows (`tailscale_audit`: one row per
//! record; `tailscale_network`: one row per connection entry), or a precise rejection.
//!
//! Row ids are content hashes: the record's bytes with insignificant whitespace removed, plus its
//! event time, so a batch Tailscale re-sends (or SQS re-delivers) produces the same `p_row_id`s and
//! duplicates can be removed by id downstream.

use std::net::{IpAddr, SocketAddr};

use serde_json::value::RawValue;

use crate::lake::{AuditRow, LakeRow, NetworkRow, Standard, TrafficKind, TAILSCALE_AUDIT, TAILSCALE_NETWORK};
use crate::quarantine::ReasonCode;
use crate::record::macros::open_struct;
use crate::record::{split_field_error, AnyRecord, ConnectionCounts, Node, RawTime, RecordKind};
use crate::time::{Timestamp, LAKE_RANGE_END, LAKE_RANGE_START, MAX_FUTURE_SECONDS};
use crate::wire::RawRecord;

/// Where records come from and when they are parsed: the context every row carries.
#[derive(Debug, Clone)]
pub struct SourceContext<'a> {
    /// Source label (`tailscale-http`, `tailscale-s3-export`, or a configured name).
    pub label: &'a str,
    /// Raw object key or file path.
    pub file: &'a str,
    /// Parse time stamped on every row.
    pub parse_time: Timestamp,
}

/// Why a record did not become rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Stable reason code.
    pub reason: ReasonCode,
    /// What is wrong.
    pub message: String,
    /// The field at fault (dotted path from the record, or `time` / `fields.recorded`).
    pub field: Option<String>,
}

impl Rejection {
    fn field_error(prefix: Option<&str>, error: &serde_json::Error) -> Self {
        let (field, message) = split_field_error(&error.to_string());
        let (field, message) = match (prefix, field) {
            (Some(p), Some(f)) => (
                Some(format!("{p}.{f}")),
                message.replacen(&format!("field `{f}`"), &format!("field `{p}.{f}`"), 1),
            ),
            (Some(p), None) => (Some(p.to_owned()), format!("field `{p}`: {message}")),
            (None, f) => (f, message),
        };
        Rejection {
            reason: ReasonCode::InvalidField,
            message,
            field,
        }
    }
}

open_struct! {
    /// HEC envelope `fields`.
    HecFields {
        /// Publisher time (RFC 3339 nanoseconds; Panther exports: `YYYY-MM-DD HH:MM:SS.nnnnnnnnn`).
        recorded: RawTime => "recorded",
    }
}

/// Where a row's event time came from: the documented precedence (`eventTime`, else the HEC
/// envelope's `time`, else `fields.recorded`, else `logged`; for flow records then the window's
/// `start` and `end`), or the parse time when the record carries no time at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSource {
    /// The record's `eventTime` (API, S3 export).
    EventTime,
    /// The HEC envelope's `time` (streamed records).
    EnvelopeTime,
    /// The HEC envelope's `fields.recorded` (publisher time).
    Recorded,
    /// The record's `logged` (API, S3 export).
    Logged,
    /// A flow record's window `start` (node clock).
    Start,
    /// A flow record's window `end` (node clock).
    End,
    /// No time in the record: when tailwatch parsed it.
    ParseTime,
}

impl TimeSource {
    /// The name written to `event_time_source`: the member's name as Tailscale spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeSource::EventTime => "eventTime",
            TimeSource::EnvelopeTime => "time",
            TimeSource::Recorded => "fields.recorded",
            TimeSource::Logged => "logged",
            TimeSource::Start => "start",
            TimeSource::End => "end",
            TimeSource::ParseTime => "parse_time",
        }
    }
}

/// The event time of a record and where it came from; candidates that were present but unusable
/// are returned so their raw text can be kept.
struct EventTime<'a> {
    at: Timestamp,
    source: TimeSource,
    skipped: Vec<(TimeSource, &'a str)>,
}

/// Picks the first usable candidate: one that reads ([`Timestamp::read_json`]), lies in the lake's
/// range and is no more than [`MAX_FUTURE_SECONDS`] after the parse time (Athena's projection ends
/// a day after now). No candidate at all: the parse time. Candidates, none usable: a rejection
/// naming each raw value and why it was not used.
fn choose_event_time<'a>(candidates: &[(TimeSource, Option<&'a str>)], parse_time: Timestamp) -> Result<EventTime<'a>, Rejection> {
    let latest = parse_time.plus_seconds(MAX_FUTURE_SECONDS);
    let mut skipped = Vec::new();
    let mut problems = Vec::new();
    let mut out_of_range = false;
    for (source, raw) in candidates {
        let Some(raw) = raw else { continue };
        let why = match Timestamp::read_json(raw) {
            Ok(t) if !t.in_lake_range() => {
                out_of_range = true;
                format!(
                    "reads as {}, outside the lake's range {} .. {}",
                    t.rfc3339(),
                    LAKE_RANGE_START.rfc3339(),
                    LAKE_RANGE_END.rfc3339()
                )
            }
            Ok(t) if t > latest => {
                out_of_range = true;
                format!(
                    "reads as {}, more than {} s after parse time {}",
                    t.rfc3339(),
                    MAX_FUTURE_SECONDS,
                    parse_time.rfc3339()
                )
            }
            Ok(at) => {
                return Ok(EventTime {
                    at,
                    source: *source,
                    skipped,
                })
            }
            Err(e) => e.to_string(),
        };
        skipped.push((*source, *raw));
        problems.push(format!("`{}` = {}: {why}", source.as_str(), preview(raw)));
    }
    match skipped.first() {
        None => Ok(EventTime {
            at: parse_time,
            source: TimeSource::ParseTime,
            skipped,
        }),
        Some((first, _)) => Err(Rejection {
            reason: if out_of_range {
                ReasonCode::TimeOutOfRange
            } else {
                ReasonCode::InvalidField
            },
            message: format!("no usable event time: {}", problems.join("; ")),
            field: Some(first.as_str().to_owned()),
        }),
    }
}

/// Normalizes one record, appending its rows to `out`.
///
/// # Errors
/// A [`Rejection`] naming the field at fault, `unrecognized_record` for other shapes, or
/// `time_out_of_range` when every time the record carries lies outside the lake's range. Nothing
/// is appended on error.
pub fn normalize_record(raw: &RawRecord<'_>, ctx: &SourceContext<'_>, out: &mut Vec<LakeRow>) -> Result<RecordKind, Rejection> {
    let recorded = match raw.hec_fields {
        Some(fields) => {
            serde_json::from_str::<HecFields>(fields.get())
                .map_err(|e| Rejection::field_error(Some("fields"), &e))?
                .recorded
        }
        None => None,
    };
    let record: AnyRecord = serde_json::from_str(raw.record.get()).map_err(|e| Rejection::field_error(None, &e))?;
    let Some(kind) = record.kind() else {
        let members: Vec<&str> = record.unknown.iter().map(|(k, _)| k.as_str()).take(8).collect();
        return Err(Rejection {
            reason: ReasonCode::UnrecognizedRecord,
            message: format!(
                "unrecognized record: neither audit (needs `actor` and `action`) nor network flow (needs `nodeId` and a `*Traffic` array); unknown members: [{}]",
                members.join(", ")
            ),
            field: None,
        });
    };
    let network = kind == RecordKind::Network;
    let event_time = choose_event_time(
        &[
            (TimeSource::EventTime, record.event_time.as_ref().map(RawTime::raw)),
            (TimeSource::EnvelopeTime, raw.hec_time.map(RawValue::get)),
            (TimeSource::Recorded, recorded.as_ref().map(RawTime::raw)),
            (TimeSource::Logged, record.logged.as_ref().map(RawTime::raw)),
            (TimeSource::Start, record.start.as_ref().filter(|_| network).map(RawTime::raw)),
            (TimeSource::End, record.end.as_ref().filter(|_| network).map(RawTime::raw)),
        ],
        ctx.parse_time,
    )?;
    let mut hasher = blake3::Hasher::new();
    hasher.update(match kind {
        RecordKind::Audit => b"audit\0",
        RecordKind::Network => b"netwk\0",
    });
    hash_minified(&mut hasher, raw.record.get().as_bytes());
    hasher.update(&event_time.at.unix_nanos().to_le_bytes());
    let record_hash = hasher.finalize();
    // Time values no column holds (they do not read, lie outside the lake's range, or were passed
    // over for the event time) are kept by source name; the other log type's members are kept
    // whole by the row builders anyway.
    let mut time_unknowns = Unknowns::default();
    let members = [
        (
            TimeSource::EventTime.as_str(),
            record.event_time.as_ref(),
            kind == RecordKind::Audit,
        ),
        (TimeSource::EnvelopeTime.as_str(), None, true),
        (TimeSource::Recorded.as_str(), recorded.as_ref(), true),
        (TimeSource::Logged.as_str(), record.logged.as_ref(), true),
        (TimeSource::Start.as_str(), record.start.as_ref(), kind == RecordKind::Network),
        (TimeSource::End.as_str(), record.end.as_ref(), kind == RecordKind::Network),
        ("deferredAt", record.deferred_at.as_ref(), kind == RecordKind::Audit),
    ];
    for (name, value, kept_here) in members {
        let raw = if name == TimeSource::EnvelopeTime.as_str() {
            raw.hec_time.map(RawValue::get)
        } else {
            value.map(RawTime::raw)
        };
        let Some(raw) = raw.filter(|_| kept_here) else { continue };
        let skipped = event_time.skipped.iter().any(|(s, _)| s.as_str() == name);
        let unusable = match Timestamp::read_json(raw) {
            Ok(t) => !(t.in_lake_range() || (name == "deferredAt" && t.is_go_zero())),
            Err(_) => true,
        };
        if skipped || unusable {
            time_unknowns.0.push((name.to_owned(), raw.to_owned()));
        }
    }
    let recorded = recorded.as_ref().and_then(RawTime::in_lake_range);
    let chosen = (event_time.at, event_time.source);
    match kind {
        RecordKind::Audit => out.push(LakeRow::Audit(audit_row(
            record,
            chosen,
            recorded,
            time_unknowns,
            &record_hash,
            ctx,
        ))),
        RecordKind::Network => network_rows(record, chosen, time_unknowns, &record_hash, ctx, out),
    }
    Ok(kind)
}

fn preview(text: &str) -> String {
    let mut s: String = text.chars().take(40).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    s
}

/// A 128-bit content id (hex) of some bytes.
pub fn content_id(bytes: &[u8]) -> String {
    hex128(blake3::hash(bytes).as_bytes())
}

/// Lower-case hex of the first 128 bits of a hash.
pub fn hex128(hash: &[u8; 32]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(32);
    for b in &hash[..16] {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// Feeds JSON text to the hasher without whitespace outside strings, so re-indented copies of a
/// record (API responses are pretty-printed) hash alike.
fn hash_minified(hasher: &mut blake3::Hasher, text: &[u8]) {
    let mut in_string = false;
    let mut escaped = false;
    let mut run_start = 0;
    for (i, &b) in text.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if b.is_ascii_whitespace() {
            hasher.update(&text[run_start..i]);
            run_start = i + 1;
        }
    }
    hasher.update(&text[run_start..]);
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

fn push_unique(list: &mut Vec<String>, value: &str) {
    if !value.is_empty() && !list.iter().any(|v| v == value) {
        list.push(value.to_owned());
    }
}

fn looks_like_email(s: &str) -> bool {
    matches!(s.split_once('@'), Some((user, domain)) if !user.is_empty() && domain.contains('.'))
}

fn looks_like_domain(s: &str) -> bool {
    s.contains('.') && !s.contains('@') && !s.contains(' ') && s.parse::<IpAddr>().is_err()
}

fn add_identity_indicators(p: &mut Standard, login: Option<&str>) {
    if let Some(login) = login.filter(|l| !l.is_empty()) {
        push_unique(&mut p.p_any_usernames, login);
        if looks_like_email(login) {
            push_unique(&mut p.p_any_emails, login);
        }
    }
}

fn standard(table_log_type: &str, row_id: String, event_time: Timestamp, ctx: &SourceContext<'_>) -> Standard {
    Standard {
        p_log_type: table_log_type.to_owned(),
        p_row_id: row_id,
        p_event_time: event_time,
        p_parse_time: ctx.parse_time,
        p_source_label: ctx.label.to_owned(),
        p_source_file: ctx.file.to_owned(),
        p_any_ip_addresses: Vec::new(),
        p_any_emails: Vec::new(),
        p_any_usernames: Vec::new(),
        p_any_domain_names: Vec::new(),
        p_any_actor_ids: Vec::new(),
    }
}

/// Collects unknown members (and members of the other log type) into one JSON object text. Values
/// are kept as the raw text received, so nothing is re-parsed, lost or reordered.
#[derive(Clone, Default)]
struct Unknowns(Vec<(String, String)>);

impl Unknowns {
    fn raw(&mut self, prefix: &str, members: &[(String, Box<RawValue>)]) {
        for (k, v) in members {
            self.0.push((format!("{prefix}{k}"), v.get().to_owned()));
        }
    }
    /// A record's own unknown members, less the `p_*` fields Panther adds to the rows it exports
    /// (Tailscale names no member so): replayed Panther exports keep only what Tailscale sent.
    fn record_members(&mut self, members: &[(String, Box<RawValue>)]) {
        for (k, v) in members {
            if !k.starts_with("p_") {
                self.0.push((k.clone(), v.get().to_owned()));
            }
        }
    }
    fn typed<T: serde::Serialize>(&mut self, key: &str, value: Option<T>) {
        if let Some(v) = value {
            // Serializing our own types to a String cannot fail.
            self.0.push((key.to_owned(), serde_json::to_string(&v).unwrap_or_default()));
        }
    }
    fn text(&self) -> Option<String> {
        if self.0.is_empty() {
            return None;
        }
        let mut out = String::from("{");
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&serde_json::to_string(k).unwrap_or_default());
            out.push(':');
            out.push_str(v);
        }
        out.push('}');
        Some(out)
    }
}

fn audit_row(
    r: AnyRecord,
    (event_time, time_source): (Timestamp, TimeSource),
    recorded: Option<Timestamp>,
    time_unknowns: Unknowns,
    hash: &blake3::Hash,
    ctx: &SourceContext<'_>,
) -> AuditRow {
    let mut p = standard(TAILSCALE_AUDIT.log_type, hex128(hash.as_bytes()), event_time, ctx);
    let actor = r.actor.unwrap_or_default();
    let target = r.target.unwrap_or_default();
    let action = r.action.unwrap_or(crate::record::Action::Other(String::new()));
    let mut unknown = time_unknowns;
    unknown.record_members(&r.unknown);
    unknown.raw("actor.", &actor.unknown);
    unknown.raw("target.", &target.unknown);
    unknown.typed("type", r.record_type);
    unknown.typed("nodeId", r.node_id);
    unknown.typed("start", r.start);
    unknown.typed("end", r.end);
    unknown.typed("srcNode", r.src_node);
    unknown.typed("dstNodes", r.dst_nodes);
    unknown.typed("virtualTraffic", r.virtual_traffic);
    unknown.typed("subnetTraffic", r.subnet_traffic);
    unknown.typed("exitTraffic", r.exit_traffic);
    unknown.typed("physicalTraffic", r.physical_traffic);

    let event_name = {
        let mut name = String::with_capacity(40);
        name.push_str(target.target_type.as_ref().map_or("UNKNOWN", |t| t.as_str()));
        name.push('.');
        name.push_str(action.as_str());
        if let Some(prop) = &target.property {
            name.push('.');
            name.push_str(prop.as_str());
        }
        name
    };
    let actor_id = non_empty(actor.id);
    let login = non_empty(actor.login_name);
    add_identity_indicators(&mut p, login.as_deref());
    if let Some(id) = &actor_id {
        push_unique(&mut p.p_any_actor_ids, id);
    }
    if let Some(name) = target.name.as_deref() {
        if looks_like_email(name) {
            push_unique(&mut p.p_any_emails, name);
            push_unique(&mut p.p_any_usernames, name);
        } else if looks_like_domain(name) {
            push_unique(&mut p.p_any_domain_names, name);
        }
    }
    for email in p.p_any_emails.clone() {
        if let Some((_, domain)) = email.split_once('@') {
            push_unique(&mut p.p_any_domain_names, domain);
        }
    }
    AuditRow {
        p,
        event_name,
        event_group_id: non_empty(r.event_group_id),
        origin: r.origin,
        action,
        actor_id,
        actor_type: actor.actor_type,
        actor_login_name: login,
        actor_display_name: non_empty(actor.display_name),
        actor_tags: actor.tags.unwrap_or_default(),
        target_id: non_empty(target.id),
        target_name: non_empty(target.name),
        target_type: target.target_type,
        target_property: target.property,
        target_is_ephemeral: target.is_ephemeral,
        old: r.old.map(|v| v.get().to_owned()),
        new: r.new.map(|v| v.get().to_owned()),
        action_details: non_empty(r.action_details),
        error: non_empty(r.error),
        deferred_at: r.deferred_at.as_ref().and_then(RawTime::in_lake_range).filter(|t| !t.is_go_zero()),
        recorded_time: recorded.or_else(|| r.logged.as_ref().and_then(RawTime::in_lake_range)),
        event_time_source: time_source.as_str().to_owned(),
        unknown_fields: unknown.text(),
    }
}

/// An `ip:port` endpoint; liberal: `[v6]:port`, bare addresses, and (kept verbatim) anything else.
fn split_endpoint(text: &str) -> (Option<String>, Option<u16>, Option<IpAddr>) {
    if let Ok(sa) = text.parse::<SocketAddr>() {
        return (Some(sa.ip().to_string()), Some(sa.port()), Some(sa.ip()));
    }
    if let Ok(ip) = text.trim_matches(|c| c == '[' || c == ']').parse::<IpAddr>() {
        return (Some(ip.to_string()), None, Some(ip));
    }
    (non_empty(Some(text.to_owned())), None, None)
}

/// Tailscale marks DERP-relayed physical paths with the magic address 127.3.3.40:<region>.
const DERP_MAGIC_IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 3, 3, 40));

fn network_rows(
    r: AnyRecord,
    (event_time, time_source): (Timestamp, TimeSource),
    time_unknowns: Unknowns,
    hash: &blake3::Hash,
    ctx: &SourceContext<'_>,
    out: &mut Vec<LakeRow>,
) {
    let node = r.src_node.unwrap_or_default();
    let dst_nodes = r.dst_nodes.unwrap_or_default();
    // Address → peer index; the reporting node's own addresses never resolve to a peer.
    let own: Vec<IpAddr> = node.addresses.iter().flatten().filter_map(|a| a.parse().ok()).collect();
    let peers: Vec<(IpAddr, usize)> = dst_nodes
        .iter()
        .enumerate()
        .flat_map(|(i, n)| {
            n.addresses
                .iter()
                .flatten()
                .filter_map(move |a| a.parse::<IpAddr>().ok().map(|ip| (ip, i)))
        })
        .collect();

    let mut unknown = time_unknowns;
    unknown.record_members(&r.unknown);
    unknown.raw("srcNode.", &node.unknown);
    for (i, n) in dst_nodes.iter().enumerate() {
        unknown.raw(&format!("dstNodes[{i}]."), &n.unknown);
    }
    unknown.typed("eventGroupID", r.event_group_id);
    unknown.typed("origin", r.origin);
    unknown.typed("actor", r.actor);
    unknown.typed("target", r.target);
    unknown.typed("action", r.action);
    unknown.typed("old", r.old);
    unknown.typed("new", r.new);
    unknown.typed("actionDetails", r.action_details);
    unknown.typed("error", r.error);
    unknown.typed("eventTime", r.event_time);
    unknown.typed("type", r.record_type);
    unknown.typed("deferredAt", r.deferred_at);
    let record_unknown = unknown;

    let node_id = r.node_id.unwrap_or_default();
    let node_name = non_empty(node.name.clone());
    let node_user = non_empty(node.user.clone());
    let node_tags = node.tags.clone().unwrap_or_default();
    let kinds = [
        (TrafficKind::Virtual, r.virtual_traffic),
        (TrafficKind::Subnet, r.subnet_traffic),
        (TrafficKind::Exit, r.exit_traffic),
        (TrafficKind::Physical, r.physical_traffic),
    ];
    for (kind, entries) in kinds {
        for (index, entry) in entries.into_iter().flatten().enumerate() {
            let row = network_row(NetworkRowInput {
                kind,
                index,
                entry,
                node_id: &node_id,
                node: &node,
                node_name: &node_name,
                node_user: &node_user,
                node_tags: &node_tags,
                own: &own,
                peers: &peers,
                dst_nodes: &dst_nodes,
                window: (
                    r.start.as_ref().and_then(RawTime::in_lake_range),
                    r.end.as_ref().and_then(RawTime::in_lake_range),
                ),
                record_unknown: &record_unknown,
                event_time,
                event_time_source: time_source,
                hash,
                ctx,
            });
            out.push(LakeRow::Network(row));
        }
    }
}

struct NetworkRowInput<'a> {
    kind: TrafficKind,
    index: usize,
    entry: ConnectionCounts,
    node_id: &'a str,
    node: &'a Node,
    node_name: &'a Option<String>,
    node_user: &'a Option<String>,
    node_tags: &'a [String],
    own: &'a [IpAddr],
    peers: &'a [(IpAddr, usize)],
    dst_nodes: &'a [Node],
    window: (Option<Timestamp>, Option<Timestamp>),
    record_unknown: &'a Unknowns,
    event_time: Timestamp,
    event_time_source: TimeSource,
    hash: &'a blake3::Hash,
    ctx: &'a SourceContext<'a>,
}

fn network_row(input: NetworkRowInput<'_>) -> NetworkRow {
    let NetworkRowInput {
        kind,
        index,
        entry,
        node_id,
        node,
        node_name,
        node_user,
        node_tags,
        own,
        peers,
        dst_nodes,
        window,
        record_unknown,
        event_time,
        event_time_source,
        hash,
        ctx,
    } = input;
    let mut h = blake3::Hasher::new();
    h.update(hash.as_bytes());
    h.update(kind.as_str().as_bytes());
    h.update(&(index as u64).to_le_bytes());
    let p = standard(TAILSCALE_NETWORK.log_type, hex128(h.finalize().as_bytes()), event_time, ctx);

    let (src_ip, src_port, src_addr) = entry.src.as_deref().map_or((None, None, None), split_endpoint);
    let (dst_ip, dst_port, dst_addr) = entry.dst.as_deref().map_or((None, None, None), split_endpoint);
    // Physical: `src` is the peer's Tailscale IP, `dst` the underlay endpoint. Otherwise `src` is
    // the reporting node's side, so look at `dst` first.
    let candidates = match kind {
        TrafficKind::Physical => [src_addr, dst_addr],
        _ => [dst_addr, src_addr],
    };
    let peer = candidates
        .into_iter()
        .flatten()
        .filter(|ip| !own.contains(ip))
        .find_map(|ip| peers.iter().find(|(a, _)| *a == ip).map(|(_, i)| &dst_nodes[*i]));
    let derp_region = match (kind, dst_addr) {
        (TrafficKind::Physical, Some(ip)) if ip == DERP_MAGIC_IP => dst_port.map(u32::from),
        _ => None,
    };

    // No p_any_* indicators on network rows: they restated the row's own columns (src_ip, dst_ip,
    // node_id, peer_node_id, node/peer names and users) and were a quarter of every row's bytes.
    // Indicator searches over network rows query those columns directly (infra/athena/queries).

    let entry_unknown = if entry.unknown.is_empty() {
        record_unknown.text()
    } else {
        let mut all = record_unknown.clone();
        all.raw("entry.", &entry.unknown);
        all.text()
    };

    NetworkRow {
        p,
        node_id: node_id.to_owned(),
        node_name: node_name.clone(),
        node_os: non_empty(node.os.clone()),
        node_user: node_user.clone(),
        node_tags: node_tags.to_vec(),
        window_start: window.0,
        window_end: window.1,
        traffic_kind: kind,
        proto: entry.proto.as_ref().and_then(|p| p.number()),
        proto_name: entry.proto.as_ref().and_then(|p| p.name()).map(str::to_owned),
        src_ip,
        src_port,
        dst_ip,
        dst_port,
        tx_pkts: entry.tx_pkts.unwrap_or(0),
        tx_bytes: entry.tx_bytes.unwrap_or(0),
        rx_pkts: entry.rx_pkts.unwrap_or(0),
        rx_bytes: entry.rx_bytes.unwrap_or(0),
        peer_node_id: peer.and_then(|n| non_empty(n.node_id.clone())),
        peer_node_name: peer.and_then(|n| non_empty(n.name.clone())),
        peer_os: peer.and_then(|n| non_empty(n.os.clone())),
        peer_user: peer.and_then(|n| non_empty(n.user.clone())),
        peer_tags: peer.and_then(|n| n.tags.clone()).unwrap_or_default(),
        derp_region,
        event_time_source: event_time_source.as_str().to_owned(),
        unknown_fields: entry_unknown,
    }
}

#[cfg(test)]
#[path = "normalize_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "normalize_time_tests.rs"]
mod time_tests;
