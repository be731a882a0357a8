//! The normalize function's handler: SQS messages carrying S3 `ObjectCreated` notifications for
//! raw batches (and Tailscale's own S3 export objects), fanned out by the raw bucket's SNS topic →
//! core's `process_batch` → packed gzip lake objects put straight into the lake bucket (one per
//! table partition per batch, named after it), rejected values to `tailwatch_quarantine/`, and
//! per-message batch item failures so one bad object never blocks or re-runs the rest.

use std::cell::Cell;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use tailwatch_aws::{batch_id, for_each_object, source_label, AwsClients, S3LakeWriter, S3Object, S3QuarantineSink};
use tailwatch_core::pipeline::{process_batch, BatchReport, NoDetect, RawBatch};
use tailwatch_core::ports::{PortError, QuarantineSink};
use tailwatch_core::quarantine::{Origin, QuarantineRow, ReasonCode};
use tailwatch_core::time::Timestamp;
use tailwatch_core::wire::DecodeLimits;

/// Settings from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `LAKE_BUCKET`: lake objects and quarantine rows.
    pub lake_bucket: String,
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
        // RAW_BUCKET is checked so a mis-wired deployment fails at cold start, not per message.
        required("RAW_BUCKET")?;
        Ok(Config {
            lake_bucket: required("LAKE_BUCKET")?,
        })
    }
}

/// The adapters, built once per cold start.
pub struct Deps {
    objects: S3Object,
    lake: S3LakeWriter,
    quarantine: S3QuarantineSink,
    limits: DecodeLimits,
    metrics: tailwatch_aws::MetricsOut,
}

/// Largest raw object read (raw batches are ≤ 6 MiB compressed; exports are larger).
const MAX_OBJECT_BYTES: usize = 256 << 20;

impl Deps {
    /// Builds the adapters.
    pub fn new(config: &Config, clients: &AwsClients) -> Self {
        Deps {
            objects: S3Object::new(clients.s3.clone()),
            lake: S3LakeWriter::new(clients.s3.clone(), &config.lake_bucket),
            quarantine: S3QuarantineSink::new(clients.s3.clone(), &config.lake_bucket),
            limits: DecodeLimits {
                max_decoded_bytes: 1 << 30,
                max_ratio: 1000,
                ..DecodeLimits::default()
            },
            metrics: tailwatch_aws::MetricsOut::stdout(),
        }
    }

    /// Sends the EMF metric lines to `out` instead of stdout (tests capture them).
    #[must_use]
    pub fn with_metrics(mut self, out: tailwatch_aws::MetricsOut) -> Self {
        self.metrics = out;
        self
    }
}

/// Normalizes one object into the lake.
///
/// # Errors
/// A retryable adapter failure (the message is retried). Permanent problems with the object are
/// quarantined with their reason instead, and the message succeeds.
pub async fn process_object(deps: &Deps, bucket: &str, key: &str) -> Result<BatchReport, PortError> {
    let now = Timestamp::now();
    let label = source_label(key);
    let batch = batch_id(key);
    let bytes = match deps.objects.get(bucket, key, MAX_OBJECT_BYTES).await {
        Ok(b) => b,
        Err(e) if !e.retryable => {
            let row = QuarantineRow::new(
                Origin { label, file: key },
                now,
                ReasonCode::ObjectUnreadable,
                format!("object s3://{bucket}/{key} could not be read: {e}"),
                None,
                0,
                0,
                b"",
            );
            deps.quarantine.put_quarantine(&batch, std::slice::from_ref(&row)).await?;
            return Ok(BatchReport {
                quarantined: vec![row],
                ..BatchReport::default()
            });
        }
        Err(e) => return Err(e),
    };
    let input = RawBatch {
        bytes: &bytes,
        label,
        file: key,
        batch: &batch,
        now,
    };
    // A raw batch was bounded by ingest and stored compressed: no ratio cap on reading it back.
    let limits = if key.starts_with("raw/") {
        DecodeLimits::own_raw_batch(DecodeLimits::default().max_decoded_bytes)
    } else {
        deps.limits
    };
    process_batch(input, &limits, &deps.lake, &deps.quarantine, &NoDetect).await
}

/// Handles one SQS batch.
///
/// # Errors
/// Never: failures are reported per message.
pub async fn handle(deps: &Deps, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let (rows, quarantined, objects) = (Cell::new(0usize), Cell::new(0usize), Cell::new(0usize));
    let messages = event
        .payload
        .records
        .into_iter()
        .map(|m| (m.message_id.unwrap_or_default(), m.body.unwrap_or_default()));
    let failures = for_each_object(messages, |bucket, key| {
        let (rows, quarantined, objects) = (&rows, &quarantined, &objects);
        async move {
            let report = process_object(deps, &bucket, &key).await?;
            let r: usize = report.rows.values().sum();
            rows.set(rows.get() + r);
            quarantined.set(quarantined.get() + report.quarantined.len());
            objects.set(objects.get() + report.lake_objects);
            tracing::info!(key = %key, rows = r, quarantined = report.quarantined.len(), lake_objects = report.lake_objects, json_bytes = report.lake_json_bytes, gzip_bytes = report.lake_gzip_bytes, "normalized");
            Ok(())
        }
    })
    .await;
    tailwatch_aws::emit_metrics(
        &deps.metrics,
        "normalize",
        &[
            ("RowsWritten", rows.get() as f64, "Count"),
            ("LakeObjectsWritten", objects.get() as f64, "Count"),
            ("RecordsQuarantined", quarantined.get() as f64, "Count"),
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
