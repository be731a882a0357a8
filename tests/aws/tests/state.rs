//! DynamoDB alert state against the AWS API emulator: the same conformance suite as the in-memory
//! and SQLite implementations, plus concurrent writers racing on one dedup key.

use std::sync::Arc;

use tailwatch_aws::DynamoAlertState;
use tailwatch_aws_e2e::Env;
use tailwatch_core::engine::state::{AlertState, MatchInput};
use tailwatch_core::time::Timestamp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_state_conforms() {
    let env = Env::new("conformance").await;
    let state = DynamoAlertState::new(env.clients.dynamodb.clone(), &env.table);
    tailwatch_core::engine::conformance::run(&state, "dynamo").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_writers_on_one_key_page_once_and_count_every_match() {
    let env = Env::new("race").await;
    let state = Arc::new(DynamoAlertState::new(env.clients.dynamodb.clone(), &env.table));
    let t = Timestamp::parse("2025-03-04T17:00:00Z").unwrap();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let state = state.clone();
        tasks.push(tokio::spawn(async move {
            let mut notified = 0;
            for i in 0..10 {
                let row = format!("w{w}-{i}");
                let m = MatchInput {
                    rule_id: "Race",
                    dedup: "one-key",
                    row_id: &row,
                    matches: 1,
                    event_time: t,
                    period_secs: 3600,
                    threshold: 5,
                    now: t,
                    event_json: "{}",
                };
                if state.record_match(m).await.unwrap().notify {
                    notified += 1;
                }
            }
            notified
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    assert_eq!(total, 1, "exactly one notification across racing writers");
    let last = state
        .record_match(MatchInput {
            rule_id: "Race",
            dedup: "one-key",
            row_id: "final",
            matches: 1,
            event_time: t,
            period_secs: 3600,
            threshold: 5,
            now: t,
            event_json: "{}",
        })
        .await
        .unwrap();
    assert_eq!(last.event_count, 81, "every match counted once");
}

/// A batch whose detection-state writes start failing after 3 succeeded, retried: the same answers
/// and the same stored state as one clean pass; and racing batches on the same keys both count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_failing_half_way_through_its_key_writes_retries_to_the_clean_result() {
    use tailwatch_aws::AwsClients;
    use tailwatch_aws_e2e::endpoint;
    use tailwatch_aws_e2e::proxy::{Fault, Proxy};
    use tailwatch_core::engine::keys::{Contribution, KeyOp, KeyUpdate};

    let batch: Vec<KeyUpdate> = (0..10)
        .map(|k| KeyUpdate {
            key: format!("sum\u{1f}Test\u{1f}k{k}"),
            op: KeyOp::Sum {
                window_ms: 3_600_000,
                adds: (0..3)
                    .map(|i| Contribution {
                        id: k * 10 + i,
                        at_ms: 1_741_107_600_000 + i as i64 * 5000,
                        amount: 100,
                    })
                    .collect(),
            },
        })
        .collect();
    let clean_env = Env::new("halfway-clean").await;
    let clean = DynamoAlertState::new(clean_env.clients.dynamodb.clone(), &clean_env.table);
    let expected = clean.update_keys(&batch).await.unwrap();

    let env = Env::new("halfway").await;
    let proxy = Proxy::start(endpoint(), Fault::DynamoFailAfter { needle: "\"st\":", ok: 3 }).await;
    let broken = DynamoAlertState::new(AwsClients::with_endpoint(Some(&proxy.url)).await.dynamodb, &env.table);
    assert!(broken.update_keys(&batch).await.is_err(), "the fourth key write fails");
    assert!(proxy.injected.load(std::sync::atomic::Ordering::SeqCst) > 0);
    proxy.set(Fault::None);
    assert_eq!(
        broken.update_keys(&batch).await.unwrap(),
        expected,
        "the retry answers as the clean pass did"
    );
    assert_eq!(broken.update_keys(&batch).await.unwrap(), expected, "and again");
    let scan = |env: &Env| {
        let client = env.clients.dynamodb.clone();
        let table = env.table.clone();
        async move {
            let items = client.scan().table_name(table).send().await.unwrap().items.unwrap_or_default();
            let mut out: Vec<(String, String)> = items
                .iter()
                .map(|i| (i["pk"].as_s().unwrap().clone(), i["st"].as_s().unwrap().clone()))
                .collect();
            out.sort();
            out
        }
    };
    assert_eq!(scan(&env).await, scan(&clean_env).await, "the same stored state");
}
