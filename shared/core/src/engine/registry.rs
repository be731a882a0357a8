//! The registry: every detection in the catalog, built once at start-up with its tuning applied.

use super::config::{ConfigError, Params, TuningConfig};
use super::{Detection, LogType, Meta, Severity};
use crate::rule::Definition;

/// A built detection with its effective settings.
pub struct Entry {
    /// The detection.
    pub detection: Box<dyn Detection>,
    /// Whether it runs.
    pub enabled: bool,
    /// Severity override from the config.
    pub severity_override: Option<Severity>,
    /// Effective dedup period.
    pub dedup_minutes: u32,
    /// Effective threshold.
    pub threshold: u32,
    /// Where the detection comes from: `built-in` or the file that defines it.
    pub source: String,
}

impl Entry {
    /// The detection's metadata.
    pub fn meta(&self) -> &Meta {
        self.detection.meta()
    }

    /// Whether it reads rows of this log type.
    pub fn reads(&self, log_type: LogType) -> bool {
        self.meta().log_types.contains(&log_type)
    }
}

/// Every detection, built.
pub struct Registry {
    entries: Vec<Entry>,
}

impl Registry {
    /// Builds `specs` with `config` applied.
    ///
    /// # Errors
    /// An unknown detection id in the config, or a detection's parameter error.
    pub fn build(defs: &[&dyn Definition], config: &TuningConfig) -> Result<Self, ConfigError> {
        if let Some(unknown) = config.detections.keys().find(|id| !defs.iter().any(|d| d.meta().id == id.as_str())) {
            return Err(ConfigError::UnknownDetection(unknown.clone()));
        }
        let mut entries = Vec::with_capacity(defs.len());
        for def in defs {
            let meta = def.meta();
            let cfg = config.detections.get(meta.id);
            let params = Params::new(meta.id, cfg.map(|c| &c.params));
            let detection = def.build(&params)?;
            params.finish()?;
            entries.push(Entry {
                detection,
                enabled: cfg.and_then(|c| c.enabled).unwrap_or(meta.enabled_by_default),
                severity_override: cfg.and_then(|c| c.severity),
                dedup_minutes: cfg.and_then(|c| c.dedup_minutes).unwrap_or(meta.dedup_minutes),
                threshold: cfg.and_then(|c| c.threshold).unwrap_or(meta.threshold),
                source: def.source().to_owned(),
            });
        }
        Ok(Registry { entries })
    }

    /// The built-in catalog with `config` applied.
    ///
    /// # Errors
    /// As [`Registry::build`].
    pub fn catalog(config: &TuningConfig) -> Result<Self, ConfigError> {
        Self::build(crate::detections::ALL, config)
    }

    /// Every entry, enabled or not, in catalog order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Keeps only the detections whose id is in `ids` (backtests of one detection).
    pub fn retain_ids(&mut self, ids: &[String]) {
        self.entries.retain(|e| ids.iter().any(|id| id == e.meta().id));
    }
}
