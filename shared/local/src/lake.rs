//! Lake and quarantine sinks on disk: one gzip NDJSON file per partition per call.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tailwatch_core::ports::{LakeRecord, LakeSink, PortError, QuarantineSink};
use tailwatch_core::quarantine::QuarantineRow;

/// Writes lake rows as `<root>/<table>/dt=…/hour=…/<uuid>.json.gz`.
#[derive(Debug, Clone)]
pub struct FileLakeSink {
    root: PathBuf,
}

impl FileLakeSink {
    /// A sink writing under `<data-dir>/lake`.
    pub fn new(data_dir: &Path) -> Self {
        FileLakeSink {
            root: data_dir.join("lake"),
        }
    }

    /// The lake root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes records synchronously, returning the files written.
    ///
    /// # Errors
    /// The first I/O error; files already written stay (rows are idempotent by `p_row_id`).
    pub fn write(&self, records: Vec<LakeRecord>) -> std::io::Result<Vec<PathBuf>> {
        write_partitioned(&self.root, records)
    }
}

fn write_partitioned(root: &Path, records: Vec<LakeRecord>) -> std::io::Result<Vec<PathBuf>> {
    let mut groups: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for r in records {
        let buf = groups.entry(r.table.partition(&r.event_time)).or_default();
        buf.extend_from_slice(&r.json);
        buf.push(b'\n');
    }
    let mut written = Vec::with_capacity(groups.len());
    for (partition, ndjson) in groups {
        let path = root.join(partition).join(format!("{}.json.gz", uuid::Uuid::new_v4()));
        crate::write_atomically(&path, &tailwatch_core::wire::decode::gzip(&ndjson))?;
        written.push(path);
    }
    Ok(written)
}

impl LakeSink for FileLakeSink {
    async fn put_rows(&self, records: Vec<LakeRecord>) -> Result<(), PortError> {
        self.write(records)
            .map(|_| ())
            .map_err(|e| PortError::retryable("write lake files", e.to_string()))
    }
}

/// Writes quarantine rows as the `tailwatch_quarantine` table under `<data-dir>/quarantine`.
#[derive(Debug, Clone)]
pub struct FileQuarantineSink {
    root: PathBuf,
}

impl FileQuarantineSink {
    /// A sink writing under `<data-dir>/quarantine`.
    pub fn new(data_dir: &Path) -> Self {
        FileQuarantineSink {
            root: data_dir.join("quarantine"),
        }
    }

    /// Writes rows synchronously.
    ///
    /// # Errors
    /// The first I/O error.
    pub fn write(&self, rows: &[QuarantineRow]) -> std::io::Result<Vec<PathBuf>> {
        write_partitioned(&self.root, rows.iter().map(LakeRecord::from_quarantine).collect())
    }
}

impl QuarantineSink for FileQuarantineSink {
    async fn put_quarantine(&self, _source: &str, rows: &[QuarantineRow]) -> Result<(), PortError> {
        self.write(rows)
            .map(|_| ())
            .map_err(|e| PortError::retryable("write quarantine files", e.to_string()))
    }
}
