//! Optional webhook sinks: a generic webhook (POST of the alert JSON) and a Slack-compatible one
//! (`{"text": …}`). Deliveries run on their own thread with exponential backoff, so a slow or down
//! receiver never delays ingest. The alert is already in the alerts file before it gets here, and
//! each delivery is remembered in the state database, so a failure loses nothing and a restart
//! re-sends only what was not delivered.

use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Result;
use tailwatch_core::engine::state::block_on;
use tailwatch_core::engine::{Alert, AlertState};
use tailwatch_core::time::Timestamp;
use tailwatch_local::SqliteAlertState;

use crate::config::ServerConfig;

#[derive(Clone)]
struct Target {
    name: &'static str,
    url: String,
    slack: bool,
}

/// Sends alerts to the configured webhooks in the background.
pub struct WebhookSender {
    tx: Option<mpsc::Sender<Alert>>,
    handle: Option<JoinHandle<()>>,
    targets: Vec<Target>,
}

const ATTEMPTS: u32 = 8;

/// How far back [`WebhookSender::enqueue_undelivered`] looks at start: a webhook added to an
/// existing data dir receives the alerts of this many hours, not the whole history.
pub const RESEND_WINDOW_HOURS: i64 = 24;

impl WebhookSender {
    /// Starts the sender thread (no thread when no webhook is configured).
    ///
    /// # Errors
    /// When the state database cannot be opened by the sender.
    pub fn start(config: &ServerConfig, data_dir: &Path) -> Result<Self> {
        let mut targets = Vec::new();
        if let Some(url) = &config.webhook_url {
            targets.push(Target {
                name: "webhook",
                url: url.clone(),
                slack: false,
            });
        }
        if let Some(url) = &config.slack_webhook_url {
            targets.push(Target {
                name: "slack",
                url: url.clone(),
                slack: true,
            });
        }
        if targets.is_empty() {
            return Ok(WebhookSender {
                tx: None,
                handle: None,
                targets,
            });
        }
        let state = SqliteAlertState::open(&data_dir.join("state.db"))?;
        let (tx, rx) = mpsc::channel::<Alert>();
        let thread_targets = targets.clone();
        let handle = std::thread::Builder::new().name("webhooks".into()).spawn(move || {
            let agent = ureq::Agent::new_with_config(
                ureq::Agent::config_builder()
                    .timeout_global(Some(Duration::from_secs(10)))
                    .http_status_as_error(true)
                    .build(),
            );
            for alert in rx {
                for t in &thread_targets {
                    deliver_with_retries(&agent, t, &alert, &state);
                }
            }
        })?;
        Ok(WebhookSender {
            tx: Some(tx),
            handle: Some(handle),
            targets,
        })
    }

    /// Queues an alert for every webhook it was not yet delivered to; returns whether it was queued.
    pub fn enqueue(&self, alert: &Alert, state: &SqliteAlertState) -> bool {
        let Some(tx) = &self.tx else { return false };
        let pending = self
            .targets
            .iter()
            .any(|t| !block_on(state.is_delivered(&alert.alert_id, t.name)).unwrap_or(false));
        pending && tx.send(alert.clone()).is_ok()
    }

    /// At start: queues the alerts of the last [`RESEND_WINDOW_HOURS`] in the alerts files that a
    /// webhook has not acknowledged — the process stopped between writing an alert and its
    /// delivery (the batch may already be marked processed, so reprocessing would not find them),
    /// or a delivery gave up. Returns how many were queued.
    ///
    /// # Errors
    /// An unreadable alerts file.
    pub fn enqueue_undelivered(&self, alerts_dir: &Path, state: &SqliteAlertState) -> Result<usize> {
        if self.tx.is_none() {
            return Ok(0);
        }
        let since = Timestamp::now().unix_millis() - RESEND_WINDOW_HOURS * 3_600_000;
        let mut queued = 0;
        for alert in tailwatch_local::read_alerts(alerts_dir)? {
            let recent = Timestamp::parse(&alert.created_at).is_ok_and(|t| t.unix_millis() >= since);
            if recent && self.enqueue(&alert, state) {
                queued += 1;
            }
        }
        Ok(queued)
    }

