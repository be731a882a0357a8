//! The normalize function's handler: SQS messages carrying S3 `ObjectCreated` notifications for
//! raw batches (and Tailscale's own S3 export objects) → lake rows through Firehose, rejected
//! values to `tailwatch_quarantine/`, and per-message batch item failures so one bad object never
//! blocks or re-runs the rest.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use tailwatch_aws::{s3_objects, AwsClients, FirehoseLakeSink, S3Object, S3QuarantineSink, FIREHOSE_MAX_RECORD_BYTES};
use tailwatch_core::normalize::SourceContext;
use tailwatch_core::pipeline::{normalize_chunks, undecodable, CHUNK_ROWS};
use tailwatch_core::ports::{LakeRecord, LakeSink, PortError, QuarantineSink};
use tailwatch_core::quarantine::{Origin, QuarantineRow, ReasonCode};
use tailwatch_core::time::Timestamp;
use tailwatch_core::wire::{decode_object, DecodeLimits};

/// Settings from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `LAKE_BUCKET`: quarantine rows.
    pub lake_bucket: String,
    /// `FIREHOSE_STREAM`: the delivery stream into the lake.
    pub firehose_stream: String,
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
            firehose_stream: required("FIREHOSE_STREAM")?,
        })
    }
}

/// The adapters, built once per cold start.
pub struct Deps {
    objects: S3Object,
    lake: FirehoseLakeSink,
    quarantine: S3QuarantineSink,
    limits: DecodeLimits,
}

/// Largest raw object read (raw batches are ≤ 6 MiB compressed; exports are larger).
const MAX_OBJECT_BYTES: usize = 256 << 20;

impl Deps {
    /// Builds the adapters.
    pub fn new(config: &Config, clients: &AwsClients) -> Self {
        Deps {
            objects: S3Object::new(clients.s3.clone()),
            lake: FirehoseLakeSink::new(clients.firehose.clone(), &config.firehose_stream),
            quarantine: S3QuarantineSink::new(clients.s3.clone(), &config.lake_bucket),
            limits: DecodeLimits {
                max_decoded_bytes: 1 << 30,
                max_ratio: 1000,
                ..DecodeLimits::default()
            },
        }
    }
}

/// `raw/<source>/…` → `<source>`; anything else is Tailscale's own export.
fn source_label(key: &str) -> &str {
    match key.strip_prefix("raw/").and_then(|rest| rest.split('/').next()) {
        Some(source) if !source.is_empty() && !source.starts_with("dt=") => source,
        _ => "tailscale-s3-export",
    }
}

/// Normalizes one object into the lake.
///
/// # Errors
/// A retryable adapter failure (the message is retried). Permanent problems with the object are
/// quarantined with their reason instead, and the message succeeds.
pub async fn process_object(deps: &Deps, bucket: &str, key: &str) -> Result<(usize, usize), PortError> {
    let now = Timestamp::now();
    let label = source_label(key);
    let origin = Origin { label, file: key };
    let bytes = match deps.objects.get(bucket, key, MAX_OBJECT_BYTES).await {
        Ok(b) => b,
        Err(e) if !e.retryable => {
            let row = QuarantineRow::new(
                origin,
                now,
                ReasonCode::RecordTooLarge,
                format!("object s3://{bucket}/{key} could not be read: {e}"),
                None,
                0,
                0,
                b"",
            );
            deps.quarantine.put_quarantine(key, &[row]).await?;
            return Ok((0, 1));
        }
        Err(e) => return Err(e),
    };
    let ctx = SourceContext {
        label,
        file: key,
        parse_time: now,
    };
    let body = match decode_object(&bytes, &deps.limits) {
        Ok(body) => body,
        Err(e) => {
            let outcome = undecodable(&e, &bytes, &ctx);
            deps.quarantine.put_quarantine(key, &outcome.quarantined).await?;
            return Ok((0, outcome.quarantined.len()));
        }
    };
    // A chunk at a time: memory stays bounded by CHUNK_ROWS rows whatever the object's size. A
    // failure after some chunks were sent fails the message; its retry sends them again, and the lake
    // keeps both copies under the same p_row_id (at least once, never lost).
    let (mut rows, mut quarantined) = (0, Vec::new());
    for chunk in normalize_chunks(&body, &ctx, CHUNK_ROWS) {
        let mut records = Vec::with_capacity(chunk.rows.len());
        for row in chunk.rows {
            let record = LakeRecord::from_row(&row);
            if record.json.len() + 1 > FIREHOSE_MAX_RECORD_BYTES {
                quarantined.push(QuarantineRow::new(
                    origin,
                    now,
                    ReasonCode::RecordTooLarge,
                    format!("row of {} bytes is over Firehose's 1000 KiB record limit", record.json.len()),
                    None,
                    0,
                    0,
                    &record.json,
                ));
            } else {
                records.push(record);
            }
        }
        rows += records.len();
        if !records.is_empty() {
            deps.lake.put_rows(key, records).await?;
        }
        quarantined.extend(chunk.quarantined);
    }
    if !quarantined.is_empty() {
        deps.quarantine.put_quarantine(key, &quarantined).await?;
    }
    Ok((rows, quarantined.len()))
}

/// Handles one SQS batch.
///
/// # Errors
/// Never: failures are reported per message.
pub async fn handle(deps: &Deps, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let mut failures = Vec::new();
    let (mut rows, mut quarantined) = (0usize, 0usize);
    for message in event.payload.records {
        let id = message.message_id.clone().unwrap_or_default();
        let objects = match s3_objects(message.body.as_deref().unwrap_or_default()) {
            Ok(Some(objects)) => objects,
            Ok(None) => continue,
            Err(e) => {
                // Not an S3 notification: retrying cannot help; the DLQ keeps it for a human.
                tracing::error!(message_id = %id, error = %e, "unrecognized SQS message");
                failures.push(id);
                continue;
            }
        };
        for (bucket, key) in objects {
            match process_object(deps, &bucket, &key).await {
                Ok((r, q)) => {
                    rows += r;
                    quarantined += q;
                    tracing::info!(key = %key, rows = r, quarantined = q, "normalized");
                }
                Err(e) => {
                    tracing::warn!(key = %key, error = %e, retryable = e.retryable, "normalize failed; message will be retried");
                    failures.push(id.clone());
                    break;
                }
            }
        }
    }
    tailwatch_aws::emit_metrics(
        "normalize",
        &[
            ("RowsWritten", rows as f64, "Count"),
            ("RecordsQuarantined", quarantined as f64, "Count"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_labels_come_from_the_key() {
        assert_eq!(
            source_label("raw/tailscale-http/dt=2025-03-04/hour=17/x.ndjson.zst"),
            "tailscale-http"
        );
        assert_eq!(
            source_label("raw/tailscale-s3-export/2025/03/04/x.ndjson.gz"),
            "tailscale-s3-export"
        );
        assert_eq!(source_label("exports/2025/03/04/x.ndjson"), "tailscale-s3-export");
    }
}
