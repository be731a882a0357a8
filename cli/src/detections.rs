//! `tailwatch detections list|test|new`: the catalog as a detection engineer sees it, built-in
//! and the user's own.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use tailwatch_core::engine::testing::{run_case, Expect};

use crate::ConfigArg;

/// `tailwatch detections …`
#[derive(clap::Subcommand, Debug)]
pub enum DetectionsCommand {
    /// Every detection: id, severity, log type, enabled, dedup, threshold, parameters, source.
    List {
        #[command(flatten)]
        config: ConfigArg,
        /// Also print descriptions and runbooks.
        #[arg(long, short)]
        verbose: bool,
        /// One JSON object per detection.
        #[arg(long)]
        json: bool,
    },
    /// Run every detection's own test cases (built-in and yours) and print PASS / FAIL per case.
    Test {
        #[command(flatten)]
        config: ConfigArg,
        /// Only detections whose id contains this text.
        #[arg(long)]
        id: Option<String>,
        /// Also write the results as JUnit XML.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
    },
    /// Scaffold a new detection with a test that fails until you write the rule.
    New {
        /// File name (snake_case), e.g. `node_deleted_by_oauth`.
        name: String,
        /// A TOML rule (default: a Rust detection).
        #[arg(long)]
        toml: bool,
        /// Directory to write it in (yours, outside tailwatch's tree).
        #[arg(long, default_value = "./detections")]
        dir: PathBuf,
    },
}

/// Runs the subcommand.
///
/// # Errors
/// A config or rule-file mistake.
pub fn run(cmd: DetectionsCommand) -> Result<ExitCode> {
    match cmd {
        DetectionsCommand::List { config, verbose, json } => list(&config, verbose, json),
        DetectionsCommand::Test { config, id, junit } => test(&config, id.as_deref(), junit.as_deref()),
        DetectionsCommand::New { name, toml, dir } => new(&name, toml, &dir),
    }
}

