//! The engine loop: every enabled detection over every row of a batch, stateful questions answered
//! in one state call per key per batch, then dedup / threshold through the alert-state port.

use std::collections::HashMap;

use futures_util::StreamExt;

use super::alert::{alert_id, bounded_events, Alert};
use super::keys::{record_identity, Contribution, KeyAnswer, KeyOp, KeyUpdate};
use super::registry::{Entry, Registry};
use super::state::{AlertState, MatchInput, MatchOutcome};
use super::{LogType, StateAnswer, StateQuery, Verdict};
use crate::lake::LakeRow;
use crate::ports::PortError;
use crate::time::Timestamp;

/// Counters from one evaluation.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EvalStats {
    /// Rows evaluated.
    pub rows: usize,
    /// (detection, row) matches.
    pub matches: usize,
    /// Notifications produced.
    pub notifications: usize,
}

fn row_json(row: &LakeRow) -> String {
    let mut out = Vec::new();
    row.write_json_line(&mut out);
    out.pop();
    String::from_utf8(out).unwrap_or_default()
}

struct Pending<'r> {
    entry: usize,
    row: &'r LakeRow,
    query: Option<StateQuery>,
}

/// Evaluates every enabled detection over `rows` and returns the alerts to notify, in row order.
///
/// # Errors
/// A state-port failure. Nothing has been notified for the batch then; the caller retries the
/// whole batch, and dedup state makes already-recorded matches attach instead of paging again.
pub async fn evaluate<S: AlertState>(
    registry: &Registry,
    rows: &[LakeRow],
    state: &S,
    now: Timestamp,
) -> Result<(Vec<Alert>, EvalStats), PortError> {
    state.begin_batch()?;
    let result = evaluate_in_batch(registry, rows, state, now).await;
    state.end_batch(result.is_ok())?;
    result
}

async fn evaluate_in_batch<S: AlertState>(
    registry: &Registry,
    rows: &[LakeRow],
    state: &S,
    now: Timestamp,
) -> Result<(Vec<Alert>, EvalStats), PortError> {
    let entries = registry.entries();
    let mut stats = EvalStats {
        rows: rows.len(),
        ..EvalStats::default()
    };
    let active: [Vec<usize>; 2] =
        [LogType::Audit, LogType::Network].map(|lt| (0..entries.len()).filter(|&i| entries[i].enabled && entries[i].reads(lt)).collect());

    let mut pending = Vec::new();
    for row in rows {
        let list = match row {
            LakeRow::Audit(_) => &active[0],
            LakeRow::Network(_) => &active[1],
        };
        for &i in list {
            match entries[i].detection.evaluate(row) {
                Verdict::No => {}
                Verdict::Yes => pending.push(Pending {
                    entry: i,
                    row,
                    query: None,
                }),
                Verdict::Ask(q) => pending.push(Pending {
                    entry: i,
                    row,
                    query: Some(q),
                }),
            }
        }
    }

    let (answers, samples) = answer_queries(entries, &pending, state).await?;

    // The matches, grouped by alert key (detection, dedup string) in order of first appearance.
    let mut groups: HashMap<(usize, String), Vec<Match<'_>>> = HashMap::new();
    let mut order = Vec::new();
    let mut recorded_rows = std::collections::HashSet::new();
    for (index, (p, answer)) in pending.iter().zip(answers).enumerate() {
        let det = &entries[p.entry].detection;
        let mut state_context = None;
        let mut state_answer = None;
        if let Some((answer, context)) = answer {
            if !det.decide(p.row, answer) {
                continue;
            }
            state_context = Some(context);
            state_answer = Some(answer);
        }
        stats.matches += 1;
        // The same record twice in one batch is one row id: recorded once, as a retry would be.
        if !recorded_rows.insert((p.entry, p.row.standard().p_row_id.as_str())) {
            continue;
        }
        let key = (p.entry, det.dedup(p.row, state_answer));
        let group = groups.entry(key.clone()).or_default();
        if group.is_empty() {
            order.push(key);
        }
        group.push(Match {
            index,
            row: p.row,
            state_context,
            answer: state_answer,
        });
    }

    // Alert keys are independent state items: their recordings run concurrently (each key's own
    // writes stay in order), so a batch with many alerts waits for ~1/MATCH_CONCURRENCY of the
    // round trips it would make one after another.
    // (Futures built in a loop, not a closure: a closure's lifetimes make the async fn not `Send`.)
    let mut recordings = Vec::with_capacity(order.len());
    for key in &order {
        recordings.push(record_group(&entries[key.0], &key.1, &groups[key], state, now));
    }
    let recorded: Vec<_> = futures_util::stream::iter(recordings).buffered(MATCH_CONCURRENCY).collect().await;
    let mut alerts = Vec::new();
    for (key, outcomes) in order.iter().zip(recorded) {
        let (entry_index, dedup) = key;
        let entry = &entries[*entry_index];
        for (m, outcome) in outcomes? {
            if outcome.notify {
                stats.notifications += 1;
                let mut alert = build_alert(entry, m.row, m.answer, dedup, &outcome, row_json(m.row));
                if let (Some(context), Some(map)) = (m.state_context, alert.alert_context.as_object_mut()) {
                    map.insert("state".to_owned(), context.json(&samples));
                }
                alerts.push((m.index, alert));
            }
        }
    }
    alerts.sort_by_key(|(index, _)| *index);
    Ok((alerts.into_iter().map(|(_, alert)| alert).collect(), stats))
}

