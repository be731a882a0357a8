//! Failure modes of the AWS adapters, driven through a fault-injecting proxy in front of the AWS API
//! emulator: Firehose partial failures (only failed records are re-sent), Firehose retries running
//! out (the SQS message fails and is redelivered), SNS down (the alert is retried later and sent
//! once), raw storage down during ingest (503 code 9, nothing half-written).

use std::time::Duration;

use lambda_runtime::{Context, LambdaEvent};
use tailwatch_aws::{AwsClients, FirehoseLakeSink};
use tailwatch_aws_e2e::proxy::{Fault, Proxy};
use tailwatch_aws_e2e::{endpoint, sqs_s3_event, Env};
use tailwatch_core::lake::TAILSCALE_AUDIT;
use tailwatch_core::ports::{LakeRecord, LakeSink};
use tailwatch_core::time::Timestamp;

/// Clients whose every call goes through `proxy`.
async fn clients_via(proxy: &Proxy) -> AwsClients {
    AwsClients::with_endpoint(Some(&proxy.url)).await
}

fn records(n: usize) -> Vec<LakeRecord> {
    (0..n)
        .map(|i| LakeRecord {
            table: &TAILSCALE_AUDIT,
            event_time: Timestamp::parse("2025-03-04T17:00:00Z").unwrap(),
            json: serde_json::to_vec(&serde_json::json!({"p_log_type": "Tailscale.Audit", "p_row_id": format!("row-{i:04}")})).unwrap(),
        })
        .collect()
}