fn list(config: &ConfigArg, verbose: bool, json: bool) -> Result<ExitCode> {
    let config = config.load()?;
    let registry = config.registry()?;
    if json {
        for e in registry.entries() {
            let m = e.meta();
            let row = serde_json::json!({
                "id": m.id, "name": m.name, "severity": e.severity_override.unwrap_or(m.severity),
                "log_types": m.log_types, "enabled": e.enabled, "idle": e.detection.inactive_reason(),
                "dedup_minutes": e.dedup_minutes, "threshold": e.threshold, "source": e.source,
            });
            println!("{row}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<42} {:<9} {:<18} {:<8} {:>6} {:>5}  {:<10} parameters",
        "id", "severity", "log types", "enabled", "dedup", "thr", "source"
    );
    for e in registry.entries() {
        let m = e.meta();
        let severity = e.severity_override.map_or_else(|| m.severity.to_string(), |s| format!("{s}*"));
        let log_types: Vec<&str> = m.log_types.iter().map(|l| l.as_str()).collect();
        let params: Vec<String> = m.params.iter().map(|p| format!("{}={}", p.name, p.default)).collect();
        let enabled = match (e.enabled, e.detection.inactive_reason()) {
            (true, Some(_)) => "idle",
            (true, None) => "yes",
            (false, _) => "no",
        };
        println!(
            "{:<42} {:<9} {:<18} {:<8} {:>5}m {:>5}  {:<10} {}",
            m.id,
            severity,
            log_types.join(","),
            enabled,
            e.dedup_minutes,
            e.threshold,
            e.source,
            params.join(" ")
        );
        if let (true, Some(reason)) = (e.enabled, e.detection.inactive_reason()) {
            println!("    idle: {reason}");
        }
        if verbose {
            println!("    {}\n    {}", m.name, m.description);
            for line in m.runbook.lines() {
                println!("    runbook: {line}");
            }
            for p in m.params {
                println!("    param {} (default {}): {}", p.name, p.default, p.doc);
            }
        }
    }
    println!(
        "\n{} detections; * = severity overridden in the config; idle = enabled but quiet until configured",
        registry.entries().len()
    );
    Ok(ExitCode::SUCCESS)
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn test(config: &ConfigArg, filter: Option<&str>, junit: Option<&Path>) -> Result<ExitCode> {
    let config = config.load()?;
    let defs = config.definitions()?;
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut suites = String::new();
    for def in defs.iter().filter(|d| filter.is_none_or(|f| d.meta().id.contains(f))) {
        let id = def.meta().id;
        println!("{id} ({})", def.source());
        let mut cases = String::new();
        let mut suite_failures = 0;
        if def.tests().is_empty() {
            failed += 1;
            suite_failures += 1;
            println!("  [FAIL] no test cases: add one that fires and one near miss");
            let _ = writeln!(
                cases,
                "    <testcase name=\"has test cases\" classname=\"{}\"><failure message=\"no test cases\"/></testcase>",
                xml(id)
            );
        }
        for case in def.tests() {
            let kind = match case.expect {
                Expect::Fire { .. } => "fires",
                Expect::Quiet => "quiet",
            };
            let name = xml(&format!("{} ({kind})", case.name));
            match run_case(*def, case) {
                Ok(()) => {
                    passed += 1;
                    println!("  [PASS] {} ({kind})", case.name);
                    let _ = writeln!(cases, "    <testcase name=\"{name}\" classname=\"{}\"/>", xml(id));
                }
                Err(e) => {
                    failed += 1;
                    suite_failures += 1;
                    println!("  [FAIL] {} ({kind}): {e}", case.name);
                    let _ = writeln!(
                        cases,
                        "    <testcase name=\"{name}\" classname=\"{}\"><failure message=\"{}\"/></testcase>",
                        xml(id),
                        xml(&e)
                    );
                }
            }
        }
        let _ = writeln!(
            suites,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{suite_failures}\" file=\"{}\">\n{cases}  </testsuite>",
            xml(id),
            def.tests().len().max(1),
            xml(def.source())
        );
    }
    println!("\n{passed} passed, {failed} failed");
    if let Some(path) = junit {
        let doc = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"tailwatch detections\" tests=\"{}\" failures=\"{failed}\">\n{suites}</testsuites>\n",
            passed + failed
        );
        std::fs::write(path, doc).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn new(name: &str, toml: bool, dir: &Path) -> Result<ExitCode> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        bail!("NAME must be snake_case (a-z, 0-9, _), e.g. node_deleted_by_oauth");
    }
    let camel: String = name
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    let (file, text) = if toml {
        (dir.join(format!("{name}.toml")), TOML_TEMPLATE.replace("NAME", &camel))
    } else {
        (dir.join(format!("{name}.rs")), RUST_TEMPLATE.replace("NAME", &camel))
    };
    if file.exists() {
        bail!("{} already exists", file.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
    println!("wrote {}", file.display());
    if toml {
        println!(
            "next: tailwatch detections test --path {} --id Custom.{camel}   (fails until you write the [[match]] conditions)",
            dir.display()
        );
    } else {
        println!(
            "next: TAILWATCH_RUST_DETECTIONS={} cargo test -p tailwatch-user   (fails until you write `matches`)",
            dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

const TOML_TEMPLATE: &str = r#"# A tailwatch rule. Fields are the lake columns (tailscale_audit / tailscale_network);
# `tailwatch detections test --path <this dir>` runs the tests below.
id = "Custom.NAME"
name = "NAME"
log_type = "audit"
severity = "MEDIUM"
description = "What happened and why a defender cares."
runbook = "1. Who did it (actor_login_name, actor_id, origin)?\n2. What to do next."
tags = []
title = "NAME: {event_name} by {actor_id}"

# Every condition must hold. TODO: describe the event you want to alert on.
[[match]]
field = "event_name"
equals = "TODO"

[[test]]
name = "fires on the event"
record = '{"eventTime":"2025-03-04T17:00:00Z","origin":"ADMIN_CONSOLE","actor":{"id":"u1","type":"USER","loginName":"alice@example.com"},"target":{"id":"n1","name":"web-1","type":"NODE"},"action":"DELETE"}'
expect = "fire"
title = "NAME: NODE.DELETE by u1"
dedup = "u1|n1"

[[test]]
name = "near miss"
record = '{"eventTime":"2025-03-04T17:00:00Z","origin":"ADMIN_CONSOLE","actor":{"id":"u1"},"target":{"id":"n1","type":"NODE"},"action":"CREATE"}'
expect = "quiet"
"#;

const RUST_TEMPLATE: &str = r##"//! NAME: why this event matters to a defender.

use tailwatch_core::rule::prelude::*;

/// The detection.
pub const RULE: Rule<AuditRow> = Rule {
    meta: Meta {
        id: "Custom.NAME",
        name: "NAME",
        severity: Severity::Medium,
        description: "What happened and why a defender cares.",
        runbook: "1. Who did it (actor_login_name, actor_id, origin)?\n2. What to do next.",
        tags: &[],
        ..Meta::DEFAULT
    },
    // TODO: describe the event you want to alert on.
    matches: |_h| false,
    title: |h| by_actor(&format!("NAME: {}", h.event_name), h),
    tests: &[
        TestCase::new(
            "fires on the event",
            r#"{"eventTime":"2025-03-04T17:00:00Z","origin":"ADMIN_CONSOLE","actor":{"id":"u1","type":"USER","loginName":"alice@example.com"},"target":{"id":"n1","name":"web-1","type":"NODE"},"action":"DELETE"}"#,
            Expect::Fire {
                title: "NAME: NODE.DELETE by alice@example.com via ADMIN_CONSOLE",
                severity: Severity::Medium,
                dedup: Some("u1|n1"),
                context_keys: &["actor_id", "event_name"],
            },
        ),
        TestCase::new(
            "near miss",
            r#"{"eventTime":"2025-03-04T17:00:00Z","origin":"ADMIN_CONSOLE","actor":{"id":"u1"},"target":{"id":"n1","type":"NODE"},"action":"CREATE"}"#,
            Expect::Quiet,
        ),
    ],
    ..Rule::DEFAULT
};

#[cfg(test)]
mod tests {
    #[test]
    fn cases() {
        tailwatch_core::engine::testing::assert_cases(&super::RULE);
    }
}
"##;
