//! Batch-native detection state: the pure logic behind the stateful questions (sums over a window,
//! distinct counts, first seen), shared by every alert-state adapter.
//!
//! The engine turns one batch's questions into one [`KeyUpdate`] per state key; an adapter reads
//! each key's stored [`KeyState`], calls [`apply`], writes the new state back (at most one write
//! per key per batch, and none when nothing changed) and returns the [`KeyAnswer`]s.
//!
//! **Idempotent by construction.** Every contribution carries the identity of the record it came
//! from ([`record_identity`]), and the state remembers which records it has counted, so the same
//! batch again (an SQS redelivery, a retry after a failure half-way through the keys) or the same
//! records in another batch (Tailscale re-sending) change nothing and get the same answers:
//! - sums keep, per bucket, the ids of the records counted; a counted record adds nothing;
//! - distinct sets are sets: adding a member twice is adding it once;
//! - first seen keeps the record that was first: asked again with that record, it answers "first"
//!   again instead of "seen" (its own earlier write).
//!
//! **Windows that do not miss.** Sums and distinct counts are kept in buckets of `window / 12`.
//! The answer is the largest total over every run of 13 consecutive buckets that contains one of
//! the batch's contributions. Any window-length span lies inside such a run, so a total that
//! crosses a threshold inside *any* window-length span is seen (whatever the order batches
//! arrive in); a span up to `window + window / 12` long may also count (the stated over-reach).
//!
//! **Bounded items.** Buckets older than two windows before the newest are dropped, distinct sets
//! stop at [`DISTINCT_CAP`] members (dropping the oldest first), and nothing stores a whole row:
//! a DynamoDB item stays far below its 400 KB limit.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::lake::LakeRow;

/// Buckets per window.
pub const BUCKETS_PER_WINDOW: i64 = 12;
/// Largest distinct set kept per key (a detection's threshold is far below it).
pub const DISTINCT_CAP: usize = 512;
/// First-seen keys are not rewritten when their last sighting moves by less than
/// `within / SEEN_REFRESH_DIVISOR`: a key seen every few seconds costs one write per refresh
/// period, not one per batch. The look-back is then honoured to within that fraction (1/64).
pub const SEEN_REFRESH_DIVISOR: i64 = 64;

/// The identity of the record a row came from (stable across batches and retries): for network
/// rows the reporting node and its window (one record per node per window), for audit rows the
/// row id.
pub fn record_identity(row: &LakeRow) -> u64 {
    let mut h = blake3::Hasher::new();
    match row {
        LakeRow::Network(n) => {
            h.update(n.node_id.as_bytes());
            h.update(&[0]);
            h.update(&n.window_start.map_or(0, |t| t.unix_millis()).to_le_bytes());
            h.update(&n.window_end.map_or(0, |t| t.unix_millis()).to_le_bytes());
        }
        LakeRow::Audit(a) => {
            h.update(a.p.p_row_id.as_bytes());
        }
    }
    let bytes = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&bytes.as_bytes()[..8]);
    u64::from_le_bytes(first)
}

/// One contribution to a sum: from record `id`, at event time `at_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contribution {
    /// Record identity ([`record_identity`]).
    pub id: u64,
    /// Event time, ms.
    pub at_ms: i64,
    /// Amount.
    pub amount: u64,
}

/// What one batch does to one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOp {
    /// Add to a sliding-window sum.
    Sum {
        /// Window length, ms.
        window_ms: i64,
        /// The batch's contributions (one per record: the engine adds up a record's rows).
        adds: Vec<Contribution>,
    },
    /// Add members to a sliding-window distinct set.
    Distinct {
        /// Window length, ms.
        window_ms: i64,
        /// Members with the latest event time they were seen at in the batch (no duplicates).
        members: Vec<(String, i64)>,
    },
    /// Was the key seen within the look-back before the batch's earliest sighting?
    Seen {
        /// Look-back, ms.
        within_ms: i64,
        /// Earliest sighting in the batch, ms.
        earliest_ms: i64,
        /// The record of the earliest sighting.
        earliest_id: u64,
        /// Latest sighting in the batch, ms.
        latest_ms: i64,
    },
}

/// One key's update from one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUpdate {
    /// The state key, scoped by the engine (detection id and question kind).
    pub key: String,
    /// The change.
    pub op: KeyOp,
}

