//! In-process throughput of every stage over the corpus, next to two serde_json baselines measured
//! on the same bytes in the same run: parsing into `serde_json::Value` (the naive approach) and into
//! `IgnoredAny` (the floor of JSON work: every byte validated, nothing built).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::de::IgnoredAny;
use serde_json::Value;
use tailwatch_core::engine::keys::{KeyAnswer, KeyUpdate};
use tailwatch_core::engine::run::evaluate;
use tailwatch_core::engine::state::{block_on, MatchInput, MatchOutcome};
use tailwatch_core::engine::{AlertState, MemoryAlertState, Registry, TuningConfig};
use tailwatch_core::lake::LakeRow;
use tailwatch_core::normalize::SourceContext;
use tailwatch_core::pipeline::ingest::{ingest, IngestRequest, Tokens};
use tailwatch_core::pipeline::{normalize_body, normalize_object};
use tailwatch_core::ports::{LakeRecord, PortError, QuarantineSink, RawStore};
use tailwatch_core::quarantine::QuarantineRow;
use tailwatch_core::record::AnyRecord;
use tailwatch_core::time::Timestamp;
use tailwatch_core::wire::{decode_body, decode_object, frames, DecodeLimits, Frame};

use crate::corpus::CorpusFile;
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
    ("frame", "framing (wire::frames)"),
    ("parse", "framing + parsing (typed AnyRecord per record)"),
    ("rows", "normalize → rows in memory (normalize_body)"),
    (
        "normalize",
        "normalize → serialized lake rows (normalize_body + LakeRecord::from_row)",
    ),
    ("serialize", "component: serialize rows only (LakeRecord::from_row)"),
    ("detect-default", "detect: evaluate, catalog defaults (27 of 28 on)"),
    ("detect", "detect: evaluate, all 28 detections on"),
    (
        "detect-quiet",
        "detect: evaluate, all on, only the rows no detection matches or asks the state about",
    ),
    (
        "ingest",
        "ingest stage: auth, decode, frame, validate, zstd raw batch (pipeline::ingest)",
    ),
    ("normalize-lambda", "normalize λ work: zstd raw batch → rows → LakeRecords"),
    ("lake-read", "detect λ read: gzip lake NDJSON → LakeRow (from_json_line)"),
    ("detect-lambda", "detect λ work: gzip lake NDJSON → rows → evaluate (all on)"),
    ("decode", "decompress only (decode_body)"),
    ("decode-normalize", "decompress + normalize → serialized lake rows"),
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

fn ctx() -> SourceContext<'static> {
    SourceContext {
        label: "tailscale-http",
        file: "raw/tailscale-http/dt=2025-03-04/hour=17/1741107600000-0123456789abcdef0123456789abcdef.ndjson.zst",
        parse_time: Timestamp::parse("2025-03-04T17:45:00Z").unwrap_or_else(|_| Timestamp::now()),
    }
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

fn serialize(rows: &[LakeRow]) -> Vec<LakeRecord> {
    rows.iter().map(LakeRecord::from_row).collect()
}

/// The lake object Firehose would deliver for these rows: gzip NDJSON.
pub fn lake_object(rows: &[LakeRow]) -> Vec<u8> {
    let mut nd = Vec::with_capacity(rows.len() * 700);
    for r in rows {
        r.write_json_line(&mut nd);
    }
    tailwatch_core::wire::decode::gzip(&nd)
}

/// The rows of a lake object, read as the detect function reads them (`LakeObjectRows`), all at once.
pub fn read_lake_object(bytes: &[u8]) -> Vec<LakeRow> {
    let limits = DecodeLimits {
        max_decoded_bytes: 1 << 30,
        max_ratio: 1000,
        ..DecodeLimits::default()
    };
    let Ok(body) = decode_object(bytes, &limits) else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    tailwatch_core::pipeline::LakeObjectRows::new(&body).next_rows(usize::MAX, &mut rows);
    rows
}

