//! "Process one raw batch": decode → frame → normalize → packed lake objects + quarantine + the rows
//! handed to detections, a chunk at a time. The normalize and detect functions, `tailwatch serve`,
//! `replay` and the bench all run this one loop; they differ only in the adapters they pass:
//!
//! | caller | lake writer | quarantine | detector |
//! |---|---|---|---|
//! | λ normalize | S3 `PutObject` | S3 | [`NoDetect`] |
//! | λ detect (same raw batch, fanned out) | [`Discard`] | [`Discard`] | [`Detector`] on DynamoDB + SNS |
//! | `serve`, `replay` | files | files | [`Detector`] on SQLite + console/file/webhook |

use std::collections::BTreeMap;
use std::future::Future;

use crate::engine::{AlertState, Registry};
use crate::lake::LakeRow;
use crate::normalize::SourceContext;
use crate::pipeline::detect::{detect, DetectReport};
use crate::pipeline::normalize::{normalize_chunks, undecodable, CHUNK_ROWS};
use crate::pipeline::pack::LakePacker;
use crate::ports::{AlertSink, LakeObject, LakeSink, LakeWriter, PortError, QuarantineSink};
use crate::quarantine::QuarantineRow;
use crate::time::Timestamp;
use crate::wire::{decode_object, DecodeLimits};

/// One raw batch to process.
#[derive(Debug, Clone, Copy)]
pub struct RawBatch<'a> {
    /// The stored bytes (zstd / gzip / plain, sniffed).
    pub bytes: &'a [u8],
    /// `p_source_label`.
    pub label: &'a str,
    /// `p_source_file`: the raw object key or file.
    pub file: &'a str,
    /// Stable id of the batch: names the lake, quarantine and alert objects, so a re-run replaces.
    pub batch: &'a str,
    /// Parse time of every row.
    pub now: Timestamp,
}

/// What processing one raw batch did.
#[derive(Debug, Default)]
pub struct BatchReport {
    /// Audit records read.
    pub audit_records: usize,
    /// Network flow records read.
    pub network_records: usize,
    /// Rows per table name.
    pub rows: BTreeMap<&'static str, usize>,
    /// The newest event time written, per table name (for `tailwatch status`).
    pub last_event: BTreeMap<&'static str, Timestamp>,
    /// Lake objects written.
    pub lake_objects: usize,
    /// Uncompressed row JSON bytes written.
    pub lake_json_bytes: usize,
    /// Compressed bytes written.
    pub lake_gzip_bytes: usize,
    /// Rejected values, with their reasons (written to the quarantine port).
    pub quarantined: Vec<QuarantineRow>,
    /// What detections did (empty for [`NoDetect`]).
    pub detect: DetectReport,
}

impl BatchReport {
    /// Records that became rows.
    pub fn records(&self) -> usize {
        self.audit_records + self.network_records
    }
}

/// Runs detections on each chunk of rows of a batch.
pub trait ChunkDetector {
    /// Detects over `rows`; `part` names the chunk (alert objects are named after it).
    fn detect_chunk(&self, rows: &[LakeRow], part: &str, now: Timestamp) -> impl Future<Output = Result<DetectReport, PortError>> + Send;
}

/// No detections (the normalize function: its twin, detect, reads the same batch).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDetect;

impl ChunkDetector for NoDetect {
    async fn detect_chunk(&self, _rows: &[LakeRow], _part: &str, _now: Timestamp) -> Result<DetectReport, PortError> {
        Ok(DetectReport::default())
    }
}

/// Detections over the engine's ports: state, alert sink, and the lake sink for alert rows.
pub struct Detector<'a, S, A, L> {
    /// The enabled detections.
    pub registry: &'a Registry,
    /// Alert and detection state.
    pub state: &'a S,
    /// Where alerts are delivered.
    pub sink: &'a A,
    /// Where alert rows go (`tailwatch_alerts`).
    pub lake: &'a L,
}

