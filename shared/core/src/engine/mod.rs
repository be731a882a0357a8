//! The detection engine: Panther-compatible semantics over lake rows.
//!
//! A [`Detection`] looks at one row at a time. The engine ([`run::evaluate`]) asks every enabled
//! detection about every row of a batch, answers the stateful ones' questions through the
//! [`state::AlertState`] port, applies dedup and threshold through the same port, and returns the
//! alerts to notify. Nothing here knows whether the state lives in SQLite or DynamoDB.

pub mod alert;
pub mod config;
pub mod conformance;
pub mod keys;
pub mod registry;
pub mod run;
pub mod state;
pub mod testing;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::lake::{AuditRow, LakeRow, NetworkRow};

pub use alert::Alert;
pub use config::{ConfigError, Params, TuningConfig};
pub use registry::Registry;
pub use state::{AlertState, MemoryAlertState};
pub use testing::{Expect, TestCase};

/// Alert severity, ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// Informational.
    Info,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// Upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "INFO",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }

    /// Parses `info`, `LOW`, … (case-insensitive).
    pub fn parse(text: &str) -> Option<Severity> {
        match text.to_ascii_uppercase().as_str() {
            "INFO" => Some(Severity::Info),
            "LOW" => Some(Severity::Low),
            "MEDIUM" => Some(Severity::Medium),
            "HIGH" => Some(Severity::High),
            "CRITICAL" => Some(Severity::Critical),
            _ => None,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The log types detections read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum LogType {
    /// `Tailscale.Audit` rows.
    #[serde(rename = "Tailscale.Audit")]
    Audit,
    /// `Tailscale.Network` rows.
    #[serde(rename = "Tailscale.Network")]
    Network,
}

impl LogType {
    /// `Tailscale.Audit` / `Tailscale.Network`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogType::Audit => "Tailscale.Audit",
            LogType::Network => "Tailscale.Network",
        }
    }

    /// The log type of a row.
    pub fn of(row: &LakeRow) -> LogType {
        match row {
            LakeRow::Audit(_) => LogType::Audit,
            LakeRow::Network(_) => LogType::Network,
        }
    }
}

/// A tunable parameter, documented for `tailwatch detections list`.
#[derive(Debug, Clone, Copy)]
pub struct ParamDoc {
    /// Key in the detection's config table.
    pub name: &'static str,
    /// The default, as TOML text.
    pub default: &'static str,
    /// What it does.
    pub doc: &'static str,
}

/// A detection's metadata: Panther's rule YAML, as a constant.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    /// Stable id, e.g. `Tailscale.MagicDNS.Disabled`.
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Log types read.
    pub log_types: &'static [LogType],
    /// Default severity (dynamic detections may return others).
    pub severity: Severity,
    /// Why it matters.
    pub description: &'static str,
    /// What a responder does, step by step, naming the fields to look at.
    pub runbook: &'static str,
    /// Reference documentation.
    pub reference: &'static str,
    /// MITRE ATT&CK technique ids.
    pub tags: &'static [&'static str],
    /// Dedup period in minutes.
    pub dedup_minutes: u32,
    /// Matches needed within one dedup period before the first notification.
    pub threshold: u32,
    /// Whether it runs without being enabled in the config.
    pub enabled_by_default: bool,
    /// Tunable parameters.
    pub params: &'static [ParamDoc],
}

impl Meta {
    /// Defaults every detection starts from.
    pub const DEFAULT: Meta = Meta {
        id: "",
        name: "",
        log_types: &[LogType::Audit],
        severity: Severity::Info,
        description: "",
        runbook: "",
        reference: "https://tailscale.com/kb/1203/audit-logging",
        tags: &[],
        dedup_minutes: 60,
        threshold: 1,
        enabled_by_default: true,
        params: &[],
    };
}

/// A question a stateful detection asks before deciding (answered through [`AlertState`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateQuery {
    /// Has `key` been seen within the last `within_days`? (Records it as seen now.)
    FirstSeen {
        /// The key (detection-scoped by the engine).
        key: String,
        /// Look-back.
        within_days: u32,
    },
    /// Add `amount` to `key`'s counter for the current window of `window_minutes`; answer the total.
    SumOverWindow {
        /// The key.
        key: String,
        /// Amount to add.
        amount: u64,
        /// Window length (windows are aligned to multiples of it since the epoch).
        window_minutes: u32,
    },
    /// Add `member` to `key`'s set for the current window; answer the set's size.
    DistinctCount {
        /// The key.
        key: String,
        /// The member.
        member: String,
        /// Window length; 0 counts within the batch alone (no state: e.g. the targets of one flow
        /// record, which never spans batches).
        window_minutes: u32,
    },
}