/// Alert keys recorded at once. A DynamoDB round trip is ~6 ms, and a batch of audit logs with a
/// hundred alert keys would otherwise wait for each key's 3–8 requests in turn.
pub const MATCH_CONCURRENCY: usize = 16;

/// The largest first event kept in alert state. A row can be far larger (a policy-file update
/// carries two whole policies), and a DynamoDB item must stay under 400 KB: a larger row is kept as
/// its id and a prefix, and the lake holds the whole row.
pub const MAX_STORED_EVENT_BYTES: usize = 16 * 1024;

fn stored_event(json: String, row_id: &str) -> String {
    if json.len() <= MAX_STORED_EVENT_BYTES {
        return json;
    }
    let prefix: String = json.chars().take(4096).collect();
    serde_json::json!({ "truncated": true, "p_row_id": row_id, "bytes": json.len(), "prefix": prefix }).to_string()
}

/// One (detection, row) match waiting to be recorded.
struct Match<'r> {
    /// Position in the evaluation order, so alerts come out in row order.
    index: usize,
    row: &'r LakeRow,
    state_context: Option<StateContext>,
    /// The state's answer for this row, which the detection's title, severity and context see.
    answer: Option<StateAnswer>,
}

/// Records the matches of one alert key from one batch with as few state writes as the semantics
/// allow, and returns, for each write, the match that stands for it and the outcome.
///
/// A busy key (a scanner's hundreds of targets in one record, a noisy actor) would otherwise cost
/// one state write per row: in AWS a DynamoDB transaction each, locally a SQLite transaction each.
/// Here the first match is recorded alone, which tells where the current alert's window is; then
/// every other match of the batch inside that window is recorded as one weighted write (counted
/// `matches` times, claimed under its first row's id, so a retried batch counts nothing twice);
/// matches outside it start the same again. The outcome is the one row-at-a-time recording would
/// give (alert sequence, count, exactly one notification when the count reaches the threshold); the
/// alert is built from the match that reached the threshold.
async fn record_group<'r, S: AlertState>(
    entry: &Entry,
    dedup: &str,
    matches: &'r [Match<'r>],
    state: &S,
    now: Timestamp,
) -> Result<Vec<(&'r Match<'r>, MatchOutcome)>, PortError> {
    let period_ms = i64::from(entry.dedup_minutes) * 60_000;
    let threshold = u64::from(entry.threshold.max(1));
    let mut out = Vec::new();
    let mut rest: Vec<&Match<'_>> = matches.iter().collect();
    while let Some((first, tail)) = rest.split_first() {
        let outcome = record_matches(state, entry, dedup, first, 1, now).await?;
        let anchor = outcome.first_event_time.unix_millis();
        let (inside, outside): (Vec<&Match<'_>>, Vec<&Match<'_>>) = tail.iter().partition(|m| {
            let t = m.row.standard().p_event_time.unix_millis();
            t >= anchor.saturating_sub(period_ms) && t < anchor.saturating_add(period_ms)
        });
        out.push((*first, outcome));
        if let Some(head) = inside.first() {
            let mut outcome = record_matches(state, entry, dedup, head, inside.len(), now).await?;
            // The match at which the count reached the threshold is the one that notifies, with the
            // count it had then (as if recorded one at a time).
            let before = outcome.event_count.saturating_sub(inside.len() as u64);
            let reached = usize::try_from(threshold.saturating_sub(before).saturating_sub(1))
                .unwrap_or(usize::MAX)
                .min(inside.len() - 1);
            if outcome.notify {
                outcome.event_count = before + reached as u64 + 1;
            }
            out.push((inside[reached], outcome));
        }
        rest = outside;
    }
    Ok(out)
}

