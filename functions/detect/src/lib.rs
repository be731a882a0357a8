//! The detect function's handler: SQS messages carrying S3 `ObjectCreated` notifications for lake
//! objects (Firehose output, gzip NDJSON) → detections → DynamoDB state → SNS alerts, alert rows to
//! the lake through Firehose; per-message batch item failures.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use tailwatch_aws::{s3_objects, AwsClients, DynamoAlertState, FirehoseLakeSink, S3Object, SnsAlertSink};
use tailwatch_core::engine::{Registry, TuningConfig};
use tailwatch_core::pipeline::{detect, DetectReport, LakeObjectRows, CHUNK_ROWS};
use tailwatch_core::ports::PortError;
use tailwatch_core::rule::catalog::UserRules;
use tailwatch_core::time::Timestamp;
use tailwatch_core::wire::{decode_object, DecodeLimits};

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
        })
    }
}

/// Limits for a lake object: Firehose may or may not have compressed it (sniffed), and a
/// 64 MiB buffer of rows inflates far beyond a request body.
fn object_limits() -> DecodeLimits {
    DecodeLimits {
        max_decoded_bytes: 1 << 30,
        max_ratio: 1000,
        ..DecodeLimits::default()
    }
}

/// Runs detections over one lake object.
///
/// # Errors
/// A retryable adapter failure: the message is retried, and nothing already delivered is re-sent.
pub async fn process_object(deps: &Deps, bucket: &str, key: &str) -> Result<DetectReport, PortError> {
    let bytes = deps.objects.get(bucket, key, 512 << 20).await?;
    let body = match decode_object(&bytes, &object_limits()) {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(key = %key, error = %e, "lake object cannot be decoded; nothing to detect on");
            return Ok(DetectReport::default());
        }
    };
    // CHUNK_ROWS rows at a time: a Firehose object can hold 64 MiB of rows, and memory must not grow
    // with it. Stateful detections keep their running counts in the state store, so chunking does not
    // change what they see; a retried message re-runs every chunk and the state's per-row claims
    // make that idempotent.
    let now = Timestamp::now();
    let mut reader = LakeObjectRows::new(&body);
    let (mut report, mut bad) = (DetectReport::default(), 0);
    let mut rows = Vec::with_capacity(CHUNK_ROWS);
    loop {
        rows.clear();
        bad += reader.next_rows(CHUNK_ROWS, &mut rows);
        if rows.is_empty() {
            break;
        }
        let chunk = detect(&deps.registry, &rows, key, &deps.state, &deps.sink, &deps.lake, now).await?;
        report.stats.rows += chunk.stats.rows;
        report.stats.matches += chunk.stats.matches;
        report.stats.notifications += chunk.stats.notifications;
        report.alerts.extend(chunk.alerts);
        report.delivered += chunk.delivered;
    }
    if bad > 0 {
        tracing::error!(key = %key, bad_lines = bad, "lake object has lines that are not rows; they were skipped");
    }
    Ok(report)
}

/// Handles one SQS batch.
///
/// # Errors
/// Never: failures are reported per message.
pub async fn handle(deps: &Deps, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let mut failures = Vec::new();
    let (mut rows, mut alerts, mut delivered) = (0usize, 0usize, 0usize);
    for message in event.payload.records {
        let id = message.message_id.clone().unwrap_or_default();
        let objects = match s3_objects(message.body.as_deref().unwrap_or_default()) {
            Ok(Some(objects)) => objects,
            Ok(None) => continue,
            Err(e) => {
                tracing::error!(message_id = %id, error = %e, "unrecognized SQS message");
                failures.push(id);
                continue;
            }
        };
        for (bucket, key) in objects {
            match process_object(deps, &bucket, &key).await {
                Ok(report) => {
                    rows += report.stats.rows;
                    alerts += report.alerts.len();
                    delivered += report.delivered;
                    tracing::info!(key = %key, rows = report.stats.rows, matches = report.stats.matches, alerts = report.alerts.len(), delivered = report.delivered, "detected");
                }
                Err(e) => {
                    tracing::warn!(key = %key, error = %e, retryable = e.retryable, "detect failed; message will be retried");
                    failures.push(id.clone());
                    break;
                }
            }
        }
    }
    tailwatch_aws::emit_metrics(
        "detect",
        &[
            ("RowsEvaluated", rows as f64, "Count"),
            ("Alerts", alerts as f64, "Count"),
            ("AlertsDelivered", delivered as f64, "Count"),
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