impl<S, A, L> ChunkDetector for Detector<'_, S, A, L>
where
    S: AlertState + Sync,
    A: AlertSink + Sync,
    L: LakeSink + Sync,
{
    fn detect_chunk(&self, rows: &[LakeRow], part: &str, now: Timestamp) -> impl Future<Output = Result<DetectReport, PortError>> + Send {
        detect(self.registry, rows, part, self.state, self.sink, self.lake, now)
    }
}

/// A lake writer and quarantine sink that keeps nothing (the detect function: normalize writes both).
#[derive(Debug, Clone, Copy, Default)]
pub struct Discard;

impl LakeWriter for Discard {
    async fn put_object(&self, _object: LakeObject) -> Result<(), PortError> {
        Ok(())
    }

    fn keeps_objects(&self) -> bool {
        false
    }
}

impl QuarantineSink for Discard {
    async fn put_quarantine(&self, _source: &str, _rows: &[QuarantineRow]) -> Result<(), PortError> {
        Ok(())
    }
}

/// The name of a batch's chunk: the batch itself for the first, `<name>-pNNNN<.ext>` after it, so
/// the alert files of a re-processed batch have the same names and replace the earlier ones.
pub fn part_name(batch: &str, part: usize) -> String {
    if part == 0 {
        return batch.to_owned();
    }
    let (dir, file) = batch.rsplit_once('/').map_or(("", batch), |(d, f)| (d, f));
    let (stem, ext) = file.split_once('.').map_or((file, ""), |(s, e)| (s, e));
    let dot = if ext.is_empty() { "" } else { "." };
    let slash = if dir.is_empty() { "" } else { "/" };
    format!("{dir}{slash}{stem}-p{part:04}{dot}{ext}")
}

