//! # tailwatch-aws
//!
//! tailwatch-core's ports implemented with the AWS SDK: [`S3RawStore`], [`S3QuarantineSink`],
//! [`FirehoseLakeSink`], [`DynamoAlertState`], [`SnsAlertSink`] and [`SecretsTokenSource`]. Clients
//! are built once per cold start from `aws-config` ([`AwsClients::from_env`]), so `AWS_ENDPOINT_URL`
//! points every one of them at an emulator in tests. One HTTP/TLS stack (the SDK's default hyper +
//! rustls client), no OpenSSL.
//!
//! Every SDK error is classified as retryable (throttling, 5xx, timeouts, connection failures) or
//! permanent ([`classify`]): that decides between an SQS retry and a quarantine.

mod dynamodb;
mod firehose;
mod s3;
mod secrets;
mod sns;
mod sqs;

pub use dynamodb::DynamoAlertState;
pub use firehose::{
    pack_records, FirehoseLakeSink, FIREHOSE_MAX_BATCH_BYTES, FIREHOSE_MAX_RECORDS, FIREHOSE_MAX_RECORD_BYTES, FIREHOSE_MAX_ROWS_PER_RECORD,
};
pub use s3::{S3LakeWriter, S3Object, S3QuarantineSink, S3RawStore};
pub use secrets::SecretsTokenSource;
pub use sns::SnsAlertSink;
pub use sqs::for_each_object;

use aws_config::BehaviorVersion;
use tailwatch_core::ports::PortError;

/// The SDK clients a function needs, built once per cold start.
#[derive(Clone, Debug)]
pub struct AwsClients {
    /// S3.
    pub s3: aws_sdk_s3::Client,
    /// Firehose.
    pub firehose: aws_sdk_firehose::Client,
    /// SNS.
    pub sns: aws_sdk_sns::Client,
    /// DynamoDB.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// Secrets Manager.
    pub secrets: aws_sdk_secretsmanager::Client,
}

impl AwsClients {
    /// Loads the AWS config from the environment (region, credentials, `AWS_ENDPOINT_URL`) and
    /// builds every client. S3 uses path-style addressing when an endpoint override is set
    /// (emulators do not serve virtual-hosted buckets) or `S3_FORCE_PATH_STYLE=true`.
    pub async fn from_env() -> Self {
        Self::with_endpoint(None).await
    }

    /// As [`AwsClients::from_env`], with an explicit endpoint override (tests put a proxy there).
    pub async fn with_endpoint(endpoint: Option<&str>) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(url) = endpoint {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        let path_style = endpoint.is_some()
            || std::env::var_os("AWS_ENDPOINT_URL").is_some()
            || std::env::var("S3_FORCE_PATH_STYLE").is_ok_and(|v| v == "true");
        let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&config).force_path_style(path_style).build());
        AwsClients {
            s3,
            firehose: aws_sdk_firehose::Client::new(&config),
            sns: aws_sdk_sns::Client::new(&config),
            // A per-service endpoint from the environment (`AWS_ENDPOINT_URL_DYNAMODB`) would win
            // over the loader's, so an explicit endpoint is set on the service's config too.
            dynamodb: aws_sdk_dynamodb::Client::from_conf(match endpoint {
                Some(url) => aws_sdk_dynamodb::config::Builder::from(&config).endpoint_url(url).build(),
                None => aws_sdk_dynamodb::config::Builder::from(&config).build(),
            }),
            secrets: aws_sdk_secretsmanager::Client::new(&config),
        }
    }
}

/// Classifies an SDK error: throttling, 5xx, timeouts and connection failures are retryable;
/// everything else (access denied, missing bucket, validation) is permanent.
pub fn classify<E>(operation: impl Into<String>, err: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> PortError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_s3::error::SdkError;
    let operation = operation.into();
    let message = match err.as_service_error() {
        Some(e) => format!("{}: {}", e.code().unwrap_or("error"), e.message().unwrap_or("no message")),
        None => format!("{err}"),
    };
    let retryable = match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            let status = service.raw().status().as_u16();
            status >= 500
                || status == 429
                || code.contains("Throttl")
                || code.contains("ProvisionedThroughputExceeded")
                || code == "RequestLimitExceeded"
                || code == "ServiceUnavailable"
                || code == "SlowDown"
                || code == "InternalError"
        }
        _ => false,
    };
    PortError {
        operation,
        message,
        retryable,
    }
}

