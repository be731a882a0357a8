//! Ports: one trait per outside thing the pipeline talks to. Each has a local implementation
//! (`tailwatch-local`, on disk) and an AWS one (`tailwatch-aws`). The traits are async (AWS calls
//! are) but core depends on no runtime: the futures run on whatever executor the shell uses.

use std::future::Future;

use serde::Serialize;

use crate::lake::{LakeRow, Table};
use crate::quarantine::QuarantineRow;
use crate::time::Timestamp;

/// An adapter failure, classified so the caller knows whether retrying can help.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{operation}: {message}")]
pub struct PortError {
    /// What was being done (`put raw batch raw/…`).
    pub operation: String,
    /// What went wrong.
    pub message: String,
    /// Whether the same call may succeed later (throttling, 5xx, timeouts).
    pub retryable: bool,
}

impl PortError {
    /// A failure worth retrying.
    pub fn retryable(operation: impl Into<String>, message: impl Into<String>) -> Self {
        PortError {
            operation: operation.into(),
            message: message.into(),
            retryable: true,
        }
    }
    /// A failure that will not go away by itself.
    pub fn permanent(operation: impl Into<String>, message: impl Into<String>) -> Self {
        PortError {
            operation: operation.into(),
            message: message.into(),
            retryable: false,
        }
    }
}

/// One serialized lake row, ready for a sink: table, partition time and the JSON text (one line,
/// no trailing newline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeRecord {
    /// Destination table.
    pub table: &'static Table,
    /// Event time: decides the `dt=/hour=` partition.
    pub event_time: Timestamp,
    /// The row as JSON.
    pub json: Vec<u8>,
}

impl LakeRecord {
    /// Serializes a Tailscale row as the lake stores it ([`LakeRow::write_lake_line`]).
    pub fn from_row(row: &LakeRow) -> Self {
        let mut json = Vec::with_capacity(512);
        row.write_lake_line(&mut json);
        json.pop();
        LakeRecord {
            table: row.table(),
            event_time: row.standard().p_event_time,
            json,
        }
    }

    /// Serializes any row of a given table.
    pub fn from_serialize<T: Serialize>(table: &'static Table, event_time: Timestamp, row: &T) -> Self {
        LakeRecord {
            table,
            event_time,
            json: serde_json::to_vec(row).unwrap_or_default(),
        }
    }

    /// Serializes a quarantine row.
    pub fn from_quarantine(row: &QuarantineRow) -> Self {
        Self::from_serialize(&crate::lake::TAILWATCH_QUARANTINE, row.p_event_time, row)
    }
}

/// Where accepted batches are stored, immutable, before anything else happens to them.
pub trait RawStore {
    /// Stores one batch (zstd NDJSON) under `key`. Must be durable when it returns `Ok`.
    fn put_raw(&self, key: &str, zstd_ndjson: Vec<u8>) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// Where lake rows go (Firehose in AWS, partitioned gzip files locally).
pub trait LakeSink {
    /// Writes rows. `batch` is a stable id of the batch they come from (the raw object's name):
    /// sinks that name files after it replace on a re-write instead of duplicating. On `Err`, none
    /// or some may have been written; callers retry the whole call and rely on `p_row_id`.
    fn put_rows(&self, batch: &str, records: Vec<LakeRecord>) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// One packed lake object: every row one raw batch produced for one table partition, as gzip NDJSON.
/// The body is one gzip member per chunk of rows, concatenated (RFC 1952 allows it; gzip, DuckDB,
/// Athena and Snowflake read the members as one stream), so the packer never holds more than one
/// chunk's uncompressed rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeObject {
    /// Destination table.
    pub table: &'static Table,
    /// `<table>/dt=YYYY-MM-DD/hour=HH/<batch stem>.json.gz`: named after the raw batch, so writing
    /// the same batch again replaces the object (exactly once, whatever the retries).
    pub key: String,
    /// Rows in it.
    pub rows: usize,
    /// Uncompressed NDJSON bytes in it.
    pub json_bytes: usize,
    /// The gzip body.
    pub body: Vec<u8>,
}

/// Where packed lake objects go (S3 `PutObject` into the lake bucket in AWS, files locally).
pub trait LakeWriter {
    /// Writes one object under its key, replacing any earlier object of that key.
    fn put_object(&self, object: LakeObject) -> impl Future<Output = Result<(), PortError>> + Send;

    /// False for a writer that keeps nothing (the detect function's: normalize writes the lake):
    /// the batch's rows are then neither serialized nor compressed at all.
    fn keeps_objects(&self) -> bool {
        true
    }
}

/// Where alert notifications go (SNS in AWS; stdout, the alerts file and webhooks locally).
pub trait AlertSink {
    /// A stable name, used to remember per sink which alerts were delivered.
    fn name(&self) -> &str;
    /// Delivers one alert. `Err` with `retryable` means "try again later"; the caller does not mark
    /// it delivered.
    fn deliver(&self, alert: &crate::engine::Alert) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// Where rejected values go.
pub trait QuarantineSink {
    /// Stores quarantine rows for `source` (the raw object or request they came from).
    fn put_quarantine(&self, source: &str, rows: &[QuarantineRow]) -> impl Future<Output = Result<(), PortError>> + Send;
}