/// The answer for one key, for the whole batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAnswer {
    /// The window total with the batch counted (largest over the windows the batch touches), and
    /// the batch's own contributions inside it (counted now or before), so the engine can give
    /// each row its running total: `total - batch + running`.
    Sum {
        /// Window total.
        total: u64,
        /// The batch's part of it.
        batch: u64,
    },
    /// Distinct members in the window, the batch's included.
    Distinct(u64),
    /// True when the batch's earliest sighting is the first within the look-back.
    FirstSeen(bool),
}

/// One sum bucket: start, total, and the records counted in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SumBucket {
    /// Bucket start, ms.
    pub s: i64,
    /// Total.
    pub t: u64,
    /// Record ids counted, sorted, as little-endian u64s in base64 (compact in a DynamoDB item).
    pub c: String,
}

/// What is stored per key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "k")]
pub enum KeyState {
    /// Sliding-window sum.
    Sum {
        /// Buckets, oldest first.
        b: Vec<SumBucket>,
    },
    /// Sliding-window distinct set: member → latest bucket start it was seen in.
    Distinct {
        /// Members.
        m: BTreeMap<String, i64>,
    },
    /// First seen.
    Seen {
        /// Latest sighting, ms.
        last: i64,
        /// The sighting that was answered "first", ms.
        first: i64,
        /// Its record.
        id: u64,
    },
}

