//! S3 adapters: the raw store, the quarantine sink, and object reads for normalize and detect.

use aws_sdk_s3::primitives::ByteStream;
use tailwatch_core::ports::{LakeObject, LakeRecord, LakeWriter, PortError, QuarantineSink, RawStore};
use tailwatch_core::quarantine::QuarantineRow;

use crate::classify;

/// Raw batches in the raw bucket, keys as core builds them (`raw/<source>/dt=…/….ndjson.zst`).
#[derive(Clone, Debug)]
pub struct S3RawStore {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3RawStore {
    /// A store writing to `bucket`.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        S3RawStore {
            client,
            bucket: bucket.into(),
        }
    }
}

impl RawStore for S3RawStore {
    async fn put_raw(&self, key: &str, zstd_ndjson: Vec<u8>) -> Result<(), PortError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/x-ndjson")
            .content_encoding("zstd")
            .body(ByteStream::from(zstd_ndjson))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(format!("put raw batch s3://{}/{key}", self.bucket), &e))
    }
}

/// Packed lake objects (`<table>/dt=…/hour=…/<raw batch>.json.gz`, gzip NDJSON) put straight into
/// the lake bucket by normalize: one `PutObject` per partition per raw batch, named after the batch,
/// so a retried message replaces its objects instead of adding copies.
#[derive(Clone, Debug)]
pub struct S3LakeWriter {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3LakeWriter {
    /// A writer into `bucket`.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        S3LakeWriter {
            client,
            bucket: bucket.into(),
        }
    }
}

impl LakeWriter for S3LakeWriter {
    async fn put_object(&self, object: LakeObject) -> Result<(), PortError> {
        // No Content-Encoding: the object *is* a .gz file; with `gzip` encoding some clients would
        // inflate it on download and then fail to read it as gzip.
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&object.key)
            .content_type("application/gzip")
            .body(ByteStream::from(object.body))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(format!("put lake object s3://{}/{}", self.bucket, object.key), &e))
    }
}

/// Quarantine rows as the `tailwatch_quarantine` table in the lake bucket
/// (`tailwatch_quarantine/dt=…/hour=…/<source name>.json.gz`), written directly, not through
/// Firehose, so a Firehose outage cannot lose the evidence of what was rejected.
#[derive(Clone, Debug)]
pub struct S3QuarantineSink {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3QuarantineSink {
    /// A sink writing to `bucket`.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        S3QuarantineSink {
            client,
            bucket: bucket.into(),
        }
    }
}

use tailwatch_core::pipeline::object_stem as stem;

impl QuarantineSink for S3QuarantineSink {
    async fn put_quarantine(&self, source: &str, rows: &[QuarantineRow]) -> Result<(), PortError> {
        // One object per partition; named after the source so a retry replaces, never duplicates.
        let mut groups: std::collections::BTreeMap<String, Vec<u8>> = std::collections::BTreeMap::new();
        for row in rows {
            let rec = LakeRecord::from_quarantine(row);
            let buf = groups.entry(rec.table.partition(&rec.event_time)).or_default();
            buf.extend_from_slice(&rec.json);
            buf.push(b'\n');
        }
        for (partition, ndjson) in groups {
            let key = format!("{partition}/{}.json.gz", stem(source));
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(&key)
                .content_type("application/x-ndjson")
                .body(ByteStream::from(tailwatch_core::wire::decode::gzip(&ndjson)))
                .send()
                .await
                .map_err(|e| classify(format!("put quarantine s3://{}/{key}", self.bucket), &e))?;
        }
        Ok(())
    }
}

/// Reads whole objects (raw batches, lake objects), refusing ones larger than a limit.
#[derive(Clone, Debug)]
pub struct S3Object {
    client: aws_sdk_s3::Client,
}

impl S3Object {
    /// A reader.
    pub fn new(client: aws_sdk_s3::Client) -> Self {
        S3Object { client }
    }

    /// Downloads `s3://bucket/key`, at most `max_bytes`.
    ///
    /// # Errors
    /// An SDK error (classified), or a permanent error for objects over the limit.
    pub async fn get(&self, bucket: &str, key: &str, max_bytes: usize) -> Result<Vec<u8>, PortError> {
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| classify(format!("get s3://{bucket}/{key}"), &e))?;
        if let Some(len) = out.content_length() {
            if usize::try_from(len).unwrap_or(usize::MAX) > max_bytes {
                return Err(PortError::permanent(
                    format!("get s3://{bucket}/{key}"),
                    format!("object is {len} bytes, over the {max_bytes}-byte limit"),
                ));
            }
        }
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| PortError::retryable(format!("read s3://{bucket}/{key}"), e.to_string()))?
            .into_bytes();
        Ok(bytes.to_vec())
    }
}
