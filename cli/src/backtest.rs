//! `tailwatch backtest`: detections over the existing local lake for a time range, reporting per
//! detection how many alerts would have fired. Uses fresh in-memory state, so the answer does not
//! depend on (or change) what `serve` has already paged.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use tailwatch_core::engine::run::evaluate;
use tailwatch_core::engine::state::block_on;
use tailwatch_core::engine::MemoryAlertState;
use tailwatch_core::lake::{LakeRow, NodeFacts, TAILSCALE_AUDIT, TAILSCALE_NETWORK, TAILSCALE_NODES};
use tailwatch_core::rule::Definition;
use tailwatch_core::time::Timestamp;

use crate::{ConfigArg, DataDir};

/// Arguments of `tailwatch backtest`.
#[derive(clap::Args, Debug)]
pub struct BacktestArgs {
    #[command(flatten)]
    pub data: DataDir,
    #[command(flatten)]
    pub config: ConfigArg,
    /// Start of the range (RFC 3339 or YYYY-MM-DD), inclusive.
    #[arg(long)]
    pub since: Option<String>,
    /// End of the range (RFC 3339 or YYYY-MM-DD), exclusive.
    #[arg(long)]
    pub until: Option<String>,
    /// Only these detection ids (repeatable).
    #[arg(long)]
    pub id: Vec<String>,
    /// Print each alert that would have fired.
    #[arg(long, short)]
    pub verbose: bool,
    /// Print the result as one JSON document (per detection counts and every alert).
    #[arg(long)]
    pub json: bool,
    /// Exit 1 when any detection would have fired (CI for a new rule).
    #[arg(long)]
    pub fail_on_alert: bool,
}

fn parse_bound(text: &str) -> Result<Timestamp> {
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_owned()
    };
    Timestamp::parse(&full).map_err(|e| anyhow::anyhow!("{e}"))
}

/// `dt=YYYY-MM-DD/hour=HH` directories that can hold rows in [since, until).
fn partition_in_range(dt: &str, hour: &str, since: Option<Timestamp>, until: Option<Timestamp>) -> bool {
    let Ok(start) = Timestamp::parse(&format!("{dt}T{hour}:00:00Z")) else {
        return false;
    };
    let end = start.plus_seconds(3600);
    since.is_none_or(|s| end > s) && until.is_none_or(|u| start < u)
}