/// Jittered exponential backoff: attempt 0 → ~50 ms, doubling, capped at 5 s.
pub(crate) fn backoff(attempt: u32) -> std::time::Duration {
    let base = 50u64.saturating_mul(1 << attempt.min(7)).min(5_000);
    // Jitter from the clock's nanoseconds: no RNG dependency, and enough to de-synchronize retries.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    std::time::Duration::from_millis(base / 2 + u64::from(nanos) % (base / 2 + 1))
}

/// Where a function's EMF metric lines go: stdout (which Lambda ships to CloudWatch Logs, where
/// they become metrics) unless a test gives another writer to capture them.
#[derive(Clone, Default)]
pub struct MetricsOut(Option<std::sync::Arc<std::sync::Mutex<dyn std::io::Write + Send>>>);

impl MetricsOut {
    /// Standard output (what the functions use).
    pub fn stdout() -> Self {
        MetricsOut(None)
    }

    /// Any writer (tests capture the lines).
    pub fn to(writer: impl std::io::Write + Send + 'static) -> Self {
        MetricsOut(Some(std::sync::Arc::new(std::sync::Mutex::new(writer))))
    }
}

impl std::fmt::Debug for MetricsOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "MetricsOut(writer)"
        } else {
            "MetricsOut(stdout)"
        })
    }
}

/// Writes one CloudWatch Embedded Metric Format line to `out`: the metrics become CloudWatch
/// metrics in the `tailwatch` namespace with a `function` dimension, with no API call and no extra
/// latency. A failed write is ignored (metrics never fail an invocation).
///
/// What a line carries, and all it may carry (no token, header, object key, id or other value
/// from a request): `_aws` (timestamp, namespace, the `function` dimension, the metric names and
/// units), `function` (the function's fixed name) and one number per metric, each under its fixed
/// name. `tests/aws/tests/logs.rs` and this module's tests check it.
pub fn emit_metrics(out: &MetricsOut, function: &str, metrics: &[(&str, f64, &str)]) {
    let _ = match &out.0 {
        None => write_metrics(&mut std::io::stdout().lock(), function, metrics),
        Some(w) => write_metrics(&mut *w.lock().unwrap_or_else(std::sync::PoisonError::into_inner), function, metrics),
    };
}

/// Writes one EMF line (see [`emit_metrics`]) to `out`.
///
/// # Errors
/// The writer's.
pub fn write_metrics(out: &mut (impl std::io::Write + ?Sized), function: &str, metrics: &[(&str, f64, &str)]) -> std::io::Result<()> {
    let mut doc = serde_json::Map::new();
    let definitions: Vec<serde_json::Value> = metrics
        .iter()
        .map(|(name, _, unit)| serde_json::json!({ "Name": name, "Unit": unit }))
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    doc.insert(
        "_aws".into(),
        serde_json::json!({ "Timestamp": now, "CloudWatchMetrics": [{ "Namespace": "tailwatch", "Dimensions": [["function"]], "Metrics": definitions }] }),
    );
    doc.insert("function".into(), function.into());
    for (name, value, _) in metrics {
        doc.insert((*name).into(), serde_json::json!(value));
    }
    writeln!(out, "{}", serde_json::Value::Object(doc))?;
    out.flush()
}

/// S3 objects named in one SQS message body (an S3 event notification): (bucket, decoded key)
/// pairs, or `None` for S3's `s3:TestEvent`, sent when a notification is configured.
///
/// # Errors
/// A body that is neither.
pub fn s3_objects(body: &str) -> Result<Option<Vec<(String, String)>>, String> {
    let mut v: serde_json::Value = serde_json::from_str(body).map_err(|e| format!("SQS body is not JSON: {e}"))?;
    // Through the raw bucket's SNS fan-out without raw message delivery, the S3 event is the SNS
    // envelope's `Message` string.
    if v.get("Type").and_then(|t| t.as_str()) == Some("Notification") {
        let message = v.get("Message").and_then(|m| m.as_str()).unwrap_or_default();
        v = serde_json::from_str(message).map_err(|e| format!("SNS message is not JSON: {e}"))?;
    }
    if v.get("Event").and_then(|e| e.as_str()) == Some("s3:TestEvent") {
        return Ok(None);
    }
    let records = v
        .get("Records")
        .and_then(|r| r.as_array())
        .ok_or("SQS body is not an S3 event notification (no Records)")?;
    let mut out = Vec::new();
    for r in records {
        let bucket = r
            .pointer("/s3/bucket/name")
            .and_then(|b| b.as_str())
            .ok_or("S3 record without s3.bucket.name")?;
        let key = r
            .pointer("/s3/object/key")
            .and_then(|k| k.as_str())
            .ok_or("S3 record without s3.object.key")?;
        out.push((bucket.to_owned(), decode_s3_key(key)));
    }
    Ok(Some(out))
}

