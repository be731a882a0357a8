//! The product's own stage loop, [`process_batch`], driven with counting adapters: what the
//! normalize and detect functions do to one raw batch, and what AWS requests that costs.
//!
//! The bench has no normalize or detect loop of its own: every measurement of those stages goes
//! through `process_batch`, as the Lambda functions, `serve` and `replay` do. The adapters here
//! count what the AWS adapters would send (S3 `PutObject`s, Firehose records, SNS publishes,
//! DynamoDB requests and capacity units) without sending it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use tailwatch_core::engine::keys::{KeyAnswer, KeyUpdate};
use tailwatch_core::engine::state::{block_on, MatchInput, MatchOutcome};
use tailwatch_core::engine::{Alert, AlertState, MemoryAlertState, Registry};
use tailwatch_core::pipeline::ingest::Tokens;
use tailwatch_core::pipeline::{process_batch, BatchReport, Detector, Discard, NoDetect, RawBatch};
use tailwatch_core::ports::{AlertSink, LakeObject, LakeRecord, LakeSink, LakeWriter, PortError, QuarantineSink};
use tailwatch_core::quarantine::QuarantineRow;
use tailwatch_core::time::Timestamp;
use tailwatch_core::wire::DecodeLimits;

use crate::corpus::{Generator, Kind};
use crate::throughput::{ingest_once, CountQuarantine, KeepRaw};

/// The raw object key a batch is read from (sets `p_source_file` and the batch id).
pub const RAW_KEY: &str = "raw/tailscale-http/dt=2025-03-04/hour=17/1741107600000-0123456789abcdef0123456789abcdef.ndjson.zst";

/// Limits for stored objects, as the functions use them.
pub fn object_limits() -> DecodeLimits {
    DecodeLimits {
        max_decoded_bytes: 1 << 30,
        max_ratio: 1000,
        ..DecodeLimits::default()
    }
}

/// The batch as both functions get it.
pub fn raw_batch<'a>(bytes: &'a [u8], key: &'a str, batch: &'a str) -> RawBatch<'a> {
    RawBatch {
        bytes,
        label: "tailscale-http",
        file: key,
        batch,
        now: Timestamp::parse("2025-03-04T17:45:00Z").unwrap_or_else(|_| Timestamp::now()),
    }
}

/// Lake writer that counts `PutObject`s (and keeps nothing).
#[derive(Default)]
pub struct CountLake {
    /// Objects written.
    pub objects: AtomicUsize,
    /// Uncompressed NDJSON bytes.
    pub json_bytes: AtomicUsize,
    /// gzip bytes.
    pub gzip_bytes: AtomicUsize,
}

impl LakeWriter for CountLake {
    async fn put_object(&self, object: LakeObject) -> Result<(), PortError> {
        self.objects.fetch_add(1, Ordering::Relaxed);
        self.json_bytes.fetch_add(object.json_bytes, Ordering::Relaxed);
        self.gzip_bytes.fetch_add(object.body.len(), Ordering::Relaxed);
        Ok(())
    }
}

/// Firehose's limits as `tailwatch_aws::firehose::pack_records` applies them (the bench does not
/// link the AWS SDK): ≤ 500 rows and ≤ 1000 KiB per record, each record billed in 5 KB steps.
const FIREHOSE_ROWS_PER_RECORD: usize = 500;
const FIREHOSE_RECORD_BYTES: usize = 1000 << 10;
const FIREHOSE_BILLING_STEP: usize = 5 << 10;

/// The alert-row sink (Firehose in AWS), counting records and billed bytes as packed there.
#[derive(Default)]
pub struct CountFirehose {
    /// `PutRecordBatch` calls.
    pub calls: AtomicUsize,
    /// Firehose records.
    pub records: AtomicUsize,
    /// Rows.
    pub rows: AtomicUsize,
    /// Bytes sent.
    pub bytes: AtomicUsize,
    /// Bytes billed (each record rounded up to 5 KB).
    pub billed: AtomicUsize,
}

impl LakeSink for CountFirehose {
    async fn put_rows(&self, _batch: &str, records: Vec<LakeRecord>) -> Result<(), PortError> {
        let (mut current, mut count, mut packed) = (0usize, 0usize, Vec::new());
        for r in &records {
            let len = r.json.len() + 1;
            if count == FIREHOSE_ROWS_PER_RECORD || (count > 0 && current + len > FIREHOSE_RECORD_BYTES) {
                packed.push(current);
                (current, count) = (0, 0);
            }
            current += len;
            count += 1;
        }
        if count > 0 {
            packed.push(current);
        }
        self.calls.fetch_add(packed.len().div_ceil(500).max(1), Ordering::Relaxed);
        self.records.fetch_add(packed.len(), Ordering::Relaxed);
        self.rows.fetch_add(records.len(), Ordering::Relaxed);
        self.bytes.fetch_add(packed.iter().sum::<usize>(), Ordering::Relaxed);
        self.billed.fetch_add(
            packed
                .iter()
                .map(|b| b.div_ceil(FIREHOSE_BILLING_STEP) * FIREHOSE_BILLING_STEP)
                .sum::<usize>(),
            Ordering::Relaxed,
        );
        Ok(())
    }
}

