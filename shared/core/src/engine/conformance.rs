//! The alert-state conformance suite: one set of checks every [`AlertState`] implementation must
//! pass — the in-memory one here, SQLite in `tailwatch-local`, DynamoDB against the AWS API
//! emulator in the AWS end-to-end tests — so local and AWS behave the same.
//!
//! Keys are prefixed so the suite can run against a shared, persistent store.

use super::state::{AlertState, MatchInput};
use crate::time::Timestamp;

fn at(minute: i64) -> Timestamp {
    Timestamp::from_unix_millis(1_741_108_800_000 + minute * 60_000).unwrap_or_else(Timestamp::now)
}

fn input<'a>(rule: &'a str, dedup: &'a str, row: &'a str, minute: i64, threshold: u32) -> MatchInput<'a> {
    MatchInput {
        rule_id: rule,
        dedup,
        row_id: row,
        matches: 1,
        event_time: at(minute),
        period_secs: 3600,
        threshold,
        now: at(minute),
        event_json: r#"{"first":true}"#,
    }
}

/// One input standing for `matches` matches (the engine's per-batch grouping).
fn weighted<'a>(rule: &'a str, dedup: &'a str, row: &'a str, minute: i64, threshold: u32, matches: u64) -> MatchInput<'a> {
    MatchInput {
        matches,
        ..input(rule, dedup, row, minute, threshold)
    }
}

/// Runs every check; panics with the first violation.
///
/// # Panics
/// When the implementation breaks the port's contract (or its backing store fails).
pub async fn run<S: AlertState>(state: &S, prefix: &str) {
    let rule = format!("{prefix}.Rule");
    let rule = rule.as_str();

    // Dedup: first match notifies; matches inside the period attach; after it, a new alert.
    let a = state.record_match(input(rule, "d1", "r1", 0, 1)).await.expect("record");
    assert!(
        a.notify && a.seq == 1 && a.event_count == 1 && !a.duplicate,
        "first match opens and notifies: {a:?}"
    );
    let b = state.record_match(input(rule, "d1", "r2", 30, 1)).await.expect("record");
    assert!(!b.notify && b.seq == 1 && b.event_count == 2, "inside the period attaches: {b:?}");
    assert_eq!(b.first_event_time, at(0), "the window is anchored at the first match");
    assert_eq!(b.first_event, r#"{"first":true}"#);
    let c = state.record_match(input(rule, "d1", "r3", 61, 1)).await.expect("record");
    assert!(c.notify && c.seq == 2 && c.event_count == 1, "after the period, a new alert: {c:?}");

    // Idempotence per (rule, row): a repeat returns the stored outcome, not a new count.
    let again = state.record_match(input(rule, "d1", "r3", 61, 1)).await.expect("record");
    assert!(
        again.duplicate && again.notify && again.seq == 2 && again.event_count == 1,
        "repeat of a notifying row: {again:?}"
    );

    // Threshold: N-1 matches nothing, the Nth exactly one notification, more none.
    let notified: Vec<bool> = {
        let mut v = Vec::new();
        for (i, row) in ["t1", "t2", "t3", "t4", "t5"].iter().enumerate() {
            v.push(
                state
                    .record_match(input(rule, "d2", row, i as i64, 3))
                    .await
                    .expect("record")
                    .notify,
            );
        }
        v
    };
    assert_eq!(notified, vec![false, false, true, false, false], "threshold 3");

    // One input standing for several matches (the engine's per-batch grouping) counts them all, and
    // notifies when it carries the count over the threshold; a repeat of it counts nothing.
    let w = state.record_match(weighted(rule, "d4", "w1", 0, 3, 4)).await.expect("record");
    assert!(
        w.notify && w.seq == 1 && w.event_count == 4,
        "a group of 4 opens and crosses 3: {w:?}"
    );
    let w2 = state.record_match(weighted(rule, "d4", "w2", 5, 3, 10)).await.expect("record");
    assert!(!w2.notify && w2.seq == 1 && w2.event_count == 14, "a group attaches: {w2:?}");
    let w2_again = state.record_match(weighted(rule, "d4", "w2", 5, 3, 10)).await.expect("record");
    assert!(
        w2_again.duplicate && w2_again.event_count == 14,
        "a repeated group counts nothing: {w2_again:?}"
    );
    let below = state.record_match(weighted(rule, "d5", "v1", 0, 3, 2)).await.expect("record");
    assert!(!below.notify && below.event_count == 2, "a group below the threshold: {below:?}");
    let crossing = state.record_match(weighted(rule, "d5", "v2", 1, 3, 5)).await.expect("record");
    assert!(
        crossing.notify && crossing.event_count == 7,
        "a group crossing the threshold: {crossing:?}"
    );

    // Separate dedup strings are separate alerts.
    assert!(state.record_match(input(rule, "d3", "x1", 0, 1)).await.expect("record").notify);

    // Stateful helpers.
    let key = format!("{prefix}.sum");
    assert_eq!(state.add_to_window(&key, 0, 5).await.expect("sum"), 5);
    assert_eq!(state.add_to_window(&key, 0, 7).await.expect("sum"), 12);
    assert_eq!(
        state.add_to_window(&key, 3_600_000, 1).await.expect("sum"),
        1,
        "windows are separate"
    );
    let key = format!("{prefix}.set");
    assert_eq!(state.add_distinct(&key, 0, &["a".into(), "b".into()]).await.expect("set"), 2);
    assert_eq!(state.add_distinct(&key, 0, &["b".into(), "c".into()]).await.expect("set"), 3);
    let key = format!("{prefix}.seen");
    assert!(state.first_seen(&key, at(0), 86_400).await.expect("seen"));
    assert!(!state.first_seen(&key, at(60), 86_400).await.expect("seen"));
    assert!(
        state.first_seen(&key, at(60 + 3 * 24 * 60), 86_400).await.expect("seen"),
        "seen again after the look-back"
    );

    // Delivery marks are per (alert, sink).
    let alert = format!("{prefix}-alert");
    assert!(!state.is_delivered(&alert, "sns").await.expect("delivered"));
    state.mark_delivered(&alert, "sns").await.expect("mark");
    assert!(state.is_delivered(&alert, "sns").await.expect("delivered"));
    assert!(!state.is_delivered(&alert, "webhook").await.expect("delivered"));
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_state_conforms() {
        let state = crate::engine::MemoryAlertState::default();
        crate::engine::state::block_on(super::run(&state, "mem"));
    }
}
