//! The detection API: one API for tailwatch's own catalog and for yours.
//!
//! A detection is its metadata ([`Meta`]), functions over one typed lake row ([`AuditRow`] or
//! [`NetworkRow`]), the state question it asks if it is stateful, and its test cases — one
//! [`Rule`] constant in one file. Every function gets a [`Hit`]: the row (a `Hit` dereferences to
//! it, so `h.action` and `helper(h)` read the row), the detection's parameters, and — in
//! `decide`, `title`, `severity`, `dedup` and `context` — the state's answer. Nothing else to
//! write: no struct, no trait impl, no registration boilerplate.
//!
//! ```
//! use tailwatch_core::rule::prelude::*;
//!
//! /// Someone turned HTTPS certificates off for the tailnet.
//! pub const RULE: Rule<AuditRow> = Rule {
//!     meta: Meta {
//!         id: "Acme.HTTPS.Disabled",
//!         name: "HTTPS disabled",
//!         severity: Severity::High,
//!         description: "HTTPS certificates were disabled for the tailnet.",
//!         runbook: "1. Ask the actor (actor_login_name).\n2. Re-enable HTTPS on the DNS page.",
//!         tags: &["T1562"],
//!         ..Meta::DEFAULT
//!     },
//!     matches: |h| h.action == Action::Disable && h.target_property == Some(TargetProperty::Https),
//!     title: |h| format!("HTTPS disabled by {}", actor_label(h)),
//!     tests: &[
//!         TestCase::new(
//!             "disabled",
//!             r#"{"eventTime":"2025-03-04T17:21:09Z","actor":{"id":"u1","loginName":"alice@example.com"},"target":{"id":"t1","type":"TAILNET","property":"HTTPS"},"action":"DISABLE"}"#,
//!             Expect::Fire { title: "HTTPS disabled by alice@example.com", severity: Severity::High, dedup: Some("u1|t1"), context_keys: &["actor_id"] },
//!         ),
//!         TestCase::new(
//!             "near miss: enabled",
//!             r#"{"eventTime":"2025-03-04T17:21:09Z","actor":{"id":"u1"},"target":{"type":"TAILNET","property":"HTTPS"},"action":"ENABLE"}"#,
//!             Expect::Quiet,
//!         ),
//!     ],
//!     ..Rule::DEFAULT
//! };
//!
//! // What `tailwatch detections test` and a unit test do: run the cases, report what differs.
//! for case in RULE.tests {
//!     tailwatch_core::engine::testing::run_case(&RULE, case).unwrap();
//! }
//! ```
//!
//! Stateful detections name their question in `ask` (first seen, sum over a window, distinct
//! count) and read the answer in every later function through [`Hit::answer`], [`Hit::sum`],
//! [`Hit::distinct`] or [`Hit::first_seen`]. Parameters are a type of the detection's own, read
//! once at start-up from `[detections."<id>"]` by `params` and handed to every function as
//! `h.params`.
//!
//! Rules without Rust — field conditions, a title template, test cases — are TOML files
//! ([`declarative`]), compiled to the same engine. [`catalog`] puts the built-in catalog and the
//! user's rules together.

pub mod catalog;
pub mod declarative;

use std::ops::Deref;

use crate::engine::config::{ConfigError, Params};
use crate::engine::{Detection, LogType, Meta, Severity, StateAnswer, StateQuery, TestCase, Verdict};
use crate::lake::{AuditRow, LakeRow, NetworkRow};

/// Everything a detection file needs.
pub mod prelude {
    pub use super::{Definition, Hit, Row, Rule};
    pub use crate::detections::common::{actor_key, actor_label, by_actor, change_context, context, ids, target_label};
    pub use crate::engine::config::{ConfigError, Params};
    pub use crate::engine::{Expect, LogType, Meta, ParamDoc, Severity, StateAnswer, StateQuery, TestCase};
    pub use crate::lake::{AuditRow, NetworkRow, TrafficKind};
    pub use crate::record::{Action, ActorType, Origin, TargetProperty, TargetType};
}

/// A lake row type a detection reads.
pub trait Row: Send + Sync + 'static {
    /// Its log type.
    const LOG_TYPE: LogType;
    /// The typed row, if `row` is one.
    fn of(row: &LakeRow) -> Option<&Self>;
    /// The dedup key when the detection names none (audit: `actor id|target id`; network: the
    /// title, as Panther does).
    fn default_dedup(&self, title: String) -> String;
    /// The context when the detection names none (audit: who, from where, on what, old/new).
    fn default_context(&self) -> serde_json::Value;
}