/// The alert sink (SNS in AWS): counts publishes by detection and severity.
#[derive(Default)]
pub struct CountAlerts {
    /// (detection id, severity) → alerts published.
    pub by_rule: Mutex<BTreeMap<(String, String), usize>>,
}

impl AlertSink for CountAlerts {
    fn name(&self) -> &str {
        "sns"
    }
    async fn deliver(&self, alert: &Alert) -> Result<(), PortError> {
        if let Ok(mut m) = self.by_rule.lock() {
            *m.entry((alert.id.clone(), alert.severity.as_str().to_owned())).or_insert(0) += 1;
        }
        Ok(())
    }
}

/// DynamoDB requests and capacity units, as `tailwatch_aws::DynamoAlertState` makes them.
#[derive(Debug, Clone, Copy, Default)]
pub struct DynamoCounts {
    /// BatchGetItem requests (≤ 100 keys each, consistent reads).
    pub batch_gets: usize,
    /// Conditional PutItem per changed detection-state key.
    pub key_writes: usize,
    /// Requests made by `record_match` (claim, attach, open, claim notification, outcome).
    pub match_requests: usize,
    /// `record_match` calls.
    pub match_calls: usize,
    /// GetItem (`is_delivered`, consistent).
    pub gets: usize,
    /// PutItem (`mark_delivered`).
    pub delivered_marks: usize,
    /// Read request units (consistent reads, ≤ 4 KB items: 1 each).
    pub rru: usize,
    /// Write request units (1 per KB of the larger of the item before and after).
    pub wru: usize,
}

impl DynamoCounts {
    /// Every request.
    pub fn requests(&self) -> usize {
        self.batch_gets + self.key_writes + self.match_requests + self.gets + self.delivered_marks
    }
}

/// Counts the state port's calls as DynamoDB requests (the detect function's state).
#[derive(Default)]
pub struct CountingState {
    inner: MemoryAlertState,
    counts: Mutex<DynamoCounts>,
    /// record_match calls per detection id.
    pub by_rule: Mutex<BTreeMap<String, usize>>,
    /// Conditional key writes (PutItem) per detection id and question kind.
    pub key_writes_by_rule: Mutex<BTreeMap<String, usize>>,
}

impl CountingState {
    /// What was counted.
    pub fn counts(&self) -> DynamoCounts {
        self.counts.lock().map(|c| *c).unwrap_or_default()
    }
    fn add(&self, f: impl FnOnce(&mut DynamoCounts)) {
        if let Ok(mut c) = self.counts.lock() {
            f(&mut c);
        }
    }
}

impl AlertState for CountingState {
    async fn record_match(&self, m: MatchInput<'_>) -> Result<MatchOutcome, PortError> {
        if let Ok(mut by_rule) = self.by_rule.lock() {
            *by_rule.entry(m.rule_id.to_owned()).or_insert(0) += 1;
        }
        // Items carrying the first event (the dedup item, the row outcome) are billed per KB.
        let big = (m.event_json.len() + 256).div_ceil(1024);
        let matches = m.matches.max(1);
        let outcome = self.inner.record_match(m).await?;
        let opened = outcome.event_count == matches;
        // claim (PutItem) + attach (UpdateItem; fails conditionally when the group is new) +
        // open (when new) + claim notification (notify without opening) + store outcome.
        let requests = 1 + 1 + usize::from(opened) + usize::from(outcome.notify && !opened) + 1;
        let wru = 1 + big + if opened { big } else { 0 } + usize::from(outcome.notify && !opened) * big + big;
        self.add(|c| {
            c.match_calls += 1;
            c.match_requests += requests;
            c.wru += wru;
        });
        Ok(outcome)
    }
    async fn update_keys(&self, updates: &[KeyUpdate]) -> Result<Vec<KeyAnswer>, PortError> {
        // Keys are `kind␟detection␟key`: keys of different detections never meet, so the updates are
        // applied a detection at a time to count each one's writes, and the answers put back in order.
        let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, u) in updates.iter().enumerate() {
            let scope = u.key.rsplit_once('\u{1f}').map_or(u.key.as_str(), |(scope, _)| scope);
            groups.entry(scope).or_default().push(i);
        }
        let mut answers: Vec<Option<KeyAnswer>> = vec![None; updates.len()];
        let mut writes = 0;
        for (scope, idx) in groups {
            let part: Vec<KeyUpdate> = idx.iter().map(|&i| updates[i].clone()).collect();
            let before = self.inner.key_writes();
            let got = self.inner.update_keys(&part).await?;
            let n = self.inner.key_writes() - before;
            writes += n;
            if let Ok(mut m) = self.key_writes_by_rule.lock() {
                *m.entry(scope.replace('\u{1f}', " ")).or_insert(0) += n;
            }
            for (&i, a) in idx.iter().zip(got) {
                answers[i] = Some(a);
            }
        }
        let mut unique: Vec<&str> = updates.iter().map(|u| u.key.as_str()).collect();
        unique.sort_unstable();
        unique.dedup();
        self.add(|c| {
            c.batch_gets += unique.len().div_ceil(100);
            c.rru += unique.len();
            c.key_writes += writes;
            c.wru += writes;
        });
        answers
            .into_iter()
            .map(|a| a.ok_or_else(|| PortError::permanent("update keys", "an update got no answer")))
            .collect()
    }
    async fn is_delivered(&self, alert_id: &str, sink: &str) -> Result<bool, PortError> {
        self.add(|c| {
            c.gets += 1;
            c.rru += 1;
        });
        self.inner.is_delivered(alert_id, sink).await
    }
    async fn mark_delivered(&self, alert_id: &str, sink: &str) -> Result<(), PortError> {
        self.add(|c| {
            c.delivered_marks += 1;
            c.wru += 1;
        });
        self.inner.mark_delivered(alert_id, sink).await
    }
}

