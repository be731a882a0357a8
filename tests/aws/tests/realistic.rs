//! A busy tailnet's traffic through all three functions, with DynamoDB on dynalite (which rejects
//! what DynamoDB rejects: duplicate set members, items over 400 KB, bad expressions).
//!
//! The corpus is generated: 388 clients reporting about every 40 s for 2 minutes (about 3 MB), thousands of node pairs,
//! the same server:port more than once inside one record (two connections from one client), a
//! planted port scan, a planted exit-node upload, and a policy-file update over 400 KB. The alerts
//! the functions publish must be exactly the ones the in-memory engine raises over the same rows
//! (the oracle), every detect invocation must succeed, and a redelivered or half-failed batch must
//! change neither the published alerts nor the stored detection state.

use std::collections::BTreeSet;
use std::time::Duration;

use lambda_http::Body;
use lambda_runtime::{Context, LambdaEvent};
use tailwatch_aws::AwsClients;
use tailwatch_aws_e2e::proxy::{Fault, Proxy};
use tailwatch_aws_e2e::{endpoint, sqs_s3_event, Env};
use tailwatch_core::engine::state::block_on;
use tailwatch_core::engine::{MemoryAlertState, Registry, TuningConfig};
use tailwatch_core::normalize::SourceContext;
use tailwatch_core::time::Timestamp;

/// A small deterministic generator (the test must be reproducible).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const T0: i64 = 1_741_107_600; // 2025-03-04T17:00:00Z
const NODES: u64 = 400;
const SERVERS: u64 = 12;

fn ip(n: u64) -> String {
    format!("100.64.{}.{}", n / 200, n % 200 + 1)
}

