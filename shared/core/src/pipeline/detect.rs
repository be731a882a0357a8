//! Detect stage: rows → detections → alert rows in the lake → each alert delivered once per sink.
//!
//! Retries are safe: the state port is idempotent per (detection, row), so a retried batch
//! re-produces the same alerts with the same ids, and a delivered mark per (alert, sink) keeps a
//! retry from paging twice. An alert is marked delivered only after its sink accepted it.

use futures_util::stream::{self, StreamExt};

use crate::engine::run::{evaluate, EvalStats};
use crate::engine::{Alert, AlertState, Registry};
use crate::lake::{LakeRow, TAILSCALE_AUDIT, TAILSCALE_NETWORK};
use crate::ports::{AlertSink, LakeSink, PortError};
use crate::time::Timestamp;

/// What one detect run did.
#[derive(Debug, Default)]
pub struct DetectReport {
    /// Engine counters.
    pub stats: EvalStats,
    /// Alerts produced (including re-produced ones already delivered before).
    pub alerts: Vec<Alert>,
    /// Alerts delivered by this run.
    pub delivered: usize,
}

impl DetectReport {
    /// Adds another run's results (a later chunk of the same batch).
    pub fn merge(&mut self, other: DetectReport) {
        self.stats.rows += other.stats.rows;
        self.stats.matches += other.stats.matches;
        self.stats.notifications += other.stats.notifications;
        self.alerts.extend(other.alerts);
        self.delivered += other.delivered;
    }
}

/// Alerts checked, delivered and marked at once: an SNS publish or a DynamoDB round trip is
/// milliseconds, and a batch's alerts are independent. It is also the bound on re-pages when the
/// store fails mid-batch: every alert published and not yet marked is published again (same alert
/// id) by the retry, so at most this many, where one at a time re-pages at most one.
pub const DELIVERY_CONCURRENCY: usize = 8;

/// Runs detections over `rows` from `batch` and delivers the alerts.
///
/// # Errors
/// A state, lake or sink failure. Re-run the same batch: nothing is delivered twice.
pub async fn detect<S: AlertState, A: AlertSink, L: LakeSink>(
    registry: &Registry,
    rows: &[LakeRow],
    batch: &str,
    state: &S,
    sink: &A,
    lake: &L,
    now: Timestamp,
) -> Result<DetectReport, PortError> {
    let (alerts, stats) = evaluate(registry, rows, state, now).await?;
    // Alerts a previous run of this batch (or an overlapping batch) already delivered are
    // re-produced by the idempotent state but neither written to the lake again nor re-sent.
    // (Futures built in loops, not closures: a closure's lifetimes make the async fn not `Send`.)
    let mut checks = Vec::with_capacity(alerts.len());
    for alert in &alerts {
        checks.push(state.is_delivered(&alert.alert_id, sink.name()));
    }
    let delivered_before: Vec<Result<bool, PortError>> = stream::iter(checks).buffered(DELIVERY_CONCURRENCY).collect().await;
    let mut fresh = Vec::new();
    for (alert, before) in alerts.iter().zip(delivered_before) {
        if !before? {
            fresh.push(alert);
        }
    }
    if !fresh.is_empty() {
        let records = fresh.iter().map(|a| a.lake_record(batch)).collect();
        lake.put_rows(batch, records).await?;
    }
    // Each alert is marked delivered right after its sink took it; alerts go out concurrently and
    // every one in flight finishes (none is cancelled between its delivery and its mark) before
    // the first failure, if any, is returned.
    let mut deliveries = Vec::with_capacity(fresh.len());
    for alert in &fresh {
        deliveries.push(deliver_and_mark(alert, sink, state));
    }
    let results: Vec<Result<(), PortError>> = stream::iter(deliveries).buffer_unordered(DELIVERY_CONCURRENCY).collect().await;
    let delivered = results.iter().filter(|r| r.is_ok()).count();
    if let Some(err) = results.into_iter().find_map(Result::err) {
        return Err(err);
    }
    Ok(DetectReport { stats, alerts, delivered })
}

async fn deliver_and_mark<S: AlertState, A: AlertSink>(alert: &Alert, sink: &A, state: &S) -> Result<(), PortError> {
    sink.deliver(alert).await?;
    state.mark_delivered(&alert.alert_id, sink.name()).await
}

/// Reads the rows of a decoded lake object (NDJSON of lake rows, as Firehose and the local lake write
/// them) a bounded number at a time, so the detect function's memory does not grow with the object.
/// Lines of other tables (alert rows) are skipped; lines that do not parse as rows are counted.
#[derive(Debug, Clone)]
pub struct LakeObjectRows<'a> {
    rest: &'a [u8],
}

impl<'a> LakeObjectRows<'a> {
    /// Rows of `body` (already decompressed).
    pub fn new(body: &'a [u8]) -> Self {
        LakeObjectRows { rest: body }
    }

