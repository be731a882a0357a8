//! Peak memory: each measurement runs in a fresh child process (this binary, `rss-child`) that
//! reads one body, does the work, and reports its own `VmHWM` from /proc/self/status.

use std::path::Path;
use std::process::Command;

use tailwatch_core::engine::state::block_on;
use tailwatch_core::normalize::SourceContext;
use tailwatch_core::pipeline::ingest::Tokens;
use tailwatch_core::pipeline::{normalize_chunks, normalize_object, LakeObjectRows, CHUNK_ROWS};
use tailwatch_core::ports::LakeRecord;
use tailwatch_core::time::Timestamp;
use tailwatch_core::wire::{decode_object, DecodeLimits};

use crate::throughput::{all_enabled_registry, ingest_once, lake_object, CountQuarantine, KeepRaw};

/// What a child does.
pub const MODES: &[(&str, &str)] = &[
    ("baseline", "read the file only (process + input floor)"),
    ("ingest", "ingest stage (validate, zstd raw batch)"),
    (
        "normalize",
        "normalize λ: rows + serialized LakeRecords, CHUNK_ROWS (4096) rows at a time",
    ),
    (
        "normalize-detect",
        "normalize + detect in one process (local pipeline: rows, LakeRecords, evaluate per chunk)",
    ),
    (
        "detect-lambda",
        "detect λ: the lake object of these rows (gzip NDJSON, written beforehand) → decoded → CHUNK_ROWS rows at a time → evaluate",
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

/// The context normalize sees for a raw batch of the HTTP intake.
fn raw_batch_context() -> SourceContext<'static> {
    SourceContext {
        label: "tailscale-http",
        file: "raw/tailscale-http/dt=2025-03-04/hour=17/1741107600000-0123456789abcdef0123456789abcdef.ndjson.zst",
        parse_time: Timestamp::now(),
    }
}

/// Limits for stored objects, as the functions use them (no wire-body cap below 64 MiB).
fn object_limits() -> DecodeLimits {
    DecodeLimits {
        max_body_bytes: 64 << 20,
        max_decoded_bytes: 1 << 30,
        max_ratio: 1000,
        ..DecodeLimits::default()
    }
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
    let ctx = raw_batch_context();
    let limits = object_limits();
    let rows = match mode {
        "baseline" => std::hint::black_box(bytes.len() as u64 / 1_000_000),
        "ingest" => {
            let tokens = Tokens::new(["bench-token"]);
            let (raw, q) = (KeepRaw::default(), CountQuarantine::default());
            ingest_once(&bytes, None, &tokens, &raw, &q) as u64
        }
        "normalize" => {
            // As functions/normalize does: CHUNK_ROWS rows and their serialized records at a time.
            let body = decode_object(&bytes, &limits).unwrap_or_default();
            let mut n = 0;
            for chunk in normalize_chunks(&body, &ctx, CHUNK_ROWS) {
                let records: Vec<LakeRecord> = chunk.rows.iter().map(LakeRecord::from_row).collect();
                n += std::hint::black_box(records).len() as u64;
            }
            n
        }
        "normalize-detect" => {
            // As the local pipeline does: per chunk, rows → records → evaluate.
            let registry = all_enabled_registry();
            let state = tailwatch_core::engine::MemoryAlertState::default();
            let body = decode_object(&bytes, &limits).unwrap_or_default();
            let mut n = 0;
            for chunk in normalize_chunks(&body, &ctx, CHUNK_ROWS) {
                let records: Vec<LakeRecord> = chunk.rows.iter().map(LakeRecord::from_row).collect();
                n += block_on(tailwatch_core::engine::run::evaluate(
                    &registry,
                    &chunk.rows,
                    &state,
                    Timestamp::now(),
                ))
                .map(|(_, s)| s.rows)
                .unwrap_or(0) as u64;
                std::hint::black_box(&records);
            }
            n
        }
        "detect-lambda" => {
            // `file` is the lake object of a body's rows (gzip NDJSON, see `write_lake_object`):
            // object bytes → decoded NDJSON → CHUNK_ROWS rows at a time → evaluate.
            let registry = all_enabled_registry();
            let state = tailwatch_core::engine::MemoryAlertState::default();
            let body = decode_object(&bytes, &limits).unwrap_or_default();
            let mut reader = LakeObjectRows::new(&body);
            let (mut rows, mut n) = (Vec::new(), 0);
            loop {
                rows.clear();
                reader.next_rows(CHUNK_ROWS, &mut rows);
                if rows.is_empty() {
                    break;
                }
                n += block_on(tailwatch_core::engine::run::evaluate(&registry, &rows, &state, Timestamp::now()))
                    .map(|(_, s)| s.rows as u64)
                    .unwrap_or(0);
            }
            n
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

/// Writes the lake object Firehose would deliver for `body`'s rows next to it
/// (`<body>.lake.json.gz`) and returns its path: the detect function's input.
///
/// # Errors
/// When the body cannot be read or the object written.
pub fn write_lake_object(body: &Path) -> Result<std::path::PathBuf, String> {
    let bytes = std::fs::read(body).map_err(|e| format!("{}: {e}", body.display()))?;
    let object = lake_object(&normalize_object(&bytes, &object_limits(), &raw_batch_context()).rows);
    let path = body.with_extension("lake.json.gz");
    std::fs::write(&path, object).map_err(|e| format!("{}: {e}", path.display()))?;
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