/// Decodes an S3 event notification key (URL-encoded, `+` for spaces).
pub fn decode_s3_key(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'+' {
            out.push(b' ');
        } else if b == b'%' && i + 3 <= bytes.len() {
            match std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(decoded) => {
                    out.push(decoded);
                    i += 2;
                }
                None => out.push(b),
            }
        } else {
            out.push(b);
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_notifications_and_test_events() {
        let body = r#"{"Records":[{"s3":{"bucket":{"name":"b"},"object":{"key":"raw/tailscale-http/dt%3D2025-03-04/a+b.ndjson.zst"}}}]}"#;
        assert_eq!(
            s3_objects(body).unwrap(),
            Some(vec![("b".into(), "raw/tailscale-http/dt=2025-03-04/a b.ndjson.zst".into())])
        );
        assert_eq!(
            s3_objects(r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#).unwrap(),
            None
        );
        assert!(s3_objects("{}").is_err());
        assert!(s3_objects("nope").is_err());
    }

    #[test]
    fn s3_keys_are_url_decoded() {
        assert_eq!(
            decode_s3_key("raw/a+b/dt%3D2025-03-04/x.ndjson.zst"),
            "raw/a b/dt=2025-03-04/x.ndjson.zst"
        );
        assert_eq!(decode_s3_key("100%"), "100%");
        assert_eq!(decode_s3_key("%zz%4"), "%zz%4");
    }
}

/// `raw/<source>/…` → `<source>`; anything else is Tailscale's own export.
pub fn source_label(key: &str) -> &str {
    match key.strip_prefix("raw/").and_then(|rest| rest.split('/').next()) {
        Some(source) if !source.is_empty() && !source.starts_with("dt=") => source,
        _ => "tailscale-s3-export",
    }
}

/// The batch id of a raw object: the key of a raw batch (its last segment is unique per request);
/// for an export object, whose file names may repeat across folders, its stem plus a hash of the key.
pub fn batch_id(key: &str) -> String {
    if key.starts_with("raw/") && source_label(key) != "tailscale-s3-export" {
        key.to_owned()
    } else {
        let id = tailwatch_core::normalize::content_id(key.as_bytes());
        format!("{}-{}", tailwatch_core::pipeline::object_stem(key), &id[..12])
    }
}

#[cfg(test)]
mod raw_key_tests {
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

    #[test]
    fn batch_ids_are_the_raw_key_or_a_unique_export_name() {
        let raw = "raw/tailscale-http/dt=2025-03-04/hour=17/1741108869412-abc.ndjson.zst";
        assert_eq!(batch_id(raw), raw);
        let a = batch_id("exports/a/log.ndjson.gz");
        let b = batch_id("exports/b/log.ndjson.gz");
        assert!(a.starts_with("log-") && b.starts_with("log-") && a != b, "{a} {b}");
    }
}

#[cfg(test)]
mod metrics_tests {
    use super::*;

    #[test]
    fn an_emf_line_carries_only_fixed_names_and_numbers() {
        let mut out = Vec::new();
        write_metrics(
            &mut out,
            "ingest",
            &[("RecordsAccepted", 15.0, "Count"), ("BytesReceived", 1234.0, "Bytes")],
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["BytesReceived", "RecordsAccepted", "_aws", "function"]);
        assert_eq!(v["function"], "ingest");
        assert_eq!(v["RecordsAccepted"], 15.0);
        assert!(v["_aws"]["Timestamp"].is_u64());
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"],
            serde_json::json!([{ "Namespace": "tailwatch", "Dimensions": [["function"]], "Metrics": [
                { "Name": "RecordsAccepted", "Unit": "Count" }, { "Name": "BytesReceived", "Unit": "Bytes" }] }])
        );
        // The injectable writer gets the same line.
        let captured = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Shared {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        emit_metrics(&MetricsOut::to(Shared(captured.clone())), "ingest", &[("Rejected", 1.0, "Count")]);
        let line = String::from_utf8(captured.lock().unwrap().clone()).unwrap();
        assert!(line.ends_with('\n') && line.contains(r#""Rejected":1.0"#), "{line}");
    }
}
