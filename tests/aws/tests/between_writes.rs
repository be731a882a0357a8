//! Faults between the writes: every multi-write sequence of the AWS path (ingest: quarantine, raw;
//! normalize: each lake object, quarantine; detect: each state write, the alert rows to Firehose,
//! each publish, each delivered mark) is broken after each of its steps in turn, then retried the
//! way SQS or Tailscale would. After the retries: no record lost, none duplicated in the lake, the
//! same alerts with the same counts as a clean run, and no alert published twice, except the
//! at-least-once window AWS leaves (published, then the delivered mark failed: exactly one second
//! publish with the same alert id, which PagerDuty folds into the same incident).
//!
//! The proxy counts the writes of a clean run (`Proxy::writes`), then each break point gets fresh
//! resources and `Fault::FailWritesAfter { ok: k }`. SDK retries are off in this binary
//! (`AWS_MAX_ATTEMPTS=1`): the proxy keeps failing every later write, so they only add time.

use std::collections::BTreeMap;
use std::time::Duration;

use lambda_runtime::{Context, LambdaEvent};
use tailwatch_aws::AwsClients;
use tailwatch_aws_e2e::proxy::{Fault, Proxy};
use tailwatch_aws_e2e::{endpoint, sqs_s3_event, Env};
use tailwatch_core::pipeline::detect::DELIVERY_CONCURRENCY;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/tailscale/").to_owned() + name).unwrap()
}

fn no_sdk_retries() {
    std::env::set_var("AWS_MAX_ATTEMPTS", "1");
}

const RAW_KEY: &str = "raw/tailscale-http/dt=2025-03-04/hour=17/1741108869412-a.ndjson.zst";

/// Lines of every object under `prefix` (gzip or plain), parsed.
async fn json_lines(env: &Env, bucket: &str, prefix: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for key in env.keys(bucket, prefix).await {
        let bytes = env.get(bucket, &key).await;
        let text = if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut flate2::read::MultiGzDecoder::new(&bytes[..]), &mut s).unwrap();
            s
        } else {
            String::from_utf8(bytes).unwrap()
        };
        out.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).unwrap()),
        );
    }
    out
}

