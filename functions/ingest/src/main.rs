//! The ingest Lambda: API Gateway (REST API proxy event, or HTTP API payload 2.0) → authenticate, decode, frame and
//! validate a Tailscale log-streaming batch → raw batch in S3 (`RAW_BUCKET`) and rejected values in
//! `LAKE_BUCKET/tailwatch_quarantine/`, then a Splunk-HEC answer.
//!
//! Environment: `RAW_BUCKET`, `LAKE_BUCKET`, `TOKEN_SECRET_ARN`, optional `MAX_BODY_MIB` (6),
//! `TOKEN_REFRESH_SECONDS` (300), `RUST_LOG`.
//! Failure: storage or secret unavailable → 503 with HEC code 9, which Tailscale retries; nothing is
//! half-written (S3 puts are atomic).

use tailwatch_ingest::{handle, Config, Deps};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_current_span(true)
        .without_time()
        .init();
    let config = Config::from_env()?;
    let clients = tailwatch_aws::AwsClients::from_env().await;
    let deps = Deps::new(&config, &clients);
    lambda_http::run(lambda_http::service_fn(|req| handle(&deps, req))).await
}
