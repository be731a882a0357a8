//! Firehose lake sink: `PutRecordBatch` within Firehose's limits, retrying only the records that
//! failed, with jittered backoff.

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

const ATTEMPTS: u32 = 6;

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
        if let Some(big) = data.iter().find(|d| d.len() > FIREHOSE_MAX_RECORD_BYTES) {
            return Err(PortError::permanent(
                format!("put records to firehose {}", self.stream),
                format!("a record of {} bytes is over Firehose's 1000 KiB limit", big.len()),
            ));
        }
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
}
