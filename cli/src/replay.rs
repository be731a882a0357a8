//! `tailwatch replay`: files → normalize → local lake + quarantine, with a progress bar and a
//! summary. The same stage function as the normalize Lambda, on the local adapters.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use tailwatch_core::normalize::SourceContext;
use tailwatch_core::pipeline::{normalize_object, NormalizeOutcome};
use tailwatch_core::ports::LakeRecord;
use tailwatch_core::time::Timestamp;
use tailwatch_core::wire::DecodeLimits;
use tailwatch_local::{FileLakeSink, FileQuarantineSink};

use crate::DataDir;

/// Arguments of `tailwatch replay`.
#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// Files or directories (read recursively) to replay.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub data: DataDir,
    /// `p_source_label` for the rows written.
    #[arg(long, default_value = "tailscale-replay")]
    pub label: String,
    /// Largest decompressed size of one file, in MiB.
    #[arg(long, default_value_t = 1024)]
    pub max_file_mib: usize,
    /// Print nothing but the summary line.
    #[arg(long, short)]
    pub quiet: bool,
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
/// Unreadable inputs or an unwritable data dir. Bad records are not errors: they are quarantined.
pub fn run(args: ReplayArgs) -> Result<ExitCode> {
    let files = collect_files(&args.paths)?;
    let total_bytes: u64 = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
    let lake = FileLakeSink::new(&args.data.data_dir);
    let quarantine = FileQuarantineSink::new(&args.data.data_dir);
    let limits = DecodeLimits {
        max_decoded_bytes: args.max_file_mib << 20,
        max_ratio: 1000,
        ..DecodeLimits::default()
    };

    let bar = if args.quiet || total_bytes < (16 << 20) {
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
        let ctx = SourceContext {
            label: &args.label,
            file: &name,
            parse_time: Timestamp::now(),
        };
        let outcome = normalize_object(&bytes, &limits, &ctx);
        write_outcome(&lake, &quarantine, &outcome).with_context(|| format!("writing rows for {name}"))?;
        summary.add(file, bytes.len(), outcome);
        bar.inc(bytes.len() as u64);
    }
    bar.finish_and_clear();
    summary.print(started.elapsed().as_secs_f64(), &args.data.data_dir, args.quiet);
    Ok(ExitCode::SUCCESS)
}

fn write_outcome(lake: &FileLakeSink, quarantine: &FileQuarantineSink, outcome: &NormalizeOutcome) -> Result<()> {
    if !outcome.rows.is_empty() {
        lake.write(outcome.rows.iter().map(LakeRecord::from_row).collect())?;
    }
    if !outcome.quarantined.is_empty() {
        quarantine.write(&outcome.quarantined)?;
    }
    Ok(())
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
}

impl Summary {
    fn add(&mut self, file: &Path, bytes: usize, outcome: NormalizeOutcome) {
        self.files += 1;
        self.bytes += bytes;
        self.audit_records += outcome.audit_records;
        self.network_records += outcome.network_records;
        for row in &outcome.rows {
            *self.rows.entry(row.table().name).or_insert(0) += 1;
        }
        for q in &outcome.quarantined {
            *self.reasons.entry(q.reason.to_string()).or_insert(0) += 1;
            if self.examples.len() < 10 {
                self.examples
                    .push(format!("{}:{} (value {}): {}", file.display(), q.line, q.value_index, q.message));
            }
        }
    }

    fn print(&self, seconds: f64, data_dir: &Path, quiet: bool) {
        let mb = self.bytes as f64 / 1e6;
        let quarantined: usize = self.reasons.values().sum();
        if !quiet {
            println!(
                "replayed {} file(s), {:.2} MB in {:.2}s ({:.1} MB/s)",
                self.files,
                mb,
                seconds,
                if seconds > 0.0 { mb / seconds } else { 0.0 }
            );
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
            println!("lake: {}", data_dir.join("lake").display());
        } else {
            println!(
                "records={} rows={} quarantined={} mb_per_s={:.1}",
                self.audit_records + self.network_records,
                self.rows.values().sum::<usize>(),
                quarantined,
                if seconds > 0.0 { mb / seconds } else { 0.0 }
            );
        }
    }
}
