//! Packing rows into lake objects: one gzip NDJSON object per table partition per raw batch.
//!
//! Why objects and not one Firehose record per row: Firehose bills each record in 5 KB increments
//! and its dynamic partitioning needs uncompressed JSON, so rows through Firehose cost $0.049 per GB
//! of row JSON before anything else; a `PutObject` per partition per batch costs $0.005 per 1,000 and
//! carries gzip (docs/PERFORMANCE.md has the measured comparison). Objects named after the batch also
//! make a retry replace instead of duplicate.

use std::collections::BTreeMap;
use std::io::Write;

use crate::lake::{LakeRow, Table};
use crate::ports::{LakeObject, LakeRecord};

/// A filesystem- and S3-safe stem from a batch id: its last path segment without extensions.
pub fn object_stem(batch: &str) -> String {
    let last = batch.rsplit('/').next().unwrap_or(batch);
    let base = last.split('.').next().unwrap_or(last);
    let safe: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.is_empty() {
        crate::normalize::content_id(batch.as_bytes())
    } else {
        safe
    }
}

#[derive(Debug)]
struct Partition {
    table: &'static Table,
    rows: usize,
    json_bytes: usize,
    /// Finished gzip members.
    body: Vec<u8>,
    /// The rows of the current chunk, not yet compressed.
    pending: Vec<u8>,
}

/// Accumulates a batch's rows per partition, compressing a chunk at a time.
#[derive(Debug, Default)]
pub struct LakePacker {
    partitions: BTreeMap<String, Partition>,
}

impl LakePacker {
    /// An empty packer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one serialized row.
    pub fn push_record(&mut self, record: &LakeRecord) {
        let part = self
            .partitions
            .entry(record.table.partition(&record.event_time))
            .or_insert_with(|| Partition {
                table: record.table,
                rows: 0,
                json_bytes: 0,
                body: Vec::new(),
                pending: Vec::new(),
            });
        part.pending.extend_from_slice(&record.json);
        part.pending.push(b'\n');
        part.rows += 1;
        part.json_bytes += record.json.len() + 1;
    }

    /// Adds rows (serialized here).
    pub fn push_rows(&mut self, rows: &[LakeRow]) {
        for row in rows {
            self.push_record(&LakeRecord::from_row(row));
        }
    }

    /// Compresses what was pushed since the last seal into one gzip member per partition, so
    /// memory holds compressed bytes plus at most one chunk of JSON.
    pub fn seal_chunk(&mut self) {
        for part in self.partitions.values_mut() {
            if part.pending.is_empty() {
                continue;
            }
            let mut encoder = flate2::write::GzEncoder::new(std::mem::take(&mut part.body), flate2::Compression::fast());
            // Writing into a Vec cannot fail.
            let _ = encoder.write_all(&part.pending);
            part.body = encoder.finish().unwrap_or_default();
            part.pending.clear();
            part.pending.shrink_to(0);
        }
    }

    /// Rows pushed so far.
    pub fn rows(&self) -> usize {
        self.partitions.values().map(|p| p.rows).sum()
    }

    /// The objects, keyed `<partition>/<stem of batch>.json.gz`.
    pub fn finish(mut self, batch: &str) -> Vec<LakeObject> {
        self.seal_chunk();
        let stem = object_stem(batch);
        self.partitions
            .into_iter()
            .map(|(partition, p)| LakeObject {
                table: p.table,
                key: format!("{partition}/{stem}.json.gz"),
                rows: p.rows,
                json_bytes: p.json_bytes,
                body: p.body,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::TAILWATCH_QUARANTINE;
    use crate::time::Timestamp;

    fn record(time: &str, text: &str) -> LakeRecord {
        LakeRecord {
            table: &TAILWATCH_QUARANTINE,
            event_time: Timestamp::parse(time).unwrap(),
            json: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn rows_pack_per_partition_into_concatenated_gzip_members_that_read_back_whole() {
        let mut packer = LakePacker::new();
        packer.push_record(&record("2025-03-04T17:10:00Z", r#"{"a":1}"#));
        packer.push_record(&record("2025-03-01T03:00:00Z", r#"{"late":1}"#));
        packer.seal_chunk();
        packer.push_record(&record("2025-03-04T17:50:00Z", r#"{"a":2}"#));
        let objects = packer.finish("raw/x/dt=2025-03-04/hour=17/123-abc.ndjson.zst");
        let keys: Vec<_> = objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "tailwatch_quarantine/dt=2025-03-01/hour=03/123-abc.json.gz",
                "tailwatch_quarantine/dt=2025-03-04/hour=17/123-abc.json.gz"
            ]
        );
        let live = &objects[1];
        assert_eq!((live.rows, live.json_bytes), (2, 16));
        // Two members, one per chunk: a multi-member reader sees both.
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::MultiGzDecoder::new(&live.body[..]), &mut text).unwrap();
        assert_eq!(text, "{\"a\":1}\n{\"a\":2}\n");
        assert!(live.body.windows(3).filter(|w| w == &[0x1f, 0x8b, 0x08]).count() >= 2);
    }

    #[test]
    fn stems_are_safe_and_stable() {
        assert_eq!(object_stem("raw/x/dt=1/hour=2/17-a b.ndjson.zst"), "17-a_b");
        assert_eq!(object_stem("replay-0123"), "replay-0123");
        assert_eq!(object_stem(""), object_stem(""));
    }
}
