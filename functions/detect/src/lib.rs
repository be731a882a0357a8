//! The detect function's handler: SQS messages carrying the raw bucket's S3 `ObjectCreated`
//! notifications (the same raw batches normalize gets, fanned out by the raw bucket's SNS topic) →
//! core's `process_batch`, which normalizes the batch in memory with the same code as normalize →
//! detections → DynamoDB state → SNS alerts, alert rows to the lake through Firehose; per-message
//! batch item failures. Firehose's buffer is not on the alert path: an alert is published seconds
//! after the POST, not after the lake's flush.

use std::cell::Cell;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use tailwatch_aws::{for_each_object, AwsClients, DynamoAlertState, FirehoseLakeSink, S3Object, SnsAlertSink};
use tailwatch_core::engine::{Registry, TuningConfig};
use tailwatch_core::pipeline::{process_batch, BatchReport, Detector, Discard, RawBatch};
use tailwatch_core::ports::PortError;
use tailwatch_core::rule::catalog::UserRules;
use tailwatch_core::time::Timestamp;
use tailwatch_core::wire::DecodeLimits;

/// Settings from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `FIREHOSE_STREAM`: alert rows go to the lake through it.
    pub firehose_stream: String,
    /// `ALERT_STATE_TABLE`: DynamoDB table.
    pub alert_state_table: String,
    /// `ALERT_TOPIC_ARN`: SNS topic.
    pub alert_topic_arn: String,
    /// `DETECTIONS_CONFIG`: tuning TOML (may be empty).
    pub detections_config: String,
}

fn required(name: &str) -> anyhow::Result<String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| anyhow::anyhow!("environment variable {name} is required (set by template.yaml)"))
}

impl Config {
    /// Reads the environment.
    ///
    /// # Errors
    /// A missing variable, named.
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Config {
            firehose_stream: required("FIREHOSE_STREAM")?,
            alert_state_table: required("ALERT_STATE_TABLE")?,
            alert_topic_arn: required("ALERT_TOPIC_ARN")?,
            detections_config: std::env::var("DETECTIONS_CONFIG").unwrap_or_default(),
        })
    }
}

/// The adapters and the registry, built once per cold start.
pub struct Deps {
    objects: S3Object,
    state: DynamoAlertState,
    sink: SnsAlertSink,
    lake: FirehoseLakeSink,
    registry: Registry,
    metrics: tailwatch_aws::MetricsOut,
}

impl Deps {
    /// Builds the adapters and the detection registry.
    ///
    /// # Errors
    /// A bad `DETECTIONS_CONFIG`, naming the key.
    pub fn new(config: &Config, clients: &AwsClients) -> anyhow::Result<Self> {
        let tuning = TuningConfig::from_toml_str(&config.detections_config)?;
        // The user's TOML rules, compiled in by `make build RULES=dir` (tailwatch-user), and Rust
        // detections (`RUST_DETECTIONS=dir`).
        let rules = UserRules::from_texts(tailwatch_user::TOML_RULES.iter().copied()).map_err(|errors| {
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            anyhow::anyhow!("bundled rules: {}", lines.join("; "))
        })?;
        let registry = Registry::build(&rules.definitions(tailwatch_user::DETECTIONS)?, &tuning)?;
        Ok(Deps {
            objects: S3Object::new(clients.s3.clone()),
            state: DynamoAlertState::new(clients.dynamodb.clone(), &config.alert_state_table),
            sink: SnsAlertSink::new(clients.sns.clone(), &config.alert_topic_arn),
            lake: FirehoseLakeSink::new(clients.firehose.clone(), &config.firehose_stream),
            registry,
            metrics: tailwatch_aws::MetricsOut::stdout(),
        })
    }

    /// Sends the EMF metric lines to `out` instead of stdout (tests capture them).
    #[must_use]
    pub fn with_metrics(mut self, out: tailwatch_aws::MetricsOut) -> Self {
        self.metrics = out;
        self
    }
}

/// Limits for a raw object: the same as normalize's, so both read every batch alike.
fn object_limits() -> DecodeLimits {
    DecodeLimits {
        max_decoded_bytes: 1 << 30,
        max_ratio: 1000,
        ..DecodeLimits::default()
    }
}

/// Largest raw object read (raw batches are ≤ 6 MiB compressed; exports are larger).
const MAX_OBJECT_BYTES: usize = 256 << 20;

/// Runs detections over one raw batch, normalized in memory (normalize writes its lake rows and
/// quarantine; here they are discarded).
///
/// # Errors
/// A retryable adapter failure: the message is retried, and nothing already delivered is re-sent.
/// An object that cannot be read for good has nothing to detect on (normalize quarantines it).
pub async fn process_object(deps: &Deps, bucket: &str, key: &str) -> Result<BatchReport, PortError> {
    let bytes = match deps.objects.get(bucket, key, MAX_OBJECT_BYTES).await {
        Ok(bytes) => bytes,
        Err(e) if !e.retryable => {
            tracing::warn!(key = %key, error = %e, "raw object cannot be read; nothing to detect on (normalize quarantines it)");
            return Ok(BatchReport::default());
        }
        Err(e) => return Err(e),
    };
    let batch = tailwatch_aws::batch_id(key);
    let input = RawBatch {
        bytes: &bytes,
        label: tailwatch_aws::source_label(key),
        file: key,
        batch: &batch,
        now: Timestamp::now(),
    };
    let detector = Detector {
        registry: &deps.registry,
        state: &deps.state,
        sink: &deps.sink,
        lake: &deps.lake,
    };
    // A raw batch was bounded by ingest and stored compressed: no ratio cap on reading it back.
    let limits = if key.starts_with("raw/") {
        DecodeLimits::own_raw_batch(DecodeLimits::default().max_decoded_bytes)
    } else {
        object_limits()
    };
    process_batch(input, &limits, &Discard, &Discard, &detector).await
}

/// Handles one SQS batch.
///
/// # Errors
/// Never: failures are reported per message.
pub async fn handle(deps: &Deps, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let (rows, alerts, delivered) = (Cell::new(0usize), Cell::new(0usize), Cell::new(0usize));
    let messages = event
        .payload
        .records
        .into_iter()
        .map(|m| (m.message_id.unwrap_or_default(), m.body.unwrap_or_default()));
    let failures = for_each_object(messages, |bucket, key| {
        let (rows, alerts, delivered) = (&rows, &alerts, &delivered);
        async move {
            let report = process_object(deps, &bucket, &key).await?;
            let d = &report.detect;
            rows.set(rows.get() + d.stats.rows);
            alerts.set(alerts.get() + d.alerts.len());
            delivered.set(delivered.get() + d.delivered);
            tracing::info!(key = %key, rows = d.stats.rows, matches = d.stats.matches, alerts = d.alerts.len(), delivered = d.delivered, "detected");
            Ok(())
        }
    })
    .await;
    tailwatch_aws::emit_metrics(
        &deps.metrics,
        "detect",
        &[
            ("RowsEvaluated", rows.get() as f64, "Count"),
            ("Alerts", alerts.get() as f64, "Count"),
            ("AlertsDelivered", delivered.get() as f64, "Count"),
            ("MessagesFailed", failures.len() as f64, "Count"),
        ],
    );
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    Ok(response)
}
