//! The normalize Lambda: SQS (S3 `ObjectCreated` on the raw bucket, also S3 test events) → read the
//! raw batch or Tailscale S3 export object → normalize → packed gzip lake objects (`LAKE_BUCKET`),
//! rejected values to `LAKE_BUCKET/tailwatch_quarantine/`.
//!
//! Environment: `RAW_BUCKET`, `LAKE_BUCKET`, `RUST_LOG`.
//! Failure: per-message batch item failures; a retryable failure returns the message to the queue
//! (and after N tries to the DLQ); re-processing replaces the objects it wrote (named after the batch).

use tailwatch_normalize::{handle, Config, Deps};

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
    let deps = Deps::new(&config, &clients);
    lambda_runtime::run(lambda_runtime::service_fn(|event| handle(&deps, event))).await
}