    /// Appends up to `max` more rows to `rows`; returns how many lines were not rows. `rows` is
    /// left as it was when the object is exhausted.
    pub fn next_rows(&mut self, max: usize, rows: &mut Vec<LakeRow>) -> usize {
        let mut bad = 0;
        let mut added = 0;
        while added < max && !self.rest.is_empty() {
            let (line, rest) = match self.rest.iter().position(|b| *b == b'\n') {
                Some(i) => (&self.rest[..i], &self.rest[i + 1..]),
                None => (self.rest, &[][..]),
            };
            self.rest = rest;
            if line.trim_ascii().is_empty() {
                continue;
            }
            let table = if contains(line, br#""p_log_type":"Tailscale.Audit""#) {
                &TAILSCALE_AUDIT
            } else if contains(line, br#""p_log_type":"Tailscale.Network""#) {
                &TAILSCALE_NETWORK
            } else {
                continue;
            };
            match LakeRow::from_json_line(table, line) {
                Ok(row) => {
                    rows.push(row);
                    added += 1;
                }
                Err(_) => bad += 1,
            }
        }
        bad
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::SourceContext;
    use crate::pipeline::normalize_body;

    use std::sync::Mutex;

    use crate::engine::config::TuningConfig;
    use crate::engine::state::block_on;
    use crate::engine::{LogType, MemoryAlertState, Meta};
    use crate::lake::AuditRow;
    use crate::ports::LakeRecord;

    const EVERY_LOGIN: crate::rule::Rule<AuditRow> = crate::rule::Rule {
        meta: Meta {
            id: "Test.EveryLogin",
            name: "every login",
            log_types: &[LogType::Audit],
            dedup_minutes: 60,
            threshold: 1,
            ..Meta::DEFAULT
        },
        matches: |_| true,
        title: |h| format!("login by {}", h.actor_id.clone().unwrap_or_default()),
        dedup: Some(|h| h.actor_id.clone().unwrap_or_default()),
        ..crate::rule::Rule::DEFAULT
    };

    /// Takes every alert except `fail_title`'s, which it refuses while `failing` is set.
    struct Pager {
        sent: Mutex<Vec<String>>,
        fail_title: String,
        failing: Mutex<bool>,
    }

    impl AlertSink for Pager {
        fn name(&self) -> &str {
            "pager"
        }
        async fn deliver(&self, alert: &Alert) -> Result<(), PortError> {
            if alert.title == self.fail_title && *self.failing.lock().unwrap() {
                return Err(PortError::retryable("publish", "throttled"));
            }
            self.sent.lock().unwrap().push(alert.alert_id.clone());
            Ok(())
        }
    }

    struct Rows(Mutex<usize>);
    impl LakeSink for Rows {
        async fn put_rows(&self, _: &str, records: Vec<LakeRecord>) -> Result<(), PortError> {
            *self.0.lock().unwrap() += records.len();
            Ok(())
        }
    }

    #[test]
    fn one_refused_alert_fails_the_batch_the_others_stay_delivered_and_the_retry_sends_only_it() {
        let lines: Vec<String> = (0..40)
            .map(|i| {
                format!(
                    r#"{{"action":"LOGIN","eventGroupID":"g{i}","actor":{{"id":"actor{i}"}},"eventTime":"2025-03-04T17:{:02}:00Z"}}"#,
                    i % 60
                )
            })
            .collect();
        let ctx = SourceContext {
            label: "test",
            file: "test",
            parse_time: Timestamp::parse("2025-03-04T18:00:00Z").unwrap(),
        };
        let rows = normalize_body(lines.join("\n").as_bytes(), &ctx).rows;
        let registry = Registry::build(&[&EVERY_LOGIN], &TuningConfig::from_toml_str("").unwrap()).unwrap();
        let state = MemoryAlertState::default();
        let pager = Pager {
            sent: Mutex::new(Vec::new()),
            fail_title: "login by actor7".to_owned(),
            failing: Mutex::new(true),
        };
        let lake = Rows(Mutex::new(0));
        let now = ctx.parse_time;

        let first = block_on(detect(&registry, &rows, "b1", &state, &pager, &lake, now));
        assert_eq!(first.unwrap_err().operation, "publish", "the refusal fails the batch");
        assert_eq!(pager.sent.lock().unwrap().len(), 39, "every other alert went out");

        *pager.failing.lock().unwrap() = false;
        let retry = block_on(detect(&registry, &rows, "b1", &state, &pager, &lake, now)).unwrap();
        assert_eq!(retry.delivered, 1, "the retry sends only the refused alert");
        let mut sent = pager.sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 40);
        sent.sort();
        sent.dedup();
        assert_eq!(sent.len(), 40, "no alert paged twice");
        assert_eq!(*lake.0.lock().unwrap(), 40 + 1, "alert rows: 40, then the one not delivered before");
    }

    #[test]
    fn lake_object_rows_come_back_in_bounded_chunks_skipping_other_tables() {
        let ctx = SourceContext {
            label: "test",
            file: "test",
            parse_time: Timestamp::parse("2025-03-04T18:00:00Z").unwrap(),
        };
        let body = include_bytes!("../../../../tests/fixtures/tailscale/network-stream.hec");
        let rows = normalize_body(body, &ctx).rows;
        assert!(rows.len() > 5);
        let mut object = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            row.write_json_line(&mut object);
            if i == 1 {
                object.extend_from_slice(b"{\"p_log_type\":\"Tailwatch.Alert\",\"id\":\"x\"}\n\n");
                object.extend_from_slice(b"{\"p_log_type\":\"Tailscale.Network\",\"broken\n");
            }
        }
        let mut reader = LakeObjectRows::new(&object);
        let (mut all, mut bad, mut chunks) = (Vec::new(), 0, 0);
        loop {
            let mut chunk = Vec::new();
            bad += reader.next_rows(2, &mut chunk);
            if chunk.is_empty() {
                break;
            }
            assert!(chunk.len() <= 2);
            chunks += 1;
            all.extend(chunk);
        }
        assert_eq!(bad, 1, "the broken line is counted, the alert row skipped");
        assert_eq!(chunks, rows.len().div_ceil(2));
        let ids = |r: &[LakeRow]| r.iter().map(|r| r.standard().p_row_id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&all), ids(&rows));
    }
}
