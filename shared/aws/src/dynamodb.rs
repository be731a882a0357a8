//! Alert state in DynamoDB: the dedup / threshold state machine with conditional writes only (no
//! read-then-write), so concurrent detect invocations never page twice for one alert.
//!
//! Items (one table, `pk` + `sk` strings, TTL attribute `expires_at`):
//! - `row#<rule>#<row id>` / `row`: claims a (detection, row) pair — `attribute_not_exists` makes a
//!   redelivered row a duplicate — and keeps its outcome so a retry re-produces the same alert. A
//!   claim without an outcome (the attempt failed half-way) is recorded again.
//! - `dedup#<rule>#<dedup>` / `state`: `seq`, `window_start_ms`, `count`, `notified`, … .
//!   Attach: `SET count = count + 1` if the event is inside the window. Open: `SET seq = seq + 1, …`
//!   if there is no item or the event is outside the window. Notify: `SET notified = true` if
//!   `notified = false AND seq = :seq` — exactly one writer wins each step.
//! - `key#<key>` / `key`: one item per detection-state key (sums, distinct sets, first seen; see
//!   core's `engine::keys`): the state as JSON (`st`) and a version (`v`). A batch reads its keys
//!   with BatchGetItem (100 a request) and writes each key it changed once, with `PutItem`
//!   conditional on the version it read; a lost race re-reads and re-applies that key. The state
//!   remembers which records it counted, so a retried write or batch changes nothing.
//! - `delivered#<alert id>` / `<sink>`: delivery marks.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use futures_util::StreamExt as _;
use tailwatch_core::engine::keys::{apply, KeyAnswer, KeyState, KeyUpdate};
use tailwatch_core::engine::state::{AlertState, MatchInput, MatchOutcome};
use tailwatch_core::ports::PortError;
use tailwatch_core::time::Timestamp;

use crate::classify;

/// BatchGetItem reads at most 100 keys a request.
const BATCH_GET_MAX: usize = 100;
/// Key writes in flight at once.
const WRITE_CONCURRENCY: usize = 16;
const KEY_SK: &str = "key";

/// The partition key of a detection-state key: the key itself, or its hash when it is long
/// (DynamoDB's partition keys are at most 2,048 bytes; detection keys are built from record fields).
fn key_pk(key: &str) -> String {
    if key.len() <= 512 {
        format!("key#{key}")
    } else {
        format!("key#h#{}", tailwatch_core::normalize::content_id(key.as_bytes()))
    }
}

/// The version and state of a key item (version 0: no item). A state this version cannot read
/// starts afresh (and is overwritten at the next version).
fn versioned_state(item: &Item) -> (i64, Option<KeyState>) {
    if item.is_empty() {
        return (0, None);
    }
    (get_i64(item, "v"), KeyState::decode(&get_str(item, "st")).ok())
}

/// Row claims live a week: longer than any SQS retention plus redrive.
const ROW_TTL_SECS: i64 = 7 * 86_400;
const LOOPS: usize = 8;

/// Alert state in one DynamoDB table.
#[derive(Clone, Debug)]
pub struct DynamoAlertState {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

type Item = HashMap<String, AttributeValue>;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
fn get_i64(item: &Item, k: &str) -> i64 {
    item.get(k).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).unwrap_or(0)
}
fn get_str(item: &Item, k: &str) -> String {
    item.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default()
}
fn get_bool(item: &Item, k: &str) -> bool {
    item.get(k).and_then(|v| v.as_bool().ok()).copied().unwrap_or(false)
}