/// Quarantine sink that counts objects and rows.
#[derive(Default)]
pub struct CountQuarantineObjects {
    /// Objects (one per batch with rejects).
    pub objects: AtomicUsize,
    /// Rows.
    pub rows: AtomicUsize,
}

impl QuarantineSink for CountQuarantineObjects {
    async fn put_quarantine(&self, _source: &str, rows: &[QuarantineRow]) -> Result<(), PortError> {
        self.objects.fetch_add(1, Ordering::Relaxed);
        self.rows.fetch_add(rows.len(), Ordering::Relaxed);
        Ok(())
    }
}

/// The normalize function's work on one raw batch: `process_batch` with lake objects counted and
/// no detections.
pub fn normalize(raw: &[u8], lake: &CountLake, quarantine: &CountQuarantineObjects) -> BatchReport {
    let input = raw_batch(raw, RAW_KEY, RAW_KEY);
    block_on(process_batch(input, &object_limits(), lake, quarantine, &NoDetect)).unwrap_or_else(|e| panic!("normalize: {e}"))
}

/// The detect function's work on one raw batch: `process_batch` with lake and quarantine discarded
/// and detections on `state`.
pub fn detect(
    raw: &[u8],
    key: &str,
    registry: &Registry,
    state: &CountingState,
    alerts: &CountAlerts,
    firehose: &CountFirehose,
) -> BatchReport {
    let input = raw_batch(raw, key, key);
    let detector = Detector {
        registry,
        state,
        sink: alerts,
        lake: firehose,
    };
    block_on(process_batch(input, &object_limits(), &Discard, &Discard, &detector)).unwrap_or_else(|e| panic!("detect: {e}"))
}

/// The raw batch ingest stores for `body` (zstd NDJSON).
pub fn ingest_raw(body: &[u8]) -> Vec<u8> {
    let tokens = Tokens::new(["bench-token"]);
    let (raw, q) = (KeepRaw::default(), CountQuarantine::default());
    ingest_once(body, None, &tokens, &raw, &q);
    raw.0.lock().map(|b| b.clone()).unwrap_or_default()
}

/// What a stream of request-sized batches cost, counted (not timed).
#[derive(Debug, Clone, Default)]
pub struct StreamFacts {
    /// `network` or `audit`.
    pub kind: &'static str,
    /// Request body size.
    pub request_bytes: usize,
    /// Requests (= raw batches).
    pub batches: usize,
    /// Uncompressed HEC bytes over all batches.
    pub log_bytes: usize,
    /// Records.
    pub records: usize,
    /// Lake rows.
    pub rows: usize,
    /// zstd raw batch bytes.
    pub raw_bytes: usize,
    /// Lake objects (S3 PUTs by normalize).
    pub lake_objects: usize,
    /// Row JSON bytes.
    pub lake_json_bytes: usize,
    /// gzip lake bytes.
    pub lake_gzip_bytes: usize,
    /// Quarantine objects.
    pub quarantine_objects: usize,
    /// DynamoDB.
    pub dynamo: DynamoCounts,
    /// Firehose (alert rows).
    pub firehose_calls: usize,
    /// Firehose records.
    pub firehose_records: usize,
    /// Firehose billed bytes.
    pub firehose_billed: usize,
    /// Alerts published, by (detection, severity).
    pub alerts: Vec<((String, String), usize)>,
    /// record_match calls per detection.
    pub matches_by_rule: Vec<(String, usize)>,
    /// Key writes per detection and question kind.
    pub key_writes_by_rule: Vec<(String, usize)>,
}

