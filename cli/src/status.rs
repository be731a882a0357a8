//! `tailwatch status`: is my stream healthy? Reads only what the data dir holds (the stream
//! statistics and processed marks in `state.db`, `raw/`, `quarantine/`, `alerts/`), so it works
//! whether or not `serve` is running, and never writes. Exit 1 when a stream has been silent for
//! longer than `--silent-after` (or nothing was ever received), for cron and monitoring.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tailwatch_core::time::Timestamp;
use tailwatch_local::{read_alerts, SqliteAlertState, StreamStat};

use crate::{ConfigArg, DataDir};

/// Arguments of `tailwatch status`.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub data: DataDir,
    #[command(flatten)]
    pub config: ConfigArg,
    /// A stream whose last batch is older than this is silent (exit 1): 90s, 30m, 6h, 2d.
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    pub silent_after: u64,
    /// Print one JSON object instead of the report.
    #[arg(long)]
    pub json: bool,
}

/// Seconds from `90s`, `30m`, `6h`, `2d` or a bare number of seconds.
///
/// # Errors
/// Anything else, with the accepted forms.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{text}`: expected a duration such as 90s, 30m, 6h or 2d"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{text}`: unit must be s, m, h or d")),
    };
    n.checked_mul(mult)
        .filter(|s| *s > 0)
        .ok_or_else(|| format!("`{text}`: must be positive"))
}

/// Where `serve` takes its ingest token from (the same order as `serve`), without reading it.
pub fn token_source(data_dir: &Path, server: &crate::config::ServerConfig) -> &'static str {
    if std::env::var("TAILWATCH_TOKEN").is_ok_and(|t| !t.is_empty()) {
        "TAILWATCH_TOKEN"
    } else if server.token.is_some() {
        "the config file"
    } else if std::fs::read_to_string(data_dir.join("token")).is_ok_and(|t| !t.trim().is_empty()) {
        "the token file"
    } else {
        "none yet (serve generates one at its first start)"
    }
}

fn walk(dir: &Path, out: &mut Vec<(PathBuf, u64)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            walk(&e.path(), out);
        } else if let Ok(m) = e.metadata() {
            out.push((e.path(), m.len()));
        }
    }
}

fn dir_size(dir: &Path) -> u64 {
    let mut files = Vec::new();
    walk(dir, &mut files);
    files.iter().map(|(_, n)| n).sum()
}

