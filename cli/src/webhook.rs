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
        match agent
            .post(&t.url)
            .header("content-type", "application/json")
            .send(payload.as_bytes())
        {
            Ok(_) => {
                tailwatch_local::checkpoint::reached("webhook_post");
                let _ = block_on(state.mark_delivered(&alert.alert_id, t.name));
                return;
            }
            Err(e) => {
                // Never log the URL: webhook URLs are secrets (Slack's carry the credential).
                last_error = redact(&e.to_string(), &t.url);
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

fn redact(message: &str, url: &str) -> String {
    message.replace(url, "<webhook url>")
}
