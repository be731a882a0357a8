//! The batch state commit (`engine::keys::apply`, as every alert-state adapter runs it): a random
//! batch of key updates (sums with amounts up to u64::MAX, distinct sets, first-seen) against a
//! random earlier state. One clean pass is the reference (and `MemoryAlertState` must agree with
//! it). Then:
//! - a commit that fails after its first `j` key writes, retried whole: the same answers and the
//!   same final state;
//! - the same batch again (an SQS redelivery): the same answers, nothing written;
//! - sum and distinct updates split into two halves by record, applied one after the other: the
//!   same final state as the whole batch (first-seen is order-dependent by design: not compared).
//! Every state also survives its JSON encoding unchanged.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use tailwatch_core::engine::keys::{apply, Contribution, KeyAnswer, KeyOp, KeyState, KeyUpdate};
use tailwatch_core::engine::state::block_on;
use tailwatch_core::engine::{AlertState, MemoryAlertState};

type Store = BTreeMap<String, KeyState>;

/// Reads the fuzzer's bytes as numbers.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        b
    }
    fn u64(&mut self) -> u64 {
        (0..8).fold(0u64, |a, _| (a << 8) | u64::from(self.byte()))
    }
    fn empty(&self) -> bool {
        self.0.is_empty()
    }
}

const T0: i64 = 1_741_107_600_000; // 2025-03-04T17:00Z; the lake holds 2019 .. 2100

fn time(input: &mut Input<'_>) -> i64 {
    // Within ±2^31 ms (~25 days) of T0: several windows, and far inside the lake's range.
    T0 + i64::from(i32::from_be_bytes([input.byte(), input.byte(), input.byte(), input.byte()]))
}

fn window(input: &mut Input<'_>) -> i64 {
    [1, 11, 12, 60_000, 300_000, 3_600_000, 86_400_000][usize::from(input.byte()) % 7]
}

fn amount(input: &mut Input<'_>) -> u64 {
    match input.byte() % 4 {
        0 => u64::MAX - u64::from(input.byte()),
        1 => (i64::MAX as u64).wrapping_add(u64::from(input.byte())),
        _ => u64::from(input.byte()) * 1000,
    }
}

fn update(input: &mut Input<'_>) -> KeyUpdate {
    let kind = input.byte() % 3;
    let key = format!("k{}-{kind}", input.byte() % 8);
    let window_ms = window(input);
    let n = usize::from(input.byte() % 6) + 1;
    let op = match kind {
        0 => KeyOp::Sum {
            window_ms,
            adds: (0..n)
                .map(|_| Contribution { id: u64::from(input.byte() % 16), at_ms: time(input), amount: amount(input) })
                .collect(),
        },
        1 => {
            let mut members: BTreeMap<String, i64> = BTreeMap::new();
            for _ in 0..n {
                let (m, t) = (format!("m{}", input.byte() % 32), time(input));
                let e = members.entry(m).or_insert(t);
                *e = (*e).max(t);
            }
            KeyOp::Distinct { window_ms, members: members.into_iter().collect() }
        }
        _ => {
            let (a, b) = (time(input), time(input));
            KeyOp::Seen { within_ms: window_ms, earliest_ms: a.min(b), earliest_id: u64::from(input.byte() % 4), latest_ms: a.max(b) }
        }
    };
    KeyUpdate { key, op }
}

/// One update per key (as the engine builds them), the first of each kind of key.
fn batch(input: &mut Input<'_>) -> Vec<KeyUpdate> {
    let mut out: Vec<KeyUpdate> = Vec::new();
    for _ in 0..(input.byte() % 12) {
        if input.empty() {
            break;
        }
        let u = update(input);
        if !out.iter().any(|o| o.key == u.key) {
            out.push(u);
        }
    }
    out
}

