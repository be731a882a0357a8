//! In-process throughput of every stage over the corpus, next to two serde_json baselines measured
//! on the same bytes in the same run: parsing into `serde_json::Value` (the naive approach) and into
//! `IgnoredAny` (the floor of JSON work: every byte validated, nothing built).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::de::IgnoredAny;
use serde_json::Value;
use tailwatch_core::engine::state::block_on;
use tailwatch_core::engine::{Registry, TuningConfig};
use tailwatch_core::pipeline::ingest::{ingest, IngestRequest, Tokens};
use tailwatch_core::ports::{PortError, QuarantineSink, RawStore};
use tailwatch_core::quarantine::QuarantineRow;
use tailwatch_core::record::AnyRecord;
use tailwatch_core::time::Timestamp;
use tailwatch_core::wire::{decode_body, frames, DecodeLimits, Frame};

use crate::corpus::{CorpusFile, Kind};
use crate::flow::{self, StreamFacts};
use crate::measure::{self, Plan, Timing};

/// One measured stage over one body.
#[derive(Debug, Clone)]
pub struct StageResult {
    /// Corpus file (`network-6m`).
    pub body: String,
    /// `raw`, `gzip`, `zstd`.
    pub variant: &'static str,
    /// Stage id (see [`STAGES`]).
    pub stage: &'static str,
    /// Uncompressed HEC bytes the stage covers (rates are per byte of Tailscale logs).
    pub bytes: usize,
    /// Lake rows the stage produces or reads.
    pub rows: usize,
    /// Timing per iteration.
    pub timing: Timing,
}

impl StageResult {
    /// MB/s (10^6 bytes of uncompressed Tailscale logs per CPU second).
    pub fn mb_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.timing.cpu
    }
    /// Rows per CPU second.
    pub fn rows_s(&self) -> f64 {
        self.rows as f64 / self.timing.cpu
    }
}

/// Stage ids and what they measure, in report order.
pub const STAGES: &[(&str, &str)] = &[
    ("value", "baseline: serde_json → Value (the naive approach)"),
    ("ignored", "floor: serde_json → IgnoredAny (validate only)"),
    (
        "python",
        "baseline: Python 3 pipeline (bench/python/pipeline.py: parse, rows, NDJSON, network detections)",
    ),
    ("frame", "component: framing (wire::frames)"),
    ("parse", "component: framing + typed AnyRecord per record"),
    (
        "ingest",
        "ingest λ: auth, decode, frame, validate, zstd raw batch (pipeline::ingest)",
    ),
    (
        "normalize",
        "normalize λ: zstd raw batch → process_batch → packed gzip lake objects",
    ),
    (
        "detect-default",
        "detect λ: zstd raw batch → process_batch → detections, catalog defaults (fresh state)",
    ),
    (
        "detect",
        "detect λ: zstd raw batch → process_batch → detections, all on (fresh state)",
    ),
];

/// The stage's description.
pub fn describe(stage: &str) -> &'static str {
    STAGES.iter().find(|(s, _)| *s == stage).map_or("", |(_, d)| d)
}

/// A registry with every detection enabled (and `org_domains` set so ExternalUser.Joined is
/// active).
pub fn all_enabled_registry() -> Registry {
    let mut toml = String::new();
    for spec in tailwatch_core::detections::ALL {
        toml.push_str(&format!("[detections.\"{}\"]\nenabled = true\n", spec.meta().id));
        if spec.meta().params.iter().any(|p| p.name == "org_domains") {
            toml.push_str("org_domains = [\"example.com\"]\n");
        }
    }
    let tuning = TuningConfig::from_toml_str(&toml).unwrap_or_else(|e| panic!("bench tuning: {e}"));
    Registry::catalog(&tuning).unwrap_or_else(|e| panic!("bench registry: {e}"))
}