async fn delivered_row_ids(env: &Env) -> Vec<String> {
    let mut ids = Vec::new();
    for key in env.keys(&env.lake_bucket, "firehose/").await {
        let bytes = env.get(&env.lake_bucket, &key).await;
        for line in String::from_utf8_lossy(&bytes).lines().filter(|l| !l.is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            ids.push(v["p_row_id"].as_str().unwrap_or_default().to_owned());
        }
    }
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firehose_partial_failure_resends_only_the_failed_records() {
    let env = Env::new("partial").await;
    let proxy = Proxy::start(endpoint(), Fault::FirehoseOddRecordsFailOnce).await;
    let sink = FirehoseLakeSink::new(clients_via(&proxy).await.firehose, &env.stream);
    // 1,200 rows pack into 3 records (500 + 500 + 200 rows); the odd one fails once.
    sink.put_rows("batch", records(1200)).await.expect("retries succeed");
    assert_eq!(
        *proxy.firehose_calls.lock().unwrap(),
        vec![3, 1],
        "the rows are packed, and the retry carries only the failed record"
    );
    let ids = delivered_row_ids(&env).await;
    let expected: Vec<String> = (0..1200).map(|i| format!("row-{i:04}")).collect();
    assert_eq!(ids, expected, "every record delivered exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firehose_retries_running_out_fail_the_sqs_message_for_redelivery() {
    // detect writes alert rows through Firehose before it pages: with Firehose down the message
    // fails (nothing paged), and its redelivery after recovery pages once and lands the rows.
    let env = Env::new("exhausted").await;
    env.put(
        &env.raw_bucket,
        "raw/tailscale-http/dt=2025-03-04/hour=17/1-a.ndjson.zst",
        tailwatch_core::wire::decode::zstd_compress(
            &std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/tailscale/audit-stream.hec")).unwrap(),
            3,
        ),
    )
    .await;
    let proxy = Proxy::start(endpoint(), Fault::FirehoseAlwaysFails).await;
    let clients = clients_via(&proxy).await;
    let config = tailwatch_detect::Config {
        firehose_stream: env.stream.clone(),
        alert_state_table: env.table.clone(),
        alert_topic_arn: env.topic_arn.clone(),
        detections_config: String::new(),
    };
    let deps = tailwatch_detect::Deps::new(&config, &clients).unwrap();
    let keys = env.keys(&env.raw_bucket, "raw/").await;
    let out = tailwatch_detect::handle(&deps, LambdaEvent::new(sqs_s3_event(&env.raw_bucket, &keys), Context::default()))
        .await
        .unwrap();
    assert_eq!(out.batch_item_failures.len(), 1, "the message is returned to the queue");
    assert_eq!(out.batch_item_failures[0].item_identifier, "msg-0");
    assert!(proxy.firehose_calls.lock().unwrap().len() >= 2, "retried before giving up");
    assert!(delivered_row_ids(&env).await.is_empty());
    assert!(env.drain_alerts().await.is_empty(), "nothing paged before its row is in the lake");
    // Redelivery after Firehose recovers: the alert rows land and the alerts are published.
    proxy.set(Fault::None);
    let out = tailwatch_detect::handle(&deps, LambdaEvent::new(sqs_s3_event(&env.raw_bucket, &keys), Context::default()))
        .await
        .unwrap();
    assert!(out.batch_item_failures.is_empty());
    assert!(!delivered_row_ids(&env).await.is_empty());
    assert!(!env.drain_alerts().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_down_means_retry_and_the_alert_is_sent_exactly_once() {
    let env = Env::new("snsdown").await;
    let fixture = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/tailscale/audit-api-response.json"
    ))
    .unwrap();
    env.put(
        &env.raw_bucket,
        "raw/tailscale-http/dt=2025-03-04/hour=17/1-a.ndjson.zst",
        tailwatch_core::wire::decode::zstd_compress(&fixture, 3),
    )
    .await;
    let direct = AwsClients::from_env().await;
    let n = tailwatch_normalize::Deps::new(
        &tailwatch_normalize::Config {
            lake_bucket: env.lake_bucket.clone(),
        },
        &direct,
    );
    let raw = env.keys(&env.raw_bucket, "raw/").await;
    assert!(
        tailwatch_normalize::handle(&n, LambdaEvent::new(sqs_s3_event(&env.raw_bucket, &raw), Context::default()))
            .await
            .unwrap()
            .batch_item_failures
            .is_empty()
    );

    let proxy = Proxy::start(endpoint(), Fault::ServiceDown("Action=Publish")).await;
    let clients = clients_via(&proxy).await;
    let config = tailwatch_detect::Config {
        firehose_stream: env.stream.clone(),
        alert_state_table: env.table.clone(),
        alert_topic_arn: env.topic_arn.clone(),
        detections_config: String::new(),
    };
    let deps = tailwatch_detect::Deps::new(&config, &clients).unwrap();
    // detect reads the raw batch (its own queue of the raw bucket's fan-out), not the lake.
    let lake = env.keys(&env.raw_bucket, "raw/").await;
    let out = tailwatch_detect::handle(&deps, LambdaEvent::new(sqs_s3_event(&env.raw_bucket, &lake), Context::default()))
        .await
        .unwrap();
    assert_eq!(out.batch_item_failures.len(), lake.len(), "SNS down: the message is retried");
    assert!(proxy.injected.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    assert!(env.drain_alerts().await.is_empty());

    proxy.set(Fault::None);
    for _ in 0..2 {
        let out = tailwatch_detect::handle(&deps, LambdaEvent::new(sqs_s3_event(&env.raw_bucket, &lake), Context::default()))
            .await
            .unwrap();
        assert!(out.batch_item_failures.is_empty());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let alerts = env.drain_alerts().await;
    let magic: Vec<_> = alerts
        .iter()
        .filter(|a| a["MessageAttributes"]["rule_id"]["Value"] == "Tailscale.MagicDNS.Disabled")
        .collect();
    assert_eq!(magic.len(), 1, "sent once after recovery, not again on the next delivery");
    let policy: Vec<_> = alerts
        .iter()
        .filter(|a| a["MessageAttributes"]["rule_id"]["Value"] == "Tailscale.PolicyFile.Changed")
        .collect();
    assert!(policy.is_empty(), "the failed ACL change (error set) fires no policy alert");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_storage_down_is_503_code_9_and_nothing_is_written() {
    let env = Env::new("s3down").await;
    let proxy = Proxy::start(endpoint(), Fault::ServiceDown("/raw-")).await;
    let clients = clients_via(&proxy).await;
    let config = tailwatch_ingest::Config {
        raw_bucket: env.raw_bucket.clone(),
        lake_bucket: env.lake_bucket.clone(),
        token_secret_arn: env.secret_arn.clone(),
        max_body_mib: 6,
        token_refresh: Duration::from_secs(300),
    };
    let deps = tailwatch_ingest::Deps::new(&config, &clients);
    let body = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/tailscale/audit-stream.hec")).unwrap();
    let req = lambda_http::http::Request::builder()
        .method("POST")
        .uri("/services/collector/event")
        .header("authorization", "Bearer tok-current")
        .body(lambda_http::Body::Binary(body))
        .unwrap();
    let resp = tailwatch_ingest::handle(&deps, req).await.unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    let text = match resp.body() {
        lambda_http::Body::Text(t) => t.clone(),
        _ => String::new(),
    };
    assert!(text.contains("\"code\":9"), "{text}");
    assert!(env.keys(&env.raw_bucket, "").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_state_throttling_means_retry_and_one_page_after_recovery() {
    let env = Env::new("throttle").await;
    let body = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/tailscale/audit-stream.hec")).unwrap();
    env.put(
        &env.raw_bucket,
        "raw/tailscale-http/dt=2025-03-04/hour=17/1-a.ndjson.zst",
        tailwatch_core::wire::decode::zstd_compress(&body, 3),
    )
    .await;
    let direct = AwsClients::from_env().await;
    let n = tailwatch_normalize::Deps::new(
        &tailwatch_normalize::Config {
            lake_bucket: env.lake_bucket.clone(),
        },
        &direct,
    );
    let raw = env.keys(&env.raw_bucket, "raw/").await;
    assert!(
        tailwatch_normalize::handle(&n, LambdaEvent::new(sqs_s3_event(&env.raw_bucket, &raw), Context::default()))
            .await
            .unwrap()
            .batch_item_failures
            .is_empty()
    );

    let proxy = Proxy::start(endpoint(), Fault::DynamoThrottled("UpdateItem")).await;
    let config = tailwatch_detect::Config {
        firehose_stream: env.stream.clone(),
        alert_state_table: env.table.clone(),
        alert_topic_arn: env.topic_arn.clone(),
        detections_config: String::new(),
    };
    let deps = tailwatch_detect::Deps::new(&config, &clients_via(&proxy).await).unwrap();
    // detect reads the raw batch (its own queue of the raw bucket's fan-out), not the lake.
    let lake = env.keys(&env.raw_bucket, "raw/").await;
    let out = tailwatch_detect::handle(&deps, LambdaEvent::new(sqs_s3_event(&env.raw_bucket, &lake), Context::default()))
        .await
        .unwrap();
    assert_eq!(out.batch_item_failures.len(), lake.len(), "throttled: the message is retried");
    assert!(env.drain_alerts().await.is_empty(), "nothing paged while the state is unavailable");

    proxy.set(Fault::None);
    let out = tailwatch_detect::handle(&deps, LambdaEvent::new(sqs_s3_event(&env.raw_bucket, &lake), Context::default()))
        .await
        .unwrap();
    assert!(out.batch_item_failures.is_empty());
    let alerts = env.drain_alerts().await;
    let magic = alerts
        .iter()
        .filter(|a| a["MessageAttributes"]["rule_id"]["Value"] == "Tailscale.MagicDNS.Disabled")
        .count();
    assert_eq!(magic, 1);
}