impl Row for AuditRow {
    const LOG_TYPE: LogType = LogType::Audit;
    fn of(row: &LakeRow) -> Option<&Self> {
        crate::engine::audit(row)
    }
    fn default_dedup(&self, _title: String) -> String {
        crate::detections::common::ids(self)
    }
    fn default_context(&self) -> serde_json::Value {
        crate::detections::common::change_context(self)
    }
}

impl Row for NetworkRow {
    const LOG_TYPE: LogType = LogType::Network;
    fn of(row: &LakeRow) -> Option<&Self> {
        crate::engine::network(row)
    }
    fn default_dedup(&self, title: String) -> String {
        title
    }
    fn default_context(&self) -> serde_json::Value {
        serde_json::json!({
            "node_id": self.node_id, "node_name": self.node_name, "traffic_kind": self.traffic_kind.as_str(),
            "src_ip": self.src_ip, "src_port": self.src_port, "dst_ip": self.dst_ip, "dst_port": self.dst_port,
            "peer_node_id": self.peer_node_id, "tx_bytes": self.tx_bytes, "rx_bytes": self.rx_bytes,
        })
    }
}

/// What every function of a [`Rule`] sees: the row, the parameters and the state's answer.
#[derive(Debug)]
pub struct Hit<'a, R, P = ()> {
    /// The row.
    pub row: &'a R,
    /// The detection's parameters (from `[detections."<id>"]`).
    pub params: &'a P,
    /// The state's answer: `None` in `matches` and `ask`, and for detections that ask nothing.
    pub answer: Option<StateAnswer>,
}

impl<R, P> Deref for Hit<'_, R, P> {
    type Target = R;
    fn deref(&self) -> &R {
        self.row
    }
}

impl<R, P> Hit<'_, R, P> {
    /// The distinct count the state answered (1 when it answered no distinct count).
    pub fn distinct(&self) -> u64 {
        match self.answer {
            Some(StateAnswer::Distinct(n)) => n.max(1),
            _ => 1,
        }
    }

    /// The window total the state answered (0 when it answered no sum).
    pub fn sum(&self) -> u64 {
        match self.answer {
            Some(StateAnswer::Sum(n)) => n,
            _ => 0,
        }
    }

    /// Whether the state answered "first seen".
    pub fn first_seen(&self) -> bool {
        self.answer == Some(StateAnswer::FirstSeen(true))
    }
}

/// A function of a [`Rule`].
pub type Fn<R, P, T> = for<'a> fn(&Hit<'a, R, P>) -> T;

/// A detection over rows of type `R` with parameters `P`.
///
/// Start from [`Rule::DEFAULT`] and fill in `meta`, `matches`, `title` and `tests`; the rest has
/// defaults: severity from the metadata, dedup by ids (audit) or title (network), the standard
/// context.
pub struct Rule<R: 'static, P: 'static = ()> {
    /// Metadata.
    pub meta: Meta,
    /// Reads the parameters from the detection's config table (each parameter once, so unknown
    /// keys are errors).
    pub params: fn(&Params<'_>) -> Result<P, ConfigError>,
    /// Does the row match? (For a stateful detection: is it a candidate to ask about?)
    pub matches: Fn<R, P, bool>,
    /// The state question for a matching row (`None` from the function: no match).
    pub ask: Option<Fn<R, P, Option<StateQuery>>>,
    /// Given the state's answer (`h.answer`), is it a match? Default: not when the answer is
    /// "seen before", else yes.
    pub decide: Fn<R, P, bool>,
    /// Alert title: names actor, target and origin (ids for machines).
    pub title: Fn<R, P, String>,
    /// Dynamic severity (default: the metadata's).
    pub severity: Option<Fn<R, P, Severity>>,
    /// Dedup string (default: [`Row::default_dedup`]).
    pub dedup: Option<Fn<R, P, String>>,
    /// Context for the responder (default: [`Row::default_context`]).
    pub context: Option<Fn<R, P, serde_json::Value>>,
    /// Why the detection stays quiet with these parameters, if it does (`detections list`).
    pub inactive: fn(&P) -> Option<String>,
    /// Test cases: at least one that fires and one near miss.
    pub tests: &'static [TestCase],
}

impl<R, P> Clone for Rule<R, P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R, P> Copy for Rule<R, P> {}

impl<R: Row, P: Default + Send + Sync + 'static> Rule<R, P> {
    /// Defaults: matches nothing, asks nothing, default parameters.
    pub const DEFAULT: Rule<R, P> = Rule {
        meta: Meta::DEFAULT,
        params: |_| Ok(P::default()),
        matches: |_| false,
        ask: None,
        decide: |h| h.answer != Some(StateAnswer::FirstSeen(false)),
        title: |_| String::new(),
        severity: None,
        dedup: None,
        context: None,
        inactive: |_| None,
        tests: &[],
    };
}

