//! `tailwatch replay`: files → normalize → local lake + quarantine → detections → alerts, with a
//! progress bar and a summary. The same stage functions as the Lambda functions, on the local
//! adapters.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use tailwatch_core::wire::DecodeLimits;
use tailwatch_local::Console;

use crate::local::{BatchReport, LocalPipeline};
use crate::{ConfigArg, DataDir};

/// Arguments of `tailwatch replay`.
#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// Files or directories (read recursively) to replay.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub data: DataDir,
    #[command(flatten)]
    pub config: ConfigArg,
    /// `p_source_label` for the rows written.
    #[arg(long, default_value = "tailscale-replay")]
    pub label: String,
    /// Largest decompressed size of one file, in MiB.
    #[arg(long, default_value_t = 1024)]
    pub max_file_mib: usize,
    /// Print nothing but the summary line.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print only the summary, as one JSON object (alerts are not printed; they are in the alerts file).
    #[arg(long, conflicts_with = "quiet")]
    pub json: bool,
}

/// Files under the given paths, sorted, hidden files skipped.
fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_dir() {
            let mut stack = vec![path.clone()];
            while let Some(dir) = stack.pop() {
                let mut entries: Vec<_> = std::fs::read_dir(&dir)
                    .with_context(|| format!("cannot list {}", dir.display()))?
                    .collect::<std::io::Result<_>>()?;
                entries.sort_by_key(|e| e.path());
                for entry in entries {
                    let p = entry.path();
                    if entry.file_name().to_string_lossy().starts_with('.') {
                        continue;
                    }
                    if entry.file_type()?.is_dir() {
                        stack.push(p);
                    } else {
                        files.push(p);
                    }
                }
            }
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

/// Runs the replay.
///
/// # Errors
/// Unreadable inputs, a bad config or an unwritable data dir. Bad records are not errors: they are
/// quarantined.
pub fn run(args: ReplayArgs) -> Result<ExitCode> {
    let config = args.config.load()?;
    let registry = config.registry()?;
    let files = collect_files(&args.paths)?;
    let total_bytes: u64 = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
    let limits = DecodeLimits {
        max_decoded_bytes: args.max_file_mib << 20,
        max_ratio: 1000,
        ..DecodeLimits::default()
    };
    let console = if args.quiet || args.json {
        Console::Quiet
    } else {
        Console::Stdout {
            color: crate::output::color_stdout(),
        }
    };
    let pipeline = LocalPipeline::open(&args.data.data_dir, registry, console, limits)?;

    let bar = if args.quiet || args.json || total_bytes < (16 << 20) {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(total_bytes)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );

    let started = Instant::now();
    let mut summary = Summary::default();
    for file in &files {
        let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let name = file.display().to_string();
        // Output files are named after a hash of the input path: replaying the same file again
        // replaces its rows rather than duplicating them.
        let batch = format!("replay-{}", &tailwatch_core::normalize::content_id(name.as_bytes())[..16]);
        let report = bar
            .suspend(|| pipeline.process(&bytes, &args.label, &name, &batch))
            .with_context(|| format!("processing {name}"))?;
        summary.add(file, bytes.len(), report);
        bar.inc(bytes.len() as u64);
    }
    bar.finish_and_clear();
    if args.json {
        println!("{}", summary.to_json(started.elapsed().as_secs_f64(), &pipeline));
    } else {
        summary.print(started.elapsed().as_secs_f64(), &pipeline, args.quiet);
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Default)]
struct Summary {
    files: usize,
    bytes: usize,
    audit_records: usize,
    network_records: usize,
    rows: BTreeMap<&'static str, usize>,
    reasons: BTreeMap<String, usize>,
    examples: Vec<String>,
    alerts: usize,
    new_alerts: usize,
}

impl Summary {
    fn add(&mut self, file: &Path, bytes: usize, report: BatchReport) {
        self.files += 1;
        self.bytes += bytes;
        self.audit_records += report.audit_records;
        self.network_records += report.network_records;
        self.alerts += report.detect.alerts.len();
        self.new_alerts += report.detect.delivered;
        for (table, n) in report.rows {
            *self.rows.entry(table).or_insert(0) += n;
        }
        for q in &report.quarantined {
            *self.reasons.entry(q.reason.to_string()).or_insert(0) += 1;
            if self.examples.len() < 10 {
                self.examples
                    .push(format!("{}:{} (value {}): {}", file.display(), q.line, q.value_index, q.message));
            }
        }
    }

    /// The summary for machines (`--json`).
    fn to_json(&self, seconds: f64, pipeline: &LocalPipeline) -> serde_json::Value {
        serde_json::json!({
            "files": self.files,
            "bytes": self.bytes,
            "seconds": seconds,
            "records": { "audit": self.audit_records, "network": self.network_records },
            "rows": self.rows,
            "quarantined": self.reasons.values().sum::<usize>(),
            "quarantine_reasons": self.reasons,
            "quarantine_examples": self.examples,
            "alerts": self.alerts,
            "new_alerts": self.new_alerts,
            "lake": pipeline.data_dir.join("lake"),
            "alerts_dir": pipeline.alerts_dir(),
        })
    }

    fn print(&self, seconds: f64, pipeline: &LocalPipeline, quiet: bool) {
        let mb = self.bytes as f64 / 1e6;
        let rate = if seconds > 0.0 { mb / seconds } else { 0.0 };
        let quarantined: usize = self.reasons.values().sum();
        if quiet {
            println!(
                "records={} rows={} quarantined={} alerts={} new_alerts={} mb_per_s={rate:.1}",
                self.audit_records + self.network_records,
                self.rows.values().sum::<usize>(),
                quarantined,
                self.alerts,
                self.new_alerts
            );
            return;
        }
        println!("replayed {} file(s), {mb:.2} MB in {seconds:.2}s ({rate:.1} MB/s)", self.files);
        println!("records: {} audit, {} network", self.audit_records, self.network_records);
        for (table, n) in &self.rows {
            println!("  {table:<20} {n:>10} rows");
        }
        if quarantined > 0 {
            println!("quarantined: {quarantined}");
            for (reason, n) in &self.reasons {
                println!("  {reason:<20} {n:>10}");
            }
            for e in &self.examples {
                println!("  - {e}");
            }
        }
        println!(
            "alerts: {} ({} new, {} already delivered before)",
            self.alerts,
            self.new_alerts,
            self.alerts - self.new_alerts
        );
        println!("lake: {}", pipeline.data_dir.join("lake").display());
        println!("alerts file: {}", pipeline.alerts_dir().display());
    }
}