impl KeyState {
    /// Decodes a stored state (JSON).
    ///
    /// # Errors
    /// Text that is not a state this version wrote.
    pub fn decode(text: &str) -> Result<KeyState, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Encodes for storage (compact JSON).
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Encodes as compact bytes (the local state file's form: a third of the JSON's size, which
    /// for a sum is mostly field names and base64). Varints, zig-zag for times; a first byte that
    /// is never `{`, so [`KeyState::from_bytes`] also reads the JSON form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        match self {
            KeyState::Sum { b } => {
                out.push(1);
                put_varint(&mut out, b.len() as u64);
                for bucket in b {
                    put_varint(&mut out, zigzag(bucket.s));
                    put_varint(&mut out, bucket.t);
                    let ids = base64::engine::general_purpose::STANDARD_NO_PAD
                        .decode(&bucket.c)
                        .unwrap_or_default();
                    put_varint(&mut out, ids.len() as u64);
                    out.extend_from_slice(&ids);
                }
            }
            KeyState::Distinct { m } => {
                out.push(2);
                put_varint(&mut out, m.len() as u64);
                for (member, at) in m {
                    put_varint(&mut out, member.len() as u64);
                    out.extend_from_slice(member.as_bytes());
                    put_varint(&mut out, zigzag(*at));
                }
            }
            KeyState::Seen { last, first, id } => {
                out.push(3);
                put_varint(&mut out, zigzag(*last));
                put_varint(&mut out, zigzag(*first));
                put_varint(&mut out, *id);
            }
        }
        out
    }

    /// Decodes [`KeyState::to_bytes`] (or the JSON of [`KeyState::encode`]); `None` for bytes this
    /// version did not write.
    pub fn from_bytes(bytes: &[u8]) -> Option<KeyState> {
        if bytes.first() == Some(&b'{') {
            return std::str::from_utf8(bytes).ok().and_then(|t| KeyState::decode(t).ok());
        }
        let (&tag, mut rest) = bytes.split_first()?;
        let state = match tag {
            1 => {
                let n = take_varint(&mut rest)?;
                let mut b = Vec::new();
                for _ in 0..n {
                    let s = unzigzag(take_varint(&mut rest)?);
                    let t = take_varint(&mut rest)?;
                    let ids = take_bytes(&mut rest)?;
                    b.push(SumBucket {
                        s,
                        t,
                        c: base64::engine::general_purpose::STANDARD_NO_PAD.encode(ids),
                    });
                }
                KeyState::Sum { b }
            }
            2 => {
                let n = take_varint(&mut rest)?;
                let mut m = BTreeMap::new();
                for _ in 0..n {
                    let member = std::str::from_utf8(take_bytes(&mut rest)?).ok()?.to_owned();
                    m.insert(member, unzigzag(take_varint(&mut rest)?));
                }
                KeyState::Distinct { m }
            }
            3 => KeyState::Seen {
                last: unzigzag(take_varint(&mut rest)?),
                first: unzigzag(take_varint(&mut rest)?),
                id: take_varint(&mut rest)?,
            },
            _ => return None,
        };
        rest.is_empty().then_some(state)
    }

    /// When the state can be forgotten (unix seconds): nothing after it can change an answer.
    pub fn expires_at_secs(&self, op: &KeyOp) -> i64 {
        let day = 86_400_000;
        let ms = match (self, op) {
            (KeyState::Sum { b }, KeyOp::Sum { window_ms, .. }) => b.last().map_or(0, |x| x.s) + 3 * window_ms + day,
            (KeyState::Distinct { m }, KeyOp::Distinct { window_ms, .. }) => m.values().max().copied().unwrap_or(0) + 3 * window_ms + day,
            (KeyState::Seen { last, .. }, KeyOp::Seen { within_ms, .. }) => last + within_ms + day,
            _ => day,
        };
        ms / 1000
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn take_varint(rest: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, tail) = rest.split_first()?;
        *rest = tail;
        v |= u64::from(b & 0x7f).checked_shl(shift)?;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

fn take_bytes<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = usize::try_from(take_varint(rest)?).ok()?;
    if rest.len() < len {
        return None;
    }
    let (bytes, tail) = rest.split_at(len);
    *rest = tail;
    Some(bytes)
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn bucket_len(window_ms: i64) -> i64 {
    (window_ms / BUCKETS_PER_WINDOW).max(1)
}

fn bucket_of(at_ms: i64, len: i64) -> i64 {
    at_ms.div_euclid(len) * len
}

fn decode_ids(text: &str) -> Vec<u64> {
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD.decode(text).unwrap_or_default();
    bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect()
}

fn encode_ids(ids: &[u64]) -> String {
    let bytes: Vec<u8> = ids.iter().flat_map(|i| i.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

/// The largest total over runs of `BUCKETS_PER_WINDOW + 1` consecutive buckets that contain one of
/// `touched` (bucket starts). `totals` is by bucket start.
fn max_over_windows(totals: &BTreeMap<i64, u64>, touched: &[i64], len: i64) -> u64 {
    let span = BUCKETS_PER_WINDOW * len;
    let mut best = 0u64;
    let mut ends: Vec<i64> = touched
        .iter()
        .flat_map(|&b| (0..=BUCKETS_PER_WINDOW).map(move |i| b + i * len))
        .collect();
    ends.sort_unstable();
    ends.dedup();
    for end in ends {
        let total = totals.range(end - span..=end).fold(0u64, |a, (_, t)| a.saturating_add(*t));
        best = best.max(total);
    }
    best
}

/// Applies one batch's update to a key's stored state. Returns the new state when it changed
/// (`None`: nothing to write) and the answer.
pub fn apply(prev: Option<KeyState>, op: &KeyOp) -> (Option<KeyState>, KeyAnswer) {
    match op {
        KeyOp::Sum { window_ms, adds } => apply_sum(prev, *window_ms, adds),
        KeyOp::Distinct { window_ms, members } => apply_distinct(prev, *window_ms, members),
        KeyOp::Seen {
            within_ms,
            earliest_ms,
            earliest_id,
            latest_ms,
        } => apply_seen(prev, *within_ms, *earliest_ms, *earliest_id, *latest_ms),
    }
}

fn apply_sum(prev: Option<KeyState>, window_ms: i64, adds: &[Contribution]) -> (Option<KeyState>, KeyAnswer) {
    let len = bucket_len(window_ms);
    let mut buckets: BTreeMap<i64, (u64, Vec<u64>)> = match prev {
        Some(KeyState::Sum { b }) => b.into_iter().map(|x| (x.s, (x.t, decode_ids(&x.c)))).collect(),
        _ => BTreeMap::new(),
    };
    // One contribution per record: the engine adds up a record's rows before it builds the
    // update, and an update that repeats an id (with whatever amounts) is read the same way, so
    // a redelivery answers as the clean pass did (found by the `state_commit` fuzz target).
    let mut by_id: BTreeMap<u64, Contribution> = BTreeMap::new();
    for add in adds {
        by_id
            .entry(add.id)
            .and_modify(|c| c.amount = c.amount.saturating_add(add.amount))
            .or_insert(*add);
    }
    // The key keeps two windows behind its newest bucket, the batch's included. Older buckets are
    // answered from the batch's own contributions only: what is stored there is pruned by this
    // commit, so a redelivery could not see it, and answering from it would make the first pass
    // and a redelivery differ (found by the `state_commit` fuzz target on a batch spanning hours).
    let newest = by_id
        .values()
        .map(|c| bucket_of(c.at_ms, len))
        .chain(buckets.keys().next_back().copied())
        .max()
        .unwrap_or(0);
    let keep_from = newest - 2 * BUCKETS_PER_WINDOW * len;
    let mut inserted_into = Vec::new();
    let mut touched = Vec::new();
    let mut batch_by_bucket: BTreeMap<i64, u64> = BTreeMap::new();
    for add in by_id.values() {
        let b = bucket_of(add.at_ms, len);
        touched.push(b);
        let in_bucket = batch_by_bucket.entry(b).or_default();
        *in_bucket = in_bucket.saturating_add(add.amount);
        if b < keep_from {
            continue;
        }
        let (total, ids) = buckets.entry(b).or_insert((0, Vec::new()));
        if let Err(pos) = ids.binary_search(&add.id) {
            ids.insert(pos, add.id);
            *total = total.saturating_add(add.amount);
            inserted_into.push(b);
        }
    }
    touched.sort_unstable();
    touched.dedup();
    let totals: BTreeMap<i64, u64> = buckets
        .iter()
        .filter(|(s, _)| **s >= keep_from)
        .map(|(s, (t, _))| (*s, *t))
        .chain(batch_by_bucket.range(..keep_from).map(|(s, t)| (*s, *t)))
        .collect();
    let total = max_over_windows(&totals, &touched, len);
    let batch = batch_by_bucket.values().fold(0u64, |a, b| a.saturating_add(*b)).min(total);
    // Contributions only to buckets the pruning drops change nothing stored: without this, a
    // redelivered batch reaching back more than two windows was written again every time (found
    // by the `state_commit` fuzz target).
    // (Every write prunes, so with nothing inserted the stored buckets are already the kept ones.)
    if inserted_into.is_empty() {
        return (None, KeyAnswer::Sum { total, batch });
    }
    let b = buckets
        .into_iter()
        .filter(|(s, _)| *s >= keep_from)
        .map(|(s, (t, ids))| SumBucket { s, t, c: encode_ids(&ids) })
        .collect();
    (Some(KeyState::Sum { b }), KeyAnswer::Sum { total, batch })
}

fn apply_distinct(prev: Option<KeyState>, window_ms: i64, members: &[(String, i64)]) -> (Option<KeyState>, KeyAnswer) {
    let len = bucket_len(window_ms);
    let mut set = match prev {
        Some(KeyState::Distinct { m }) => m,
        _ => BTreeMap::new(),
    };
    let mut changed = false;
    let mut touched = Vec::new();
    for (member, at) in members {
        let b = bucket_of(*at, len);
        touched.push(b);
        match set.get_mut(member) {
            Some(seen) if *seen >= b => {}
            Some(seen) => {
                *seen = b;
                changed = true;
            }
            None => {
                set.insert(member.clone(), b);
                changed = true;
            }
        }
    }
    if set.len() > DISTINCT_CAP {
        // Drop the members seen longest ago (ties: by name, so every adapter drops the same ones).
        let mut by_age: Vec<(i64, String)> = set.iter().map(|(m, b)| (*b, m.clone())).collect();
        by_age.sort();
        for (_, m) in by_age.into_iter().take(set.len() - DISTINCT_CAP) {
            set.remove(&m);
        }
    }
    touched.sort_unstable();
    touched.dedup();
    let mut counts: BTreeMap<i64, u64> = BTreeMap::new();
    for b in set.values() {
        *counts.entry(*b).or_default() += 1;
    }
    let size = max_over_windows(&counts, &touched, len);
    let state = changed.then_some(KeyState::Distinct { m: set });
    (state, KeyAnswer::Distinct(size))
}

fn apply_seen(prev: Option<KeyState>, within_ms: i64, earliest_ms: i64, earliest_id: u64, latest_ms: i64) -> (Option<KeyState>, KeyAnswer) {
    match prev {
        Some(KeyState::Seen { last, first, id }) => {
            if id == earliest_id && first == earliest_ms {
                // The record that was answered "first" before, again: the same answer.
                let moved = latest_ms > last;
                let state = moved.then_some(KeyState::Seen {
                    last: latest_ms,
                    first,
                    id,
                });
                return (state, KeyAnswer::FirstSeen(true));
            }
            // Seen within the look-back before the batch's earliest sighting? After the last
            // sighting: by the gap. Inside the run of sightings the state already holds (a retry,
            // or a late batch, whose own later sightings may already be written): seen. Before
            // the run: by the gap to its start.
            let is_first = if earliest_ms > last {
                earliest_ms - last > within_ms
            } else if earliest_ms >= first {
                false
            } else {
                first - earliest_ms > within_ms
            };
            if is_first {
                return (
                    Some(KeyState::Seen {
                        last: last.max(latest_ms),
                        first: earliest_ms,
                        id: earliest_id,
                    }),
                    KeyAnswer::FirstSeen(true),
                );
            }
            let refresh = (within_ms / SEEN_REFRESH_DIVISOR).max(1);
            let state = (latest_ms - last >= refresh).then_some(KeyState::Seen {
                last: latest_ms,
                first,
                id,
            });
            (state, KeyAnswer::FirstSeen(false))
        }
        _ => (
            Some(KeyState::Seen {
                last: latest_ms,
                first: earliest_ms,
                id: earliest_id,
            }),
            KeyAnswer::FirstSeen(true),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn a_redelivered_batch_reaching_back_past_the_kept_buckets_writes_nothing() {
        // One contribution three windows before the newest: counted in the answer, then pruned.
        let op = KeyOp::Sum {
            window_ms: HOUR,
            adds: vec![
                Contribution {
                    id: 1,
                    at_ms: 1_741_107_600_000,
                    amount: 5,
                },
                Contribution {
                    id: 2,
                    at_ms: 1_741_107_600_000 + 3 * HOUR,
                    amount: 7,
                },
            ],
        };
        let (state, first) = apply(None, &op);
        let state = state.unwrap();
        assert_eq!(apply(Some(state.clone()), &op), (None, first), "the redelivery changes nothing");
    }

    #[test]
    fn sums_past_i64_max_survive_the_json_state_and_saturate_at_u64_max() {
        let big = i64::MAX as u64 + 5;
        let op = |id: u64, amount: u64| KeyOp::Sum {
            window_ms: HOUR,
            adds: vec![Contribution {
                id,
                at_ms: 1_741_107_600_000,
                amount,
            }],
        };
        let (state, answer) = apply(None, &op(1, big));
        let state = state.unwrap();
        assert_eq!(answer, KeyAnswer::Sum { total: big, batch: big });
        // Stored as JSON text (DynamoDB `st`, SQLite): a u64 above i64::MAX reads back exactly.
        let stored = KeyState::decode(&state.encode()).unwrap();
        assert_eq!(stored, state);
        let (state, answer) = apply(Some(stored), &op(2, u64::MAX - 1));
        assert_eq!(
            answer,
            KeyAnswer::Sum {
                total: u64::MAX,
                batch: u64::MAX - 1
            },
            "saturates, never wraps"
        );
        let stored = KeyState::decode(&state.unwrap().encode()).unwrap();
        let (again, answer) = apply(Some(stored), &op(2, u64::MAX - 1));
        assert_eq!(
            (again, answer),
            (
                None,
                KeyAnswer::Sum {
                    total: u64::MAX,
                    batch: u64::MAX - 1
                }
            ),
            "a retry adds nothing"
        );
    }

    fn sum(adds: &[(u64, i64, u64)]) -> KeyOp {
        KeyOp::Sum {
            window_ms: HOUR,
            adds: adds.iter().map(|&(id, at_ms, amount)| Contribution { id, at_ms, amount }).collect(),
        }
    }

    fn run(ops: &[KeyOp]) -> (Option<KeyState>, Vec<KeyAnswer>) {
        let mut state = None;
        let mut answers = Vec::new();
        for op in ops {
            let (next, answer) = apply(state.clone(), op);
            if let Some(next) = next {
                state = Some(next);
            }
            answers.push(answer);
        }
        (state, answers)
    }

    #[test]
    fn a_record_counted_once_adds_nothing_again_and_gets_the_same_answer() {
        let batch = sum(&[(1, 0, 10), (2, 60_000, 5)]);
        let (state, answers) = run(&[batch.clone(), batch.clone()]);
        assert_eq!(answers[0], KeyAnswer::Sum { total: 15, batch: 15 });
        assert_eq!(answers[1], answers[0], "the same batch again answers the same");
        // The same records in another batch, with one new one.
        let (_, again) = apply(state, &sum(&[(2, 60_000, 5), (3, 120_000, 1)]));
        assert_eq!(again, KeyAnswer::Sum { total: 16, batch: 6 });
    }

    #[test]
    fn an_update_repeating_a_record_counts_it_as_one_contribution_every_time() {
        // fuzz/seeds/state_commit/regression-sum-repeated-id.bin: id 7 twice, different amounts.
        let batch = sum(&[(7, 0, 10), (7, 0, 4), (8, 0, 1)]);
        let (state, answers) = run(&[batch.clone(), batch.clone()]);
        assert_eq!(answers[0], KeyAnswer::Sum { total: 15, batch: 15 });
        assert_eq!(answers[1], answers[0], "a redelivery answers as the clean pass did");
        assert_eq!(apply(state, &batch).0, None, "and writes nothing");
    }

    #[test]
    fn a_batch_spanning_more_than_the_kept_windows_answers_the_same_when_redelivered() {
        // Record 1 was counted at 00:00 with 100; a backfill batch carries it again (its amount
        // now 7) with record 2 five hours later. The commit prunes 00:00, so what was stored there
        // is never part of an answer: the first pass and a redelivery both see the batch's 7.
        let (before, _) = run(&[sum(&[(1, 0, 100)])]);
        let batch = sum(&[(1, 0, 7), (2, 5 * HOUR, 10)]);
        let (after, first) = apply(before, &batch);
        assert_eq!(
            first,
            KeyAnswer::Sum { total: 10, batch: 10 },
            "the old hour answers from the batch: 7 < 10"
        );
        let (again, second) = apply(after.clone(), &batch);
        assert_eq!(second, first, "a redelivery answers as the first pass did");
        assert_eq!(again, None, "and writes nothing");
    }

    #[test]
    fn a_total_straddling_a_clock_hour_is_seen() {
        // 13 units across 36 minutes that cross 01:00; each clock hour holds less than 10.
        let start = HOUR - 18 * 60_000;
        let adds: Vec<(u64, i64, u64)> = (0..13).map(|i| (i as u64, start + i * 3 * 60_000, 1)).collect();
        let (_, answers) = run(&adds.iter().map(|a| sum(std::slice::from_ref(a))).collect::<Vec<_>>());
        assert_eq!(answers.last(), Some(&KeyAnswer::Sum { total: 13, batch: 1 }));
        // Arriving in reverse order, the last batch processed still sees the whole span.
        let (_, reversed) = run(&adds.iter().rev().map(|a| sum(std::slice::from_ref(a))).collect::<Vec<_>>());
        assert_eq!(reversed.last(), Some(&KeyAnswer::Sum { total: 13, batch: 1 }));
    }

    #[test]
    fn totals_further_apart_than_a_window_and_a_bucket_do_not_add_up() {
        let (_, answers) = run(&[sum(&[(1, 0, 7)]), sum(&[(2, HOUR + HOUR / 12 + 1, 7)])]);
        assert_eq!(answers[1], KeyAnswer::Sum { total: 7, batch: 7 });
    }

    #[test]
    fn old_buckets_are_dropped() {
        let (state, _) = run(&[sum(&[(1, 0, 7)]), sum(&[(2, 5 * HOUR, 7)])]);
        match state {
            Some(KeyState::Sum { b }) => assert_eq!(b.len(), 1),
            other => panic!("{other:?}"),
        }
    }

    fn distinct(members: &[&str], at: i64) -> KeyOp {
        KeyOp::Distinct {
            window_ms: HOUR,
            members: members.iter().map(|m| ((*m).to_owned(), at)).collect(),
        }
    }

    #[test]
    fn distinct_sets_are_idempotent_windowed_and_capped() {
        let (state, answers) = run(&[distinct(&["a", "b"], 0), distinct(&["a", "b"], 0), distinct(&["c"], 60_000)]);
        assert_eq!(
            answers,
            vec![KeyAnswer::Distinct(2), KeyAnswer::Distinct(2), KeyAnswer::Distinct(3)]
        );
        let (unchanged, _) = apply(state.clone(), &distinct(&["a"], 0));
        assert!(unchanged.is_none(), "nothing new: no write");
        let (_, later) = apply(state, &distinct(&["d"], 3 * HOUR));
        assert_eq!(later, KeyAnswer::Distinct(1), "members from hours ago are outside the window");
        let many: Vec<String> = (0..DISTINCT_CAP + 50).map(|i| format!("m{i}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let (state, answer) = apply(None, &distinct(&refs, 0));
        assert_eq!(answer, KeyAnswer::Distinct(DISTINCT_CAP as u64));
        assert!(state.unwrap().encode().len() < 20_000, "bounded far below DynamoDB's 400 KB");
    }

    fn seen(at: i64, id: u64) -> KeyOp {
        KeyOp::Seen {
            within_ms: 86_400_000,
            earliest_ms: at,
            earliest_id: id,
            latest_ms: at,
        }
    }

    #[test]
    fn first_seen_answers_first_again_for_the_record_that_was_first() {
        let (state, answers) = run(&[seen(0, 7), seen(0, 7), seen(HOUR, 8)]);
        assert_eq!(
            answers,
            vec![KeyAnswer::FirstSeen(true), KeyAnswer::FirstSeen(true), KeyAnswer::FirstSeen(false)]
        );
        let (_, after) = apply(state, &seen(3 * 86_400_000, 9));
        assert_eq!(after, KeyAnswer::FirstSeen(true), "outside the look-back: first again");
    }

    #[test]
    fn a_retried_batch_spanning_more_than_the_look_back_answers_as_before() {
        // Seen at 0; then a batch whose sightings run from one hour to three days later.
        let (state, _) = run(&[seen(0, 1)]);
        let batch = KeyOp::Seen {
            within_ms: 86_400_000,
            earliest_ms: HOUR,
            earliest_id: 2,
            latest_ms: 3 * 86_400_000,
        };
        let (written, clean) = apply(state, &batch);
        assert_eq!(clean, KeyAnswer::FirstSeen(false));
        let (_, retried) = apply(written, &batch);
        assert_eq!(
            retried, clean,
            "the retry sees its own later sighting, yet answers as the clean pass"
        );
    }

    #[test]
    fn a_key_seen_again_soon_is_not_rewritten() {
        let (state, _) = run(&[seen(0, 1)]);
        let (write, answer) = apply(state.clone(), &seen(60_000, 2));
        assert_eq!((write, answer), (None, KeyAnswer::FirstSeen(false)));
        let (write, _) = apply(state, &seen(86_400_000 / SEEN_REFRESH_DIVISOR, 2));
        assert!(write.is_some(), "a refresh period later the sighting is written");
    }

    #[test]
    fn states_round_trip_through_their_encoding() {
        let (state, _) = run(&[sum(&[(1, 0, 10), (u64::MAX, 1, 5)])]);
        let state = state.unwrap();
        assert_eq!(KeyState::decode(&state.encode()).unwrap(), state);
        assert_eq!(KeyState::from_bytes(&state.to_bytes()), Some(state.clone()));
        assert_eq!(
            KeyState::from_bytes(state.encode().as_bytes()),
            Some(state.clone()),
            "the JSON form is read too"
        );
        assert!(state.to_bytes().len() * 2 < state.encode().len(), "{:?}", state.to_bytes());
        let (distinct, _) = run(&[distinct(&["a", "ß"], -5)]);
        let distinct = distinct.unwrap();
        assert_eq!(KeyState::from_bytes(&distinct.to_bytes()), Some(distinct));
        let seen = KeyState::Seen {
            last: i64::MAX,
            first: i64::MIN,
            id: u64::MAX,
        };
        assert_eq!(KeyState::from_bytes(&seen.to_bytes()), Some(seen.clone()));
        let bytes = seen.to_bytes();
        for cut in 0..bytes.len() {
            assert_eq!(KeyState::from_bytes(&bytes[..cut]), None, "a truncated state is refused");
        }
        assert_eq!(KeyState::from_bytes(&[9, 0]), None);
    }

    proptest::proptest! {
        #[test]
        fn any_sum_state_round_trips_through_bytes(adds in proptest::collection::vec((proptest::prelude::any::<u64>(), -10_000_000i64..10_000_000, proptest::prelude::any::<u64>()), 1..40)) {
            let (state, _) = run(&[sum(&adds)]);
            let state = state.unwrap();
            proptest::prop_assert_eq!(KeyState::from_bytes(&state.to_bytes()), Some(state));
        }
    }
}
