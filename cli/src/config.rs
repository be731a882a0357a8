//! The `tailwatch` config file (TOML). One file holds the server settings and the detection
//! tuning; every mistake is reported at start-up with the key at fault.
//!
//! ```toml
//! [server]
//! listen = "127.0.0.1:8088"
//! token = "…"              # or TAILWATCH_TOKEN; two tokens during rotation: previous_token
//! max_body_mib = 8
//! webhook_url = "https://example.com/hook"
//! slack_webhook_url = "https://hooks.slack.com/services/…"
//!
//! [detections."Tailscale.ExternalUser.Joined"]
//! org_domains = ["example.com"]
//!
//! [rules]
//! paths = ["./rules"]      # your own TOML rules, relative to this file
//! ```

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tailwatch_core::engine::{Registry, TuningConfig};
use tailwatch_core::rule::catalog::UserRules;
use tailwatch_core::rule::Definition;

/// `[server]` settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerConfig {
    /// Listen address.
    pub listen: Option<String>,
    /// Ingest token (prefer `TAILWATCH_TOKEN` or a token file: config files get copied around).
    pub token: Option<String>,
    /// A second accepted token during rotation.
    pub previous_token: Option<String>,
    /// Largest request body on the wire, MiB.
    pub max_body_mib: Option<usize>,
    /// Generic webhook receiving each alert's JSON.
    pub webhook_url: Option<String>,
    /// Slack-compatible incoming webhook.
    pub slack_webhook_url: Option<String>,
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
    /// Unreadable file, invalid TOML, or a key that is wrong (named in the message).
    pub fn load(path: Option<&Path>) -> Result<Self> {
        Self::load_with(path, &[])
    }

    /// Reads a config file (or the defaults) and the user's rules from its `[rules] paths` and
    /// from `extra_paths` (`--path`).
    ///
    /// # Errors
    /// As [`AppConfig::load`]; every mistake in a rule file, with file and line.
    pub fn load_with(path: Option<&Path>, extra_paths: &[PathBuf]) -> Result<Self> {
        let mut config = match path {
            None => AppConfig::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
                let base = path.parent().unwrap_or(Path::new("."));
                Self::parse_in(&text, base).with_context(|| format!("in config file {}", path.display()))?
            }
        };
        config.rule_paths.extend_from_slice(extra_paths);
        config.rules = UserRules::load(&config.rule_paths).map_err(|errors| {
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            anyhow::anyhow!("{} mistake(s) in rule files:\n  {}", errors.len(), lines.join("\n  "))
        })?;
        config.registry().map(drop).with_context(|| match path {
            Some(p) => format!("in config file {}", p.display()),
            None => "in the detections".to_owned(),
        })?;
        Ok(config)
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

    /// Parses config text.
    ///
    /// # Errors
    /// As [`AppConfig::load`].
    pub fn parse(text: &str) -> Result<Self> {
        let config = Self::parse_in(text, Path::new("."))?;
        // Unknown detection ids and parameters are checked when the registry is built.
        config.registry()?;
        Ok(config)
    }

    fn parse_in(text: &str, base: &Path) -> Result<Self> {
        let doc: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| anyhow::anyhow!("config is not valid TOML: {e}"))?;
        for key in doc.keys() {
            if !["server", "detections", "rules"].contains(&key.as_str()) {
                bail!("config key `{key}` is not a known section (expected [server], [rules] or [detections.\"<id>\"])");
            }
        }
        let mut server = ServerConfig::default();
        if let Some(table) = doc.get("server") {
            let table = table.as_table().context("config key `server` must be a table")?;
            for (key, value) in table {
                let text = || {
                    value
                        .as_str()
                        .map(str::to_owned)
                        .with_context(|| format!("config key `server.{key}` must be a string"))
                };
                match key.as_str() {
                    "listen" => server.listen = Some(text()?),
                    "token" => server.token = Some(text()?),
                    "previous_token" => server.previous_token = Some(text()?),
                    "webhook_url" => server.webhook_url = Some(url(&text()?, key)?),
                    "slack_webhook_url" => server.slack_webhook_url = Some(url(&text()?, key)?),
                    "max_body_mib" => {
                        let n = value
                            .as_integer()
                            .filter(|n| (1..=256).contains(n))
                            .with_context(|| format!("config key `server.{key}` must be a whole number from 1 to 256"))?;
                        server.max_body_mib = Some(n as usize);
                    }
                    other => bail!("config key `server.{other}` is not a known setting"),
                }
            }
        }
        let mut rule_paths = Vec::new();
        if let Some(rules) = doc.get("rules") {
            let table = rules.as_table().context("config key `rules` must be a table")?;
            for (key, value) in table {
                match key.as_str() {
                    "paths" => {
                        let items = value
                            .as_array()
                            .context("config key `rules.paths` must be an array of directories")?;
                        for item in items {
                            let dir = item.as_str().context("config key `rules.paths` must be an array of directories")?;
                            rule_paths.push(base.join(dir));
                        }
                    }
                    other => bail!("config key `rules.{other}` is not a known setting (expected paths)"),
                }
            }
        }
        let tuning = TuningConfig::from_table(doc.get("detections"))?;
        Ok(AppConfig {
            server,
            tuning,
            rule_paths,
            rules: UserRules::default(),
        })
    }
}

fn url(text: &str, key: &str) -> Result<String> {
    if text.starts_with("https://") || text.starts_with("http://") {
        Ok(text.to_owned())
    } else {
        bail!("config key `server.{key}` must be an http(s) URL")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_config_parses() {
        let c = AppConfig::parse(
            "[server]\nlisten = \"0.0.0.0:9000\"\nmax_body_mib = 4\n[detections.\"Tailscale.MagicDNS.Disabled\"]\nenabled = false\n",
        )
        .unwrap();
        assert_eq!(c.server.listen.as_deref(), Some("0.0.0.0:9000"));
        assert_eq!(c.server.max_body_mib, Some(4));
        assert_eq!(c.tuning.detections["Tailscale.MagicDNS.Disabled"].enabled, Some(false));
    }

    #[test]
    fn mistakes_name_the_key() {
        for (text, key) in [
            ("[server]\nlisten = 5", "server.listen"),
            ("[server]\nport = 5", "server.port"),
            ("[server]\nwebhook_url = \"ftp://x\"", "server.webhook_url"),
            ("[servers]\n", "servers"),
            ("[detections.\"No.Such.Rule\"]\n", "No.Such.Rule"),
            ("[detections.\"Tailscale.MagicDNS.Disabled\"]\nfoo = 1\n", "foo"),
        ] {
            let e = format!("{:#}", AppConfig::parse(text).unwrap_err());
            assert!(e.contains(key), "{e} should name {key}");
        }
    }
}