fn envelope(time: i64, record: &str) -> String {
    format!(r#"{{"time":{time}.25,"event":{record}}}"#)
}

/// Network bodies (HEC, concatenated) of a busy tailnet, about `target` bytes each.
fn network_bodies(target: usize) -> Vec<Vec<u8>> {
    let mut rng = Lcg(7);
    let mut bodies = Vec::new();
    let mut body = String::new();
    for tick in 0..24 {
        let start = T0 + tick * 5;
        for node in SERVERS..NODES {
            // Each client reports about one window in eight.
            if rng.below(8) != 0 {
                continue;
            }
            let mut entries = Vec::new();
            for _ in 0..rng.below(24) + 8 {
                let server = rng.below(SERVERS);
                let port = [443, 80, 22, 5432][rng.below(4) as usize];
                let src_port = 40_000 + rng.below(20_000);
                // Two connections to the same server:port in one record, as browsers open.
                for extra in 0..=rng.below(2) {
                    entries.push(format!(
                        r#"{{"proto":6,"src":"{}:{}","dst":"{}:{port}","txPkts":12,"txBytes":{},"rxPkts":10,"rxBytes":{}}}"#,
                        ip(node),
                        src_port + extra,
                        ip(server),
                        rng.below(90_000) + 100,
                        rng.below(900_000) + 100
                    ));
                }
            }
            let record = format!(
                r#"{{"nodeId":"n{node}","start":"{}","end":"{}","srcNode":{{"nodeId":"n{node}","name":"host-{node}.tail.ts.net","addresses":["{}"],"user":"user{}@example.com"}},"virtualTraffic":[{}]}}"#,
                Timestamp::from_unix_millis(start * 1000).unwrap().rfc3339(),
                Timestamp::from_unix_millis((start + 5) * 1000).unwrap().rfc3339(),
                ip(node),
                node % 50,
                entries.join(",")
            );
            body.push_str(&envelope(start, &record));
            if body.len() >= target {
                bodies.push(std::mem::take(&mut body).into_bytes());
            }
        }
    }
    // A planted scan: one laptop opens 150 distinct server ports in one window.
    let targets: Vec<String> = (0..150)
        .map(|i| {
            format!(
                r#"{{"proto":6,"src":"{}:{}","dst":"{}:{}","txPkts":1,"txBytes":60}}"#,
                ip(399),
                50_000 + i,
                ip(i % SERVERS),
                1000 + i
            )
        })
        .collect();
    body.push_str(&envelope(
        T0 + 600,
        &format!(
            r#"{{"nodeId":"nScanner","start":"{}","srcNode":{{"nodeId":"nScanner","name":"scanner-laptop"}},"virtualTraffic":[{}]}}"#,
            Timestamp::from_unix_millis((T0 + 600) * 1000).unwrap().rfc3339(),
            targets.join(",")
        ),
    ));
    // A planted upload through an exit node: 11 GiB in one window.
    body.push_str(&envelope(
        T0 + 900,
        &format!(
            r#"{{"nodeId":"nExfil","start":"{}","srcNode":{{"nodeId":"nExfil","name":"exfil-laptop"}},"exitTraffic":[{{"src":"100.64.9.9:0","txBytes":11811160064}}]}}"#,
            Timestamp::from_unix_millis((T0 + 900) * 1000).unwrap().rfc3339()
        ),
    ));
    bodies.push(body.into_bytes());
    bodies
}

/// An audit body with a policy-file update over 400 KB whose new policy opens everything.
fn big_policy_body() -> Vec<u8> {
    let hosts: Vec<String> = (0..9000)
        .map(|i| format!("\"host-{i}\": \"100.70.{}.{}\"", i / 200, i % 200))
        .collect();
    let old = format!(
        "{{\"hosts\": {{{}}}, \"acls\": [{{\"action\": \"accept\", \"src\": [\"group:eng\"], \"dst\": [\"tag:prod:443\"]}}]}}",
        hosts.join(", ")
    );
    let new = format!(
        "{{\"hosts\": {{{}}}, \"acls\": [{{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"*:*\"]}}]}}",
        hosts.join(", ")
    );
    let record = serde_json::json!({
        "eventGroupID": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
        "origin": "ADMIN_CONSOLE",
        "actor": {"id": "uAdmin1CNTRL", "type": "USER", "loginName": "admin@example.com", "displayName": "Admin"},
        "target": {"id": "example.com", "name": "example.com", "type": "TAILNET", "property": "ACL"},
        "action": "UPDATE",
        "old": old,
        "new": new,
    });
    let body = envelope(T0 + 300, &record.to_string()).into_bytes();
    assert!(body.len() > 400 * 1024, "the policy record is over DynamoDB's item limit");
    body
}

async fn post(env: &Env, body: Vec<u8>) -> serde_json::Value {
    let deps = tailwatch_ingest::Deps::new(
        &tailwatch_ingest::Config {
            raw_bucket: env.raw_bucket.clone(),
            lake_bucket: env.lake_bucket.clone(),
            token_secret_arn: env.secret_arn.clone(),
            max_body_mib: 6,
            token_refresh: Duration::from_secs(300),
        },
        &env.clients,
    );
    let req = lambda_http::http::Request::builder()
        .method("POST")
        .uri("https://api.example.com/services/collector/event")
        .header("authorization", "Bearer tok-current")
        .body(Body::Binary(body))
        .unwrap();
    let resp = tailwatch_ingest::handle(&deps, req).await.unwrap();
    let status = resp.status().as_u16();
    let json: serde_json::Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
    assert_eq!(status, 200, "{json}");
    json
}

fn detect_deps(env: &Env, clients: &AwsClients) -> tailwatch_detect::Deps {
    tailwatch_detect::Deps::new(
        &tailwatch_detect::Config {
            firehose_stream: env.stream.clone(),
            alert_state_table: env.table.clone(),
            alert_topic_arn: env.topic_arn.clone(),
            detections_config: String::new(),
        },
        clients,
    )
    .unwrap()
}

/// Posts the corpus and normalizes it; returns the raw batches (what detect reads too).
async fn ingest_and_normalize(env: &Env, bodies: &[Vec<u8>]) -> Vec<String> {
    for body in bodies {
        let answer = post(env, body.clone()).await;
        assert_eq!(answer["quarantined"], 0, "{answer}");
    }
    let normalize = tailwatch_normalize::Deps::new(
        &tailwatch_normalize::Config {
            lake_bucket: env.lake_bucket.clone(),
        },
        &env.clients,
    );
    let raw = env.keys(&env.raw_bucket, "raw/").await;
    assert_eq!(raw.len(), bodies.len());
    for key in &raw {
        let out = tailwatch_normalize::handle(
            &normalize,
            LambdaEvent::new(sqs_s3_event(&env.raw_bucket, std::slice::from_ref(key)), Context::default()),
        )
        .await
        .unwrap();
        assert!(out.batch_item_failures.is_empty(), "normalize {key}");
    }
    raw
}

/// Runs detect over each raw batch, one SQS message each, and returns how many failed.
async fn detect_all(deps: &tailwatch_detect::Deps, env: &Env, raw: &[String]) -> usize {
    let mut failed = 0;
    for key in raw {
        let out = tailwatch_detect::handle(
            deps,
            LambdaEvent::new(sqs_s3_event(&env.raw_bucket, std::slice::from_ref(key)), Context::default()),
        )
        .await
        .unwrap();
        failed += out.batch_item_failures.len();
    }
    failed
}

/// (detection id, alert id) of every published alert (the SQS subscriber gets the default message:
/// the alert JSON).
fn published(messages: &[serde_json::Value]) -> BTreeSet<(String, String)> {
    messages
        .iter()
        .map(|m| {
            let alert: serde_json::Value = serde_json::from_str(m["Message"].as_str().unwrap()).unwrap();
            (
                alert["id"].as_str().unwrap_or_default().to_owned(),
                alert["alertId"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Every detection-state item (`key#…`) as (pk, state JSON).
async fn key_state(env: &Env) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let mut start = None;
    loop {
        let page = env
            .clients
            .dynamodb
            .scan()
            .table_name(&env.table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        for item in page.items() {
            let pk = item["pk"].as_s().unwrap().clone();
            if pk.starts_with("key#") {
                out.insert((pk, item["st"].as_s().unwrap().clone()));
            }
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            return out;
        }
    }
}

/// What the in-memory engine raises over the same bodies, normalized the same way.
fn oracle(bodies: &[Vec<u8>]) -> BTreeSet<(String, String)> {
    let registry = Registry::build(tailwatch_core::detections::ALL, &TuningConfig::default()).unwrap();
    let state = MemoryAlertState::default();
    let mut out = BTreeSet::new();
    for body in bodies {
        let ctx = SourceContext {
            label: "oracle",
            file: "oracle",
            parse_time: Timestamp::now(),
        };
        let rows = tailwatch_core::pipeline::normalize_body(body, &ctx).rows;
        let (alerts, _) = block_on(tailwatch_core::engine::run::evaluate(&registry, &rows, &state, Timestamp::now())).unwrap();
        out.extend(alerts.into_iter().map(|a| (a.id, a.alert_id)));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_busy_tailnet_through_all_three_functions_on_a_validating_dynamodb() {
    let mut bodies = network_bodies(2 << 20);
    bodies.push(big_policy_body());
    let total: usize = bodies.iter().map(Vec::len).sum();
    assert!(total > 3 << 20, "several MB of logs ({total} bytes)");

    let env = Env::new("realistic").await;
    let raw = ingest_and_normalize(&env, &bodies).await;
    let deps = detect_deps(&env, &env.clients);
    assert_eq!(
        detect_all(&deps, &env, &raw).await,
        0,
        "every raw batch is detected without a DynamoDB rejection"
    );
    let messages = env.drain_alerts().await;
    let alerts = published(&messages);
    assert_eq!(messages.len(), alerts.len(), "each alert paged once");
    let ids: BTreeSet<&str> = alerts.iter().map(|(id, _)| id.as_str()).collect();
    for planted in [
        "Tailscale.Network.PortScan",
        "Tailscale.Network.ExitEgressSpike",
        "Tailscale.PolicyFile.Changed",
    ] {
        assert!(ids.contains(planted), "{planted} fires: {ids:?}");
    }
    // detect reads the raw batches, as the in-memory engine does here: the same alerts, exactly.
    assert_eq!(
        alerts,
        oracle(&bodies),
        "the alerts the in-memory engine raises over the same batches"
    );
    let state = key_state(&env).await;
    assert!(state.len() > 100, "detection state is kept per key ({} keys)", state.len());

    // SQS redelivers every message: nothing is paged again and no state changes.
    assert_eq!(detect_all(&deps, &env, &raw).await, 0);
    assert!(env.drain_alerts().await.is_empty(), "a redelivered batch pages nobody");
    assert_eq!(
        key_state(&env).await,
        state,
        "a redelivered batch changes no total, set or sighting"
    );

    // A part of the corpus (one network body and the policy) into two fresh stacks, one clean and
    // one whose state writes start failing after 40 succeeded: the failed batches are retried, and
    // the end state and alerts equal the clean stack's. (A part, to keep the test quick: dynalite
    // applies writes one at a time.)
    let part = vec![bodies[0].clone(), bodies[bodies.len() - 1].clone()];
    let clean = Env::new("realistic-clean").await;
    let raw_clean = ingest_and_normalize(&clean, &part).await;
    assert_eq!(detect_all(&detect_deps(&clean, &clean.clients), &clean, &raw_clean).await, 0);
    let clean_alerts = published(&clean.drain_alerts().await);
    assert_eq!(clean_alerts, oracle(&part));
    let broken = Env::new("realistic-broken").await;
    let raw_broken = ingest_and_normalize(&broken, &part).await;
    let proxy = Proxy::start(endpoint(), Fault::None).await;
    // Only detection-state key writes (their items carry the state as `st`).
    proxy.set(Fault::DynamoFailAfter { needle: "\"st\":", ok: 40 });
    let via_proxy = AwsClients::with_endpoint(Some(&proxy.url)).await;
    let broken_deps = detect_deps(&broken, &via_proxy);
    let failed = detect_all(&broken_deps, &broken, &raw_broken).await;
    assert!(
        failed > 0 && proxy.injected.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "the injected failures fail some batches ({failed} failed)"
    );
    proxy.set(Fault::None);
    assert_eq!(detect_all(&broken_deps, &broken, &raw_broken).await, 0, "the retry succeeds");
    let messages = broken.drain_alerts().await;
    let after_retry = published(&messages);
    assert_eq!(messages.len(), after_retry.len(), "no alert paged twice");
    assert_eq!(after_retry, clean_alerts, "the same alerts");
    assert_eq!(
        key_state(&broken).await,
        key_state(&clean).await,
        "the same totals, sets and sightings"
    );
}
