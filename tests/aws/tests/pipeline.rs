//! The whole AWS path against the AWS API emulator, with real SDK calls: ingest (API Gateway
//! request) → raw object in S3 → (the raw bucket's SNS fan-out, one SQS message to each) normalize
//! → packed gzip objects in the lake bucket, and detect → DynamoDB state → SNS → an SQS queue
//! subscribed to the topic, alert rows through Firehose.
//!
//! Emulator behaviour relied on (moto 5): Firehose delivers synchronously into the destination
//! bucket but ignores dynamic partitioning, deaggregation and GZIP (objects land under
//! `<prefix>YYYY/MM/DD/HH/`, uncompressed), so alert rows are asserted by content, not key.

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use lambda_http::Body;
use lambda_runtime::{Context, LambdaEvent};
use tailwatch_aws_e2e::{sqs_s3_event, Env};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/tailscale").join(name)).unwrap()
}

fn ingest_deps(env: &Env) -> tailwatch_ingest::Deps {
    let config = tailwatch_ingest::Config {
        raw_bucket: env.raw_bucket.clone(),
        lake_bucket: env.lake_bucket.clone(),
        token_secret_arn: env.secret_arn.clone(),
        max_body_mib: 6,
        token_refresh: Duration::from_secs(300),
    };
    tailwatch_ingest::Deps::new(&config, &env.clients)
}

fn normalize_deps(env: &Env) -> tailwatch_normalize::Deps {
    tailwatch_normalize::Deps::new(
        &tailwatch_normalize::Config {
            lake_bucket: env.lake_bucket.clone(),
        },
        &env.clients,
    )
}

fn detect_deps(env: &Env) -> tailwatch_detect::Deps {
    let config = tailwatch_detect::Config {
        firehose_stream: env.stream.clone(),
        alert_state_table: env.table.clone(),
        alert_topic_arn: env.topic_arn.clone(),
        detections_config: String::new(),
    };
    tailwatch_detect::Deps::new(&config, &env.clients).unwrap()
}

async fn post(deps: &tailwatch_ingest::Deps, headers: &[(&str, String)], body: Vec<u8>) -> (u16, serde_json::Value) {
    let mut req = lambda_http::http::Request::builder()
        .method("POST")
        .uri("https://api.example.com/services/collector/event");
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = tailwatch_ingest::handle(deps, req.body(Body::Binary(body)).unwrap()).await.unwrap();
    let status = resp.status().as_u16();
    let text = match resp.body() {
        Body::Text(t) => t.clone(),
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    };
    (status, serde_json::from_str(&text).unwrap())
}

fn basic(token: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("user:{token}"))
    )
}

/// Runs normalize and detect over every raw object (each has its own queue of the fan-out).
async fn run_pipeline(env: &Env) -> usize {
    let raw_keys = env.keys(&env.raw_bucket, "raw/").await;
    let out = tailwatch_normalize::handle(
        &normalize_deps(env),
        LambdaEvent::new(sqs_s3_event(&env.raw_bucket, &raw_keys), Context::default()),
    )
    .await
    .unwrap();
    assert!(
        out.batch_item_failures.is_empty(),
        "normalize failures: {:?}",
        out.batch_item_failures
    );
    let deps = detect_deps(env);
    let out = tailwatch_detect::handle(
        &deps,
        LambdaEvent::new(sqs_s3_event(&env.raw_bucket, &raw_keys), Context::default()),
    )
    .await
    .unwrap();
    if !out.batch_item_failures.is_empty() {
        // Say why: re-run the failing objects directly for the error.
        let errors = futures_errors(&deps, env, &raw_keys).await;
        panic!("detect failures: {:?}: {errors:?}", out.batch_item_failures);
    }
    raw_keys.len()
}

/// Every row in the lake bucket: the Tailscale tables (packed objects normalize put) and the
/// alert rows (Firehose), quarantine excluded.
async fn lake_rows(env: &Env) -> Vec<serde_json::Value> {
    let mut rows = Vec::new();
    for prefix in ["tailscale_audit/", "tailscale_network/", "firehose/"] {
        for key in env.keys(&env.lake_bucket, prefix).await {
            rows.extend(lake_lines(&env.get(&env.lake_bucket, &key).await));
        }
    }
    rows
}

async fn futures_errors(deps: &tailwatch_detect::Deps, env: &Env, keys: &[String]) -> Vec<String> {
    let mut errors = Vec::new();
    for key in keys {
        if let Err(e) = tailwatch_detect::process_object(deps, &env.raw_bucket, key).await {
            errors.push(format!("{key}: {e}"));
        }
    }
    errors
}