fn value_count(body: &[u8]) -> usize {
    serde_json::Deserializer::from_slice(body)
        .into_iter::<Value>()
        .map(|v| v.map(|v| usize::from(!v.is_null())).unwrap_or(0))
        .sum()
}

fn ignored_count(body: &[u8]) -> usize {
    serde_json::Deserializer::from_slice(body)
        .into_iter::<IgnoredAny>()
        .filter(Result::is_ok)
        .count()
}

fn parse_count(body: &[u8]) -> usize {
    let mut n = 0;
    for f in frames(body) {
        if let Frame::Record(r) = f {
            if let Ok(rec) = serde_json::from_str::<AnyRecord>(r.record.get()) {
                n += usize::from(rec.kind().is_some());
            }
        }
    }
    n
}

/// The normalize function's work, once: rows written.
fn normalize_once(raw: &[u8]) -> usize {
    let (lake, q) = (flow::CountLake::default(), flow::CountQuarantineObjects::default());
    flow::normalize(raw, &lake, &q).rows.values().sum()
}

/// The detect function's work, once, with fresh state (every first-seen question answers "new").
fn detect_once(raw: &[u8], registry: &Registry) -> usize {
    let (state, alerts, firehose) = (
        flow::CountingState::default(),
        flow::CountAlerts::default(),
        flow::CountFirehose::default(),
    );
    flow::detect(raw, flow::RAW_KEY, registry, &state, &alerts, &firehose)
        .detect
        .stats
        .rows
}

/// The Python baseline's answer for one body.
#[derive(Debug, Clone, Default)]
pub struct PythonResult {
    /// Rows it produced.
    pub rows: usize,
    /// NDJSON bytes.
    pub ndjson_bytes: usize,
    /// CPU seconds per run (median).
    pub cpu: f64,
    /// Runs.
    pub runs: usize,
    /// `python3 --version`.
    pub version: String,
}

