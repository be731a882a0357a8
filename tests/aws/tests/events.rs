//! The sample events in events/ reach the normalize and detect handlers as the Lambda runtime
//! delivers them (deserialized into `aws_lambda_events`' `SqsEvent`): the raw bucket's S3
//! notification as the SNS fan-out puts it on each queue (raw message delivery), S3's test event,
//! and in the same batch a message that is not an S3 notification and a notification for an object
//! that cannot be read. Only the bad message fails (SQS redelivers it, then the DLQ); the
//! unreadable object is quarantined `object_unreadable`; the rest lands.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Context, LambdaEvent};
use tailwatch_aws_e2e::Env;

const KEY: &str = "raw/tailscale-http/dt=2025-03-04/hour=17/1741108869412-example.ndjson.zst";

fn event(env: &Env, file: &str) -> SqsEvent {
    let text = std::fs::read_to_string(format!("{}/../../events/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    serde_json::from_str(&text.replace("tailwatch-raw-example", &env.raw_bucket)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../fixtures/tailscale/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_events_reach_the_handlers_and_only_the_bad_message_fails() {
    let env = Env::new("events").await;
    let body = fixture("audit-stream.hec");
    env.put(&env.raw_bucket, KEY, tailwatch_core::wire::decode::zstd_compress(&body, 3))
        .await;

    // normalize: the fan-out notification, S3's test event, a stray message, a missing object.
    let mut batch = event(&env, "normalize-sqs-s3.json");
    batch.records.extend(event(&env, "normalize-s3-test-event.json").records);
    let mut stray = batch.records[0].clone();
    stray.message_id = Some("stray".into());
    stray.body = Some("{\"hello\":\"not an S3 notification\"}".into());
    let mut missing = batch.records[0].clone();
    missing.message_id = Some("missing".into());
    missing.body = Some(missing.body.unwrap().replace("1741108869412-example", "1741108869999-gone"));
    batch.records.extend([stray, missing]);
    let deps = tailwatch_normalize::Deps::new(
        &tailwatch_normalize::Config {
            lake_bucket: env.lake_bucket.clone(),
        },
        &env.clients,
    );
    let out = tailwatch_normalize::handle(&deps, LambdaEvent::new(batch, Context::default()))
        .await
        .unwrap();
    let failed: Vec<_> = out.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, ["stray"], "only the message that is not an S3 notification fails");
    let lake: Vec<String> = env.keys(&env.lake_bucket, "").await;
    assert!(lake.iter().any(|k| k.starts_with("tailscale_audit/")), "{lake:?}");
    let mut quarantine = Vec::new();
    for key in lake.iter().filter(|k| k.starts_with("tailwatch_quarantine/")) {
        let bytes = env.get(&env.lake_bucket, key).await;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::MultiGzDecoder::new(&bytes[..]), &mut text).unwrap();
        quarantine.extend(text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()));
    }
    assert_eq!(quarantine.len(), 1, "{quarantine:?}");
    assert_eq!(quarantine[0]["reason"], "object_unreadable");
    assert!(quarantine[0]["p_source_file"].as_str().unwrap().contains("1741108869999-gone"));

    // detect: the same notification on its own queue pages.
    let config = tailwatch_detect::Config {
        firehose_stream: env.stream.clone(),
        alert_state_table: env.table.clone(),
        alert_topic_arn: env.topic_arn.clone(),
        detections_config: String::new(),
    };
    let deps = tailwatch_detect::Deps::new(&config, &env.clients).unwrap();
    let out = tailwatch_detect::handle(&deps, LambdaEvent::new(event(&env, "detect-sqs-s3.json"), Context::default()))
        .await
        .unwrap();
    assert!(out.batch_item_failures.is_empty());
    assert!(!env.drain_alerts().await.is_empty(), "the sample notification's batch pages");
    env.delete_stream().await;
}
