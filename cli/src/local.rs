//! The local pipeline: the same stage functions the Lambda functions run, wired to the local
//! adapters. `replay` and `serve` both process batches through [`LocalPipeline::process`].

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tailwatch_core::engine::state::block_on;
use tailwatch_core::engine::Registry;
use tailwatch_core::pipeline::{process_batch, Detector, RawBatch};
use tailwatch_core::time::Timestamp;
use tailwatch_core::wire::DecodeLimits;
use tailwatch_local::{Console, FileAlertSink, FileLakeSink, FileQuarantineSink, SqliteAlertState};

pub use tailwatch_core::pipeline::BatchReport;

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

    /// Processes one raw object or file with core's [`process_batch`] (lake and quarantine files
    /// named after `batch`, so a re-run replaces them; detections; new alerts delivered).
    ///
    /// # Errors
    /// A write or state failure; the batch can be processed again safely.
    pub fn process(&self, bytes: &[u8], source_label: &str, source_file: &str, batch: &str) -> Result<BatchReport> {
        let input = RawBatch {
            bytes,
            label: source_label,
            file: source_file,
            batch,
            now: Timestamp::now(),
        };
        let detector = Detector {
            registry: &self.registry,
            state: &self.state,
            sink: &self.sink,
            lake: &self.lake,
        };
        block_on(process_batch(input, &self.limits, &self.lake, &self.quarantine, &detector)).context("processing the batch")
    }

    /// The alerts directory.
    pub fn alerts_dir(&self) -> &Path {
        self.sink.dir()
    }
}
