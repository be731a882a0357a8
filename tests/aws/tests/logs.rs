//! Tokens and Authorization headers never appear in the functions' logs: the ingest handler's
//! output at the deployed log level (RUST_LOG=info: JSON tracing and EMF lines) is captured and
//! searched.

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
    let deps = tailwatch_ingest::Deps::new(&config, &env.clients);
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
}
