//! `tailwatch detections list|test`: the catalog as a detection engineer sees it.

use std::process::ExitCode;

use anyhow::Result;
use tailwatch_core::engine::testing::{run_case, Expect};
use tailwatch_core::engine::{Params, Registry};

use crate::ConfigArg;

/// `tailwatch detections …`
#[derive(clap::Subcommand, Debug)]
pub enum DetectionsCommand {
    /// Every detection: id, severity, log type, enabled, dedup, threshold, parameters.
    List {
        #[command(flatten)]
        config: ConfigArg,
        /// Also print descriptions and runbooks.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Run every detection's own test cases and print PASS / FAIL per case.
    Test {
        /// Only detections whose id contains this text.
        #[arg(long)]
        id: Option<String>,
    },
}

/// Runs the subcommand.
///
/// # Errors
/// A config mistake.
pub fn run(cmd: DetectionsCommand) -> Result<ExitCode> {
    match cmd {
        DetectionsCommand::List { config, verbose } => list(&config, verbose),
        DetectionsCommand::Test { id } => test(id.as_deref()),
    }
}

fn list(config: &ConfigArg, verbose: bool) -> Result<ExitCode> {
    let config = config.load()?;
    let registry = Registry::catalog(&config.tuning)?;
    println!(
        "{:<42} {:<9} {:<18} {:<8} {:>6} {:>5}  parameters",
        "id", "severity", "log types", "enabled", "dedup", "thr"
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
            "{:<42} {:<9} {:<18} {:<8} {:>5}m {:>5}  {}",
            m.id,
            severity,
            log_types.join(","),
            enabled,
            e.dedup_minutes,
            e.threshold,
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

fn test(filter: Option<&str>) -> Result<ExitCode> {
    let (mut passed, mut failed) = (0usize, 0usize);
    for spec in tailwatch_core::detections::ALL
        .iter()
        .filter(|s| filter.is_none_or(|f| s.meta.id.contains(f)))
    {
        let detection = (spec.build)(&Params::new(spec.meta.id, None))?;
        println!("{}", spec.meta.id);
        for case in detection.tests() {
            let kind = match case.expect {
                Expect::Fire { .. } => "fires",
                Expect::Quiet => "quiet",
            };
            match run_case(spec, case) {
                Ok(()) => {
                    passed += 1;
                    println!("  [PASS] {} ({kind})", case.name);
                }
                Err(e) => {
                    failed += 1;
                    println!("  [FAIL] {} ({kind}): {e}", case.name);
                }
            }
        }
    }
    println!("\n{passed} passed, {failed} failed");
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