impl StreamFacts {
    /// Scale to one GB (10⁹ bytes) of logs.
    pub fn per_gb(&self, n: usize) -> f64 {
        n as f64 * 1e9 / self.log_bytes as f64
    }
    /// Alerts in total.
    pub fn alerts_total(&self) -> usize {
        self.alerts.iter().map(|(_, n)| n).sum()
    }
    /// Alerts of MEDIUM or above.
    pub fn alerts_medium_plus(&self) -> usize {
        self.alerts
            .iter()
            .filter(|((_, sev), _)| matches!(sev.as_str(), "MEDIUM" | "HIGH" | "CRITICAL"))
            .map(|(_, n)| n)
            .sum()
    }
}

/// Runs `total` bytes of `kind` logs as consecutive `request_bytes` requests from one simulated
/// tailnet through ingest, normalize and detect (one detection state across the stream, as the
/// DynamoDB table is), counting every request to AWS.
pub fn stream(kind: Kind, seed: u64, request_bytes: usize, total: usize, registry: &Registry) -> StreamFacts {
    let mut generator = Generator::new(kind, seed);
    let (lake, quarantine) = (CountLake::default(), CountQuarantineObjects::default());
    let (state, alerts, firehose) = (CountingState::default(), CountAlerts::default(), CountFirehose::default());
    let mut f = StreamFacts {
        kind: kind.as_str(),
        request_bytes,
        ..StreamFacts::default()
    };
    while f.log_bytes < total {
        let (body, records) = generator.body(request_bytes);
        let raw = ingest_raw(&body);
        let key = format!("raw/tailscale-http/dt=2025-03-04/hour=17/{:06}.ndjson.zst", f.batches);
        let n = normalize(&raw, &lake, &quarantine);
        detect(&raw, &key, registry, &state, &alerts, &firehose);
        f.batches += 1;
        f.log_bytes += body.len();
        f.records += records;
        f.rows += n.rows.values().sum::<usize>();
        f.raw_bytes += raw.len();
    }
    f.lake_objects = lake.objects.load(Ordering::Relaxed);
    f.lake_json_bytes = lake.json_bytes.load(Ordering::Relaxed);
    f.lake_gzip_bytes = lake.gzip_bytes.load(Ordering::Relaxed);
    f.quarantine_objects = quarantine.objects.load(Ordering::Relaxed);
    f.dynamo = state.counts();
    f.firehose_calls = firehose.calls.load(Ordering::Relaxed);
    f.firehose_records = firehose.records.load(Ordering::Relaxed);
    f.firehose_billed = firehose.billed.load(Ordering::Relaxed);
    f.alerts = alerts.by_rule.lock().map(|m| m.clone().into_iter().collect()).unwrap_or_default();
    f.matches_by_rule = state.by_rule.lock().map(|m| m.clone().into_iter().collect()).unwrap_or_default();
    f.key_writes_by_rule = state
        .key_writes_by_rule
        .lock()
        .map(|m| m.clone().into_iter().collect())
        .unwrap_or_default();
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use tailwatch_core::engine::TuningConfig;

    #[test]
    fn firehose_packing_rounds_each_record_to_5_kb() {
        let row = |n: usize| LakeRecord {
            table: &tailwatch_core::lake::TAILWATCH_ALERTS,
            event_time: Timestamp::now(),
            json: vec![b'x'; n],
        };
        let sink = CountFirehose::default();
        block_on(sink.put_rows("b", (0..501).map(|_| row(99)).collect())).unwrap();
        assert_eq!(sink.records.load(Ordering::Relaxed), 2, "at most 500 rows a record");
        // 500 × 100 bytes = 50,000 → 10 steps of 5 KiB; 100 bytes → 1 step.
        assert_eq!(sink.billed.load(Ordering::Relaxed), 11 * 5 * 1024);
    }

    #[test]
    fn a_stream_is_counted_through_process_batch() {
        let registry = Registry::catalog(&TuningConfig::default()).unwrap();
        let f = stream(Kind::Network, 7, 64 << 10, 256 << 10, &registry);
        assert!(f.batches >= 4 && f.rows > f.records);
        assert!(f.lake_objects >= f.batches, "one object per partition per batch");
        let d = f.dynamo;
        assert_eq!(d.gets, d.delivered_marks, "a delivered read and mark per alert");
        assert_eq!(d.delivered_marks, f.alerts_total());
        assert!(d.match_requests >= 3 * d.match_calls);
        assert!(f.alerts_medium_plus() <= f.alerts_total());
    }
}
