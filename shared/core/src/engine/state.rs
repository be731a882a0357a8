//! The alert-state port and the dedup / threshold state machine.
//!
//! Semantics (Panther's): state key = (detection id, dedup string). The first match opens an alert;
//! matches within the dedup period after the alert's first match attach to it; the first match
//! after the period opens a new alert (next sequence number). A notification is sent exactly once
//! per alert, when its match count reaches the threshold.
//!
//! Periods are measured in event time, so backtests over history and late batches (Tailscale may
//! upload up to a day late) behave as if the events had arrived live. An event outside the current
//! alert's window in either direction opens a new alert.
//!
//! [`apply_match`] is the pure transition; implementations make it atomic: a transaction in SQLite,
//! conditional `UpdateItem`s in DynamoDB (attach if inside the window, else open if the window has
//! passed, then claim the notification with `notified = false` as the condition), so two detect
//! invocations racing on one key never page twice.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::keys::{apply, KeyAnswer, KeyState, KeyUpdate};
use crate::ports::PortError;
use crate::time::Timestamp;

/// One match to record.
#[derive(Debug, Clone)]
pub struct MatchInput<'a> {
    /// Detection id.
    pub rule_id: &'a str,
    /// Dedup string.
    pub dedup: &'a str,
    /// The matching row's `p_row_id`: recording the same row twice (a retried batch, a redelivered
    /// SQS message, a restart) returns the first outcome instead of counting it again. When `matches`
    /// is above 1, the id of the first of those rows (a batch's grouping is deterministic, so a retry
    /// groups the same rows under the same id).
    pub row_id: &'a str,
    /// How many matches this input stands for (≥ 1). The engine records the matches of one batch that
    /// fall into one alert's window together, so a busy key costs one state write per batch instead
    /// of one per row.
    pub matches: u64,
    /// The matching row's event time.
    pub event_time: Timestamp,
    /// Dedup period in seconds.
    pub period_secs: i64,
    /// Threshold (≥ 1).
    pub threshold: u32,
    /// Processing time (becomes the alert's `createdAt`).
    pub now: Timestamp,
    /// The matching row as JSON (kept for the alert's first event), bounded by the caller.
    pub event_json: &'a str,
}

/// The state of one (detection, dedup) key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DedupState {
    /// Alert sequence number for this key (1 for the first alert).
    pub seq: u64,
    /// Event time of the alert's first match, in ms: the window anchor.
    pub window_start_ms: i64,
    /// Matches attached to the current alert.
    pub count: u64,
    /// Whether the current alert has notified.
    pub notified: bool,
    /// Processing time the alert was opened, in ms.
    pub created_at_ms: i64,
    /// The first matching row, as JSON.
    pub first_event: String,
}

/// What recording a match decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchOutcome {
    /// The alert's sequence number.
    pub seq: u64,
    /// Matches attached so far, including this one.
    pub event_count: u64,
    /// Whether this match is the one that must notify.
    pub notify: bool,
    /// When the alert was opened.
    pub created_at: Timestamp,
    /// Event time of the alert's first match.
    pub first_event_time: Timestamp,
    /// The alert's first matching row, as JSON.
    pub first_event: String,
    /// True when this (detection, row) was recorded before: the outcome is the stored one.
    pub duplicate: bool,
}

/// The pure transition: previous state (if any) + a match → new state + outcome.
pub fn apply_match(prev: Option<&DedupState>, m: &MatchInput<'_>) -> (DedupState, MatchOutcome) {
    let t = m.event_time.unix_millis();
    let period_ms = m.period_secs.saturating_mul(1000);
    let threshold = u64::from(m.threshold.max(1));
    let weight = m.matches.max(1);
    let next = match prev {
        Some(p) if t >= p.window_start_ms.saturating_sub(period_ms) && t < p.window_start_ms.saturating_add(period_ms) => {
            let count = p.count.saturating_add(weight);
            let notify = !p.notified && count >= threshold;
            (
                DedupState {
                    count,
                    notified: p.notified || notify,
                    ..p.clone()
                },
                notify,
            )
        }
        _ => {
            let notify = weight >= threshold;
            let seq = prev.map_or(1, |p| p.seq + 1);
            (
                DedupState {
                    seq,
                    window_start_ms: t,
                    count: weight,
                    notified: notify,
                    created_at_ms: m.now.unix_millis(),
                    first_event: m.event_json.to_owned(),
                },
                notify,
            )
        }
    };
    let (state, notify) = next;
    let outcome = MatchOutcome {
        seq: state.seq,
        event_count: state.count,
        notify,
        created_at: Timestamp::from_unix_millis(state.created_at_ms).unwrap_or(m.now),
        first_event_time: Timestamp::from_unix_millis(state.window_start_ms).unwrap_or(m.event_time),
        first_event: state.first_event.clone(),
        duplicate: false,
    };
    (state, outcome)
}