/// Everything `status` reports, gathered from the data dir.
pub fn gather(data_dir: &Path, config: &crate::config::AppConfig, silent_after: u64, now: Timestamp) -> Result<Value> {
    if !data_dir.is_dir() {
        bail!(
            "no data dir at {} (start `tailwatch serve --data-dir {}` first, or pass --data-dir)",
            data_dir.display(),
            data_dir.display()
        );
    }
    let now_ms = now.unix_millis();
    let db = data_dir.join("state.db");
    let state = if db.is_file() {
        Some(SqliteAlertState::open(&db).context("opening state.db")?)
    } else {
        None
    };
    let stats: Vec<StreamStat> = match &state {
        Some(s) => s.stream_stats(now)?,
        None => Vec::new(),
    };
    let mut problems = Vec::new();
    let mut streams = Vec::new();
    for s in &stats {
        let silent_secs = (now_ms - s.last_batch_ms).max(0) / 1000;
        let watched = s.log_type != "Tailwatch.Quarantine";
        let silent = watched && silent_secs as u64 > silent_after;
        if silent {
            problems.push(format!(
                "{} {}: no batch for {} (threshold {})",
                s.source,
                s.log_type,
                human_secs(silent_secs as u64),
                human_secs(silent_after)
            ));
        }
        streams.push(json!({
            "source": s.source,
            "log_type": s.log_type,
            "last_batch": Timestamp::from_unix_millis(s.last_batch_ms).map(|t| t.rfc3339()),
            "last_event": s.last_event_ms.and_then(Timestamp::from_unix_millis).map(|t| t.rfc3339()),
            "silent_seconds": silent_secs,
            "silent": silent,
            "records_last_hour": s.records_last_hour,
            "records_per_hour_24h": s.records_last_24h as f64 / 24.0,
            "records_last_24h": s.records_last_24h,
            "batches": s.batches,
            "records": s.records,
        }));
    }
    if !stats.iter().any(|s| s.log_type != "Tailwatch.Quarantine") {
        problems.push("no batch received yet: is Tailscale log streaming pointed at serve?".to_owned());
    }

    // Raw batches accepted but not processed (serve's backlog, or batches left by a stopped serve).
    let mut raw = Vec::new();
    walk(&data_dir.join("raw"), &mut raw);
    let processed = match &state {
        Some(s) => s.processed_keys()?,
        None => Default::default(),
    };
    let pending = raw
        .iter()
        .filter(|(p, _)| p.to_string_lossy().ends_with(".ndjson.zst"))
        .filter_map(|(p, _)| p.strip_prefix(data_dir).ok())
        .filter(|rel| !processed.contains(&rel.to_string_lossy().replace('\\', "/")))
        .count();

    let quarantine = crate::console::quarantine_rows(data_dir, usize::MAX);
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    for q in &quarantine {
        *reasons
            .entry(q.get("reason").and_then(Value::as_str).unwrap_or("unknown").to_owned())
            .or_default() += 1;
    }

    let day_ago = now.plus_seconds(-86_400).rfc3339();
    let alerts = read_alerts(&data_dir.join("alerts")).context("reading the alerts files")?;
    let mut by_severity: BTreeMap<String, u64> = BTreeMap::new();
    for a in alerts.iter().filter(|a| a.created_at >= day_ago) {
        *by_severity.entry(a.severity.to_string()).or_default() += 1;
    }

    let failed: BTreeMap<String, u64> = match &state {
        Some(s) => s.failed_deliveries()?.into_iter().collect(),
        None => BTreeMap::new(),
    };
    if failed.values().any(|n| *n > 0) {
        problems.push(format!(
            "webhook deliveries gave up: {}",
            failed.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
        ));
    }

    let state_bytes: u64 = ["state.db", "state.db-wal", "state.db-shm"]
        .iter()
        .filter_map(|f| std::fs::metadata(data_dir.join(f)).ok())
        .map(|m| m.len())
        .sum();
    let disk = json!({
        "total_bytes": dir_size(data_dir),
        "raw_bytes": raw.iter().map(|(_, n)| n).sum::<u64>(),
        "lake_bytes": dir_size(&data_dir.join("lake")),
        "quarantine_bytes": dir_size(&data_dir.join("quarantine")),
        "alerts_bytes": dir_size(&data_dir.join("alerts")),
        "state_bytes": state_bytes,
    });
    Ok(json!({
        "healthy": problems.is_empty(),
        "problems": problems,
        "now": now.rfc3339(),
        "data_dir": data_dir,
        "silent_after_seconds": silent_after,
        "streams": streams,
        "pending_raw_batches": pending,
        "quarantine": { "total": quarantine.len(), "reasons": reasons },
        "alerts_24h": { "total": by_severity.values().sum::<u64>(), "by_severity": by_severity },
        "failed_deliveries": failed,
        "disk": disk,
        "token_source": token_source(data_dir, &config.server),
        "retention_days": config.server.retention_days,
    }))
}