/// Runs detections the way the benchmark measures them.
pub fn detect(registry: &Registry, rows: &[LakeRow]) -> usize {
    let state = MemoryAlertState::default();
    match block_on(evaluate(registry, rows, &state, Timestamp::now())) {
        Ok((alerts, stats)) => stats.rows + alerts.len(),
        Err(e) => panic!("detect: {e}"),
    }
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

/// Counts the state-port calls a detect run makes (the DynamoDB requests of the detect λ).
#[derive(Default)]
pub struct CountingState {
    inner: MemoryAlertState,
    /// record_match calls (state writes for matches: one per alert key per batch and window, or two).
    pub matches: AtomicUsize,
    /// Detection-state requests (BatchGetItem per 100 keys + one write per changed key).
    pub helpers: AtomicUsize,
    /// record_match calls per detection id.
    pub by_rule: Mutex<std::collections::BTreeMap<String, usize>>,
}

impl AlertState for CountingState {
    async fn record_match(&self, m: MatchInput<'_>) -> Result<MatchOutcome, PortError> {
        self.matches.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut by_rule) = self.by_rule.lock() {
            *by_rule.entry(m.rule_id.to_owned()).or_insert(0) += 1;
        }
        self.inner.record_match(m).await
    }
    async fn update_keys(&self, updates: &[KeyUpdate]) -> Result<Vec<KeyAnswer>, PortError> {
        // As the DynamoDB adapter makes them: one BatchGetItem per 100 keys, one PutItem per key
        // the batch changed.
        let before = self.inner.key_writes();
        let answers = self.inner.update_keys(updates).await?;
        let writes = self.inner.key_writes() - before;
        self.helpers.fetch_add(updates.len().div_ceil(100) + writes, Ordering::Relaxed);
        Ok(answers)
    }
    async fn is_delivered(&self, alert_id: &str, sink: &str) -> Result<bool, PortError> {
        self.inner.is_delivered(alert_id, sink).await
    }
    async fn mark_delivered(&self, alert_id: &str, sink: &str) -> Result<(), PortError> {
        self.inner.mark_delivered(alert_id, sink).await
    }
}