    /// Waits for queued deliveries to finish (or give up).
    pub fn finish(mut self) {
        self.tx.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn body(t: &Target, alert: &Alert) -> String {
    if t.slack {
        serde_json::json!({ "text": format!("*{}*\n{}\n_{}_ · {} event(s) · first at {}", alert.subject(), alert.description, alert.id, alert.event_count, alert.first_event_time) }).to_string()
    } else {
        alert.to_json()
    }
}

fn deliver_with_retries(agent: &ureq::Agent, t: &Target, alert: &Alert, state: &SqliteAlertState) {
    if block_on(state.is_delivered(&alert.alert_id, t.name)).unwrap_or(false) {
        return;
    }
    let payload = body(t, alert);
    let mut last_error = String::new();
    for attempt in 0..ATTEMPTS {
        match post_once(agent, &t.url, &payload) {
            Ok(()) => {
                tailwatch_local::checkpoint::reached("webhook_post");
                let _ = block_on(state.mark_delivered(&alert.alert_id, t.name));
                return;
            }
            Err(error) => {
                last_error = error;
                crate::output::warn(
                    "webhook delivery failed",
                    &[
                        ("sink", t.name.into()),
                        ("alert_id", alert.alert_id.as_str().into()),
                        ("attempt", (attempt + 1).into()),
                        ("of", ATTEMPTS.into()),
                        ("error", last_error.as_str().into()),
                    ],
                );
                std::thread::sleep(Duration::from_millis(250 * 2u64.pow(attempt.min(8))));
            }
        }
    }
    // Data not lost (the alert is in the alerts file) but nobody was paged: the operator must act.
    crate::output::error(
        "webhook delivery gave up; the alert is in the alerts file and is retried at the next start",
        &[("sink", t.name.into()), ("alert_id", alert.alert_id.as_str().into())],
    );
    let _ = state.record_delivery_failure(&alert.alert_id, t.name, &last_error);
}

/// One POST; the error, when it fails, with the URL redacted.
fn post_once(agent: &ureq::Agent, url: &str, payload: &str) -> Result<(), String> {
    agent
        .post(url)
        .header("content-type", "application/json")
        .send(payload.as_bytes())
        .map(|_| ())
        // Never log the URL: webhook URLs are secrets (Slack's carry the credential).
        .map_err(|e| redact(&e.to_string(), url))
}

/// `message` without the URL or any secret-bearing part of it: the whole URL, the URL without its
/// scheme, the path with its query, the path, the query and each query value (an error may quote
/// any of them, e.g. a request line or a resolved host with its path). The host alone is kept.
fn redact(message: &str, url: &str) -> String {
    let without_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path_and_query = without_scheme.find('/').map_or("", |i| &without_scheme[i..]);
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let mut parts = vec![url, without_scheme, path_and_query, path, query];
    parts.extend(query.split('&').filter_map(|kv| kv.split_once('=').map(|(_, v)| v)));
    // Longest first, so a part is replaced before a piece of it; "/" and empty parts carry nothing.
    parts.retain(|p| p.len() > 1);
    parts.sort_by_key(|p| std::cmp::Reverse(p.len()));
    let mut out = message.to_owned();
    for p in parts {
        out = out.replace(p, "<webhook url>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRETS: &[&str] = &["T0SECRET", "B0SECRET", "PATHSECRET", "QUERYSECRET"];

    fn assert_clean(text: &str) {
        for s in SECRETS {
            assert!(!text.contains(s), "{s} in {text:?}");
        }
    }

    #[test]
    fn redaction_removes_the_url_and_each_secret_part() {
        let url = "https://hooks.slack.com/services/T0SECRET/B0SECRET/PATHSECRET?token=QUERYSECRET&x=1";
        for message in [
            format!("io: Connection refused for {url}"),
            "POST /services/T0SECRET/B0SECRET/PATHSECRET?token=QUERYSECRET&x=1 HTTP/1.1".to_owned(),
            "dns failed: hooks.slack.com/services/T0SECRET/B0SECRET/PATHSECRET".to_owned(),
            "bad query token=QUERYSECRET".to_owned(),
        ] {
            let r = redact(&message, url);
            assert_clean(&r);
            assert!(r.contains("<webhook url>"), "{r}");
        }
        assert_eq!(redact("timeout", url), "timeout");
    }

    /// A delivery to an unreachable URL (a closed port, a host that does not resolve, a server
    /// answering 500) fails with an error that names none of the URL's secret parts.
    #[test]
    fn a_failed_delivery_never_names_the_url() {
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(5)))
                .http_status_as_error(true)
                .build(),
        );
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        // A server answering every request 500.
        let failing = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let failing_addr = failing.local_addr().unwrap();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            for mut c in failing.incoming().map_while(Result::ok) {
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf);
                let _ = c.write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n");
            }
        });
        let path = "/services/T0SECRET/B0SECRET/PATHSECRET?token=QUERYSECRET";
        for url in [
            format!("http://{closed}{path}"),
            format!("http://{failing_addr}{path}"),
            format!("http://tailwatch-test.invalid{path}"),
            format!("https://{closed}{path}"),
        ] {
            let error = post_once(&agent, &url, "{}").expect_err(&url);
            assert!(!error.is_empty());
            assert_clean(&error);
        }
    }
}
