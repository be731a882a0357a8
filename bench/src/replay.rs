//! The whole local pipeline as a user runs it: `tailwatch replay --quiet` on corpus files, timed
//! from exec to exit (process start, registry, SQLite state, normalize, lake files, detections).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::measure::median_of;

/// One input replayed `runs` times.
#[derive(Debug, Clone)]
pub struct ReplayResult {
    /// File name.
    pub file: String,
    /// Bytes on disk (compressed or not).
    pub file_bytes: u64,
    /// Uncompressed HEC bytes it holds.
    pub hec_bytes: usize,
    /// Seconds per run.
    pub secs: Vec<f64>,
    /// The `--quiet` summary line of the last run.
    pub summary: String,
    /// Bytes of the SQLite state (`state.db` and its `-wal` / `-shm`) after the last run.
    pub state_bytes: u64,
}

impl ReplayResult {
    /// Median seconds.
    pub fn median_secs(&self) -> f64 {
        median_of(&self.secs)
    }
    /// MB/s of uncompressed Tailscale logs.
    pub fn mb_s(&self) -> f64 {
        self.hec_bytes as f64 / 1e6 / self.median_secs()
    }
    /// A `key=value` of the summary.
    pub fn field(&self, key: &str) -> Option<u64> {
        self.summary
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
            .and_then(|v| v.parse().ok())
    }
}

/// Replays each `(file, uncompressed bytes)` `runs` times into a fresh data dir under `tmp`.
///
/// # Errors
/// When tailwatch fails.
pub fn run(
    tailwatch: &Path,
    inputs: &[(PathBuf, usize)],
    runs: usize,
    tmp: &Path,
    log: &mut dyn FnMut(&str),
) -> Result<Vec<ReplayResult>, String> {
    let mut out = Vec::new();
    for (file, hec_bytes) in inputs {
        let mut r = ReplayResult {
            file: file.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
            file_bytes: std::fs::metadata(file).map(|m| m.len()).unwrap_or(0),
            hec_bytes: *hec_bytes,
            secs: Vec::new(),
            summary: String::new(),
            state_bytes: 0,
        };
        for _ in 0..runs {
            let data = tmp.join("replay-data");
            let _ = std::fs::remove_dir_all(&data);
            let t0 = Instant::now();
            let output = Command::new(tailwatch)
                .args(["replay", "--quiet", "--data-dir"])
                .arg(&data)
                .arg(file)
                .env_remove("TAILWATCH_CONFIG")
                .output()
                .map_err(|e| format!("spawn {}: {e}", tailwatch.display()))?;
            let secs = t0.elapsed().as_secs_f64();
            if !output.status.success() {
                return Err(format!(
                    "tailwatch replay {}: {}",
                    file.display(),
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
            r.secs.push(secs);
            r.summary = String::from_utf8_lossy(&output.stdout)
                .lines()
                .last()
                .unwrap_or_default()
                .to_owned();
            r.state_bytes = ["state.db", "state.db-wal", "state.db-shm"]
                .iter()
                .filter_map(|f| std::fs::metadata(data.join(f)).ok())
                .map(|m| m.len())
                .sum();
            let _ = std::fs::remove_dir_all(&data);
        }
        log(&format!(
            "  {:<22} {:>6.2} s median → {:>6.1} MB/s of logs  [{}]",
            r.file,
            r.median_secs(),
            r.mb_s(),
            r.summary
        ));
        out.push(r);
    }
    Ok(out)
}