fn is_conditional_failure<E: aws_sdk_dynamodb::error::ProvideErrorMetadata>(
    e: &aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> bool {
    e.as_service_error().and_then(|s| s.code()) == Some("ConditionalCheckFailedException")
}

fn outcome_from(item: &Item, duplicate: bool, fallback: Timestamp) -> MatchOutcome {
    MatchOutcome {
        seq: get_i64(item, "seq").max(0) as u64,
        event_count: get_i64(item, "event_count").max(0) as u64,
        notify: get_bool(item, "notify"),
        created_at: Timestamp::from_unix_millis(get_i64(item, "created_at_ms")).unwrap_or(fallback),
        first_event_time: Timestamp::from_unix_millis(get_i64(item, "first_event_time_ms")).unwrap_or(fallback),
        first_event: get_str(item, "first_event"),
        duplicate,
    }
}

impl DynamoAlertState {
    /// State in `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoAlertState {
            client,
            table: table.into(),
        }
    }

    fn key(pk: String, sk: &str) -> Item {
        HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
    }

    async fn get(&self, pk: String, sk: &str, op: &str) -> Result<Option<Item>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(op, &e))?;
        Ok(out.item)
    }

    /// Attach to the open alert if the event is inside its window. `None`: no item, or outside.
    async fn attach(&self, pk: &str, t: i64, period_ms: i64, matches: u64) -> Result<Option<Item>, PortError> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk.to_owned(), "state")))
            .update_expression("SET #count = #count + :matches")
            .condition_expression("attribute_exists(pk) AND window_start_ms > :lo AND window_start_ms <= :hi")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":matches", n(matches))
            .expression_attribute_values(":lo", n(t - period_ms))
            .expression_attribute_values(":hi", n(t + period_ms))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match r {
            Ok(out) => Ok(out.attributes),
            Err(e) if is_conditional_failure(&e) => Ok(None),
            Err(e) => Err(classify("attach match to alert", &e)),
        }
    }

    /// Open a new alert (next sequence number) if there is no item or the event is outside the
    /// window. `None`: someone else changed the item first (loop and attach).
    async fn open(
        &self,
        pk: &str,
        row_pk: &str,
        m: &MatchInput<'_>,
        t: i64,
        period_ms: i64,
        notify: bool,
    ) -> Result<Option<Item>, PortError> {
        let expires = (t.max(m.now.unix_millis()) + 2 * period_ms) / 1000 + 86_400;
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk.to_owned(), "state")))
            .update_expression(
                "SET seq = if_not_exists(seq, :zero) + :one, window_start_ms = :t, #count = :matches, notified = :notified, created_at_ms = :now, first_event = :ev, expires_at = :exp, opened_by = :row, notified_by = :nrow",
            )
            .condition_expression("attribute_not_exists(pk) OR window_start_ms <= :lo OR window_start_ms > :hi")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":matches", n(m.matches.max(1)))
            .expression_attribute_values(":t", n(t))
            .expression_attribute_values(":lo", n(t - period_ms))
            .expression_attribute_values(":hi", n(t + period_ms))
            .expression_attribute_values(":notified", AttributeValue::Bool(notify))
            .expression_attribute_values(":now", n(m.now.unix_millis()))
            .expression_attribute_values(":ev", s(m.event_json))
            .expression_attribute_values(":exp", n(expires))
            .expression_attribute_values(":row", s(row_pk))
            .expression_attribute_values(":nrow", s(if notify { row_pk } else { "" }))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match r {
            Ok(out) => Ok(out.attributes),
            Err(e) if is_conditional_failure(&e) => Ok(None),
            Err(e) => Err(classify("open alert", &e)),
        }
    }

    /// Reads `keys` (at most 100) with one BatchGetItem, retrying the unprocessed ones.
    async fn batch_get(&self, keys: &[&str]) -> Result<Vec<(String, Item)>, PortError> {
        let mut pending: Vec<Item> = keys.iter().map(|k| Self::key(key_pk(k), KEY_SK)).collect();
        let mut found = Vec::with_capacity(keys.len());
        for attempt in 0..LOOPS {
            if pending.is_empty() {
                break;
            }
            let request = aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .consistent_read(true)
                .build()
                .map_err(|e| PortError::permanent("read detection state", e.to_string()))?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| classify("read detection state", &e))?;
            for item in out.responses.unwrap_or_default().remove(&self.table).unwrap_or_default() {
                found.push((get_str(&item, "key"), item));
            }
            pending = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .map(|k| k.keys)
                .unwrap_or_default();
            if !pending.is_empty() {
                tokio::time::sleep(std::time::Duration::from_millis(20 << attempt.min(6))).await;
            }
        }
        if !pending.is_empty() {
            return Err(PortError::retryable(
                "read detection state",
                format!("{} keys stayed unprocessed", pending.len()),
            ));
        }
        Ok(found)
    }

    /// Writes one key's new state if its version is still `version`. When another writer got
    /// there first, reads the key again, re-applies the update and returns the new answer.
    async fn write_key(
        &self,
        index: usize,
        update: &KeyUpdate,
        version: i64,
        next: KeyState,
    ) -> Result<Option<(usize, KeyAnswer)>, PortError> {
        let (mut version, mut next, mut redone) = (version, next, None);
        for _ in 0..LOOPS {
            let mut put = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(key_pk(&update.key)))
                .item("sk", s(KEY_SK))
                .item("key", s(&update.key))
                .item("st", s(next.encode()))
                .item("v", n(version + 1))
                .item("expires_at", n(next.expires_at_secs(&update.op)));
            put = if version == 0 {
                put.condition_expression("attribute_not_exists(pk)")
            } else {
                put.condition_expression("v = :v").expression_attribute_values(":v", n(version))
            };
            match put.send().await {
                Ok(_) => return Ok(redone),
                Err(e) if is_conditional_failure(&e) => {
                    let item = self
                        .get(key_pk(&update.key), KEY_SK, "read detection state")
                        .await?
                        .unwrap_or_default();
                    let (v, prev) = versioned_state(&item);
                    let (again, answer) = apply(prev, &update.op);
                    redone = Some((index, answer));
                    match again {
                        Some(state) => (version, next) = (v, state),
                        None => return Ok(redone),
                    }
                }
                Err(e) => return Err(classify("write detection state", &e)),
            }
        }
        Err(PortError::retryable(
            "write detection state",
            format!("{} kept changing under {LOOPS} attempts", update.key),
        ))
    }

    /// Claim the notification of alert `seq`: exactly one caller gets `true`.
    async fn claim_notification(&self, pk: &str, row_pk: &str, seq: i64) -> Result<bool, PortError> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk.to_owned(), "state")))
            .update_expression("SET notified = :true, notified_by = :row")
            .expression_attribute_values(":row", s(row_pk))
            .condition_expression("notified = :false AND seq = :seq")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":seq", n(seq))
            .send()
            .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_failure(&e) => Ok(false),
            Err(e) => Err(classify("claim notification", &e)),
        }
    }
}

