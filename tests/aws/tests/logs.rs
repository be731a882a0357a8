//! Tokens and Authorization headers never appear in the functions' logs: the ingest handler's
//! output at the deployed log level (RUST_LOG=info: JSON tracing, and the EMF metric lines through
//! an injected `MetricsOut`, which the functions point at stdout) is captured and searched.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use tailwatch_aws_e2e::Env;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn ingest_logs_never_contain_tokens_or_authorization_headers() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let env = Env::new("logs").await;
    let config = tailwatch_ingest::Config {
        raw_bucket: env.raw_bucket.clone(),
        lake_bucket: env.lake_bucket.clone(),
        token_secret_arn: env.secret_arn.clone(),
        max_body_mib: 6,
        token_refresh: Duration::from_secs(300),
    };
    let metrics = Captured::default();
    let deps = tailwatch_ingest::Deps::new(&config, &env.clients).with_metrics(tailwatch_aws::MetricsOut::to(metrics.clone()));
    let body = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/tailscale/audit-stream.hec")).unwrap();
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("user:tok-current"));
    for auth in [basic.as_str(), "Bearer tok-previous", "Bearer wrong-guess-token"] {
        let req = lambda_http::http::Request::builder()
            .method("POST")
            .uri("/")
            .header("authorization", auth)
            .body(lambda_http::Body::Binary(body.clone()))
            .unwrap();
        tailwatch_ingest::handle(&deps, req).await.unwrap();
    }
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("\"accepted\":15"), "the handler logged its outcome: {logs}");
    for secret in [
        "tok-current",
        "tok-previous",
        "wrong-guess-token",
        &basic,
        "dXNlcjp0b2stY3VycmVudA",
        "authorization",
        "Authorization",
    ] {
        assert!(!logs.contains(secret), "`{secret}` leaked into the logs: {logs}");
    }
    // The EMF metric lines (stdout in Lambda) carry the fixed names and numbers only: every key is
    // `_aws`, `function` or a metric the line declares, every metric value a number, `function` the
    // function's name; and none of the secrets.
    let emf = String::from_utf8(metrics.0.lock().unwrap().clone()).unwrap();
    assert_eq!(emf.lines().count(), 3, "one line per invocation: {emf}");
    for line in emf.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let declared: Vec<&str> = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(
            declared,
            ["RecordsAccepted", "RecordsQuarantined", "BytesReceived", "Rejected"],
            "{line}"
        );
        assert_eq!(v["function"], "ingest");
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "tailwatch");
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Dimensions"], serde_json::json!([["function"]]));
        for (key, value) in v.as_object().unwrap() {
            match key.as_str() {
                "_aws" | "function" => {}
                name => {
                    assert!(declared.contains(&name), "undeclared key {name} in {line}");
                    assert!(value.is_number(), "{name} is not a number in {line}");
                }
            }
        }
        for secret in [
            "tok-current",
            "tok-previous",
            "wrong-guess-token",
            "dXNlcjp0b2stY3VycmVudA",
            "uthorization",
            "raw/",
        ] {
            assert!(!line.contains(secret), "`{secret}` in an EMF line: {line}");
        }
    }
    assert!(emf.contains(r#""RecordsAccepted":15.0"#), "{emf}");
    assert!(emf.contains(r#""Rejected":1.0"#), "the wrong guess was counted: {emf}");
}