fn human_secs(s: u64) -> String {
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

fn human_bytes(n: u64) -> String {
    match n {
        0..=1023 => format!("{n} B"),
        1024..=1_048_575 => format!("{:.1} KiB", n as f64 / 1024.0),
        1_048_576..=1_073_741_823 => format!("{:.1} MiB", n as f64 / 1_048_576.0),
        _ => format!("{:.2} GiB", n as f64 / 1_073_741_824.0),
    }
}

fn print_text(v: &Value, color: bool) {
    let paint = |code: &str, s: &str| if color { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_owned() };
    let healthy = v["healthy"].as_bool().unwrap_or(false);
    println!(
        "tailwatch status: {}   ({}, data {})",
        if healthy {
            paint("32", "HEALTHY")
        } else {
            paint("1;31", "UNHEALTHY")
        },
        v["now"].as_str().unwrap_or(""),
        v["data_dir"].as_str().unwrap_or("")
    );
    for p in v["problems"].as_array().into_iter().flatten() {
        println!("  {} {}", paint("31", "!"), p.as_str().unwrap_or(""));
    }
    println!(
        "\nstreams (silent after {}):",
        human_secs(v["silent_after_seconds"].as_u64().unwrap_or(0))
    );
    println!(
        "  {:<16} {:<21} {:<30} {:<25} {:>9} {:>9}",
        "source", "log type", "last batch", "last event", "rec/1h", "rec/h 24h"
    );
    for s in v["streams"].as_array().into_iter().flatten() {
        let last = format!(
            "{} ({} ago)",
            s["last_batch"].as_str().unwrap_or("-").get(..19).unwrap_or("-"),
            human_secs(s["silent_seconds"].as_u64().unwrap_or(0))
        );
        let last = if s["silent"].as_bool() == Some(true) {
            paint("31", &last)
        } else {
            last
        };
        println!(
            "  {:<16} {:<21} {:<30} {:<25} {:>9} {:>9.1}",
            s["source"].as_str().unwrap_or(""),
            s["log_type"].as_str().unwrap_or(""),
            last,
            s["last_event"].as_str().unwrap_or("-"),
            s["records_last_hour"],
            s["records_per_hour_24h"].as_f64().unwrap_or(0.0),
        );
    }
    println!("\npending raw batches: {}", v["pending_raw_batches"]);
    let reasons: Vec<String> = v["quarantine"]["reasons"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    println!(
        "quarantined records: {} {}",
        v["quarantine"]["total"],
        if reasons.is_empty() {
            String::new()
        } else {
            format!("({})", reasons.join(", "))
        }
    );
    let sev: Vec<String> = v["alerts_24h"]["by_severity"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    println!(
        "alerts, last 24 h:   {} {}",
        v["alerts_24h"]["total"],
        if sev.is_empty() {
            String::new()
        } else {
            format!("({})", sev.join(", "))
        }
    );
    let failed: Vec<String> = v["failed_deliveries"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    println!(
        "failed webhook deliveries: {}",
        if failed.is_empty() { "0".to_owned() } else { failed.join(", ") }
    );
    let d = &v["disk"];
    println!(
        "data dir size: {} (raw {}, lake {}, quarantine {}, alerts {}, state {})",
        human_bytes(d["total_bytes"].as_u64().unwrap_or(0)),
        human_bytes(d["raw_bytes"].as_u64().unwrap_or(0)),
        human_bytes(d["lake_bytes"].as_u64().unwrap_or(0)),
        human_bytes(d["quarantine_bytes"].as_u64().unwrap_or(0)),
        human_bytes(d["alerts_bytes"].as_u64().unwrap_or(0)),
        human_bytes(d["state_bytes"].as_u64().unwrap_or(0)),
    );
    match v["retention_days"].as_u64() {
        Some(n) => println!("retention: {n} days (config)"),
        None => println!("retention: kept forever unless serve runs with --retention-days"),
    }
    println!("ingest token from: {}", v["token_source"].as_str().unwrap_or(""));
}

/// Runs `tailwatch status`.
///
/// # Errors
/// A missing data dir, a bad config, an unreadable state database.
pub fn run(args: StatusArgs) -> Result<ExitCode> {
    let config = args.config.load()?;
    let report = gather(&args.data.data_dir, &config, args.silent_after, Timestamp::now())?;
    if args.json {
        println!("{report}");
    } else {
        print_text(&report, crate::output::color_stdout());
    }
    Ok(if report["healthy"].as_bool() == Some(true) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("30m"), Ok(1800));
        assert_eq!(parse_duration("6h"), Ok(21_600));
        assert_eq!(parse_duration("2d"), Ok(172_800));
        assert_eq!(parse_duration("45"), Ok(45));
        for bad in ["", "h", "5w", "0m", "-5m"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
