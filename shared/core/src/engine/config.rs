//! Tuning without code changes: a TOML file (the Lambda reads the same text from its config) can
//! disable a detection, override its severity, dedup period and threshold, and set its parameters.
//!
//! ```toml
//! [detections."Tailscale.ExternalUser.Joined"]
//! org_domains = ["example.com"]
//!
//! [detections."Tailscale.Network.PortScan"]
//! severity = "HIGH"
//! min_targets = 50
//! ```
//!
//! Every mistake is an error at start-up that names the key: an unknown detection id, an unknown
//! parameter, a value of the wrong type.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use super::Severity;

/// A configuration mistake, naming the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file is not valid TOML.
    #[error("config is not valid TOML: {0}")]
    Syntax(String),
    /// A key has the wrong type or value.
    #[error("config key `{key}`: {message}")]
    Invalid {
        /// Dotted key.
        key: String,
        /// What is expected.
        message: String,
    },
    /// A detection id that does not exist.
    #[error("config key `detections.\"{0}\"`: no detection has this id (see `tailwatch detections list`)")]
    UnknownDetection(String),
    /// A key that is not a setting.
    #[error("config key `{0}` is not a known setting")]
    UnknownKey(String),
}

/// Per-detection settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DetectionConfig {
    /// Force on or off.
    pub enabled: Option<bool>,
    /// Override every severity the detection returns.
    pub severity: Option<Severity>,
    /// Override the dedup period.
    pub dedup_minutes: Option<u32>,
    /// Override the threshold.
    pub threshold: Option<u32>,
    /// Detection-specific parameters.
    pub params: toml::Table,
}

/// The `[detections]` part of the config file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TuningConfig {
    /// Settings by detection id.
    pub detections: BTreeMap<String, DetectionConfig>,
}

impl TuningConfig {
    /// Reads the `[detections]` table of a TOML document (other top-level tables belong to the
    /// program embedding the engine and are ignored here).
    ///
    /// # Errors
    /// [`ConfigError`] naming the key at fault.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::Syntax(e.to_string()))?;
        Self::from_table(doc.get("detections"))
    }

    /// Reads from an already parsed `detections` value.
    ///
    /// # Errors
    /// [`ConfigError`] naming the key at fault.
    pub fn from_table(detections: Option<&toml::Value>) -> Result<Self, ConfigError> {
        let mut out = TuningConfig::default();
        let Some(detections) = detections else { return Ok(out) };
        let table = detections
            .as_table()
            .ok_or_else(|| invalid("detections", "expected a table of detection ids"))?;
        for (id, value) in table {
            let key = format!("detections.\"{id}\"");
            let mut settings = value.as_table().cloned().ok_or_else(|| invalid(&key, "expected a table"))?;
            let mut cfg = DetectionConfig::default();
            if let Some(v) = settings.remove("enabled") {
                cfg.enabled = Some(
                    v.as_bool()
                        .ok_or_else(|| invalid(&format!("{key}.enabled"), "expected true or false"))?,
                );
            }
            if let Some(v) = settings.remove("severity") {
                let text = v.as_str().unwrap_or_default();
                cfg.severity = Some(
                    Severity::parse(text)
                        .ok_or_else(|| invalid(&format!("{key}.severity"), "expected one of INFO, LOW, MEDIUM, HIGH, CRITICAL"))?,
                );
            }
            if let Some(v) = settings.remove("dedup_minutes") {
                cfg.dedup_minutes = Some(positive_u32(&v, &format!("{key}.dedup_minutes"))?);
            }
            if let Some(v) = settings.remove("threshold") {
                cfg.threshold = Some(positive_u32(&v, &format!("{key}.threshold"))?);
            }
            cfg.params = settings;
            out.detections.insert(id.clone(), cfg);
        }
        Ok(out)
    }
}

fn invalid(key: &str, message: &str) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        message: message.to_owned(),
    }
}

fn positive_u32(v: &toml::Value, key: &str) -> Result<u32, ConfigError> {
    v.as_integer()
        .and_then(|i| u32::try_from(i).ok())
        .filter(|i| *i > 0)
        .ok_or_else(|| invalid(key, "expected a whole number of at least 1"))
}

/// A detection's parameters, read once at start-up. Every read key is remembered so that
/// [`Params::finish`] can reject keys no detection reads (typos).
#[derive(Debug)]
pub struct Params<'a> {
    id: &'a str,
    table: Option<&'a toml::Table>,
    used: RefCell<BTreeSet<String>>,
}

