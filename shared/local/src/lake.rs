//! Lake and quarantine sinks on disk: one gzip NDJSON file per partition per call.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tailwatch_core::ports::{LakeObject, LakeRecord, LakeSink, LakeWriter, PortError, QuarantineSink};
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

    /// Writes records synchronously as `<partition>/<batch>.json.gz`, returning the files written.
    /// Writing the same batch again replaces its rows by `p_row_id` (atomically), so reprocessing a
    /// raw batch after a crash never duplicates rows, and keeps the earlier write's other rows: a
    /// retry of the detect stage writes only the alerts not yet delivered, and must not drop the
    /// rows of those that were (found by `cli/tests/kill.rs`).
    ///
    /// # Errors
    /// The first I/O error; files already written stay (rows are idempotent by `p_row_id`).
    pub fn write(&self, batch: &str, records: Vec<LakeRecord>) -> std::io::Result<Vec<PathBuf>> {
        write_partitioned(&self.root, batch, records)
    }
}

use tailwatch_core::pipeline::object_stem as stem;

fn write_partitioned(root: &Path, batch: &str, records: Vec<LakeRecord>) -> std::io::Result<Vec<PathBuf>> {
    let name = stem(batch);
    let mut groups: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for r in records {
        let buf = groups.entry(r.table.partition(&r.event_time)).or_default();
        buf.extend_from_slice(&r.json);
        buf.push(b'\n');
    }
    let mut written = Vec::with_capacity(groups.len());
    for (partition, ndjson) in groups {
        let path = root.join(partition).join(format!("{name}.json.gz"));
        let ndjson = merge_with_existing(&path, ndjson)?;
        crate::write_atomically(&path, &tailwatch_core::wire::decode::gzip(&ndjson))?;
        written.push(path);
    }
    Ok(written)
}

/// `ndjson` plus the rows of the file already at `path` whose `p_row_id` is not in `ndjson`.
fn merge_with_existing(path: &Path, mut ndjson: Vec<u8>) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ndjson),
        Err(e) => return Err(e),
    };
    let mut old = Vec::new();
    flate2::read::MultiGzDecoder::new(file)
        .read_to_end(&mut old)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let row_id = |line: &[u8]| {
        serde_json::from_slice::<serde_json::Value>(line)
            .ok()
            .and_then(|v| v.get("p_row_id").and_then(|id| id.as_str()).map(str::to_owned))
    };
    let new_ids: std::collections::HashSet<String> = ndjson.split(|b| *b == b'\n').filter_map(row_id).collect();
    for line in old.split(|b| *b == b'\n').filter(|l| !l.trim_ascii().is_empty()) {
        if row_id(line).is_none_or(|id| !new_ids.contains(&id)) {
            ndjson.extend_from_slice(line);
            ndjson.push(b'\n');
        }
    }
    Ok(ndjson)
}

impl LakeWriter for FileLakeSink {
    async fn put_object(&self, object: LakeObject) -> Result<(), PortError> {
        crate::write_atomically(&self.root.join(&object.key), &object.body)
            .map_err(|e| PortError::retryable(format!("write lake file {}", object.key), e.to_string()))?;
        crate::checkpoint::reached("lake_object");
        Ok(())
    }
}

impl LakeSink for FileLakeSink {
    async fn put_rows(&self, batch: &str, records: Vec<LakeRecord>) -> Result<(), PortError> {
        self.write(batch, records)
            .map_err(|e| PortError::retryable("write lake files", e.to_string()))?;
        crate::checkpoint::reached("alert_rows");
        Ok(())
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

    /// Writes rows synchronously, named after the `source` they came from.
    ///
    /// # Errors
    /// The first I/O error.
    pub fn write(&self, source: &str, rows: &[QuarantineRow]) -> std::io::Result<Vec<PathBuf>> {
        write_partitioned(&self.root, source, rows.iter().map(LakeRecord::from_quarantine).collect())
    }
}

impl QuarantineSink for FileQuarantineSink {
    async fn put_quarantine(&self, source: &str, rows: &[QuarantineRow]) -> Result<(), PortError> {
        self.write(source, rows)
            .map_err(|e| PortError::retryable("write quarantine files", e.to_string()))?;
        crate::checkpoint::reached("quarantine");
        Ok(())
    }
}