fn lake_lines(bytes: &[u8]) -> Vec<serde_json::Value> {
    let body = tailwatch_core::wire::decode_object(bytes, &Default::default()).unwrap();
    body.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_from_http_to_pagerduty_shaped_sns() {
    let env = Env::new("e2e").await;
    let ingest = ingest_deps(&env);

    // Ingest: the audit stream with Basic auth, the gzip network stream with Bearer.
    let (status, resp) = post(&ingest, &[("authorization", basic("tok-current"))], fixture("audit-stream.hec")).await;
    assert_eq!((status, resp["accepted"].as_u64()), (200, Some(15)), "{resp}");
    let (status, resp) = post(
        &ingest,
        &[("authorization", "Bearer tok-current".into()), ("content-encoding", "gzip".into())],
        fixture("network-stream.hec.gz"),
    )
    .await;
    assert_eq!((status, resp["accepted"].as_u64()), (200, Some(4)), "{resp}");
    let raw = env.keys(&env.raw_bucket, "raw/").await;
    assert_eq!(raw.len(), 2);
    assert!(
        raw.iter()
            .all(|k| k.starts_with("raw/tailscale-http/dt=") && k.ends_with(".ndjson.zst")),
        "{raw:?}"
    );

    // Normalize → lake bucket; detect → DynamoDB → SNS → SQS, alert rows → Firehose.
    let objects = run_pipeline(&env).await;
    assert!(objects >= 1);
    let tables = env.keys(&env.lake_bucket, "tailscale_").await;
    assert!(
        tables
            .iter()
            .all(|k| k.ends_with(".json.gz") && k.contains("/dt=2025-03-04/hour=17/")),
        "one gzip object per table partition, by event time: {tables:?}"
    );
    // Audit, network, and the network object's tailscale_nodes companion.
    assert_eq!(tables.len(), 3, "{tables:?}");
    let rows = lake_rows(&env).await;
    let count = |t: &str| rows.iter().filter(|r| r["p_log_type"] == t).count();
    assert_eq!(count("Tailscale.Audit"), 15);
    assert_eq!(count("Tailscale.Network"), 15);
    let nodes = lake_lines(&env.get(&env.lake_bucket, &tables[2]).await);
    assert!(
        nodes.iter().any(|n| n["node_name"] == "web-01.tail1a2b.ts.net"),
        "node names are in tailscale_nodes: {nodes:?}"
    );
    assert!(rows.iter().all(|r| r.get("node_name").is_none()), "not on connection rows");
    assert!(count("Tailwatch.Alert") >= 10, "alert rows go to the lake too");

    // DynamoDB holds the dedup state.
    let scan = env.clients.dynamodb.scan().table_name(&env.table).send().await.unwrap();
    let pks: Vec<String> = scan
        .items()
        .iter()
        .filter_map(|i| i.get("pk").and_then(|v| v.as_s().ok()).cloned())
        .collect();
    assert!(pks.iter().any(|p| p.starts_with("dedup#Tailscale.MagicDNS.Disabled#")), "{pks:?}");

    // SNS → SQS: body, subject and attributes.
    let messages = env.drain_alerts().await;
    let magic = messages
        .iter()
        .find(|m| m["Subject"].as_str().is_some_and(|s| s.contains("MagicDNS")))
        .expect("MagicDNS alert on SNS");
    // `ALARM: ` first: PagerDuty's Amazon CloudWatch integration acts only on such subjects.
    assert_eq!(
        magic["Subject"],
        "ALARM: [HIGH] Tailscale MagicDNS disabled by alice@example.com via ADMIN_CONSOLE"
    );
    assert_eq!(magic["MessageAttributes"]["severity"]["Value"], "HIGH");
    assert_eq!(magic["MessageAttributes"]["rule_id"]["Value"], "Tailscale.MagicDNS.Disabled");
    assert_eq!(magic["MessageAttributes"]["log_type"]["Value"], "Tailscale.Audit");
    // The first HIGH alert of this instance is email-eligible (the email cap, shared/aws/src/sns.rs).
    assert!(messages.iter().any(|m| m["MessageAttributes"]["email"]["Value"] == "yes"));
    let alert: serde_json::Value = serde_json::from_str(magic["Message"].as_str().unwrap()).expect("the default message is the alert JSON");
    assert_eq!(alert["id"], "Tailscale.MagicDNS.Disabled");
    assert_eq!(alert["type"], "RULE");
    assert_eq!(alert["alertContext"]["origin"], "ADMIN_CONSOLE");
    assert_eq!(alert["firstEventTime"], "2025-03-04T17:21:09.412Z");
    let ids: Vec<&str> = messages
        .iter()
        .filter_map(|m| m["MessageAttributes"]["rule_id"]["Value"].as_str())
        .collect();
    for expected in [
        "Tailscale.HTTPS.Disabled",
        "Tailscale.DeviceApproval.Disabled",
        "Tailscale.TailnetLock.Disabled",
        "Tailscale.LogStreaming.Tampered",
    ] {
        assert!(ids.contains(&expected), "missing {expected} in {ids:?}");
    }

    // The same S3 notification delivered again (SQS is at-least-once): nothing is published twice.
    run_pipeline_detect_only(&env).await;
    let again = env.drain_alerts().await;
    assert!(again.is_empty(), "redelivery paged again: {again:?}");
}

async fn run_pipeline_detect_only(env: &Env) {
    let raw_keys = env.keys(&env.raw_bucket, "raw/").await;
    let out = tailwatch_detect::handle(
        &detect_deps(env),
        LambdaEvent::new(sqs_s3_event(&env.raw_bucket, &raw_keys), Context::default()),
    )
    .await
    .unwrap();
    assert!(out.batch_item_failures.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_token_is_401_and_nothing_reaches_s3() {
    let env = Env::new("auth").await;
    let ingest = ingest_deps(&env);
    for headers in [
        vec![("authorization", basic("nope"))],
        vec![("authorization", "Bearer nope".to_owned())],
        vec![],
    ] {
        let (status, resp) = post(&ingest, &headers, fixture("audit-stream.hec")).await;
        assert_eq!(status, 401, "{resp}");
    }
    assert!(env.keys(&env.raw_bucket, "").await.is_empty());
    assert!(env.keys(&env.lake_bucket, "").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_manager_rotation_accepts_both_tokens() {
    let env = Env::new("rotation").await;
    let ingest = ingest_deps(&env);
    for token in ["tok-current", "tok-previous"] {
        let (status, resp) = post(
            &ingest,
            &[("authorization", format!("Splunk {token}"))],
            fixture("audit-stream.hec"),
        )
        .await;
        assert_eq!(status, 200, "{token}: {resp}");
    }
    assert_eq!(env.keys(&env.raw_bucket, "raw/").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_records_are_quarantined_in_the_lake_bucket_and_exports_are_read() {
    let env = Env::new("quarantine").await;
    let ingest = ingest_deps(&env);
    let (status, resp) = post(
        &ingest,
        &[("authorization", basic("tok-current"))],
        fixture("bad/mixed-good-and-bad.ndjson"),
    )
    .await;
    assert_eq!(
        (status, resp["accepted"].as_u64(), resp["quarantined"].as_u64()),
        (200, Some(2), Some(1))
    );
    let q = env.keys(&env.lake_bucket, "tailwatch_quarantine/").await;
    assert_eq!(q.len(), 1, "{q:?}");
    let rows = lake_lines(&env.get(&env.lake_bucket, &q[0]).await);
    assert_eq!(rows[0]["reason"], "invalid_json");
    assert_eq!(rows[0]["line"], 2);

    // Tailscale's own S3 export object (gzip NDJSON) and a zero-byte object, through normalize.
    env.put(
        &env.raw_bucket,
        "raw/tailscale-s3-export/2025/03/04/2025-03-04-17-40-00.ndjson.gz",
        tailwatch_core::wire::decode::gzip(&fixture("audit-s3-export.ndjson")),
    )
    .await;
    env.put(
        &env.raw_bucket,
        "raw/tailscale-s3-export/2025/03/04/2025-03-04-17-45-00.ndjson",
        Vec::new(),
    )
    .await;
    run_pipeline(&env).await;
    let rows = lake_rows(&env).await;
    assert_eq!(rows.iter().filter(|r| r["p_source_label"] == "tailscale-s3-export").count(), 2);
    assert_eq!(rows.iter().filter(|r| r["p_source_label"] == "tailscale-http").count(), 2);
}

/// The hostile-input suite of `cli/tests/hostile.rs`, through the ingest function (API Gateway
/// request → handler → S3): the same precise answers, nothing stored for a rejected body, and the
/// test process's peak memory inside the function's 512 MB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bodies_through_the_ingest_function_get_precise_answers_and_store_nothing() {
    use std::io::Write as _;
    let env = Env::new("hostile").await;
    let ingest = ingest_deps(&env);
    let bomb = {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..256 {
            enc.write_all(&zeros).unwrap();
        }
        enc.finish().unwrap()
    };
    let auth = ("authorization", "Splunk tok-current".to_owned());
    type Case = (&'static str, Option<(&'static str, String)>, Vec<u8>, u16, &'static str);
    let cases: Vec<Case> = vec![
        ("gzip bomb (256 MiB of zeros)", None, bomb, 413, "bomb"),
        ("body over the 6 MiB limit", None, vec![b' '; 7 << 20], 413, "over the limit"),
        (
            "100 000-deep nesting",
            None,
            [vec![b'['; 100_000], vec![b']'; 100_000]].concat(),
            400,
            "nested",
        ),
        (
            "a raw NUL inside a string",
            None,
            b"{\"actor\":{\"id\":\"a\0b\"},\"action\":\"LOGIN\"}".to_vec(),
            400,
            "control character",
        ),
        (
            "invalid UTF-8 in a string",
            None,
            b"{\"actor\":{\"id\":\"\xff\xfe\"},\"action\":\"LOGIN\"}".to_vec(),
            400,
            "UTF-8",
        ),
        (
            "gzip header on garbage",
            Some(("content-encoding", "gzip".into())),
            b"certainly not gzip".to_vec(),
            400,
            "gzip",
        ),
        (
            "unsupported encoding",
            Some(("content-encoding", "br".into())),
            fixture("audit-stream.hec"),
            415,
            "not supported",
        ),
        (
            "truncated gzip stream",
            None,
            fixture("network-stream.hec.gz")[..400].to_vec(),
            400,
            "truncated",
        ),
        (
            "number beyond u64",
            None,
            br#"{"nodeId":"n","virtualTraffic":[{"txBytes":18446744073709551616}]}"#.to_vec(),
            400,
            "virtualTraffic.txBytes",
        ),
        (
            "negative counter",
            None,
            br#"{"nodeId":"n","virtualTraffic":[{"rxPkts":-1}]}"#.to_vec(),
            400,
            "virtualTraffic.rxPkts",
        ),
    ];
    for (name, header, body, status, reason) in cases {
        let mut headers = vec![auth.clone()];
        headers.extend(header);
        let (got, resp) = post(&ingest, &headers, body).await;
        assert_eq!(got, status, "{name}: {resp}");
        let text = resp["text"].as_str().unwrap_or_default();
        assert!(text.contains(reason), "{name}: the reason should mention `{reason}`: {resp}");
    }
    assert!(
        env.keys(&env.raw_bucket, "raw/").await.is_empty(),
        "nothing stored for rejected bodies"
    );
    for (name, value) in [
        ("oversized Authorization", format!("Bearer {}", "a".repeat(6000))),
        ("no Authorization", String::new()),
    ] {
        let headers = if value.is_empty() { vec![] } else { vec![("authorization", value)] };
        let (got, resp) = post(&ingest, &headers, fixture("audit-stream.hec")).await;
        assert_eq!(got, 401, "{name}: {resp}");
    }
    // Year 0 and 9999 are outside the lake's time range (quarantined, the in-range record beside
    // them stored), and 10 000 records in one request: accepted and stored once.
    let (got, resp) = post(
        &ingest,
        std::slice::from_ref(&auth),
        br#"{"eventTime":"0000-01-01T00:00:00Z","actor":{"id":"a"},"action":"LOGIN"}{"eventTime":"9999-12-31T23:59:59Z","actor":{"id":"a"},"action":"LOGIN"}{"time":1741109102025,"event":{"actor":{"id":"a"},"action":"LOGIN"}}"#.to_vec(),
    )
    .await;
    assert_eq!(
        (got, resp["accepted"].as_u64(), resp["quarantined"].as_u64()),
        (200, Some(1), Some(2)),
        "{resp}"
    );
    assert_eq!(resp["first_quarantined"]["reason"], "time_out_of_range", "{resp}");
    let record = String::from_utf8(fixture("audit-stream.hec")).unwrap();
    let first = &record[..record.find("}{").unwrap() + 1];
    let (got, resp) = post(&ingest, std::slice::from_ref(&auth), first.repeat(10_000).into_bytes()).await;
    assert_eq!((got, resp["accepted"].as_u64()), (200, Some(10_000)), "{resp}");
    assert_eq!(env.keys(&env.raw_bucket, "raw/").await.len(), 2);
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let hwm_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    assert!(hwm_kib < 512 * 1024, "peak RSS {hwm_kib} KiB is over the function's 512 MB");
}
