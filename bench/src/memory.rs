//! Peak memory: each measurement runs in a fresh child process (this binary, `rss-child`) that
//! reads one body, does the work, and reports its own `VmHWM` from /proc/self/status.

use std::path::Path;
use std::process::Command;

use tailwatch_core::pipeline::ingest::Tokens;

use crate::flow;
use crate::throughput::{all_enabled_registry, ingest_once, CountQuarantine, KeepRaw};

/// What a child does. The normalize and detect modes read the raw batch ingest stored for a body
/// (zstd, written beforehand by [`write_raw_batch`]) and run core's `process_batch`, as the
/// functions do.
pub const MODES: &[(&str, &str)] = &[
    ("baseline", "read the file only (process + input floor)"),
    ("ingest", "ingest λ: auth, decode, frame, validate, zstd raw batch"),
    (
        "normalize",
        "normalize λ: raw batch → process_batch → packed gzip lake objects (NoDetect)",
    ),
    (
        "detect",
        "detect λ: raw batch → process_batch → detections (all on) with lake and quarantine discarded",
    ),
];

/// A process's peak resident set (VmHWM), in KiB.
pub fn vm_hwm_kb(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// One measurement.
#[derive(Debug, Clone)]
pub struct RssResult {
    /// Mode.
    pub mode: &'static str,
    /// Input file name.
    pub file: String,
    /// Input bytes (as read).
    pub input_bytes: u64,
    /// Peak RSS in KiB.
    pub vm_hwm_kb: u64,
    /// Rows the child produced or read.
    pub rows: u64,
}

/// The child: does `mode` on `file`, prints `vmhwm_kb=… rows=…`.
pub fn child(mode: &str, file: &Path) -> i32 {
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("rss-child: {}: {e}", file.display());
            return 2;
        }
    };
    let rows = match mode {
        "baseline" => std::hint::black_box(bytes.len() as u64 / 1_000_000),
        "ingest" => {
            let tokens = Tokens::new(["bench-token"]);
            let (raw, q) = (KeepRaw::default(), CountQuarantine::default());
            ingest_once(&bytes, None, &tokens, &raw, &q) as u64
        }
        "normalize" => {
            let (lake, q) = (flow::CountLake::default(), flow::CountQuarantineObjects::default());
            flow::normalize(&bytes, &lake, &q).rows.values().sum::<usize>() as u64
        }
        "detect" => {
            let registry = all_enabled_registry();
            let (state, alerts, firehose) = (
                flow::CountingState::default(),
                flow::CountAlerts::default(),
                flow::CountFirehose::default(),
            );
            flow::detect(&bytes, flow::RAW_KEY, &registry, &state, &alerts, &firehose)
                .rows
                .values()
                .sum::<usize>() as u64
        }
        other => {
            eprintln!("rss-child: unknown mode {other}");
            return 2;
        }
    };
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    println!("vmhwm_kb={} rows={rows}", vm_hwm_kb(&status).unwrap_or(0));
    0
}

/// Writes the raw batch ingest stores for `body` next to it (`<body>.raw.zst`) and returns its
/// path: the normalize and detect functions' input.
///
/// # Errors
/// When the body cannot be read or the batch written.
pub fn write_raw_batch(body: &Path) -> Result<std::path::PathBuf, String> {
    let bytes = std::fs::read(body).map_err(|e| format!("{}: {e}", body.display()))?;
    let path = body.with_extension("raw.zst");
    std::fs::write(&path, flow::ingest_raw(&bytes)).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// Runs one child and reads its answer.
///
/// # Errors
/// When the child fails or prints nothing usable.
pub fn measure(exe: &Path, mode: &'static str, file: &Path) -> Result<RssResult, String> {
    let out = Command::new(exe)
        .arg("rss-child")
        .arg(mode)
        .arg(file)
        .output()
        .map_err(|e| format!("spawn {}: {e}", exe.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!("rss-child {mode} failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let field = |name: &str| {
        text.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Ok(RssResult {
        mode,
        file: file.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
        input_bytes: std::fs::metadata(file).map(|m| m.len()).unwrap_or(0),
        vm_hwm_kb: field("vmhwm_kb=").ok_or_else(|| format!("rss-child {mode}: no vmhwm in `{text}`"))?,
        rows: field("rows=").unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_vmhwm() {
        assert_eq!(super::vm_hwm_kb("Name:\tx\nVmHWM:\t   1604 kB\nVmRSS:\t 1 kB\n"), Some(1604));
        assert_eq!(super::vm_hwm_kb("nothing"), None);
    }
}
