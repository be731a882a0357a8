//! # tailwatch-local
//!
//! tailwatch-core's ports implemented on the local disk, with the same layout as the AWS buckets so
//! any engine that reads hive-partitioned gzip NDJSON (DuckDB, Spark, Athena after `aws s3 sync`)
//! reads the local lake unchanged:
//!
//! ```text
//! <data-dir>/raw/<source>/dt=YYYY-MM-DD/hour=HH/<uuid>.ndjson.zst
//! <data-dir>/lake/<table>/dt=YYYY-MM-DD/hour=HH/<uuid>.json.gz
//! <data-dir>/quarantine/…  (the tailwatch_quarantine table, same layout)
//! <data-dir>/alerts/YYYY-MM-DD.ndjson  (one alert payload per line)
//! <data-dir>/state.db  (alert state: dedup, thresholds, first-seen, delivered marks)
//! ```

mod alerts;
pub mod checkpoint;
mod lake;
mod raw;
mod state;
mod stats;

pub use alerts::{read_alerts, render, Console, FileAlertSink};
pub use lake::{FileLakeSink, FileQuarantineSink};
pub use raw::DirRawStore;
pub use state::SqliteAlertState;
pub use stats::{StreamCount, StreamStat};

use std::io::Write;
use std::path::Path;

/// Writes a file atomically: to a temporary name in the same directory, fsynced, then renamed, so a
/// crash never leaves a half-written object where a reader would find it.
///
/// # Errors
/// The I/O error, with the path.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{}.tmp", uuid::Uuid::new_v4()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}