/// How many times each value of `field` occurs.
fn tally(values: &[serde_json::Value], field: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for v in values {
        *out.entry(v[field].as_str().unwrap_or_default().to_owned()).or_insert(0) += 1;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// detect: state writes → alert rows (Firehose) → for each alert: publish, mark delivered

async fn detect_env(name: &str) -> Env {
    let env = Env::new(name).await;
    env.put(
        &env.raw_bucket,
        RAW_KEY,
        tailwatch_core::wire::decode::zstd_compress(&fixture("audit-api-response.json"), 3),
    )
    .await;
    env
}

async fn run_detect(env: &Env, proxy: &Proxy) -> usize {
    let config = tailwatch_detect::Config {
        firehose_stream: env.stream.clone(),
        alert_state_table: env.table.clone(),
        alert_topic_arn: env.topic_arn.clone(),
        detections_config: String::new(),
    };
    let deps = tailwatch_detect::Deps::new(&config, &AwsClients::with_endpoint(Some(&proxy.url)).await).unwrap();
    let event = sqs_s3_event(&env.raw_bucket, &[RAW_KEY.to_owned()]);
    let out = tailwatch_detect::handle(&deps, LambdaEvent::new(event, Context::default()))
        .await
        .unwrap();
    out.batch_item_failures.len()
}

/// Published alerts (the SNS default message is the alert JSON), drained from the queue.
async fn published(env: &Env) -> Vec<serde_json::Value> {
    tokio::time::sleep(Duration::from_millis(100)).await;
    env.drain_alerts()
        .await
        .iter()
        .map(|m| serde_json::from_str(m["Message"].as_str().unwrap()).unwrap())
        .collect()
}

/// (alert id → (rule, event count)) of published alerts.
fn alert_facts(alerts: &[serde_json::Value]) -> BTreeMap<String, (String, u64)> {
    alerts
        .iter()
        .map(|a| {
            (
                a["alertId"].as_str().unwrap().to_owned(),
                (a["id"].as_str().unwrap().to_owned(), a["eventCount"].as_u64().unwrap()),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detect_broken_after_each_write_retries_to_the_clean_alerts_paging_each_once_but_for_the_mark_window() {
    no_sdk_retries();
    let clean_env = detect_env("bw-detect-clean").await;
    let proxy = Proxy::start(endpoint(), Fault::None).await;
    assert_eq!(run_detect(&clean_env, &proxy).await, 0);
    let writes = proxy.writes.lock().unwrap().clone();
    let clean = published(&clean_env).await;
    let clean_facts = alert_facts(&clean);
    assert!(!clean.is_empty(), "the fixture pages: {clean:?}");
    assert_eq!(clean_facts.len(), clean.len(), "a clean run publishes each alert once");
    let clean_rows = tally(&json_lines(&clean_env, &clean_env.lake_bucket, "firehose/").await, "alert_id");
    assert_eq!(clean_rows.keys().collect::<Vec<_>>(), clean_facts.keys().collect::<Vec<_>>());
    for kind in ["dynamodb:", "firehose:PutRecordBatch", "sns:Publish", "dynamodb:PutItem:delivered"] {
        assert!(
            writes.iter().any(|w| w.starts_with(kind)),
            "the sequence includes {kind}: {writes:?}"
        );
    }

    let mut twice = 0;
    for (k, kind) in writes.iter().enumerate() {
        let env = detect_env(&format!("bw-detect-{k}")).await;
        let proxy = Proxy::start(endpoint(), Fault::FailWritesAfter { ok: k }).await;
        assert_eq!(run_detect(&env, &proxy).await, 1, "write {k} ({kind}) fails the message");
        assert!(proxy.injected.load(std::sync::atomic::Ordering::SeqCst) > 0);
        proxy.set(Fault::None);
        assert_eq!(
            run_detect(&env, &proxy).await,
            0,
            "the redelivery after a break at {k} ({kind}) succeeds"
        );
        assert_eq!(run_detect(&env, &proxy).await, 0, "and a further redelivery");
        let alerts = published(&env).await;
        assert_eq!(
            alert_facts(&alerts),
            clean_facts,
            "break at {k} ({kind}): the same alerts, ids and counts"
        );
        let pages = tally(&alerts, "alertId");
        let repeated: Vec<_> = pages.iter().filter(|(_, n)| **n > 1).collect();
        let first_publish = writes.iter().position(|w| w == "sns:Publish").unwrap();
        if k > first_publish {
            // Published, then a later write failed before the alert's mark: AWS offers
            // at-least-once here. The bound: alerts are delivered DELIVERY_CONCURRENCY at a time,
            // so at most that many (those published and not yet marked) are published once more,
            // exactly once more, under the same alert id.
            assert!(
                repeated.len() <= DELIVERY_CONCURRENCY.min(clean.len()),
                "break at {k}: at most the alerts in flight re-published: {pages:?}"
            );
            assert!(repeated.iter().all(|(_, n)| **n == 2), "break at {k}: {pages:?}");
            twice += usize::from(!repeated.is_empty());
        } else {
            assert!(repeated.is_empty(), "break at {k} ({kind}): nothing paged twice: {pages:?}");
        }
        // Alert rows: every alert's row is in the lake; a row is written again only when the
        // break came after it was written and before its alert was marked delivered.
        let rows = tally(&json_lines(&env, &env.lake_bucket, "firehose/").await, "alert_id");
        assert_eq!(
            rows.keys().collect::<Vec<_>>(),
            clean_rows.keys().collect::<Vec<_>>(),
            "break at {k}"
        );
        let firehose_at = writes.iter().position(|w| w.starts_with("firehose:")).unwrap();
        for (id, n) in &rows {
            assert!(
                *n <= if k > firehose_at { 2 } else { 1 },
                "break at {k} ({kind}): alert row {id} written {n} times"
            );
        }
    }
    assert!(twice > 0, "some break fell between a publish and its mark: {writes:?}");
}

// ---------------------------------------------------------------------------------------------
// normalize: each lake object, then quarantine

async fn normalize_env(name: &str) -> Env {
    let env = Env::new(name).await;
    // Audit and network records (two tables, so several lake objects) and a value that is not a
    // record (quarantined), as a Tailscale S3 export or a raw batch could hold.
    let mut body = fixture("audit-stream.hec");
    body.extend(fixture("network-stream.hec"));
    body.extend_from_slice(b"\n{\"time\": \"0000-01-01T00:00:00Z\", \"action\": \"x\"}\n");
    env.put(&env.raw_bucket, RAW_KEY, tailwatch_core::wire::decode::zstd_compress(&body, 3))
        .await;
    env
}

async fn run_normalize(env: &Env, proxy: &Proxy) -> usize {
    let deps = tailwatch_normalize::Deps::new(
        &tailwatch_normalize::Config {
            lake_bucket: env.lake_bucket.clone(),
        },
        &AwsClients::with_endpoint(Some(&proxy.url)).await,
    );
    let event = sqs_s3_event(&env.raw_bucket, &[RAW_KEY.to_owned()]);
    let out = tailwatch_normalize::handle(&deps, LambdaEvent::new(event, Context::default()))
        .await
        .unwrap();
    out.batch_item_failures.len()
}

/// (lake keys, row ids with their counts, quarantine rows).
async fn normalize_outcome(env: &Env) -> (Vec<String>, BTreeMap<String, usize>, Vec<serde_json::Value>) {
    let keys: Vec<String> = env
        .keys(&env.lake_bucket, "")
        .await
        .into_iter()
        .filter(|k| !k.starts_with("tailwatch_quarantine/"))
        .collect();
    let mut rows = Vec::new();
    for key in &keys {
        rows.extend(json_lines(env, &env.lake_bucket, key).await);
    }
    let quarantine = json_lines(env, &env.lake_bucket, "tailwatch_quarantine/").await;
    (keys, tally(&rows, "p_row_id"), quarantine)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normalize_broken_after_each_lake_object_or_before_quarantine_retries_to_the_clean_lake() {
    no_sdk_retries();
    let clean_env = normalize_env("bw-norm-clean").await;
    let proxy = Proxy::start(endpoint(), Fault::None).await;
    assert_eq!(run_normalize(&clean_env, &proxy).await, 0);
    let writes = proxy.writes.lock().unwrap().clone();
    assert!(writes.iter().all(|w| w == "s3:PUT lake"), "{writes:?}");
    assert!(writes.len() >= 3, "several lake objects and the quarantine: {writes:?}");
    let (clean_keys, clean_rows, clean_quarantine) = normalize_outcome(&clean_env).await;
    assert!(
        clean_keys.len() >= 2 && clean_quarantine.len() == 1,
        "{clean_keys:?} {clean_quarantine:?}"
    );
    assert!(clean_rows.values().all(|n| *n == 1));

    for k in 0..writes.len() {
        let env = normalize_env(&format!("bw-norm-{k}")).await;
        let proxy = Proxy::start(endpoint(), Fault::FailWritesAfter { ok: k }).await;
        assert_eq!(run_normalize(&env, &proxy).await, 1, "write {k} fails the message");
        let (written, ..) = normalize_outcome(&env).await;
        assert!(written.len() <= k, "break at {k}: only the objects before it were written");
        proxy.set(Fault::None);
        assert_eq!(run_normalize(&env, &proxy).await, 0, "break at {k}: the redelivery succeeds");
        assert_eq!(run_normalize(&env, &proxy).await, 0);
        let (keys, rows, quarantine) = normalize_outcome(&env).await;
        assert_eq!(keys, clean_keys, "break at {k}: the same objects (a re-run replaces by name)");
        assert_eq!(rows, clean_rows, "break at {k}: every row once, none lost");
        assert_eq!(tally(&quarantine, "reason"), tally(&clean_quarantine, "reason"), "break at {k}");
        env.delete_stream().await;
    }
    clean_env.delete_stream().await;
}

// ---------------------------------------------------------------------------------------------
// ingest: quarantine, then the raw batch

async fn post(deps: &tailwatch_ingest::Deps, body: &[u8]) -> u16 {
    let req = lambda_http::http::Request::builder()
        .method("POST")
        .uri("/services/collector/event")
        .header("authorization", "Bearer tok-current")
        .body(lambda_http::Body::Binary(body.to_vec()))
        .unwrap();
    tailwatch_ingest::handle(deps, req).await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_broken_between_quarantine_and_raw_is_503_and_the_retry_stores_the_batch_once() {
    no_sdk_retries();
    let mut body = fixture("audit-stream.hec");
    body.extend_from_slice(b"\n{\"time\": \"0000-01-01T00:00:00Z\", \"action\": \"x\"}\n");
    for k in 0..2 {
        let env = Env::new(&format!("bw-ingest-{k}")).await;
        let proxy = Proxy::start(endpoint(), Fault::FailWritesAfter { ok: k }).await;
        let config = tailwatch_ingest::Config {
            raw_bucket: env.raw_bucket.clone(),
            lake_bucket: env.lake_bucket.clone(),
            token_secret_arn: env.secret_arn.clone(),
            max_body_mib: 6,
            token_refresh: Duration::from_secs(300),
        };
        let deps = tailwatch_ingest::Deps::new(&config, &AwsClients::with_endpoint(Some(&proxy.url)).await);
        assert_eq!(post(&deps, &body).await, 503, "break at write {k}: Tailscale is told to retry");
        assert!(env.keys(&env.raw_bucket, "").await.is_empty(), "no raw batch before the 200");
        assert_eq!(
            proxy.writes.lock().unwrap().clone(),
            ["s3:PUT lake"].iter().take(k).map(|s| (*s).to_owned()).collect::<Vec<_>>(),
            "quarantine first, then raw"
        );
        proxy.set(Fault::None);
        assert_eq!(post(&deps, &body).await, 200, "Tailscale's retry");
        assert_eq!(env.keys(&env.raw_bucket, "").await.len(), 1, "one raw batch");
        // The quarantined value: once per attempt that wrote it (at-least-once, like the alert
        // rows), each copy naming its attempt's raw key; only the accepted attempt's key exists.
        let quarantine = json_lines(&env, &env.lake_bucket, "tailwatch_quarantine/").await;
        assert_eq!(quarantine.len(), k + 1, "break at {k}: {quarantine:?}");
        let raw = env.keys(&env.raw_bucket, "").await;
        let naming_stored = quarantine
            .iter()
            .filter(|q| raw.iter().any(|r| q["p_source_file"].as_str() == Some(r)))
            .count();
        assert_eq!(naming_stored, 1, "exactly one copy names the stored raw batch: {quarantine:?}");
        env.delete_stream().await;
    }
}
