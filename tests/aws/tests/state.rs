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
