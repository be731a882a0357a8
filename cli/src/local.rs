//! The local pipeline: the same stage functions the Lambda functions run, wired to the local
//! adapters. `replay` and `serve` both process batches through [`LocalPipeline::process`].

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tailwatch_core::engine::state::block_on;
use tailwatch_core::engine::{Alert, Registry};
use tailwatch_core::normalize::SourceContext;
use tailwatch_core::pipeline::{detect, normalize_object, NormalizeOutcome};
use tailwatch_core::ports::LakeRecord;
use tailwatch_core::time::Timestamp;
use tailwatch_core::wire::DecodeLimits;
use tailwatch_local::{Console, FileAlertSink, FileLakeSink, FileQuarantineSink, SqliteAlertState};

/// Everything one batch produced.
#[derive(Debug, Default)]
pub struct BatchReport {
    /// Normalization results.
    pub outcome: NormalizeOutcome,
    /// Alerts (re-)produced.
    pub alerts: Vec<Alert>,
    /// Alerts delivered for the first time.
    pub delivered: usize,
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
        let outcome = normalize_object(bytes, &self.limits, &ctx);
        if !outcome.rows.is_empty() {
            self.lake
                .write(batch, outcome.rows.iter().map(LakeRecord::from_row).collect())
                .context("writing lake files")?;
        }
        if !outcome.quarantined.is_empty() {
            self.quarantine
                .write(batch, &outcome.quarantined)
                .context("writing quarantine files")?;
        }
        let report = block_on(detect(
            &self.registry,
            &outcome.rows,
            batch,
            &self.state,
            &self.sink,
            &self.lake,
            now,
        ))
        .context("running detections")?;
        Ok(BatchReport {
            outcome,
            alerts: report.alerts,
            delivered: report.delivered,
        })
    }

    /// The alerts directory.
    pub fn alerts_dir(&self) -> &Path {
        self.sink.dir()
    }
}