/// The alert-state port: dedup / threshold state plus the stateful helpers detections use.
pub trait AlertState {
    /// Records one match atomically and says whether to notify. Idempotent per (detection, row id):
    /// a repeat returns the stored outcome with `duplicate = true`, so a retried batch re-produces
    /// the same alert (same `alertId`) instead of counting twice or losing it.
    fn record_match(&self, m: MatchInput<'_>) -> impl Future<Output = Result<MatchOutcome, PortError>> + Send;

    /// Applies one batch's stateful updates, one per key ([`keys`](super::keys)), and answers
    /// them in order. At most one write per key (none for a key the batch does not change); each
    /// key's write is idempotent, so a retry after a failure half-way through the keys, or the same
    /// records again, changes nothing and gets the same answers.
    fn update_keys(&self, updates: &[KeyUpdate]) -> impl Future<Output = Result<Vec<KeyAnswer>, PortError>> + Send;

    /// Opens one batch's unit of work: an adapter that can (SQLite) makes every call until
    /// [`end_batch`](AlertState::end_batch) one transaction, so a batch costs one commit, not one
    /// per key or alert. The default does nothing (DynamoDB's writes are each atomic and idempotent).
    ///
    /// # Errors
    /// The store cannot start the unit of work.
    fn begin_batch(&self) -> Result<(), PortError> {
        Ok(())
    }

    /// Ends the unit of work: `commit` keeps it, otherwise it is undone (the batch is retried).
    ///
    /// # Errors
    /// The store cannot commit.
    fn end_batch(&self, _commit: bool) -> Result<(), PortError> {
        Ok(())
    }

    /// Whether `alert_id` was already delivered to `sink` (so a retry does not page twice).
    fn is_delivered(&self, alert_id: &str, sink: &str) -> impl Future<Output = Result<bool, PortError>> + Send;

    /// Records that `alert_id` was delivered to `sink`.
    fn mark_delivered(&self, alert_id: &str, sink: &str) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// In-memory alert state: for tests, `tailwatch detections test` and benchmarks. Not durable.
#[derive(Debug, Default)]
pub struct MemoryAlertState {
    inner: Mutex<MemoryInner>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    dedup: HashMap<(String, String), DedupState>,
    keys: HashMap<String, KeyState>,
    key_writes: usize,
    rows: HashMap<(String, String), MatchOutcome>,
    delivered: std::collections::HashSet<(String, String)>,
}

impl MemoryAlertState {
    /// How many key writes [`AlertState::update_keys`] has made (for tests and the bench).
    pub fn key_writes(&self) -> usize {
        self.lock().key_writes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        // A panic while holding the lock cannot leave the maps inconsistent (each op is one insert).
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl AlertState for MemoryAlertState {
    async fn record_match(&self, m: MatchInput<'_>) -> Result<MatchOutcome, PortError> {
        let mut inner = self.lock();
        let row_key = (m.rule_id.to_owned(), m.row_id.to_owned());
        if let Some(previous) = inner.rows.get(&row_key) {
            return Ok(MatchOutcome {
                duplicate: true,
                ..previous.clone()
            });
        }
        let key = (m.rule_id.to_owned(), m.dedup.to_owned());
        let (state, outcome) = apply_match(inner.dedup.get(&key), &m);
        inner.dedup.insert(key, state);
        inner.rows.insert(row_key, outcome.clone());
        Ok(outcome)
    }

    async fn update_keys(&self, updates: &[KeyUpdate]) -> Result<Vec<KeyAnswer>, PortError> {
        let mut inner = self.lock();
        let mut answers = Vec::with_capacity(updates.len());
        for u in updates {
            let (next, answer) = apply(inner.keys.get(&u.key).cloned(), &u.op);
            if let Some(next) = next {
                inner.key_writes += 1;
                inner.keys.insert(u.key.clone(), next);
            }
            answers.push(answer);
        }
        Ok(answers)
    }

    async fn is_delivered(&self, alert_id: &str, sink: &str) -> Result<bool, PortError> {
        Ok(self.lock().delivered.contains(&(alert_id.to_owned(), sink.to_owned())))
    }

    async fn mark_delivered(&self, alert_id: &str, sink: &str) -> Result<(), PortError> {
        self.lock().delivered.insert((alert_id.to_owned(), sink.to_owned()));
        Ok(())
    }
}

/// Runs a future that never waits (in-memory and synchronous adapters) to completion without an
/// async runtime. Core has no runtime dependency; this is what its own tests and the CLI's
/// synchronous tools use.
///
/// # Panics
/// If the future returns `Pending` (it is waiting on real I/O: use a runtime instead).
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => panic!("block_on: the future is waiting on I/O; run it on an async runtime"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(minute: i64, threshold: u32) -> MatchInput<'static> {
        let t = Timestamp::from_unix_millis(1_741_108_800_000 + minute * 60_000).unwrap();
        MatchInput {
            rule_id: "R",
            dedup: "d",
            row_id: "",
            matches: 1,
            event_time: t,
            period_secs: 3600,
            threshold,
            now: t,
            event_json: "{}",
        }
    }

    fn run(matches: &[(i64, u32)]) -> Vec<MatchOutcome> {
        let state = MemoryAlertState::default();
        let ids: Vec<String> = (0..matches.len()).map(|i| format!("row{i}")).collect();
        matches
            .iter()
            .zip(&ids)
            .map(|((m, th), id)| {
                block_on(state.record_match(MatchInput {
                    row_id: id,
                    ..input(*m, *th)
                }))
                .unwrap()
            })
            .collect()
    }

    #[test]
    fn recording_the_same_row_twice_returns_the_first_outcome() {
        let state = MemoryAlertState::default();
        let first = block_on(state.record_match(MatchInput {
            row_id: "a",
            ..input(0, 2)
        }))
        .unwrap();
        let again = block_on(state.record_match(MatchInput {
            row_id: "a",
            ..input(0, 2)
        }))
        .unwrap();
        assert_eq!((again.duplicate, again.event_count, again.notify), (true, 1, false));
        assert_eq!(first.event_count, 1);
        let second = block_on(state.record_match(MatchInput {
            row_id: "b",
            ..input(1, 2)
        }))
        .unwrap();
        assert!(second.notify);
        let replay = block_on(state.record_match(MatchInput {
            row_id: "b",
            ..input(1, 2)
        }))
        .unwrap();
        assert!(replay.notify && replay.duplicate, "a replayed notifier re-produces its alert");
    }

    #[test]
    fn dedup_within_the_period_attaches_and_after_it_opens_a_new_alert() {
        let out = run(&[(0, 1), (10, 1), (59, 1), (60, 1), (61, 1)]);
        assert_eq!(
            out.iter().map(|o| (o.seq, o.event_count, o.notify)).collect::<Vec<_>>(),
            vec![(1, 1, true), (1, 2, false), (1, 3, false), (2, 1, true), (2, 2, false)]
        );
        assert_eq!(
            out[3].first_event_time,
            input(60, 1).event_time,
            "the window is anchored at the new alert's first match"
        );
    }

    #[test]
    fn threshold_notifies_exactly_once_at_n() {
        let out = run(&[(0, 3), (1, 3), (2, 3), (3, 3), (4, 3)]);
        assert_eq!(
            out.iter().map(|o| o.notify).collect::<Vec<_>>(),
            vec![false, false, true, false, false]
        );
        assert_eq!(out[2].event_count, 3);
    }

    #[test]
    fn threshold_counts_inside_one_window_only() {
        let out = run(&[(0, 2), (61, 2), (130, 2), (131, 2)]);
        assert_eq!(
            out.iter().map(|o| (o.seq, o.notify)).collect::<Vec<_>>(),
            vec![(1, false), (2, false), (3, false), (3, true)]
        );
    }

    #[test]
    fn late_events_outside_the_window_open_a_new_alert() {
        let out = run(&[(600, 1), (0, 1)]);
        assert_eq!(
            out.iter().map(|o| (o.seq, o.notify)).collect::<Vec<_>>(),
            vec![(1, true), (2, true)]
        );
    }
}
