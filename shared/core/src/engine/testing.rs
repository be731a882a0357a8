//! Detection test cases: written once in each detection's file, run by its unit tests and by
//! `tailwatch detections test` (Panther-tool style PASS / FAIL per case).

use super::config::TuningConfig;
use super::registry::Registry;
use super::state::{block_on, MemoryAlertState};
use super::Severity;
use crate::normalize::SourceContext;
use crate::pipeline::normalize_body;
use crate::rule::Definition;
use crate::time::Timestamp;

/// What a case expects from its `record`.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    /// An alert with this title, severity, dedup string (None: the title) and context keys.
    Fire {
        /// Exact title.
        title: &'static str,
        /// Exact severity.
        severity: Severity,
        /// Exact dedup string; `None` means "equals the title".
        dedup: Option<&'static str>,
        /// Keys the context must have.
        context_keys: &'static [&'static str],
    },
    /// No alert.
    Quiet,
}

/// One test case.
#[derive(Debug, Clone, Copy)]
pub struct TestCase {
    /// What it shows.
    pub name: &'static str,
    /// Tailscale records fed first (for thresholds and first-seen), in any body form.
    pub setup: &'static [&'static str],
    /// The record under test: a bare Tailscale record (or any body form).
    pub record: &'static str,
    /// The detection's parameters for this case, as a TOML table body (`org_domains = ["x"]`).
    pub params: &'static str,
    /// Expectation.
    pub expect: Expect,
}

impl TestCase {
    /// A case with no setup and default parameters.
    pub const fn new(name: &'static str, record: &'static str, expect: Expect) -> Self {
        TestCase {
            name,
            setup: &[],
            record,
            params: "",
            expect,
        }
    }
}

/// Runs one case against a fresh in-memory state.
///
/// # Errors
/// A description of what differed.
pub fn run_case(def: &dyn Definition, case: &TestCase) -> Result<(), String> {
    let params: toml::Table = case.params.parse().map_err(|e| format!("case params are not TOML: {e}"))?;
    let mut config = TuningConfig::default();
    let mut cfg = super::config::DetectionConfig {
        enabled: Some(true),
        ..Default::default()
    };
    cfg.params = params;
    config.detections.insert(def.meta().id.to_owned(), cfg);
    let registry = Registry::build(&[def], &config).map_err(|e| e.to_string())?;
    let state = MemoryAlertState::default();
    let ctx = SourceContext {
        label: "test",
        file: "test",
        // After every case's event time: an event more than a day after its parse time is out of
        // the lake's range (`time::MAX_FUTURE_SECONDS`).
        parse_time: Timestamp::parse("2030-01-01T00:00:00Z").unwrap_or_else(|_| Timestamp::now()),
    };
    let now = ctx.parse_time;
    for setup in case.setup {
        let out = normalize_body(setup.as_bytes(), &ctx);
        if !out.quarantined.is_empty() {
            return Err(format!("setup record does not normalize: {}", out.quarantined[0].message));
        }
        block_on(super::run::evaluate(&registry, &out.rows, &state, now)).map_err(|e| e.to_string())?;
    }
    let out = normalize_body(case.record.as_bytes(), &ctx);
    if !out.quarantined.is_empty() || out.rows.is_empty() {
        return Err(format!(
            "record does not normalize to rows: {:?}",
            out.quarantined.first().map(|q| &q.message)
        ));
    }
    let (alerts, _) = block_on(super::run::evaluate(&registry, &out.rows, &state, now)).map_err(|e| e.to_string())?;
    match (case.expect, alerts.first()) {
        (Expect::Quiet, None) => Ok(()),
        (Expect::Quiet, Some(a)) => Err(format!("expected no alert, got `{}`", a.title)),
        (Expect::Fire { .. }, None) => Err("expected an alert, got none".to_owned()),
        (
            Expect::Fire {
                title,
                severity,
                dedup,
                context_keys,
            },
            Some(a),
        ) => {
            let mut diffs = Vec::new();
            if a.title != title {
                diffs.push(format!("title: expected `{title}`, got `{}`", a.title));
            }
            if a.severity != severity {
                diffs.push(format!("severity: expected {severity}, got {}", a.severity));
            }
            let want_dedup = dedup.unwrap_or(title);
            if a.dedup != want_dedup {
                diffs.push(format!("dedup: expected `{want_dedup}`, got `{}`", a.dedup));
            }
            for key in context_keys {
                if a.alert_context.get(key).is_none() {
                    diffs.push(format!("context: missing key `{key}` (has {})", a.alert_context));
                }
            }
            if diffs.is_empty() {
                Ok(())
            } else {
                Err(diffs.join("; "))
            }
        }
    }
}

/// Runs every case of a detection, panicking with every failure (for unit tests).
///
/// # Panics
/// When any case fails, or the detection has no firing case or no quiet case.
pub fn assert_cases(def: &dyn Definition) {
    let cases = def.tests();
    let id = def.meta().id;
    assert!(
        cases.iter().any(|c| matches!(c.expect, Expect::Fire { .. })),
        "{id}: no firing case"
    );
    assert!(cases.iter().any(|c| matches!(c.expect, Expect::Quiet)), "{id}: no near-miss case");
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| run_case(def, c).err().map(|e| format!("{}: {e}", c.name)))
        .collect();
    assert!(failures.is_empty(), "{id}:\n  {}", failures.join("\n  "));
}