/// Per-body facts the cost model needs (not timed).
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
    /// Bytes of serialized rows (Firehose payload, one record per row, with the newline).
    pub row_bytes: usize,
    /// Firehose billed bytes: each record rounded up to 5 KB.
    pub firehose_billed_bytes: usize,
    /// zstd raw batch bytes (S3 raw storage).
    pub raw_batch_bytes: usize,
    /// gzip lake object bytes (S3 lake storage).
    pub lake_gz_bytes: usize,
    /// State calls (DynamoDB requests) by detect: record_match.
    pub state_matches: usize,
    /// State calls: stateful helpers.
    pub state_helpers: usize,
    /// Alerts notified.
    pub alerts: usize,
    /// Matches per detection id.
    pub matches_by_rule: Vec<(String, usize)>,
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
    let ctx = ctx();
    for file in corpus {
        let body = &file.body;
        let rows = normalize_body(body, &ctx).rows;
        assert!(!rows.is_empty(), "{}: no rows", file.name);
        let n_rows = rows.len();
        let records = serialize(&rows);
        let raw = KeepRaw::default();
        let q = CountQuarantine::default();
        ingest_once(body, None, &tokens, &raw, &q);
        let raw_batch = raw.0.lock().map(|b| b.clone()).unwrap_or_default();
        let lake = lake_object(&rows);
        let counting = CountingState::default();
        let (alerts, _) = block_on(evaluate(&all, &rows, &counting, Timestamp::now())).unwrap_or_else(|e| panic!("{e}"));
        out.facts.push(BodyFacts {
            body: file.name.clone(),
            bytes: body.len(),
            records: file.records,
            rows: n_rows,
            row_bytes: records.iter().map(|r| r.json.len() + 1).sum(),
            firehose_billed_bytes: records.iter().map(|r| (r.json.len() + 1).div_ceil(5 << 10) * (5 << 10)).sum(),
            raw_batch_bytes: raw_batch.len(),
            lake_gz_bytes: lake.len(),
            state_matches: counting.matches.load(Ordering::Relaxed),
            state_helpers: counting.helpers.load(Ordering::Relaxed),
            alerts: alerts.len(),
            matches_by_rule: counting.by_rule.lock().map(|m| m.clone().into_iter().collect()).unwrap_or_default(),
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
        push("raw", "rows", n_rows, measure::run(plan, || normalize_body(body, &ctx).rows.len()));
        push(
            "raw",
            "normalize",
            n_rows,
            measure::run(plan, || {
                let rows = normalize_body(body, &ctx).rows;
                serialize(&rows).len()
            }),
        );
        push("raw", "serialize", n_rows, measure::run(plan, || serialize(&rows).len()));
        push("raw", "detect-default", n_rows, measure::run(plan, || detect(&default, &rows)));
        push("raw", "detect", n_rows, measure::run(plan, || detect(&all, &rows)));

        push(
            "raw",
            "ingest",
            n_rows,
            measure::run(plan, || ingest_once(body, None, &tokens, &raw, &q)),
        );
        let limits = DecodeLimits {
            max_decoded_bytes: 1 << 30,
            max_ratio: 1000,
            ..DecodeLimits::default()
        };
        push(
            "raw",
            "normalize-lambda",
            n_rows,
            measure::run(plan, || serialize(&normalize_object(&raw_batch, &limits, &ctx).rows).len()),
        );
        push("raw", "lake-read", n_rows, measure::run(plan, || read_lake_object(&lake).len()));
        push(
            "raw",
            "detect-lambda",
            n_rows,
            measure::run(plan, || detect(&all, &read_lake_object(&lake))),
        );
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
                    "decode-normalize",
                    n_rows,
                    measure::run(plan, || {
                        let (decoded, _) = decode_body(bytes, Some(encoding), &limits).unwrap_or_else(|e| panic!("{e}"));
                        serialize(&normalize_body(&decoded, &ctx).rows).len()
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

        // Rows no enabled detection matches or asks the state about: the engine's per-row floor.
        // (Not "rows whose id reached record_match": the engine records a batch's matches of one
        // alert key in one write, under the first row's id.)
        let quiet: Vec<LakeRow> = rows
            .iter()
            .filter(|r| {
                all.entries()
                    .iter()
                    .filter(|e| e.enabled)
                    .all(|e| matches!(e.detection.evaluate(r), tailwatch_core::engine::Verdict::No))
            })
            .cloned()
            .collect();
        if !quiet.is_empty() {
            let timing = measure::run(plan, || detect(&all, &quiet));
            let r = StageResult {
                body: file.name.clone(),
                variant: "raw",
                stage: "detect-quiet",
                bytes: body.len() * quiet.len() / n_rows,
                rows: quiet.len(),
                timing,
            };
            log(&format!(
                "  {:<12} raw   detect-quiet      {:>8.1} MB/s {:>11.0} rows/s  ({} of {n_rows} rows)",
                r.body,
                r.mb_s(),
                r.rows_s(),
                quiet.len()
            ));
            out.results.push(r);
        }
    }
    out
}

/// Loops one stage for `secs` (for `perf record`).
pub fn spin(file: &CorpusFile, stage: &str, secs: f64) -> usize {
    let ctx = ctx();
    let all = all_enabled_registry();
    let rows = normalize_body(&file.body, &ctx).rows;
    let lake = lake_object(&rows);
    let started = std::time::Instant::now();
    let mut n = 0;
    while started.elapsed().as_secs_f64() < secs {
        n += match stage {
            "value" => value_count(&file.body),
            "normalize" => serialize(&normalize_body(&file.body, &ctx).rows).len(),
            "rows" => normalize_body(&file.body, &ctx).rows.len(),
            "serialize" => serialize(&rows).len(),
            "detect" => detect(&all, &rows),
            "detect-lambda" => detect(&all, &read_lake_object(&lake)),
            other => panic!("unknown stage {other}"),
        };
    }
    n
}