/// Processes one raw batch: decodes it, normalizes it [`CHUNK_ROWS`] rows at a time, hands each
/// chunk to `detector`, packs the rows into one gzip object per partition (written to `lake` at the
/// end, named after the batch), and writes the rejected values to `quarantine`.
///
/// Memory is one chunk of rows plus the compressed objects, whatever the batch's size.
///
/// # Errors
/// A retryable or permanent adapter failure. Every write is named after the batch and detection
/// state is idempotent per record, so running the batch again is always safe.
pub async fn process_batch<W, Q, D>(
    input: RawBatch<'_>,
    limits: &DecodeLimits,
    lake: &W,
    quarantine: &Q,
    detector: &D,
) -> Result<BatchReport, PortError>
where
    W: LakeWriter,
    Q: QuarantineSink,
    D: ChunkDetector,
{
    let ctx = SourceContext {
        label: input.label,
        file: input.file,
        parse_time: input.now,
    };
    let mut report = BatchReport::default();
    match decode_object(input.bytes, limits) {
        Ok(body) => {
            let mut packer = LakePacker::new();
            // Serializing and gzipping the rows is most of normalize's work: skipped when nothing
            // keeps the objects (detect reads the batch only for its detections).
            let pack = lake.keeps_objects();
            for (part, chunk) in normalize_chunks(&body, &ctx, CHUNK_ROWS).enumerate() {
                report.audit_records += chunk.audit_records;
                report.network_records += chunk.network_records;
                report.quarantined.extend(chunk.quarantined);
                if chunk.rows.is_empty() {
                    continue;
                }
                for row in &chunk.rows {
                    *report.rows.entry(row.table().name).or_insert(0) += 1;
                    let t = row.standard().p_event_time;
                    let last = report.last_event.entry(row.table().name).or_insert(t);
                    *last = (*last).max(t);
                }
                if pack {
                    packer.push_rows(&chunk.rows);
                    packer.seal_chunk();
                }
                let detected = detector.detect_chunk(&chunk.rows, &part_name(input.batch, part), input.now).await?;
                report.detect.merge(detected);
            }
            for object in packer.finish(input.batch) {
                report.lake_objects += 1;
                report.lake_json_bytes += object.json_bytes;
                report.lake_gzip_bytes += object.body.len();
                lake.put_object(object).await?;
            }
        }
        Err(e) => report.quarantined = undecodable(&e, input.bytes, &ctx).quarantined,
    }
    if !report.quarantined.is_empty() {
        quarantine.put_quarantine(input.batch, &report.quarantined).await?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::engine::config::TuningConfig;
    use crate::engine::state::block_on;
    use crate::engine::MemoryAlertState;
    use crate::ports::LakeRecord;

    /// A lake writer that keeps every object.
    #[derive(Default)]
    struct Keep(Mutex<Vec<LakeObject>>);
    impl LakeWriter for Keep {
        async fn put_object(&self, object: LakeObject) -> Result<(), PortError> {
            self.0.lock().unwrap().push(object);
            Ok(())
        }
    }

    struct NoPages;
    impl AlertSink for NoPages {
        fn name(&self) -> &str {
            "none"
        }
        async fn deliver(&self, _: &crate::engine::Alert) -> Result<(), PortError> {
            Ok(())
        }
    }
    impl LakeSink for NoPages {
        async fn put_rows(&self, _: &str, _: Vec<LakeRecord>) -> Result<(), PortError> {
            Ok(())
        }
    }

    type TestDetector<'a> = Detector<'a, MemoryAlertState, NoPages, NoPages>;

    #[test]
    fn a_writer_that_keeps_nothing_gets_no_packing_and_the_same_detections() {
        let body = include_bytes!("../../../../tests/fixtures/tailscale/audit-stream.hec");
        let registry = Registry::build(crate::detections::ALL, &TuningConfig::from_toml_str("").unwrap()).unwrap();
        let run = |lake: &dyn Fn(RawBatch<'_>, &TestDetector<'_>) -> BatchReport| {
            let state = MemoryAlertState::default();
            let detector = Detector {
                registry: &registry,
                state: &state,
                sink: &NoPages,
                lake: &NoPages,
            };
            let input = RawBatch {
                bytes: body,
                label: "test",
                file: "f",
                batch: "b",
                now: Timestamp::parse("2025-03-04T18:00:00Z").unwrap(),
            };
            lake(input, &detector)
        };
        let keep = Keep::default();
        let kept = run(&|input, d| block_on(process_batch(input, &DecodeLimits::default(), &keep, &Discard, d)).unwrap());
        let discarded = run(&|input, d| block_on(process_batch(input, &DecodeLimits::default(), &Discard, &Discard, d)).unwrap());
        assert!(kept.lake_objects > 0 && kept.lake_json_bytes > 0);
        assert_eq!(keep.0.lock().unwrap().len(), kept.lake_objects);
        assert_eq!(
            (discarded.lake_objects, discarded.lake_json_bytes),
            (0, 0),
            "nothing packed for a discarding writer"
        );
        assert_eq!(discarded.rows, kept.rows);
        let alerts = |r: &BatchReport| r.detect.alerts.iter().map(|a| a.alert_id.clone()).collect::<Vec<_>>();
        assert_eq!(alerts(&discarded), alerts(&kept), "the same detections either way");
        assert_eq!(discarded.detect.stats, kept.detect.stats);
        assert!(
            kept.detect.stats.matches > 0,
            "the fixture matches detections: {:?}",
            kept.detect.stats
        );
    }

    #[test]
    fn chunk_names_keep_the_batch_stem_and_extension() {
        assert_eq!(part_name("raw/x/dt=1/hour=2/abc.ndjson.zst", 0), "raw/x/dt=1/hour=2/abc.ndjson.zst");
        assert_eq!(
            part_name("raw/x/dt=1/hour=2/abc.ndjson.zst", 3),
            "raw/x/dt=1/hour=2/abc-p0003.ndjson.zst"
        );
        assert_eq!(part_name("file", 1), "file-p0001");
    }
}
