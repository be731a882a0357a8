//! The `tailwatch` config file (TOML). One file holds the server settings and the detection
//! tuning. The `[server]` section is a serde struct with `deny_unknown_fields`, so every mistake is
//! reported with the file, line and column (from the `toml` crate's spans) and, for an unknown key,
//! the keys that are valid; detection tuning errors are located the same way.
//! `tailwatch config validate` and `tailwatch serve` use the same loader.
//!
//! ```toml
//! [server]
//! listen = "127.0.0.1:8088"
//! token = "…"              # or TAILWATCH_TOKEN; two tokens during rotation: previous_token
//! max_body_mib = 8
//! webhook_url = "https://example.com/hook"
//! slack_webhook_url = "https://hooks.slack.com/services/…"
//! retention_days = 30
//!
//! [detections."Tailscale.ExternalUser.Joined"]
//! org_domains = ["example.com"]
//!
//! [rules]
//! paths = ["./rules"]      # your own TOML rules, relative to this file
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde::{Deserialize, Deserializer};
use tailwatch_core::engine::{ConfigError, Registry, TuningConfig};
use tailwatch_core::rule::catalog::UserRules;
use tailwatch_core::rule::Definition;

/// `[server]` settings.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Listen address, e.g. `127.0.0.1:8088`.
    pub listen: Option<String>,
    /// Ingest token (prefer `TAILWATCH_TOKEN` or a token file: config files get copied around).
    pub token: Option<String>,
    /// A second accepted token during rotation.
    pub previous_token: Option<String>,
    /// Largest request body on the wire, MiB (1–256).
    #[serde(default, deserialize_with = "body_mib")]
    pub max_body_mib: Option<usize>,
    /// Generic webhook receiving each alert's JSON.
    #[serde(default, deserialize_with = "http_url")]
    pub webhook_url: Option<String>,
    /// Slack-compatible incoming webhook.
    #[serde(default, deserialize_with = "http_url")]
    pub slack_webhook_url: Option<String>,
    /// Days to keep raw batches, lake and quarantine partitions and state (`--retention-days`).
    #[serde(default, deserialize_with = "retention")]
    pub retention_days: Option<u32>,
}

fn http_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(d)?;
    if text.starts_with("https://") || text.starts_with("http://") {
        Ok(Some(text))
    } else {
        Err(serde::de::Error::custom("must be an http(s) URL"))
    }
}

fn body_mib<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    let n = i64::deserialize(d)?;
    if (1..=256).contains(&n) {
        Ok(Some(n as usize))
    } else {
        Err(serde::de::Error::custom("must be a whole number from 1 to 256"))
    }
}

fn retention<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let n = i64::deserialize(d)?;
    if (1..=36_500).contains(&n) {
        Ok(Some(n as u32))
    } else {
        Err(serde::de::Error::custom("must be a whole number of days from 1 to 36500"))
    }
}

/// `[rules]`: where the user's own TOML rules live.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesSection {
    /// Directories (or files) of TOML rules, relative to the config file.
    #[serde(default)]
    paths: Vec<String>,
}

/// The file as serde reads it; detection tuning is validated by the engine.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    server: ServerConfig,
    #[serde(default)]
    rules: RulesSection,
    detections: Option<toml::Value>,
}

/// The whole file.
#[derive(Debug, Clone, Default)]
pub struct AppConfig {
    /// Server settings.
    pub server: ServerConfig,
    /// Detection tuning.
    pub tuning: TuningConfig,
    /// Directories (or files) of the user's TOML rules: `[rules] paths` (relative to the config
    /// file) and `--path`.
    pub rule_paths: Vec<PathBuf>,
    /// The user's rules, loaded from `rule_paths`.
    pub rules: UserRules,
}

