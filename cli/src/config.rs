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
//! ```

use std::path::Path;

use anyhow::{bail, Context, Result};
use tailwatch_core::engine::TuningConfig;

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
}

impl AppConfig {
    /// Reads a config file, or the defaults when `path` is `None`.
    ///
    /// # Errors
    /// Unreadable file, invalid TOML, or a key that is wrong (named in the message).
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let Some(path) = path else { return Ok(AppConfig::default()) };
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in config file {}", path.display()))
    }

    /// Parses config text.
    ///
    /// # Errors
    /// As [`AppConfig::load`].
    pub fn parse(text: &str) -> Result<Self> {
        let doc: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| anyhow::anyhow!("config is not valid TOML: {e}"))?;
        for key in doc.keys() {
            if key != "server" && key != "detections" {
                bail!("config key `{key}` is not a known section (expected [server] or [detections.\"<id>\"])");
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
        let tuning = TuningConfig::from_table(doc.get("detections"))?;
        // Unknown detection ids and parameters are checked when the registry is built.
        tailwatch_core::engine::Registry::catalog(&tuning)?;
        Ok(AppConfig { server, tuning })
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
