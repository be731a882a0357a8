//! Detect stage: rows → detections → alert rows in the lake → each alert delivered once per sink.
//!
//! Retries are safe: the state port is idempotent per (detection, row), so a retried batch
//! re-produces the same alerts with the same ids, and a delivered mark per (alert, sink) keeps a
//! retry from paging twice. An alert is marked delivered only after its sink accepted it.

use crate::engine::run::{evaluate, EvalStats};
use crate::engine::{Alert, AlertState, Registry};
use crate::lake::LakeRow;
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
    let mut fresh = Vec::new();
    for alert in &alerts {
        if !state.is_delivered(&alert.alert_id, sink.name()).await? {
            fresh.push(alert);
        }
    }
    if !fresh.is_empty() {
        let records = fresh.iter().map(|a| a.lake_record(batch)).collect();
        lake.put_rows(batch, records).await?;
    }
    let mut delivered = 0;
    for alert in fresh {
        sink.deliver(alert).await?;
        state.mark_delivered(&alert.alert_id, sink.name()).await?;
        delivered += 1;
    }
    Ok(DetectReport { stats, alerts, delivered })
}