impl AppConfig {
    /// Reads a config file, or the defaults when `path` is `None`.
    ///
    /// # Errors
    /// Unreadable file, invalid TOML, or a key that is wrong: `FILE:LINE:COL: message`.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        Self::load_with(path, &[])
    }

    /// Reads a config file (or the defaults) and the user's rules from its `[rules] paths` and
    /// from `extra_paths` (`--path`).
    ///
    /// # Errors
    /// As [`AppConfig::load`]; every mistake in a rule file, with file and line.
    pub fn load_with(path: Option<&Path>, extra_paths: &[PathBuf]) -> Result<Self> {
        match path {
            None => Self::from_text("", "<defaults>", Path::new("."), extra_paths),
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
                let base = path.parent().unwrap_or(Path::new("."));
                Self::from_text(&text, &path.display().to_string(), base, extra_paths)
            }
        }
    }

    /// Every detection definition: built-in, the user's Rust detections compiled in, the user's
    /// TOML rules.
    ///
    /// # Errors
    /// A user detection reusing an id.
    pub fn definitions(&self) -> Result<Vec<&dyn Definition>> {
        Ok(self.rules.definitions(tailwatch_user::DETECTIONS)?)
    }

    /// The registry with the tuning applied to every detection, the user's included.
    ///
    /// # Errors
    /// An unknown detection id or parameter in `[detections]`, a duplicate id.
    pub fn registry(&self) -> Result<Registry> {
        Ok(Registry::build(&self.definitions()?, &self.tuning)?)
    }

    /// Parses config text (errors name the file as `<config>`).
    ///
    /// # Errors
    /// As [`AppConfig::load`].
    #[cfg(test)]
    pub fn parse(text: &str) -> Result<Self> {
        Self::from_text(text, "<config>", Path::new("."), &[])
    }

    fn from_text(text: &str, file: &str, base: &Path, extra_paths: &[PathBuf]) -> Result<Self> {
        let doc: FileConfig = toml::from_str(text).map_err(|e| {
            let (line, col) = e.span().map_or((1, 1), |s| line_col(text, s.start));
            let key = key_at(text, line).map(|k| format!(" (key `{k}`)")).unwrap_or_default();
            anyhow::anyhow!("{file}:{line}:{col}: {}{key}", e.message().trim_end())
        })?;
        let located = |e: ConfigError| {
            let (line, col) = locate_config_error(text, &e).unwrap_or((1, 1));
            anyhow::anyhow!("{file}:{line}:{col}: {e}")
        };
        let tuning = TuningConfig::from_table(doc.detections.as_ref()).map_err(located)?;
        let mut rule_paths: Vec<PathBuf> = doc.rules.paths.iter().map(|dir| base.join(dir)).collect();
        rule_paths.extend_from_slice(extra_paths);
        let rules = UserRules::load(&rule_paths).map_err(|errors| {
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            anyhow::anyhow!("{} mistake(s) in rule files:\n  {}", errors.len(), lines.join("\n  "))
        })?;
        let config = AppConfig {
            server: doc.server,
            tuning,
            rule_paths,
            rules,
        };
        // Unknown detection ids and parameters are checked when the registry is built.
        Registry::build(&config.definitions()?, &config.tuning).map_err(located)?;
        Ok(config)
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The dotted key defined on a 1-based line: the nearest `[section]` above it plus the line's key.
fn key_at(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let here = lines.get(line.checked_sub(1)?)?.trim();
    if here.starts_with('[') {
        return Some(here.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
    }
    let key = here.split('=').next()?.trim();
    if key.is_empty() {
        return None;
    }
    let section = lines[..line - 1]
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
    Some(section.map_or_else(|| key.to_owned(), |s| format!("{s}.{key}")))
}

/// Where the engine's error points: the detection's header, or the setting under it.
fn locate_config_error(text: &str, e: &ConfigError) -> Option<(usize, usize)> {
    let msg = e.to_string();
    let key = msg.split('`').nth(1)?;
    let (id, setting) = match key.strip_prefix("detections.\"") {
        Some(rest) => {
            let (id, after) = rest.split_once('"')?;
            (id, after.strip_prefix('.'))
        }
        None => (key, None),
    };
    let lines: Vec<&str> = text.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.trim_start().starts_with('[') && l.contains(&format!("\"{id}\"")))?;
    if let Some(setting) = setting {
        for (i, l) in lines.iter().enumerate().skip(header + 1) {
            let t = l.trim_start();
            if t.starts_with('[') {
                break;
            }
            if t.split('=').next().map(str::trim) == Some(setting) {
                return Some((i + 1, l.len() - t.len() + 1));
            }
        }
    }
    Some((header + 1, 1))
}

/// `tailwatch config …`.
#[derive(clap::Subcommand, Debug)]
pub enum ConfigCommand {
    /// Check a config file: exit 0 when valid; else print FILE:LINE:COL and the valid keys, exit 1.
    Validate(ValidateArgs),
}

/// Arguments of `tailwatch config validate`.
#[derive(clap::Args, Debug)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub config: crate::ConfigArg,
}

/// Runs `tailwatch config …`.
///
/// # Errors
/// The first mistake in the file.
pub fn run(cmd: ConfigCommand) -> Result<ExitCode> {
    match cmd {
        ConfigCommand::Validate(args) => {
            let Some(path) = args.config.config.as_deref() else {
                anyhow::bail!("no config file given: pass --config FILE or set TAILWATCH_CONFIG");
            };
            let config = AppConfig::load(Some(path))?;
            println!("{}: valid ({} detection(s) tuned)", path.display(), config.tuning.detections.len());
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_config_parses() {
        let c = AppConfig::parse(
            "[server]\nlisten = \"0.0.0.0:9000\"\nmax_body_mib = 4\nretention_days = 30\n[detections.\"Tailscale.MagicDNS.Disabled\"]\nenabled = false\n",
        )
        .unwrap();
        assert_eq!(c.server.listen.as_deref(), Some("0.0.0.0:9000"));
        assert_eq!(c.server.max_body_mib, Some(4));
        assert_eq!(c.server.retention_days, Some(30));
        assert_eq!(c.tuning.detections["Tailscale.MagicDNS.Disabled"].enabled, Some(false));
    }

    #[test]
    fn mistakes_name_the_key_and_the_line() {
        for (text, key, line) in [
            ("[server]\nlisten = 5", "server.listen", 2),
            ("[server]\nport = 5", "server.port", 2),
            ("# c\n[server]\nwebhook_url = \"ftp://x\"", "server.webhook_url", 3),
            ("[server]\nmax_body_mib = 0", "server.max_body_mib", 2),
            ("[servers]\n", "servers", 1),
            ("[server]\n\n[detections.\"No.Such.Rule\"]\n", "No.Such.Rule", 3),
            ("[detections.\"Tailscale.MagicDNS.Disabled\"]\nenabled = true\nfoo = 1\n", "foo", 3),
        ] {
            let e = format!("{:#}", AppConfig::parse(text).unwrap_err());
            assert!(e.contains(key), "{e} should name {key}");
            assert!(e.starts_with(&format!("<config>:{line}:")), "{e} should point at line {line}");
        }
    }

    #[test]
    fn an_unknown_key_lists_the_valid_ones() {
        let e = format!("{:#}", AppConfig::parse("[server]\nlisen = \"x\"\n").unwrap_err());
        for valid in ["listen", "token", "webhook_url", "retention_days"] {
            assert!(e.contains(valid), "{e} should list {valid}");
        }
    }
}
