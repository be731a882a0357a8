//! An audit detection written as plain functions over the audit row.
//!
//! What every stateless audit detection repeats — the `impl Detection`, the downcast from a lake
//! row, the default dedup by ids, the standard context — lives here once, so a detection file is
//! its metadata, its rule and its tests:
//!
//! ```ignore
//! static RULE: AuditRule = AuditRule { meta: &META, matches, title, tests: TESTS, ..AuditRule::DEFAULT };
//! pub const SPEC: Spec = Spec { meta: &META, build: |_| Ok(Box::new(&RULE)) };
//! ```

use crate::detections::common::{change_context, ids};
use crate::engine::{audit, Detection, Meta, Severity, TestCase, Verdict};
use crate::lake::{AuditRow, LakeRow};

/// A stateless detection over `tailscale_audit` rows.
pub struct AuditRule {
    /// Metadata.
    pub meta: &'static Meta,
    /// Does the row match?
    pub matches: fn(&AuditRow) -> bool,
    /// Title: names actor, target and origin.
    pub title: fn(&AuditRow) -> String,
    /// Severity of a matching row (default: the metadata's).
    pub severity: Option<fn(&AuditRow) -> Severity>,
    /// Dedup key (default: [`ids`], `actor id|target id`).
    pub dedup: fn(&AuditRow) -> String,
    /// Context (default: the standard audit context with `old` / `new`).
    pub context: fn(&AuditRow) -> serde_json::Value,
    /// Test cases.
    pub tests: &'static [TestCase],
}

impl AuditRule {
    /// Defaults: matches nothing, standard dedup and context.
    pub const DEFAULT: AuditRule = AuditRule {
        meta: &Meta::DEFAULT,
        matches: |_| false,
        title: |_| String::new(),
        severity: None,
        dedup: ids,
        context: change_context,
        tests: &[],
    };
}

impl Detection for &'static AuditRule {
    fn meta(&self) -> &Meta {
        self.meta
    }

    fn evaluate(&self, row: &LakeRow) -> Verdict {
        audit(row).is_some_and(self.matches).into()
    }

    fn title(&self, row: &LakeRow) -> String {
        audit(row).map(self.title).unwrap_or_default()
    }

    fn severity(&self, row: &LakeRow) -> Severity {
        match (audit(row), self.severity) {
            (Some(r), Some(f)) => f(r),
            _ => self.meta.severity,
        }
    }

    fn dedup(&self, row: &LakeRow) -> String {
        audit(row).map(self.dedup).unwrap_or_default()
    }

    fn context(&self, row: &LakeRow) -> serde_json::Value {
        audit(row).map(self.context).unwrap_or_default()
    }

    fn tests(&self) -> &'static [TestCase] {
        self.tests
    }
}