impl AlertState for DynamoAlertState {
    async fn record_match(&self, m: MatchInput<'_>) -> Result<MatchOutcome, PortError> {
        let row_pk = format!("row#{}#{}", m.rule_id, m.row_id);
        let now_s = m.now.unix_millis() / 1000;
        // 1. Claim the (detection, row) pair; a redelivered row finds its earlier outcome.
        let claim = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&row_pk))
            .item("sk", s("row"))
            .item("expires_at", n(now_s + ROW_TTL_SECS))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        let pk = format!("dedup#{}#{}", m.rule_id, m.dedup);
        let mut retried = false;
        match claim {
            Ok(_) => {}
            Err(e) if is_conditional_failure(&e) => {
                retried = true;
                let item = self.get(row_pk.clone(), "row", "read row outcome").await?.unwrap_or_default();
                if item.contains_key("seq") {
                    return Ok(outcome_from(&item, true, m.now));
                }
                // Claimed but no outcome: an earlier attempt failed between the claim and the
                // state update (throttling, a crash). Record it now; at worst a match racing
                // with its own retry is counted twice, and the notification is still claimed
                // exactly once.
            }
            Err(e) => return Err(classify("claim row", &e)),
        }

        // 2. Attach or open, looping when another writer got there first. A retry of a row whose
        // earlier attempt opened the alert or claimed its notification (and then failed before
        // storing the outcome) takes that alert as it is: attaching again would count the row
        // twice and, the notification being claimed already, never page it.
        let t = m.event_time.unix_millis();
        let period_ms = m.period_secs.saturating_mul(1000);
        let threshold = i64::from(m.threshold.max(1));
        let matches = m.matches.max(1);
        let opens_notified = i64::try_from(matches).unwrap_or(i64::MAX) >= threshold;
        let mut state = None;
        let mut earlier_notify = None;
        if retried {
            if let Some(item) = self.get(pk.clone(), "state", "read alert state").await? {
                let notified_here = get_str(&item, "notified_by") == row_pk;
                if notified_here || get_str(&item, "opened_by") == row_pk {
                    earlier_notify = Some(notified_here);
                    state = Some((item, false));
                }
            }
        }
        for _ in 0..LOOPS {
            if state.is_some() {
                break;
            }
            if let Some(item) = self.attach(&pk, t, period_ms, matches).await? {
                state = Some((item, false));
                break;
            }
            if let Some(item) = self.open(&pk, &row_pk, &m, t, period_ms, opens_notified).await? {
                state = Some((item, true));
                break;
            }
        }
        let Some((item, opened)) = state else {
            return Err(PortError::retryable(
                "record match",
                format!("alert state for {pk} kept changing under {LOOPS} attempts"),
            ));
        };
        let seq = get_i64(&item, "seq");
        let count = get_i64(&item, "count");
        // 3. Notify: the opener when its matches reach the threshold; otherwise whoever reaches it claims it.
        let notify = if let Some(notified) = earlier_notify {
            notified
        } else if opened {
            opens_notified
        } else {
            !get_bool(&item, "notified") && count >= threshold && self.claim_notification(&pk, &row_pk, seq).await?
        };
        let outcome = MatchOutcome {
            seq: seq.max(0) as u64,
            event_count: count.max(0) as u64,
            notify,
            created_at: Timestamp::from_unix_millis(get_i64(&item, "created_at_ms")).unwrap_or(m.now),
            first_event_time: Timestamp::from_unix_millis(get_i64(&item, "window_start_ms")).unwrap_or(m.event_time),
            first_event: get_str(&item, "first_event"),
            duplicate: false,
        };
        // 4. Keep the outcome with the row claim so a retry re-produces this alert.
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(row_pk, "row")))
            .update_expression(
                "SET seq = :seq, event_count = :c, notify = :n, created_at_ms = :ca, first_event_time_ms = :ft, first_event = :fe",
            )
            .expression_attribute_values(":seq", n(outcome.seq))
            .expression_attribute_values(":c", n(outcome.event_count))
            .expression_attribute_values(":n", AttributeValue::Bool(outcome.notify))
            .expression_attribute_values(":ca", n(outcome.created_at.unix_millis()))
            .expression_attribute_values(":ft", n(outcome.first_event_time.unix_millis()))
            .expression_attribute_values(":fe", s(&outcome.first_event))
            .send()
            .await
            .map_err(|e| classify("store row outcome", &e))?;
        Ok(outcome)
    }

    async fn update_keys(&self, updates: &[KeyUpdate]) -> Result<Vec<KeyAnswer>, PortError> {
        // 1. Read every key the batch touches: BatchGetItem, 100 keys a request.
        let mut unique: Vec<&str> = updates.iter().map(|u| u.key.as_str()).collect();
        unique.sort_unstable();
        unique.dedup();
        let mut stored: HashMap<String, (i64, Option<KeyState>)> = HashMap::with_capacity(unique.len());
        for chunk in unique.chunks(BATCH_GET_MAX) {
            for (key, item) in self.batch_get(chunk).await? {
                stored.insert(key, versioned_state(&item));
            }
        }
        // 2. Apply each update; write each key that changed, once, conditionally on the version
        //    read (a concurrent writer makes the write fail, and the key is read again and redone).
        let mut answers = Vec::with_capacity(updates.len());
        let mut writes: Vec<(usize, i64, KeyState)> = Vec::new();
        for (i, u) in updates.iter().enumerate() {
            let (version, prev) = stored.get(&u.key).cloned().unwrap_or((0, None));
            let (next, answer) = apply(prev, &u.op);
            if let Some(next) = next {
                stored.insert(u.key.clone(), (version + 1, Some(next.clone())));
                // A key twice in one call: the later update supersedes the earlier write.
                writes.retain(|(j, _, _)| updates[*j].key != u.key);
                writes.push((i, version, next));
            }
            answers.push(answer);
        }
        let results: Vec<Result<Option<(usize, KeyAnswer)>, PortError>> = futures_util::stream::iter(writes)
            .map(|(i, version, next)| self.write_key(i, &updates[i], version, next))
            .buffer_unordered(WRITE_CONCURRENCY)
            .collect()
            .await;
        let mut redone: HashMap<usize, KeyAnswer> = HashMap::new();
        for r in results {
            if let Some((i, answer)) = r? {
                redone.insert(i, answer);
            }
        }
        for (i, answer) in redone {
            answers[i] = answer;
        }
        Ok(answers)
    }

    async fn is_delivered(&self, alert_id: &str, sink: &str) -> Result<bool, PortError> {
        Ok(self
            .get(format!("delivered#{alert_id}"), sink, "read delivered mark")
            .await?
            .is_some())
    }

    async fn mark_delivered(&self, alert_id: &str, sink: &str) -> Result<(), PortError> {
        let now = Timestamp::now().unix_millis() / 1000;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("delivered#{alert_id}")))
            .item("sk", s(sink))
            .item("expires_at", n(now + 30 * 86_400))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("mark delivered", &e))
    }
}
