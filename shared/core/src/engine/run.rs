//! The engine loop: every enabled detection over every row of a batch, stateful questions answered
//! in one state call per key per batch, then dedup / threshold through the alert-state port.

use std::collections::HashMap;

use super::alert::{alert_id, bounded_events, Alert};
use super::registry::{Entry, Registry};
use super::state::{window_start_ms, AlertState, MatchInput};
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
    let mut alerts = Vec::new();
    for (p, answer) in pending.iter().zip(answers) {
        let entry = &entries[p.entry];
        let det = &entry.detection;
        let mut state_context = None;
        if let Some((answer, context)) = answer {
            if !det.decide(p.row, answer) {
                continue;
            }
            state_context = Some(context.json(&samples));
        }
        stats.matches += 1;
        let dedup = det.dedup(p.row);
        let event_json = row_json(p.row);
        let outcome = state
            .record_match(MatchInput {
                rule_id: det.meta().id,
                dedup: &dedup,
                row_id: &p.row.standard().p_row_id,
                event_time: p.row.standard().p_event_time,
                period_secs: i64::from(entry.dedup_minutes) * 60,
                threshold: entry.threshold,
                now,
                event_json: &event_json,
            })
            .await?;
        if outcome.notify {
            stats.notifications += 1;
            let mut alert = build_alert(entry, p.row, &dedup, &outcome, event_json);
            if let (Some(state), Some(map)) = (state_context, alert.alert_context.as_object_mut()) {
                map.insert("state".to_owned(), state);
            }
            alerts.push(alert);
        }
    }
    Ok((alerts, stats))
}

fn build_alert(entry: &Entry, row: &LakeRow, dedup: &str, outcome: &super::state::MatchOutcome, event_json: String) -> Alert {
    let det = &entry.detection;
    let meta = det.meta();
    Alert {
        id: meta.id.to_owned(),
        alert_id: alert_id(meta.id, outcome.seq, dedup),
        created_at: outcome.created_at.rfc3339(),
        severity: entry.severity_override.unwrap_or_else(|| det.severity(row)),
        alert_type: "RULE".to_owned(),
        title: det.title(row),
        name: meta.name.to_owned(),
        description: meta.description.to_owned(),
        runbook: meta.runbook.to_owned(),
        reference: meta.reference.to_owned(),
        tags: meta.tags.iter().map(|t| (*t).to_owned()).collect(),
        dedup: dedup.to_owned(),
        event_count: outcome.event_count,
        log_types: meta.log_types.iter().map(|l| l.as_str().to_owned()).collect(),
        first_event_time: outcome.first_event_time.rfc3339(),
        alert_context: det.context(row),
        events: bounded_events([outcome.first_event.clone(), event_json]),
    }
}

/// Answers the stateful questions with one state call per (detection, key) per batch. Per-row
/// answers are what a row-at-a-time evaluation would have seen: running sums, first-seen only for
/// the first occurrence in the batch, the set size after the batch.
///
/// Each answer comes with what the state knew, for the alert context (`state`): the running total,
/// or the set size and a sample of its members. That context only becomes JSON for the rows the
/// detection then decides are matches ([`StateContext::json`]): most answered rows are not, and
/// building a JSON object (with a 20-member sample) per answered row dominated the engine's time on
/// network rows.
async fn answer_queries<S: AlertState>(entries: &[Entry], pending: &[Pending<'_>], state: &S) -> Result<Answers, PortError> {
    let mut answers: Vec<Option<(StateAnswer, StateContext)>> = vec![None; pending.len()];
    let mut samples: Vec<Vec<String>> = Vec::new();
    // Group indices by (entry, kind, key, window).
    let mut groups: HashMap<(usize, u8, String, i64), Vec<usize>> = HashMap::new();
    let mut order = Vec::new();
    for (i, p) in pending.iter().enumerate() {
        let Some(q) = &p.query else { continue };
        let t = p.row.standard().p_event_time;
        let g = match q {
            StateQuery::FirstSeen { key, .. } => (p.entry, 0, key.clone(), 0),
            StateQuery::SumOverWindow { key, window_minutes, .. } => (p.entry, 1, key.clone(), window_start_ms(t, *window_minutes)),
            StateQuery::DistinctCount { key, window_minutes, .. } => (p.entry, 2, key.clone(), window_start_ms(t, *window_minutes)),
        };
        let slot = groups.entry(g.clone()).or_default();
        if slot.is_empty() {
            order.push(g);
        }
        slot.push(i);
    }
    for g in order {
        let members = &groups[&g];
        let (entry, kind, key, window) = &g;
        let scoped = format!("{}\u{1f}{key}", entries[*entry].meta().id);
        match kind {
            0 => {
                // The earliest event decides; later rows of the batch have been "seen".
                let first = members
                    .iter()
                    .copied()
                    .min_by_key(|&i| pending[i].row.standard().p_event_time)
                    .unwrap_or(members[0]);
                let within_days = match &pending[first].query {
                    Some(StateQuery::FirstSeen { within_days, .. }) => *within_days,
                    _ => 0,
                };
                let at = pending[first].row.standard().p_event_time;
                let is_first = state.first_seen(&scoped, at, i64::from(within_days) * 86_400).await?;
                for &i in members {
                    let answer = is_first && i == first;
                    answers[i] = Some((
                        StateAnswer::FirstSeen(answer),
                        StateContext::FirstSeen {
                            first_seen: answer,
                            lookback_days: within_days,
                        },
                    ));
                }
                for &i in members.iter().filter(|&&i| i != first) {
                    let t = pending[i].row.standard().p_event_time;
                    state.first_seen(&scoped, t, i64::from(within_days) * 86_400).await?;
                }
            }
            1 => {
                let amounts: Vec<u64> = members
                    .iter()
                    .map(|&i| match &pending[i].query {
                        Some(StateQuery::SumOverWindow { amount, .. }) => *amount,
                        _ => 0,
                    })
                    .collect();
                let batch: u64 = amounts.iter().fold(0u64, |a, b| a.saturating_add(*b));
                let total = state.add_to_window(&scoped, *window, batch).await?;
                let mut running = total.saturating_sub(batch);
                for (&i, amount) in members.iter().zip(amounts) {
                    running = running.saturating_add(amount);
                    answers[i] = Some((
                        StateAnswer::Sum(running),
                        StateContext::Sum {
                            window_total: running,
                            window_start_ms: *window,
                        },
                    ));
                }
            }
            _ => {
                let set: Vec<String> = members
                    .iter()
                    .filter_map(|&i| match &pending[i].query {
                        Some(StateQuery::DistinctCount { member, .. }) => Some(member.clone()),
                        _ => None,
                    })
                    .collect();
                let size = state.add_distinct(&scoped, *window, &set).await?;
                let mut sample = set;
                sample.sort_unstable();
                sample.dedup();
                sample.truncate(20);
                samples.push(sample);
                let sample = samples.len() - 1;
                for &i in members {
                    answers[i] = Some((StateAnswer::Distinct(size), StateContext::Distinct { distinct: size, sample }));
                }
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
    Sum { window_total: u64, window_start_ms: i64 },
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
                window_start_ms,
            } => serde_json::json!({ "window_total": window_total, "window_start": Timestamp::from_unix_millis(window_start_ms) }),
            StateContext::Distinct { distinct, sample } => {
                serde_json::json!({ "distinct": distinct, "sample": samples.get(sample).cloned().unwrap_or_default() })
            }
        }
    }
}