/// Something that builds detections: a [`Rule`], a TOML rule, anything in a catalog.
pub trait Definition: Send + Sync {
    /// Metadata.
    fn meta(&self) -> &Meta;
    /// Builds the detection with its parameters.
    ///
    /// # Errors
    /// A parameter of the wrong type.
    fn build(&self, params: &Params<'_>) -> Result<Box<dyn Detection>, ConfigError>;
    /// Its test cases.
    fn tests(&self) -> &[TestCase];
    /// Where it comes from: `built-in`, or the file that defines it.
    fn source(&self) -> &str {
        "built-in"
    }
}

impl<R: Row, P: Send + Sync + 'static> Definition for Rule<R, P> {
    fn meta(&self) -> &Meta {
        &self.meta
    }

    fn build(&self, params: &Params<'_>) -> Result<Box<dyn Detection>, ConfigError> {
        let mut rule = *self;
        rule.meta.log_types = match R::LOG_TYPE {
            LogType::Audit => &[LogType::Audit],
            LogType::Network => &[LogType::Network],
        };
        Ok(Box::new(Built {
            params: (self.params)(params)?,
            rule,
        }))
    }

    fn tests(&self) -> &[TestCase] {
        self.tests
    }
}

/// A rule with its parameters read.
struct Built<R: 'static, P: 'static> {
    rule: Rule<R, P>,
    params: P,
}

impl<R: Row, P: Send + Sync + 'static> Built<R, P> {
    fn hit<'a>(&'a self, row: &'a LakeRow, answer: Option<StateAnswer>) -> Option<Hit<'a, R, P>> {
        R::of(row).map(|row| Hit {
            row,
            params: &self.params,
            answer,
        })
    }
}

impl<R: Row, P: Send + Sync + 'static> Detection for Built<R, P> {
    fn meta(&self) -> &Meta {
        &self.rule.meta
    }

    fn evaluate(&self, row: &LakeRow) -> Verdict {
        let Some(h) = self.hit(row, None) else { return Verdict::No };
        if !(self.rule.matches)(&h) {
            return Verdict::No;
        }
        match self.rule.ask {
            None => Verdict::Yes,
            Some(ask) => ask(&h).map_or(Verdict::No, Verdict::Ask),
        }
    }

    fn decide(&self, row: &LakeRow, answer: StateAnswer) -> bool {
        self.hit(row, Some(answer)).is_some_and(|h| (self.rule.decide)(&h))
    }

    fn title(&self, row: &LakeRow, answer: Option<StateAnswer>) -> String {
        self.hit(row, answer).map(|h| (self.rule.title)(&h)).unwrap_or_default()
    }

    fn severity(&self, row: &LakeRow, answer: Option<StateAnswer>) -> Severity {
        match (self.hit(row, answer), self.rule.severity) {
            (Some(h), Some(f)) => f(&h),
            _ => self.rule.meta.severity,
        }
    }

    fn dedup(&self, row: &LakeRow, answer: Option<StateAnswer>) -> String {
        let Some(h) = self.hit(row, answer) else { return String::new() };
        match self.rule.dedup {
            Some(f) => f(&h),
            None => h.row.default_dedup((self.rule.title)(&h)),
        }
    }

    fn context(&self, row: &LakeRow, answer: Option<StateAnswer>) -> serde_json::Value {
        let Some(h) = self.hit(row, answer) else {
            return serde_json::Value::Null;
        };
        match self.rule.context {
            Some(f) => f(&h),
            None => h.row.default_context(),
        }
    }

    fn inactive_reason(&self) -> Option<String> {
        (self.rule.inactive)(&self.params)
    }
}

/// One severity level up (CRITICAL stays).
pub fn raise(severity: Severity) -> Severity {
    match severity {
        Severity::Info => Severity::Low,
        Severity::Low => Severity::Medium,
        Severity::Medium => Severity::High,
        Severity::High | Severity::Critical => Severity::Critical,
    }
}

/// `1 peer`, `3 peers`.
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_counts_read_well() {
        assert_eq!(raise(Severity::Medium), Severity::High);
        assert_eq!(raise(Severity::Critical), Severity::Critical);
        assert_eq!(count(1, "peer"), "1 peer");
        assert_eq!(count(4, "peer"), "4 peers");
    }
}