impl<'a> Params<'a> {
    /// Parameters for detection `id` (none configured: every default applies).
    pub fn new(id: &'a str, table: Option<&'a toml::Table>) -> Self {
        Params {
            id,
            table,
            used: RefCell::new(BTreeSet::new()),
        }
    }

    fn get(&self, key: &str) -> Option<&'a toml::Value> {
        self.used.borrow_mut().insert(key.to_owned());
        self.table.and_then(|t| t.get(key))
    }

    fn key(&self, key: &str) -> String {
        format!("detections.\"{}\".{key}", self.id)
    }

    /// A list of strings.
    ///
    /// # Errors
    /// When the value is not an array of strings.
    pub fn strings(&self, key: &str, default: &[&str]) -> Result<Vec<String>, ConfigError> {
        match self.get(key) {
            None => Ok(default.iter().map(|s| (*s).to_owned()).collect()),
            Some(toml::Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| invalid(&self.key(key), "expected an array of strings"))
                })
                .collect(),
            Some(_) => Err(invalid(&self.key(key), "expected an array of strings")),
        }
    }

    /// A list of port numbers.
    ///
    /// # Errors
    /// When the value is not an array of integers in 0–65535.
    pub fn ports(&self, key: &str, default: &[u16]) -> Result<Vec<u16>, ConfigError> {
        match self.get(key) {
            None => Ok(default.to_vec()),
            Some(toml::Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_integer()
                        .and_then(|i| u16::try_from(i).ok())
                        .ok_or_else(|| invalid(&self.key(key), "expected an array of port numbers (0-65535)"))
                })
                .collect(),
            Some(_) => Err(invalid(&self.key(key), "expected an array of port numbers (0-65535)")),
        }
    }

    /// A non-negative integer.
    ///
    /// # Errors
    /// When the value is not a non-negative integer.
    pub fn u64(&self, key: &str, default: u64) -> Result<u64, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_integer()
                .and_then(|i| u64::try_from(i).ok())
                .ok_or_else(|| invalid(&self.key(key), "expected a non-negative whole number")),
        }
    }

    /// Rejects keys the detection never read.
    ///
    /// # Errors
    /// [`ConfigError::UnknownKey`] for the first unread key.
    pub fn finish(self) -> Result<(), ConfigError> {
        let used = self.used.borrow();
        if let Some(table) = self.table {
            if let Some(k) = table.keys().find(|k| !used.contains(*k)) {
                return Err(ConfigError::UnknownKey(self.key(k)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_overrides_and_params() {
        let cfg = TuningConfig::from_toml_str(
            r#"
            [server]
            listen = "ignored here"
            [detections."A.B"]
            enabled = false
            severity = "critical"
            dedup_minutes = 5
            threshold = 3
            org_domains = ["example.com"]
            "#,
        )
        .unwrap();
        let d = &cfg.detections["A.B"];
        assert_eq!(
            (d.enabled, d.severity, d.dedup_minutes, d.threshold),
            (Some(false), Some(Severity::Critical), Some(5), Some(3))
        );
        let p = Params::new("A.B", Some(&d.params));
        assert_eq!(p.strings("org_domains", &[]).unwrap(), vec!["example.com"]);
        p.finish().unwrap();
    }

    #[test]
    fn mistakes_name_the_key() {
        let e = TuningConfig::from_toml_str("[detections.\"A\"]\nseverity = \"urgent\"").unwrap_err();
        assert_eq!(
            e.to_string(),
            "config key `detections.\"A\".severity`: expected one of INFO, LOW, MEDIUM, HIGH, CRITICAL"
        );
        let e = TuningConfig::from_toml_str("[detections.\"A\"]\nthreshold = 0").unwrap_err();
        assert!(e.to_string().contains("detections.\"A\".threshold"));
        let e = TuningConfig::from_toml_str("detections = [").unwrap_err();
        assert!(matches!(e, ConfigError::Syntax(_)));
        let table: toml::Table = "org_domain = [\"x\"]\nports = [1, 99999]".parse().unwrap();
        let p = Params::new("A", Some(&table));
        assert!(p.ports("ports", &[]).unwrap_err().to_string().contains("detections.\"A\".ports"));
        assert_eq!(
            p.finish().unwrap_err(),
            ConfigError::UnknownKey("detections.\"A\".org_domain".into())
        );
    }
}