/// Commits `updates` to `store`, writing only the first `writes` changed keys (a failure after
/// them); returns the answers when every write landed.
fn commit(store: &mut Store, updates: &[KeyUpdate], writes: usize) -> Option<Vec<KeyAnswer>> {
    let mut answers = Vec::new();
    let mut written = 0;
    for u in updates {
        let (next, answer) = apply(store.get(&u.key).cloned(), &u.op);
        if let Some(next) = next {
            if written == writes {
                return None;
            }
            assert_eq!(KeyState::decode(&next.encode()).unwrap(), next, "state survives its encoding");
            store.insert(u.key.clone(), next);
            written += 1;
        }
        answers.push(answer);
    }
    Some(answers)
}

/// The halves of a batch: records with an even id (sums) or member index (distinct) first.
fn halves(updates: &[KeyUpdate]) -> (Vec<KeyUpdate>, Vec<KeyUpdate>) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for u in updates {
        match &u.op {
            KeyOp::Sum { window_ms, adds } => {
                let (x, y): (Vec<_>, Vec<_>) = adds.iter().partition(|c| c.id % 2 == 0);
                for (half, part) in [(&mut a, x), (&mut b, y)] {
                    if !part.is_empty() {
                        half.push(KeyUpdate { key: u.key.clone(), op: KeyOp::Sum { window_ms: *window_ms, adds: part } });
                    }
                }
            }
            KeyOp::Distinct { window_ms, members } => {
                let (x, y): (Vec<_>, Vec<_>) = members.iter().cloned().enumerate().partition(|(i, _)| i % 2 == 0);
                for (half, part) in [(&mut a, x), (&mut b, y)] {
                    if !part.is_empty() {
                        let members = part.into_iter().map(|(_, m)| m).collect();
                        half.push(KeyUpdate { key: u.key.clone(), op: KeyOp::Distinct { window_ms: *window_ms, members } });
                    }
                }
            }
            KeyOp::Seen { .. } => {}
        }
    }
    (a, b)
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    // An earlier state: one batch committed before.
    let mut before = Store::new();
    let memory = MemoryAlertState::default();
    let earlier = batch(&mut input);
    commit(&mut before, &earlier, usize::MAX).unwrap();
    block_on(memory.update_keys(&earlier)).unwrap();
    let updates = batch(&mut input);
    // Sums of one key must use one window, as the engine's do (the key names the detection).
    if updates.iter().chain(&earlier).any(|u| {
        updates.iter().chain(&earlier).any(|v| v.key == u.key && std::mem::discriminant(&v.op) == std::mem::discriminant(&u.op) && window_of(&v.op) != window_of(&u.op))
    }) {
        return;
    }
    let fail_after = usize::from(input.byte());

    let mut clean = before.clone();
    let answers = commit(&mut clean, &updates, usize::MAX).unwrap();
    assert_eq!(block_on(memory.update_keys(&updates)).unwrap(), answers, "MemoryAlertState agrees");

    // Fails after some writes, then retried whole (twice: a redelivery of the retry).
    let mut broken = before.clone();
    let _ = commit(&mut broken, &updates, fail_after % (updates.len() + 1));
    assert_eq!(commit(&mut broken, &updates, usize::MAX).unwrap(), answers, "a retry answers as the clean pass");
    assert_eq!(broken, clean, "a retry ends in the clean state");
    let after = broken.clone();
    assert_eq!(commit(&mut broken, &updates, 0), Some(answers.clone()), "a redelivery writes nothing and answers the same");
    assert_eq!(broken, after);

    // Halves, one after the other: the same state as the whole (sums and distinct sets).
    let (a, b) = halves(&updates);
    let mut split = before.clone();
    commit(&mut split, &a, usize::MAX).unwrap();
    commit(&mut split, &b, usize::MAX).unwrap();
    let comparable = |s: &Store| -> Store { s.iter().filter(|(_, v)| !matches!(v, KeyState::Seen { .. })).map(|(k, v)| (k.clone(), v.clone())).collect() };
    assert_eq!(comparable(&split), comparable(&clean), "two halves end where the whole batch does");
});

fn window_of(op: &KeyOp) -> i64 {
    match op {
        KeyOp::Sum { window_ms, .. } | KeyOp::Distinct { window_ms, .. } => *window_ms,
        KeyOp::Seen { within_ms, .. } => *within_ms,
    }
}
