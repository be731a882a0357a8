//! The detect Lambda: SQS (S3 `ObjectCreated` on the raw bucket, fanned out by SNS next to
//! normalize's queue) → read the raw batch → normalize it in memory → every enabled detection → DynamoDB alert state (`ALERT_STATE_TABLE`) →
//! SNS (`ALERT_TOPIC_ARN`), alert rows to the lake through `FIREHOSE_STREAM`.
//!
//! Environment: `FIREHOSE_STREAM`, `ALERT_STATE_TABLE`, `ALERT_TOPIC_ARN`, optional
//! `DETECTIONS_CONFIG` (tuning TOML), `RUST_LOG`.
//! Failure: per-message batch item failures; retries never page twice (state is idempotent per row
//! and delivery is remembered per alert).

use tailwatch_detect::{handle, Config, Deps};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_current_span(true)
        .without_time()
        .init();
    let config = Config::from_env()?;
    let clients = tailwatch_aws::AwsClients::from_env().await;
    let deps = Deps::new(&config, &clients)?;
    lambda_runtime::run(lambda_runtime::service_fn(|event| handle(&deps, event))).await
}