/// One state write for `count` matches of one key, claimed under `m`'s row id.
async fn record_matches<S: AlertState>(
    state: &S,
    entry: &Entry,
    dedup: &str,
    m: &Match<'_>,
    count: usize,
    now: Timestamp,
) -> Result<MatchOutcome, PortError> {
    let row = m.row.standard();
    let event_json = stored_event(row_json(m.row), &row.p_row_id);
    state
        .record_match(MatchInput {
            rule_id: entry.detection.meta().id,
            dedup,
            row_id: &row.p_row_id,
            matches: count as u64,
            event_time: row.p_event_time,
            period_secs: i64::from(entry.dedup_minutes) * 60,
            threshold: entry.threshold,
            now,
            event_json: &event_json,
        })
        .await
}

fn build_alert(
    entry: &Entry,
    row: &LakeRow,
    answer: Option<StateAnswer>,
    dedup: &str,
    outcome: &super::state::MatchOutcome,
    event_json: String,
) -> Alert {
    let det = &entry.detection;
    let meta = det.meta();
    Alert {
        id: meta.id.to_owned(),
        alert_id: alert_id(meta.id, outcome.seq, dedup),
        created_at: outcome.created_at.rfc3339(),
        severity: entry.severity_override.unwrap_or_else(|| det.severity(row, answer)),
        alert_type: "RULE".to_owned(),
        title: det.title(row, answer),
        name: meta.name.to_owned(),
        description: meta.description.to_owned(),
        runbook: meta.runbook.to_owned(),
        reference: meta.reference.to_owned(),
        tags: meta.tags.iter().map(|t| (*t).to_owned()).collect(),
        dedup: dedup.to_owned(),
        event_count: outcome.event_count,
        log_types: meta.log_types.iter().map(|l| l.as_str().to_owned()).collect(),
        first_event_time: outcome.first_event_time.rfc3339(),
        alert_context: det.context(row, answer),
        events: bounded_events([outcome.first_event.clone(), event_json]),
    }
}