fn lake_files(root: &Path, since: Option<Timestamp>, until: Option<Timestamp>) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let Ok(dts) = std::fs::read_dir(root) else { return Ok(files) };
    for dt in dts.flatten() {
        let dt_name = dt.file_name().to_string_lossy().into_owned();
        let Some(day) = dt_name.strip_prefix("dt=") else { continue };
        for hour in std::fs::read_dir(dt.path())?.flatten() {
            let hour_name = hour.file_name().to_string_lossy().into_owned();
            let Some(h) = hour_name.strip_prefix("hour=") else { continue };
            if !partition_in_range(day, h, since, until) {
                continue;
            }
            for f in std::fs::read_dir(hour.path())?.flatten() {
                // Local lake files end in `.json.gz`; Firehose's objects (a synced lake bucket) in `.gz`.
                if f.file_name().to_string_lossy().ends_with(".gz") {
                    files.push(f.path());
                }
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Runs the backtest.
///
/// # Errors
/// Bad arguments, a bad config, unreadable lake files.
pub fn run(args: BacktestArgs) -> Result<ExitCode> {
    let config = args.config.load()?;
    let mut registry = config.registry()?;
    // `--path DIR`: backtest the rules in DIR (what a new rule would have fired), not the catalog.
    if args.id.is_empty() && !args.config.rules.is_empty() {
        let ids: Vec<String> = config
            .rules
            .rules
            .iter()
            .filter(|r| args.config.rules.iter().any(|p| r.source().starts_with(&*p.to_string_lossy())))
            .map(|r| r.meta().id.to_owned())
            .collect();
        registry.retain_ids(&ids);
    }
    if !args.id.is_empty() {
        for id in &args.id {
            if !registry.entries().iter().any(|e| e.meta().id == id) {
                bail!("--id {id}: no such detection (see `tailwatch detections list`)");
            }
        }
        registry.retain_ids(&args.id);
    }
    let since = args.since.as_deref().map(parse_bound).transpose().context("--since")?;
    let until = args.until.as_deref().map(parse_bound).transpose().context("--until")?;

    let mut rows = Vec::new();
    let lake = args.data.data_dir.join("lake");
    // Network rows name nodes by id; their names, users and tags are in tailscale_nodes, filled in
    // so detections see the rows they saw live (per node, the facts seen last in the range).
    let mut nodes = NodeFacts::default();
    for file in lake_files(&lake.join(TAILSCALE_NODES.name), since, until)? {
        let mut text = Vec::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(&file)?)
            .read_to_end(&mut text)
            .with_context(|| format!("reading {}", file.display()))?;
        for (i, line) in text.split(|b| *b == b'\n').enumerate().filter(|(_, l)| !l.is_empty()) {
            nodes
                .add_json_line(line)
                .with_context(|| format!("{}:{}: not a {} row", file.display(), i + 1, TAILSCALE_NODES.name))?;
        }
    }
    for table in [&TAILSCALE_AUDIT, &TAILSCALE_NETWORK] {
        for file in lake_files(&lake.join(table.name), since, until)? {
            let mut text = Vec::new();
            flate2::read::MultiGzDecoder::new(std::fs::File::open(&file)?)
                .read_to_end(&mut text)
                .with_context(|| format!("reading {}", file.display()))?;
            for (i, line) in text.split(|b| *b == b'\n').enumerate().filter(|(_, l)| !l.is_empty()) {
                let mut row = LakeRow::from_json_line(table, line)
                    .with_context(|| format!("{}:{}: not a {} row", file.display(), i + 1, table.name))?;
                nodes.fill(&mut row);
                let t = row.standard().p_event_time;
                if since.is_none_or(|s| t >= s) && until.is_none_or(|u| t < u) {
                    rows.push(row);
                }
            }
        }
    }
    // Replays can write the same record twice (different files): evaluate each row id once.
    rows.sort_by(|a, b| {
        a.standard()
            .p_event_time
            .cmp(&b.standard().p_event_time)
            .then_with(|| a.standard().p_row_id.cmp(&b.standard().p_row_id))
    });
    rows.dedup_by(|a, b| a.standard().p_row_id == b.standard().p_row_id);

    let state = MemoryAlertState::default();
    let (alerts, stats) = block_on(evaluate(&registry, &rows, &state, Timestamp::now()))?;
    let mut per: BTreeMap<&str, usize> = registry.entries().iter().filter(|e| e.enabled).map(|e| (e.meta().id, 0)).collect();
    for a in &alerts {
        *per.entry(a.id.as_str()).or_insert(0) += 1;
    }
    if args.json {
        let doc = serde_json::json!({
            "rows": stats.rows,
            "matches": stats.matches,
            "alerts_per_detection": per,
            "total_alerts": alerts.len(),
            "alerts": alerts,
        });
        println!("{doc}");
    } else {
        for a in alerts.iter().filter(|_| args.verbose) {
            println!("{}", tailwatch_local::render(a, false));
        }
        println!("backtest over {} rows ({} matches)", stats.rows, stats.matches);
        println!("{:<42} {:>6}", "detection", "alerts");
        for (id, n) in &per {
            println!("{id:<42} {n:>6}");
        }
        for a in &alerts {
            println!("  [{}] {} {} ({})", a.severity, a.first_event_time, a.title, a.id);
        }
        println!("total alerts: {}", alerts.len());
    }
    Ok(if args.fail_on_alert && !alerts.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