/// The answer to a [`StateQuery`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateAnswer {
    /// For [`StateQuery::FirstSeen`]: true when the key was not seen in the look-back.
    FirstSeen(bool),
    /// For [`StateQuery::SumOverWindow`]: the window's total including this row.
    Sum(u64),
    /// For [`StateQuery::DistinctCount`]: the set's size including this row's member.
    Distinct(u64),
}

/// What a detection says about a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not a match.
    No,
    /// A match.
    Yes,
    /// Ask the state store, then call [`Detection::decide`].
    Ask(StateQuery),
}

impl From<bool> for Verdict {
    fn from(b: bool) -> Self {
        if b {
            Verdict::Yes
        } else {
            Verdict::No
        }
    }
}

/// One built detection as the engine sees it: Panther's rule functions over a lake row.
///
/// Detection authors do not implement this: they write a [`crate::rule::Rule`] (Rust) or a TOML
/// rule ([`crate::rule::declarative`]), which implement it. Every function that shapes the alert
/// gets the state's answer (`None` for stateless detections), so a title, severity, dedup key or
/// context can depend on how many destinations a source reached or how many bytes a window holds.
pub trait Detection: Send + Sync {
    /// Metadata.
    fn meta(&self) -> &Meta;
    /// Does the row match? Stateful detections return [`Verdict::Ask`].
    fn evaluate(&self, row: &LakeRow) -> Verdict;
    /// Second stage for stateful detections, given the state's answer.
    fn decide(&self, _row: &LakeRow, _answer: StateAnswer) -> bool {
        false
    }
    /// Alert title: names actor, target and origin.
    fn title(&self, row: &LakeRow, answer: Option<StateAnswer>) -> String;
    /// Dynamic severity (default: the metadata's).
    fn severity(&self, _row: &LakeRow, _answer: Option<StateAnswer>) -> Severity {
        self.meta().severity
    }
    /// Dedup string (default: the title).
    fn dedup(&self, row: &LakeRow, answer: Option<StateAnswer>) -> String {
        self.title(row, answer)
    }
    /// Context for the responder (a JSON object).
    fn context(&self, _row: &LakeRow, _answer: Option<StateAnswer>) -> serde_json::Value {
        serde_json::Value::Object(serde_json::Map::new())
    }
    /// Why a default-enabled detection stays quiet with the current parameters (shown by
    /// `tailwatch detections list`), if it does.
    fn inactive_reason(&self) -> Option<String> {
        None
    }
}

/// The audit row, if it is one.
pub fn audit(row: &LakeRow) -> Option<&AuditRow> {
    match row {
        LakeRow::Audit(a) => Some(a),
        LakeRow::Network(_) => None,
    }
}

/// The network row, if it is one.
pub fn network(row: &LakeRow) -> Option<&NetworkRow> {
    match row {
        LakeRow::Network(n) => Some(n),
        LakeRow::Audit(_) => None,
    }
}

/// `actor (origin)` for titles: login name, else display name, else id, else `unknown actor`.
pub fn actor_label(row: &AuditRow) -> String {
    let who = row
        .actor_login_name
        .as_deref()
        .or(row.actor_display_name.as_deref())
        .or(row.actor_id.as_deref())
        .unwrap_or("unknown actor");
    match &row.origin {
        Some(origin) => format!("{who} via {origin}"),
        None => who.to_owned(),
    }
}

/// The standard context every audit alert carries: who, from where, on what.
pub fn audit_context(row: &AuditRow) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            m.insert(k.to_owned(), v.into());
        }
    };
    put("event_name", Some(&row.event_name));
    put("origin", row.origin.as_ref().map(|o| o.as_str()));
    put("actor_id", row.actor_id.as_deref());
    put("actor_login_name", row.actor_login_name.as_deref());
    put("actor_type", row.actor_type.as_ref().map(|t| t.as_str()));
    put("target_id", row.target_id.as_deref());
    put("target_name", row.target_name.as_deref());
    put("event_group_id", row.event_group_id.as_deref());
    m
}

/// Parses the JSON text of `old` / `new`.
pub fn json_value(text: Option<&str>) -> Option<serde_json::Value> {
    text.and_then(|t| serde_json::from_str(t).ok())
}

/// `old` / `new` as a plain string (JSON string values), if they are one.
pub fn json_string(text: Option<&str>) -> Option<String> {
    match json_value(text)? {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    }
}
