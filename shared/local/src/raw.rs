//! Raw store on disk: `<data-dir>/raw/…` mirrors the raw bucket's keys.

use std::path::PathBuf;

use tailwatch_core::ports::{PortError, RawStore};

/// Raw batches under a directory; keys are relative paths (`raw/<source>/dt=…/….ndjson.zst`).
#[derive(Debug, Clone)]
pub struct DirRawStore {
    root: PathBuf,
}

impl DirRawStore {
    /// A store rooted at the data dir.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        DirRawStore { root: data_dir.into() }
    }

    /// The file a key maps to.
    pub fn path_of(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }
}

impl RawStore for DirRawStore {
    async fn put_raw(&self, key: &str, zstd_ndjson: Vec<u8>) -> Result<(), PortError> {
        crate::write_atomically(&self.path_of(key), &zstd_ndjson)
            .map_err(|e| PortError::retryable(format!("put raw batch {key}"), e.to_string()))?;
        crate::checkpoint::reached("raw");
        Ok(())
    }
}
