//! The alert-state conformance suite: one set of checks every [`AlertState`] implementation must
//! pass — the in-memory one here, SQLite in `tailwatch-local`, DynamoDB against the AWS API
//! emulator in the AWS end-to-end tests — so local and AWS behave the same.
//!
//! Keys are prefixed so the suite can run against a shared, persistent store.

use super::keys::{Contribution, KeyAnswer, KeyOp, KeyUpdate};
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

    // Batch-native key state: one call per batch, answers in order, idempotent per record.
    let sum_key = format!("{prefix}.sum");
    let set_key = format!("{prefix}.set");
    let seen_key = format!("{prefix}.seen");
    let hour = 3_600_000;
    let sum = |adds: &[(u64, i64, u64)]| KeyUpdate {
        key: sum_key.clone(),
        op: KeyOp::Sum {
            window_ms: hour,
            adds: adds.iter().map(|&(id, at_ms, amount)| Contribution { id, at_ms, amount }).collect(),
        },
    };
    // Members as a busy tailnet sends them: many, and the same server:port more than once in the
    // records of one batch (the engine de-duplicates; DynamoDB rejects a set with duplicates).
    let members: Vec<(String, i64)> = (0..300).map(|i| (format!("100.64.{}.{}:443", i / 200, i % 200), 0)).collect();
    let set = |members: &[(String, i64)]| KeyUpdate {
        key: set_key.clone(),
        op: KeyOp::Distinct {
            window_ms: hour,
            members: members.to_vec(),
        },
    };
    let seen = |at_ms: i64, id: u64| KeyUpdate {
        key: seen_key.clone(),
        op: KeyOp::Seen {
            within_ms: 86_400_000,
            earliest_ms: at_ms,
            earliest_id: id,
            latest_ms: at_ms,
        },
    };
    let batch = vec![sum(&[(1, 0, 5), (2, 60_000, 7)]), set(&members[..200]), seen(0, 1)];
    let first = state.update_keys(&batch).await.expect("update keys");
    assert_eq!(
        first,
        vec![
            KeyAnswer::Sum { total: 12, batch: 12 },
            KeyAnswer::Distinct(200),
            KeyAnswer::FirstSeen(true)
        ]
    );
    // The same batch again (an SQS redelivery): same answers, nothing counted twice.
    assert_eq!(
        state.update_keys(&batch).await.expect("update keys"),
        first,
        "a retried batch answers the same"
    );
    // A batch that failed after its first key was written, retried whole.
    let second = vec![sum(&[(3, 120_000, 1)]), set(&members[150..]), seen(60_000, 9)];
    state.update_keys(&second[..1]).await.expect("half a batch");
    let retried = state.update_keys(&second).await.expect("update keys");
    assert_eq!(
        retried,
        vec![
            KeyAnswer::Sum { total: 13, batch: 1 },
            KeyAnswer::Distinct(300),
            KeyAnswer::FirstSeen(false)
        ],
        "a retry after a half-way failure counts the written key once"
    );
    // The same records in a different batch (Tailscale re-sending) add nothing.
    let resent = state
        .update_keys(&[sum(&[(2, 60_000, 7), (3, 120_000, 1)])])
        .await
        .expect("update keys");
    assert_eq!(resent, vec![KeyAnswer::Sum { total: 13, batch: 8 }]);
    // Windows are sliding, not clock-aligned: a later hour no longer sees these.
    let later = state
        .update_keys(&[sum(&[(4, 5 * hour, 1)]), seen(5 * 86_400_000, 10)])
        .await
        .expect("update keys");
    assert_eq!(later, vec![KeyAnswer::Sum { total: 1, batch: 1 }, KeyAnswer::FirstSeen(true)]);
    // Sums saturate instead of wrapping or reading back as zero.
    let big = state
        .update_keys(&[sum(&[(5, 5 * hour, u64::MAX), (6, 5 * hour, u64::MAX)])])
        .await
        .expect("update keys");
    assert_eq!(
        big,
        vec![KeyAnswer::Sum {
            total: u64::MAX,
            batch: u64::MAX
        }]
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