/// Runs bench/python/pipeline.py on `file` with the machine's `python3` (stdlib only).
pub fn python(file: &std::path::Path, min_secs: f64) -> Result<PythonResult, String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/pipeline.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(file)
        .arg(min_secs.to_string())
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    if !out.status.success() {
        return Err(format!("python3 {script}: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("python3 output: {e}"))?;
    let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0) as usize;
    Ok(PythonResult {
        rows: n("rows"),
        ndjson_bytes: n("ndjson_bytes"),
        cpu: v.get("cpu_seconds").and_then(Value::as_f64).unwrap_or(f64::NAN),
        runs: n("runs"),
        version: v.get("python").and_then(Value::as_str).unwrap_or("?").to_owned(),
    })
}

/// Raw store that keeps the last batch (the normalize λ input).
#[derive(Default)]
pub struct KeepRaw(pub Mutex<Vec<u8>>);
impl RawStore for KeepRaw {
    async fn put_raw(&self, _key: &str, bytes: Vec<u8>) -> Result<(), PortError> {
        if let Ok(mut b) = self.0.lock() {
            *b = bytes;
        }
        Ok(())
    }
}

/// Quarantine sink that counts.
#[derive(Default)]
pub struct CountQuarantine(pub AtomicUsize);
impl QuarantineSink for CountQuarantine {
    async fn put_quarantine(&self, _source: &str, rows: &[QuarantineRow]) -> Result<(), PortError> {
        self.0.fetch_add(rows.len(), Ordering::Relaxed);
        Ok(())
    }
}

/// Runs the ingest stage once; returns records accepted.
pub fn ingest_once(body: &[u8], encoding: Option<&str>, tokens: &Tokens, raw: &KeepRaw, q: &CountQuarantine) -> usize {
    let auth: &[&[u8]] = &[b"Bearer bench-token"];
    let req = IngestRequest {
        authorization: auth,
        content_encoding: encoding,
        body,
        source: "tailscale-http",
        received_at: Timestamp::now(),
        request_id: "bench",
    };
    let limits = DecodeLimits {
        max_body_bytes: 64 << 20,
        ..DecodeLimits::default()
    };
    let (resp, report) = block_on(ingest(req, tokens, &limits, raw, q));
    assert_eq!(resp.status, 200, "ingest: {}", resp.body);
    report.accepted
}

/// Per-body facts (not timed).
#[derive(Debug, Clone, Default)]
pub struct BodyFacts {
    /// Corpus file.
    pub body: String,
    /// Uncompressed HEC bytes.
    pub bytes: usize,
    /// Records.
    pub records: usize,
    /// Lake rows.
    pub rows: usize,
    /// zstd raw batch bytes.
    pub raw_batch_bytes: usize,
    /// Lake objects normalize wrote.
    pub lake_objects: usize,
    /// Row JSON bytes (NDJSON, with newlines).
    pub lake_json_bytes: usize,
    /// gzip lake bytes.
    pub lake_gz_bytes: usize,
}

/// Everything measured in-process.
#[derive(Debug, Default)]
pub struct Throughput {
    /// Stage results.
    pub results: Vec<StageResult>,
    /// Facts per body.
    pub facts: Vec<BodyFacts>,
    /// Detections enabled in the "all" registry / in the default one.
    pub detections: (usize, usize),
    /// The Python baseline per body.
    pub python: Vec<(String, PythonResult)>,
    /// Request-sized streams through ingest → normalize → detect (catalog defaults), counted.
    pub streams: Vec<StreamFacts>,
}

impl Throughput {
    /// A result by body, variant and stage.
    pub fn get(&self, body: &str, variant: &str, stage: &str) -> Option<&StageResult> {
        self.results
            .iter()
            .find(|r| r.body == body && r.variant == variant && r.stage == stage)
    }
}

/// Measures every stage over every corpus body.
pub fn run(corpus: &[CorpusFile], plan: Plan, log: &mut dyn FnMut(&str)) -> Throughput {
    let all = all_enabled_registry();
    let default = Registry::catalog(&TuningConfig::default()).unwrap_or_else(|e| panic!("registry: {e}"));
    let enabled = |r: &Registry| {
        r.entries()
            .iter()
            .filter(|e| e.enabled && e.detection.inactive_reason().is_none())
            .count()
    };
    let mut out = Throughput {
        detections: (enabled(&all), enabled(&default)),
        ..Throughput::default()
    };
    let tokens = Tokens::new(["bench-token"]);
    for file in corpus {
        let body = &file.body;
        let raw = KeepRaw::default();
        let q = CountQuarantine::default();
        ingest_once(body, None, &tokens, &raw, &q);
        let raw_batch = raw.0.lock().map(|b| b.clone()).unwrap_or_default();
        let (lake, quarantine) = (flow::CountLake::default(), flow::CountQuarantineObjects::default());
        let report = flow::normalize(&raw_batch, &lake, &quarantine);
        let n_rows: usize = report.rows.values().sum();
        assert!(n_rows > 0, "{}: no rows", file.name);
        out.facts.push(BodyFacts {
            body: file.name.clone(),
            bytes: body.len(),
            records: file.records,
            rows: n_rows,
            raw_batch_bytes: raw_batch.len(),
            lake_objects: report.lake_objects,
            lake_json_bytes: report.lake_json_bytes,
            lake_gz_bytes: report.lake_gzip_bytes,
        });

        let mut push = |variant: &'static str, stage: &'static str, rows: usize, timing: Timing| {
            let r = StageResult {
                body: file.name.clone(),
                variant,
                stage,
                bytes: body.len(),
                rows,
                timing,
            };
            log(&format!(
                "  {:<12} {:<5} {:<17} {:>8.1} MB/s {:>11.0} rows/s  (wall/cpu {:.2}, {}×{})",
                r.body,
                r.variant,
                r.stage,
                r.mb_s(),
                r.rows_s(),
                timing.contention(),
                timing.samples,
                timing.iters
            ));
            out.results.push(r);
        };
        push("raw", "value", n_rows, measure::run(plan, || value_count(body)));
        push("raw", "ignored", n_rows, measure::run(plan, || ignored_count(body)));
        push("raw", "frame", n_rows, measure::run(plan, || frames(body).count()));
        push("raw", "parse", n_rows, measure::run(plan, || parse_count(body)));
        push(
            "raw",
            "ingest",
            n_rows,
            measure::run(plan, || ingest_once(body, None, &tokens, &raw, &q)),
        );
        push("raw", "normalize", n_rows, measure::run(plan, || normalize_once(&raw_batch)));
        push(
            "raw",
            "detect-default",
            n_rows,
            measure::run(plan, || detect_once(&raw_batch, &default)),
        );
        push("raw", "detect", n_rows, measure::run(plan, || detect_once(&raw_batch, &all)));
        if file.name.ends_with("6m") {
            for (variant, bytes, encoding) in [("gzip", &file.gzip, "gzip"), ("zstd", &file.zstd, "zstd")] {
                let limits = DecodeLimits {
                    max_body_bytes: 64 << 20,
                    ..DecodeLimits::default()
                };
                push(
                    variant,
                    "decode",
                    n_rows,
                    measure::run(plan, || {
                        decode_body(bytes, Some(encoding), &limits).map(|(b, _)| b.len()).unwrap_or(0)
                    }),
                );
                push(
                    variant,
                    "ingest",
                    n_rows,
                    measure::run(plan, || ingest_once(bytes, Some(encoding), &tokens, &raw, &q)),
                );
            }
        }
    }
    out
}

/// The Python baseline over the corpus files written to `dir` (`<name>.hec`).
pub fn run_python(out: &mut Throughput, corpus: &[CorpusFile], dir: &std::path::Path, min_secs: f64, log: &mut dyn FnMut(&str)) {
    for file in corpus.iter().filter(|f| f.kind == Kind::Network) {
        match python(&dir.join(format!("{}.hec", file.name)), min_secs) {
            Ok(p) => {
                log(&format!(
                    "  {:<12} python3 {}: {:.2} MB/s ({} rows, {} runs)",
                    file.name,
                    p.version,
                    file.body.len() as f64 / 1e6 / p.cpu,
                    p.rows,
                    p.runs
                ));
                out.python.push((file.name.clone(), p));
            }
            Err(e) => log(&format!("  {:<12} python baseline failed: {e}", file.name)),
        }
    }
}

/// Request-sized streams (network and audit, at 512 KiB and 128 KiB requests), counted.
pub fn run_streams(out: &mut Throughput, seed: u64, total: usize, log: &mut dyn FnMut(&str)) {
    let default = Registry::catalog(&TuningConfig::default()).unwrap_or_else(|e| panic!("registry: {e}"));
    for kind in [Kind::Network, Kind::Audit] {
        for request in [512 << 10, 128 << 10] {
            let f = flow::stream(kind, seed.wrapping_add(500), request, total, &default);
            log(&format!(
                "  {:<8} {:>4} KiB requests: {} batches, {:.1} MB, {} rows, {} lake objects, {} DynamoDB requests, {} alerts",
                f.kind,
                request >> 10,
                f.batches,
                f.log_bytes as f64 / 1e6,
                f.rows,
                f.lake_objects,
                f.dynamo.requests(),
                f.alerts_total()
            ));
            out.streams.push(f);
        }
    }
}

/// Loops one stage for `secs` (for `perf record`).
pub fn spin(file: &CorpusFile, stage: &str, secs: f64) -> usize {
    let all = all_enabled_registry();
    let raw = flow::ingest_raw(&file.body);
    let started = std::time::Instant::now();
    let mut n = 0;
    while started.elapsed().as_secs_f64() < secs {
        n += match stage {
            "value" => value_count(&file.body),
            "normalize" => normalize_once(&raw),
            "detect" => detect_once(&raw, &all),
            other => panic!("unknown stage {other}"),
        };
    }
    n
}
