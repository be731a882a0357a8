//! Firehose lake sink (alert rows): many rows packed into each record, `PutRecordBatch` within
//! Firehose's limits, retrying only the records that failed, with jittered backoff.
//!
//! Packing: Firehose bills each record rounded up to 5 KB, so one ~1 KB row per record was billed
//! five times over. A record here carries up to [`FIREHOSE_MAX_ROWS_PER_RECORD`] newline-terminated
//! rows (the stream's JSON deaggregation splits at most 500 objects out of one record) and at most
//! [`FIREHOSE_MAX_RECORD_BYTES`]; the stream deaggregates them before dynamic partitioning.

use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;
use tailwatch_core::ports::{LakeRecord, LakeSink, PortError};

use crate::{backoff, classify};

/// At most 500 records per `PutRecordBatch`.
pub const FIREHOSE_MAX_RECORDS: usize = 500;
/// At most 4 MiB per `PutRecordBatch`.
pub const FIREHOSE_MAX_BATCH_BYTES: usize = 4 << 20;
/// At most 1000 KiB per record (before base64).
pub const FIREHOSE_MAX_RECORD_BYTES: usize = 1000 << 10;

/// At most 500 JSON objects deaggregated from one record.
pub const FIREHOSE_MAX_ROWS_PER_RECORD: usize = 500;

const ATTEMPTS: u32 = 6;

/// Packs newline-terminated rows into records of at most [`FIREHOSE_MAX_ROWS_PER_RECORD`] rows and
/// [`FIREHOSE_MAX_RECORD_BYTES`] bytes, in order. A row over the byte limit on its own is returned
/// in `Err` (the caller's to quarantine).
///
/// # Errors
/// The size of the first row that cannot fit in any record.
pub fn pack_records(rows: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, usize> {
    let mut records = Vec::new();
    let (mut current, mut count) = (Vec::new(), 0);
    for row in rows {
        if row.len() > FIREHOSE_MAX_RECORD_BYTES {
            return Err(row.len());
        }
        if count == FIREHOSE_MAX_ROWS_PER_RECORD || current.len() + row.len() > FIREHOSE_MAX_RECORD_BYTES {
            records.push(std::mem::take(&mut current));
            count = 0;
        }
        current.extend_from_slice(row);
        count += 1;
    }
    if count > 0 {
        records.push(current);
    }
    Ok(records)
}

/// Rows into one Firehose delivery stream, which partitions them by table and event hour
/// (dynamic partitioning on `p_log_type` and `p_event_time`).
#[derive(Clone, Debug)]
pub struct FirehoseLakeSink {
    client: aws_sdk_firehose::Client,
    stream: String,
}

impl FirehoseLakeSink {
    /// A sink for `stream`.
    pub fn new(client: aws_sdk_firehose::Client, stream: impl Into<String>) -> Self {
        FirehoseLakeSink {
            client,
            stream: stream.into(),
        }
    }

    /// Splits records into `PutRecordBatch`-sized chunks (records over the per-record limit are
    /// the caller's to quarantine: see [`tailwatch_core::ports::LakeRecord`]).
    pub fn chunks(records: &[Vec<u8>]) -> Vec<std::ops::Range<usize>> {
        let mut out = Vec::new();
        let (mut start, mut bytes) = (0, 0);
        for (i, r) in records.iter().enumerate() {
            if i > start && (i - start == FIREHOSE_MAX_RECORDS || bytes + r.len() > FIREHOSE_MAX_BATCH_BYTES) {
                out.push(start..i);
                start = i;
                bytes = 0;
            }
            bytes += r.len();
        }
        if start < records.len() {
            out.push(start..records.len());
        }
        out
    }

    async fn put_chunk(&self, mut pending: Vec<Vec<u8>>) -> Result<(), PortError> {
        let op = || format!("put records to firehose {}", self.stream);
        for attempt in 0..ATTEMPTS {
            let records: Vec<Record> = pending
                .iter()
                .map(|d| Record::builder().data(Blob::new(d.clone())).build())
                .collect::<Result<_, _>>()
                .map_err(|e| PortError::permanent(op(), e.to_string()))?;
            let out = match self
                .client
                .put_record_batch()
                .delivery_stream_name(&self.stream)
                .set_records(Some(records))
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) => {
                    let err = classify(op(), &e);
                    if !err.retryable || attempt + 1 == ATTEMPTS {
                        return Err(err);
                    }
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
            };
            if out.failed_put_count() == 0 {
                return Ok(());
            }
            // Keep only the records whose response carries an error code, in order.
            let failed: Vec<Vec<u8>> = out
                .request_responses()
                .iter()
                .zip(pending.drain(..))
                .filter_map(|(resp, data)| resp.error_code().map(|_| data))
                .collect();
            tracing::warn!(stream = %self.stream, failed = failed.len(), attempt, "firehose partial failure; re-sending failed records");
            pending = failed;
            if pending.is_empty() {
                return Ok(());
            }
            if attempt + 1 < ATTEMPTS {
                tokio::time::sleep(backoff(attempt)).await;
            }
        }
        Err(PortError::retryable(
            op(),
            format!("{} record(s) still failing after {ATTEMPTS} attempts", pending.len()),
        ))
    }
}

impl LakeSink for FirehoseLakeSink {
    async fn put_rows(&self, _batch: &str, records: Vec<LakeRecord>) -> Result<(), PortError> {
        // Newline-terminated: the delivery stream concatenates records into NDJSON objects.
        let data: Vec<Vec<u8>> = records
            .into_iter()
            .map(|r| {
                let mut d = r.json;
                d.push(b'\n');
                d
            })
            .collect();
        let data = pack_records(&data).map_err(|big| {
            PortError::permanent(
                format!("put records to firehose {}", self.stream),
                format!("a row of {big} bytes is over Firehose's 1000 KiB record limit"),
            )
        })?;
        for range in Self::chunks(&data) {
            self.put_chunk(data[range].to_vec()).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_respect_count_and_size_limits() {
        let small = vec![vec![b'x'; 100]; 1201];
        let c = FirehoseLakeSink::chunks(&small);
        assert_eq!(c.iter().map(|r| r.len()).collect::<Vec<_>>(), vec![500, 500, 201]);
        let big = vec![vec![b'x'; 900 << 10]; 10];
        let c = FirehoseLakeSink::chunks(&big);
        assert!(c.iter().all(|r| r.len() <= 4), "{c:?}");
        assert_eq!(c.iter().map(|r| r.len()).sum::<usize>(), 10);
        assert!(FirehoseLakeSink::chunks(&[]).is_empty());
    }

    #[test]
    fn rows_pack_into_records_of_at_most_500_rows_and_1000_kib() {
        let rows = vec![b"{\"a\":1}\n".to_vec(); 1201];
        let records = pack_records(&rows).unwrap();
        assert_eq!(records.iter().map(|r| r.len() / 8).collect::<Vec<_>>(), vec![500, 500, 201]);
        assert_eq!(records.concat(), rows.concat(), "order and bytes kept");
        let big = vec![vec![b'x'; 400 << 10]; 5];
        let records = pack_records(&big).unwrap();
        assert_eq!(records.len(), 3);
        assert!(records.iter().all(|r| r.len() <= FIREHOSE_MAX_RECORD_BYTES));
        assert_eq!(pack_records(&[vec![b'x'; 1001 << 10]]), Err(1001 << 10));
        assert!(pack_records(&[]).unwrap().is_empty());
    }
}
