//! The local pipeline: the same stage functions the Lambda functions run, wired to the local
//! adapters. `replay` and `serve` both process batches through [`LocalPipeline::process`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tailwatch_core::engine::state::block_on;
use tailwatch_core::engine::{Alert, Registry};
use tailwatch_core::normalize::SourceContext;
use tailwatch_core::pipeline::{detect, normalize_chunks, undecodable, CHUNK_ROWS};
use tailwatch_core::ports::LakeRecord;
use tailwatch_core::quarantine::QuarantineRow;
use tailwatch_core::time::Timestamp;
use tailwatch_core::wire::{decode_object, DecodeLimits};
use tailwatch_local::{Console, FileAlertSink, FileLakeSink, FileQuarantineSink, SqliteAlertState};

/// Everything one batch produced (its rows are in the lake, not here: a batch is processed a chunk
/// at a time, so memory does not grow with the batch).
#[derive(Debug, Default)]
pub struct BatchReport {
    /// Audit records read.
    pub audit_records: usize,
    /// Network flow records read.
    pub network_records: usize,
    /// Lake rows written, per table name.
    pub rows: BTreeMap<&'static str, usize>,
    /// The newest event time written, per table name (for `tailwatch status`).
    pub last_event: BTreeMap<&'static str, Timestamp>,
    /// Rejected values, with their reasons.
    pub quarantined: Vec<QuarantineRow>,
    /// Alerts (re-)produced.
    pub alerts: Vec<Alert>,
    /// Alerts delivered for the first time.
    pub delivered: usize,
}

/// The batch id of one chunk: the batch itself for the first, `<name>-pNNNN<.ext>` after it, so the
/// lake and alert files of a re-processed batch have the same names and replace the earlier ones.
fn part_name(batch: &str, part: usize) -> String {
    if part == 0 {
        return batch.to_owned();
    }
    let (dir, file) = batch.rsplit_once('/').map_or(("", batch), |(d, f)| (d, f));
    let (stem, ext) = file.split_once('.').map_or((file, ""), |(s, e)| (s, e));
    let dot = if ext.is_empty() { "" } else { "." };
    let slash = if dir.is_empty() { "" } else { "/" };
    format!("{dir}{slash}{stem}-p{part:04}{dot}{ext}")
}

/// The local adapters plus the detection registry.
pub struct LocalPipeline {
    /// Data dir.
    pub data_dir: PathBuf,
    lake: FileLakeSink,
    quarantine: FileQuarantineSink,
    /// Alert state (also tracks processed raw batches).
    pub state: SqliteAlertState,
    sink: FileAlertSink,
    registry: Registry,
    limits: DecodeLimits,
}

impl LocalPipeline {
    /// Opens the data dir.
    ///
    /// # Errors
    /// When the state database cannot be opened.
    pub fn open(data_dir: &Path, registry: Registry, console: Console, limits: DecodeLimits) -> Result<Self> {
        std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
        let state = SqliteAlertState::open(&data_dir.join("state.db")).context("opening alert state")?;
        Ok(LocalPipeline {
            data_dir: data_dir.to_owned(),
            lake: FileLakeSink::new(data_dir),
            quarantine: FileQuarantineSink::new(data_dir),
            state,
            sink: FileAlertSink::new(data_dir, console),
            registry,
            limits,
        })
    }

    /// Normalizes one object or file, writes its rows and quarantine (files named after `batch`, so a
    /// re-run replaces them), runs detections and delivers new alerts.
    ///
    /// # Errors
    /// A write or state failure; the batch can be processed again safely.
    pub fn process(&self, bytes: &[u8], source_label: &str, source_file: &str, batch: &str) -> Result<BatchReport> {
        let now = Timestamp::now();
        let ctx = SourceContext {
            label: source_label,
            file: source_file,
            parse_time: now,
        };
        let mut report = BatchReport::default();
        match decode_object(bytes, &self.limits) {
            Ok(body) => {
                for (part, chunk) in normalize_chunks(&body, &ctx, CHUNK_ROWS).enumerate() {
                    let name = part_name(batch, part);
                    report.audit_records += chunk.audit_records;
                    report.network_records += chunk.network_records;
                    if !chunk.rows.is_empty() {
                        for row in &chunk.rows {
                            *report.rows.entry(row.table().name).or_insert(0) += 1;
                            let t = row.standard().p_event_time;
                            let last = report.last_event.entry(row.table().name).or_insert(t);
                            *last = (*last).max(t);
                        }
                        self.lake
                            .write(&name, chunk.rows.iter().map(LakeRecord::from_row).collect())
                            .context("writing lake files")?;
                        let detected = block_on(detect(&self.registry, &chunk.rows, &name, &self.state, &self.sink, &self.lake, now))
                            .context("running detections")?;
                        report.alerts.extend(detected.alerts);
                        report.delivered += detected.delivered;
                    }
                    report.quarantined.extend(chunk.quarantined);
                }
            }
            Err(e) => report.quarantined = undecodable(&e, bytes, &ctx).quarantined,
        }
        if !report.quarantined.is_empty() {
            self.quarantine
                .write(batch, &report.quarantined)
                .context("writing quarantine files")?;
        }
        Ok(report)
    }

    /// The alerts directory.
    pub fn alerts_dir(&self) -> &Path {
        self.sink.dir()
    }
}

#[cfg(test)]
mod tests {
    use super::part_name;

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