/// Answers the stateful questions with one state call per batch: one [`KeyUpdate`] per
/// (detection, question kind, key), applied by the state port with at most one write per key.
/// Per-row answers are what a row-at-a-time evaluation would have seen: running sums, first-seen
/// only for the key's earliest row in the batch, the set size after the batch.
///
/// Each answer comes with what the state knew, for the alert context (`state`): the running total,
/// or the set size and a sample of its members. That context only becomes JSON for the rows the
/// detection then decides are matches ([`StateContext::json`]): most answered rows are not, and
/// building a JSON object (with a 20-member sample) per answered row dominated the engine's time on
/// network rows.
async fn answer_queries<S: AlertState>(entries: &[Entry], pending: &[Pending<'_>], state: &S) -> Result<Answers, PortError> {
    let mut answers: Vec<Option<(StateAnswer, StateContext)>> = vec![None; pending.len()];
    let mut samples: Vec<Vec<String>> = Vec::new();
    // Group indices by (entry, kind, key), in order of first appearance.
    let mut groups: HashMap<(usize, u8, &str), Vec<usize>> = HashMap::new();
    let mut order = Vec::new();
    for (i, p) in pending.iter().enumerate() {
        let Some(q) = &p.query else { continue };
        let g = match q {
            StateQuery::FirstSeen { key, .. } => (p.entry, 0, key.as_str()),
            StateQuery::SumOverWindow { key, .. } => (p.entry, 1, key.as_str()),
            StateQuery::DistinctCount { key, .. } => (p.entry, 2, key.as_str()),
        };
        let slot = groups.entry(g).or_default();
        if slot.is_empty() {
            order.push(g);
        }
        slot.push(i);
    }
    let time = |i: usize| pending[i].row.standard().p_event_time.unix_millis();
    // A distinct count over no window (`window_minutes = 0`) is about the rows of one batch alone
    // (e.g. the targets inside one flow record, which never spans batches): answered here, with no
    // state read or written.
    let in_batch = |g: &(usize, u8, &str)| {
        matches!(
            &pending[groups[g][0]].query,
            Some(StateQuery::DistinctCount { window_minutes: 0, .. })
        )
    };
    for g in order.iter().filter(|g| in_batch(g)) {
        let members = &groups[g];
        let mut set: Vec<&str> = members
            .iter()
            .filter_map(|&i| match &pending[i].query {
                Some(StateQuery::DistinctCount { member, .. }) => Some(member.as_str()),
                _ => None,
            })
            .collect();
        set.sort_unstable();
        set.dedup();
        let size = set.len() as u64;
        samples.push(set.iter().take(20).map(|m| (*m).to_owned()).collect());
        let sample = samples.len() - 1;
        for &i in members {
            answers[i] = Some((StateAnswer::Distinct(size), StateContext::Distinct { distinct: size, sample }));
        }
    }
    order.retain(|g| !in_batch(g));
    let updates: Vec<KeyUpdate> = order
        .iter()
        .map(|g| {
            let members = &groups[g];
            let (entry, kind, key) = *g;
            let rule = entries[entry].meta().id;
            let op = match pending[members[0]].query {
                Some(StateQuery::FirstSeen { within_days, .. }) => {
                    let first = members.iter().copied().min_by_key(|&i| (time(i), i)).unwrap_or(members[0]);
                    KeyOp::Seen {
                        within_ms: i64::from(within_days) * 86_400_000,
                        earliest_ms: time(first),
                        earliest_id: record_identity(pending[first].row),
                        latest_ms: members.iter().map(|&i| time(i)).max().unwrap_or(0),
                    }
                }
                Some(StateQuery::SumOverWindow { window_minutes, .. }) => {
                    // One contribution per record: its rows' amounts added up.
                    let mut by_record: HashMap<u64, Contribution> = HashMap::new();
                    for &i in members {
                        let amount = match &pending[i].query {
                            Some(StateQuery::SumOverWindow { amount, .. }) => *amount,
                            _ => 0,
                        };
                        let id = record_identity(pending[i].row);
                        let c = by_record.entry(id).or_insert(Contribution {
                            id,
                            at_ms: time(i),
                            amount: 0,
                        });
                        c.amount = c.amount.saturating_add(amount);
                        c.at_ms = c.at_ms.max(time(i));
                    }
                    let mut adds: Vec<Contribution> = by_record.into_values().collect();
                    adds.sort_unstable_by_key(|c| c.id);
                    KeyOp::Sum {
                        window_ms: i64::from(window_minutes.max(1)) * 60_000,
                        adds,
                    }
                }
                Some(StateQuery::DistinctCount { window_minutes, .. }) => {
                    let mut latest: HashMap<&str, i64> = HashMap::new();
                    for &i in members {
                        if let Some(StateQuery::DistinctCount { member, .. }) = &pending[i].query {
                            let t = latest.entry(member.as_str()).or_insert(i64::MIN);
                            *t = (*t).max(time(i));
                        }
                    }
                    let mut members: Vec<(String, i64)> = latest.into_iter().map(|(m, t)| (m.to_owned(), t)).collect();
                    members.sort_unstable();
                    KeyOp::Distinct {
                        window_ms: i64::from(window_minutes.max(1)) * 60_000,
                        members,
                    }
                }
                None => unreachable!("grouped rows all ask"),
            };
            let kind = ["seen", "sum", "set"][usize::from(kind)];
            KeyUpdate {
                key: format!("{kind}\u{1f}{rule}\u{1f}{key}"),
                op,
            }
        })
        .collect();
    let replies = if updates.is_empty() {
        Vec::new()
    } else {
        state.update_keys(&updates).await?
    };
    for ((g, update), reply) in order.iter().zip(&updates).zip(replies) {
        let members = &groups[g];
        match (&update.op, reply) {
            (KeyOp::Seen { within_ms, .. }, KeyAnswer::FirstSeen(is_first)) => {
                let first = members.iter().copied().min_by_key(|&i| (time(i), i)).unwrap_or(members[0]);
                for &i in members {
                    let answer = is_first && i == first;
                    answers[i] = Some((
                        StateAnswer::FirstSeen(answer),
                        StateContext::FirstSeen {
                            first_seen: answer,
                            lookback_days: u32::try_from(within_ms / 86_400_000).unwrap_or(u32::MAX),
                        },
                    ));
                }
            }
            (KeyOp::Sum { window_ms, .. }, KeyAnswer::Sum { total, batch }) => {
                let mut running = total.saturating_sub(batch);
                for &i in members {
                    let amount = match &pending[i].query {
                        Some(StateQuery::SumOverWindow { amount, .. }) => *amount,
                        _ => 0,
                    };
                    running = running.saturating_add(amount).min(total.max(running));
                    answers[i] = Some((
                        StateAnswer::Sum(running),
                        StateContext::Sum {
                            window_total: running,
                            window_minutes: window_ms / 60_000,
                        },
                    ));
                }
            }
            (KeyOp::Distinct { members: set, .. }, KeyAnswer::Distinct(size)) => {
                let mut sample: Vec<String> = set.iter().map(|(m, _)| m.clone()).collect();
                sample.truncate(20);
                samples.push(sample);
                let sample = samples.len() - 1;
                for &i in members {
                    answers[i] = Some((StateAnswer::Distinct(size), StateContext::Distinct { distinct: size, sample }));
                }
            }
            (_, other) => {
                return Err(PortError::permanent(
                    "answer state questions",
                    format!("the state answered {other:?} to {}", update.key),
                ))
            }
        }
    }
    Ok((answers, samples))
}

/// Per-row answers and the distinct-count samples they point into.
type Answers = (Vec<Option<(StateAnswer, StateContext)>>, Vec<Vec<String>>);

/// What the state knew when it answered a row, turned into the alert context's `state` object only
/// for rows that match.
#[derive(Debug, Clone, Copy)]
enum StateContext {
    FirstSeen { first_seen: bool, lookback_days: u32 },
    Sum { window_total: u64, window_minutes: i64 },
    Distinct { distinct: u64, sample: usize },
}

impl StateContext {
    fn json(self, samples: &[Vec<String>]) -> serde_json::Value {
        match self {
            StateContext::FirstSeen { first_seen, lookback_days } => {
                serde_json::json!({ "first_seen": first_seen, "lookback_days": lookback_days })
            }
            StateContext::Sum {
                window_total,
                window_minutes,
            } => serde_json::json!({ "window_total": window_total, "window_minutes": window_minutes }),
            StateContext::Distinct { distinct, sample } => {
                serde_json::json!({ "distinct": distinct, "sample": samples.get(sample).cloned().unwrap_or_default() })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use proptest::prelude::*;

    use super::*;
    use crate::engine::config::TuningConfig;
    use crate::engine::state::{block_on, MemoryAlertState};
    use crate::engine::Meta;
    use crate::normalize::SourceContext;
    use crate::pipeline::normalize_body;

    /// Memory state that counts the writes `record_match` makes.
    #[derive(Default)]
    struct Counting {
        inner: MemoryAlertState,
        record_calls: AtomicUsize,
    }

    impl AlertState for Counting {
        async fn record_match(&self, m: MatchInput<'_>) -> Result<MatchOutcome, PortError> {
            self.record_calls.fetch_add(1, Ordering::Relaxed);
            self.inner.record_match(m).await
        }
        async fn update_keys(&self, updates: &[KeyUpdate]) -> Result<Vec<KeyAnswer>, PortError> {
            self.inner.update_keys(updates).await
        }
        async fn is_delivered(&self, alert_id: &str, sink: &str) -> Result<bool, PortError> {
            self.inner.is_delivered(alert_id, sink).await
        }
        async fn mark_delivered(&self, alert_id: &str, sink: &str) -> Result<(), PortError> {
            self.inner.mark_delivered(alert_id, sink).await
        }
    }

    fn ctx() -> SourceContext<'static> {
        SourceContext {
            label: "test",
            file: "test",
            parse_time: Timestamp::parse("2025-03-04T18:00:00Z").unwrap(),
        }
    }

    fn rows(body: &str) -> Vec<LakeRow> {
        let out = normalize_body(body.as_bytes(), &ctx());
        assert!(out.quarantined.is_empty(), "{:?}", out.quarantined.first().map(|q| &q.message));
        out.rows
    }

    fn registry(specs: &[&dyn crate::rule::Definition], toml: &str) -> Registry {
        Registry::build(specs, &TuningConfig::from_toml_str(toml).unwrap()).unwrap()
    }

    #[test]
    fn a_scan_of_300_targets_is_one_alert_counting_300_events_in_two_state_writes() {
        let targets: Vec<String> = (0..300)
            .map(|i| {
                format!(
                    r#"{{"proto":6,"src":"100.64.0.9:{}","dst":"100.64.{}.{}:22"}}"#,
                    40_000 + i,
                    i / 200,
                    i % 200 + 1
                )
            })
            .collect();
        let body = format!(
            r#"{{"nodeId":"nScan","start":"2025-03-04T17:40:00Z","srcNode":{{"nodeId":"nScan","name":"laptop-7"}},"virtualTraffic":[{}]}}"#,
            targets.join(",")
        );
        let rows = rows(&body);
        assert_eq!(rows.len(), 300);
        let registry = registry(&[&crate::detections::network::port_scan::RULE], "");
        let state = Counting::default();
        let now = ctx().parse_time;
        let (alerts, stats) = block_on(evaluate(&registry, &rows, &state, now)).unwrap();
        assert_eq!((stats.matches, stats.notifications, alerts.len()), (300, 1, 1));
        assert_eq!(alerts[0].title, "Possible port scan from laptop-7 (nScan)");
        assert_eq!(alerts[0].event_count, 1, "the alert pages at its first match");
        assert_eq!(
            state.record_calls.load(Ordering::Relaxed),
            2,
            "one write for the first match, one for the other 299"
        );
        assert_eq!(state.inner.key_writes(), 0, "a count inside one record keeps no state");

        // The batch again (a retried SQS message): nothing counted twice, the same alert re-produced.
        let (again, _) = block_on(evaluate(&registry, &rows, &state, now)).unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].alert_id, alerts[0].alert_id);
    }

    const ALWAYS: Meta = Meta {
        id: "Test.Always",
        name: "every audit row",
        log_types: &[LogType::Audit],
        dedup_minutes: 60,
        threshold: 1,
        ..Meta::DEFAULT
    };

    const ALWAYS_SPEC: crate::rule::Rule<crate::lake::AuditRow> = crate::rule::Rule {
        meta: ALWAYS,
        matches: |_| true,
        title: |h| format!("row {}", h.p.p_row_id),
        dedup: Some(|h| h.actor_id.clone().unwrap_or_default()),
        ..crate::rule::Rule::DEFAULT
    };

    fn audit_batch(minutes: &[(u8, i64)]) -> Vec<LakeRow> {
        let lines: Vec<String> = minutes
            .iter()
            .enumerate()
            .map(|(i, (actor, minute))| {
                let t = Timestamp::from_unix_millis(1_741_100_000_000 + minute * 60_000).unwrap();
                format!(
                    r#"{{"action":"LOGIN","eventGroupID":"g{i}","actor":{{"id":"actor{actor}"}},"eventTime":"{}"}}"#,
                    t.rfc3339()
                )
            })
            .collect();
        rows(&lines.join("\n"))
    }

    /// (alert id, event count, the row that notified) for every alert.
    fn summary(alerts: &[Alert]) -> Vec<(String, u64, String)> {
        alerts
            .iter()
            .map(|a| (a.alert_id.clone(), a.event_count, a.title.clone()))
            .collect()
    }

    /// Memory state whose `record_match` waits once (as a DynamoDB call does) and records how
    /// many recordings were in flight at once.
    #[derive(Default)]
    struct Slow {
        inner: MemoryAlertState,
        in_flight: AtomicUsize,
        most: AtomicUsize,
    }

    /// A future that is pending on its first poll (and asks to be polled again).
    struct YieldOnce(bool);
    impl std::future::Future for YieldOnce {
        type Output = ();
        fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
            if self.0 {
                return std::task::Poll::Ready(());
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }

    impl AlertState for Slow {
        async fn record_match(&self, m: MatchInput<'_>) -> Result<MatchOutcome, PortError> {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            YieldOnce(false).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            self.inner.record_match(m).await
        }
        async fn update_keys(&self, updates: &[KeyUpdate]) -> Result<Vec<KeyAnswer>, PortError> {
            self.inner.update_keys(updates).await
        }
        async fn is_delivered(&self, alert_id: &str, sink: &str) -> Result<bool, PortError> {
            self.inner.is_delivered(alert_id, sink).await
        }
        async fn mark_delivered(&self, alert_id: &str, sink: &str) -> Result<(), PortError> {
            self.inner.mark_delivered(alert_id, sink).await
        }
    }

    /// Polls until ready (the futures here are pending once, never waiting on anything real).
    fn poll_to_end<F: std::future::Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return out;
            }
        }
    }

    #[test]
    fn alert_keys_are_recorded_concurrently_and_alerts_come_out_in_row_order() {
        // 40 actors: 40 alert keys. Recorded one after another, a batch waits for every round trip.
        let batch = audit_batch(&(0..40).map(|a| (a, i64::from(a))).collect::<Vec<_>>());
        let registry = registry(&[&ALWAYS_SPEC], "");
        let slow = Slow::default();
        let now = ctx().parse_time;
        let (alerts, _) = poll_to_end(evaluate(&registry, &batch, &slow, now)).unwrap();
        assert_eq!(slow.most.load(Ordering::SeqCst), MATCH_CONCURRENCY, "alert keys in flight at once");
        let (serial, _) = block_on(evaluate(&registry, &batch, &MemoryAlertState::default(), now)).unwrap();
        assert_eq!(summary(&alerts), summary(&serial), "the same alerts, in row order");
        assert_eq!(alerts.len(), 40);
        // The batch again (a retry): the same alerts re-produced with the same ids.
        let (again, _) = poll_to_end(evaluate(&registry, &batch, &slow, now)).unwrap();
        assert_eq!(summary(&again), summary(&alerts));
    }

    #[test]
    fn a_huge_row_is_stored_as_its_id_and_a_prefix() {
        let small = stored_event("{\"a\":1}".to_owned(), "r1");
        assert_eq!(small, "{\"a\":1}");
        let huge = format!("{{\"new\":\"{}\"}}", "x".repeat(500_000));
        let stored = stored_event(huge, "r2");
        assert!(stored.len() < MAX_STORED_EVENT_BYTES, "{}", stored.len());
        let v: serde_json::Value = serde_json::from_str(&stored).unwrap();
        assert_eq!((v["truncated"].as_bool(), v["p_row_id"].as_str()), (Some(true), Some("r2")));
    }

    #[test]
    fn the_same_record_twice_in_a_batch_counts_once() {
        let registry = registry(&[&ALWAYS_SPEC], "[detections.\"Test.Always\"]\nthreshold = 2");
        let state = Counting::default();
        let now = ctx().parse_time;
        let rows = audit_batch(&[(0, 5), (0, 6)]);
        let twice = [rows[0].clone(), rows[0].clone()];
        let (alerts, stats) = block_on(evaluate(&registry, &twice, &state, now)).unwrap();
        assert_eq!((alerts.len(), stats.matches), (0, 2), "one event, below the threshold of 2");
        let (alerts, _) = block_on(evaluate(&registry, &rows[1..], &state, now)).unwrap();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].event_count, 2);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Grouping a batch's matches gives what recording them one row at a time gives: the same
        /// alerts (ids, counts, the row that reached the threshold) and the same final state, for
        /// batches in event-time order spanning several dedup windows, with any threshold.
        #[test]
        fn grouped_recording_equals_row_at_a_time(
            mut events in prop::collection::vec((0u8..3, 0i64..400), 1..60),
            threshold in 1u32..6,
            split in 0usize..60,
        ) {
            events.sort_by_key(|(_, minute)| *minute);
            let rows = audit_batch(&events);
            let registry = registry(&[&ALWAYS_SPEC], &format!("[detections.\"Test.Always\"]\nthreshold = {threshold}"));
            let now = ctx().parse_time;

            let grouped = Counting::default();
            let split = split.min(rows.len());
            let (mut a, _) = block_on(evaluate(&registry, &rows[..split], &grouped, now)).unwrap();
            let (b, _) = block_on(evaluate(&registry, &rows[split..], &grouped, now)).unwrap();
            a.extend(b);

            let single = Counting::default();
            let mut expected = Vec::new();
            for row in &rows {
                let (alerts, _) = block_on(evaluate(&registry, std::slice::from_ref(row), &single, now)).unwrap();
                expected.extend(alerts);
            }
            let mut got = summary(&a);
            let mut want = summary(&expected);
            got.sort();
            want.sort();
            prop_assert_eq!(got, want);
            prop_assert!(grouped.record_calls.load(Ordering::Relaxed) <= single.record_calls.load(Ordering::Relaxed));
            for actor in 0..3 {
                // The next match of each key sees the same state either way.
                let at = Timestamp::from_unix_millis(1_741_100_000_000 + 399 * 60_000).unwrap();
                let g = block_on(grouped.record_match(MatchInput {
                    rule_id: "Test.Always", dedup: &format!("actor{actor}"), row_id: "probe", matches: 1,
                    event_time: at, period_secs: 3600, threshold, now, event_json: "{}",
                })).unwrap();
                let s = block_on(single.record_match(MatchInput {
                    rule_id: "Test.Always", dedup: &format!("actor{actor}"), row_id: "probe", matches: 1,
                    event_time: at, period_secs: 3600, threshold, now, event_json: "{}",
                })).unwrap();
                prop_assert_eq!((g.seq, g.event_count, g.notify), (s.seq, s.event_count, s.notify));
            }
        }
    }
}
