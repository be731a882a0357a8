//! Packing rows into lake objects: one gzip NDJSON object per table partition per raw batch.
//!
//! Why objects and not one Firehose record per row: Firehose bills each record in 5 KB increments
//! and its dynamic partitioning needs uncompressed JSON, so rows through Firehose cost $0.049 per GB
//! of row JSON before anything else; a `PutObject` per partition per batch costs $0.005 per 1,000 and
//! carries gzip (docs/PERFORMANCE.md has the measured comparison). Objects named after the batch also
//! make a retry replace instead of duplicate.

use std::collections::BTreeMap;
use std::io::Write;

use crate::lake::{LakeRow, NodeDirectory, Table, TAILSCALE_NODES};
use crate::ports::{LakeObject, LakeRecord};
use crate::time::Timestamp;

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
    /// `tailscale_network` partitions: the nodes their rows name, written to `tailscale_nodes`.
    nodes: NodeDirectory,
}

impl Partition {
    fn new(table: &'static Table) -> Self {
        Partition {
            table,
            rows: 0,
            json_bytes: 0,
            body: Vec::new(),
            pending: Vec::new(),
            nodes: NodeDirectory::new(),
        }
    }
}

/// A partition key that sorts like `<table>/dt=…/hour=…` without formatting it for every row: the
/// table name and the hour since the epoch.
type PartitionKey = (&'static str, i64);

fn partition_key(table: &'static Table, event_time: &Timestamp) -> PartitionKey {
    (table.name, event_time.unix_nanos().div_euclid(3_600_000_000_000))
}

/// Accumulates a batch's rows per partition, compressing a chunk at a time. Network rows' node
/// facts go to one `tailscale_nodes` object per network partition (one row per node, see
/// [`NodeDirectory`]) instead of onto every connection row.
#[derive(Debug, Default)]
pub struct LakePacker {
    partitions: BTreeMap<PartitionKey, Partition>,
    /// The partition of the last row pushed (rows of a record share it).
    last: Option<PartitionKey>,
}

impl LakePacker {
    /// An empty packer.
    pub fn new() -> Self {
        Self::default()
    }

    fn partition(&mut self, table: &'static Table, event_time: &Timestamp) -> &mut Partition {
        let key = partition_key(table, event_time);
        self.last = Some(key);
        self.partitions.entry(key).or_insert_with(|| Partition::new(table))
    }

    /// Adds one serialized row.
    pub fn push_record(&mut self, record: &LakeRecord) {
        let part = self.partition(record.table, &record.event_time);
        part.pending.extend_from_slice(&record.json);
        part.pending.push(b'\n');
        part.rows += 1;
        part.json_bytes += record.json.len() + 1;
    }

    /// Adds rows, serialized straight into their partition's chunk as the lake stores them
    /// ([`LakeRow::write_lake_line`]); network rows' nodes are noted for `tailscale_nodes`.
    pub fn push_rows(&mut self, rows: &[LakeRow]) {
        for row in rows {
            let table = row.table();
            let event_time = row.standard().p_event_time;
            let key = partition_key(table, &event_time);
            let part = match self.last {
                Some(last) if last == key => self.partitions.get_mut(&key),
                _ => None,
            };
            let part = match part {
                Some(p) => p,
                None => self.partition(table, &event_time),
            };
            let before = part.pending.len();
            row.write_lake_line(&mut part.pending);
            part.rows += 1;
            part.json_bytes += part.pending.len() - before;
            if let LakeRow::Network(r) = row {
                part.nodes.observe(r);
            }
        }
    }

    /// Compresses what was pushed since the last seal into one gzip member per partition, so
    /// memory holds compressed bytes plus at most one chunk of JSON.
    pub fn seal_chunk(&mut self) {
        for part in self.partitions.values_mut() {
            seal(part);
        }
    }

    /// Rows pushed so far (node rows are made by [`LakePacker::finish`]).
    pub fn rows(&self) -> usize {
        self.partitions.values().map(|p| p.rows).sum()
    }

    /// The objects, keyed `<partition>/<stem of batch>.json.gz`: one per table partition, plus one
    /// `tailscale_nodes` object per `tailscale_network` partition.
    pub fn finish(mut self, batch: &str) -> Vec<LakeObject> {
        let mut node_parts: Vec<(PartitionKey, Partition)> = Vec::new();
        for (&(_, hour), part) in &mut self.partitions {
            if part.nodes.is_empty() {
                continue;
            }
            let mut nodes = Partition::new(&TAILSCALE_NODES);
            for row in std::mem::take(&mut part.nodes).into_rows() {
                let before = nodes.pending.len();
                // Serializing plain structs of strings and numbers into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut nodes.pending, &row);
                nodes.pending.push(b'\n');
                nodes.rows += 1;
                nodes.json_bytes += nodes.pending.len() - before;
            }
            node_parts.push(((TAILSCALE_NODES.name, hour), nodes));
        }
        self.partitions.extend(node_parts);
        self.seal_chunk();
        let stem = object_stem(batch);
        self.partitions
            .into_iter()
            .map(|((_, hour), p)| {
                let start = Timestamp::from_unix_millis(hour * 3_600_000).unwrap_or(crate::time::LAKE_RANGE_START);
                LakeObject {
                    table: p.table,
                    key: format!("{}/{stem}.json.gz", p.table.partition(&start)),
                    rows: p.rows,
                    json_bytes: p.json_bytes,
                    body: p.body,
                }
            })
            .collect()
    }
}

fn seal(part: &mut Partition) {
    if part.pending.is_empty() {
        return;
    }
    let mut encoder = flate2::write::GzEncoder::new(std::mem::take(&mut part.body), flate2::Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(&part.pending);
    part.body = encoder.finish().unwrap_or_default();
    // Free the chunk's JSON: memory holds compressed bytes plus at most one chunk of JSON.
    part.pending.clear();
    part.pending.shrink_to(0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::TAILWATCH_QUARANTINE;

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

    fn network_rows(text: &str) -> Vec<LakeRow> {
        let ctx = crate::normalize::SourceContext {
            label: "test",
            file: "raw/test/1-a.ndjson.zst",
            parse_time: Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
        };
        let out = crate::pipeline::normalize_object(text.as_bytes(), &crate::wire::DecodeLimits::default(), &ctx);
        assert!(out.quarantined.is_empty(), "{:?}", out.quarantined);
        out.rows
    }

    fn lines(object: &LakeObject) -> Vec<serde_json::Value> {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::MultiGzDecoder::new(&object.body[..]), &mut text).unwrap();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    /// A flow record of node `n1` at `time` with one connection to `n2`, the names given.
    fn flow(time: &str, n1_name: &str, n2_name: &str, n1_tags: &str) -> String {
        format!(
            r#"{{"time":"{time}","event":{{"nodeId":"n1","srcNode":{{"nodeId":"n1","name":"{n1_name}","addresses":["100.64.0.1"],"os":"linux","tags":[{n1_tags}]}},"dstNodes":[{{"nodeId":"n2","name":"{n2_name}","addresses":["100.64.0.2"],"user":"bob@example.com"}}],"virtualTraffic":[{{"proto":6,"src":"100.64.0.1:4000","dst":"100.64.0.2:22","txBytes":10}},{{"proto":6,"src":"100.64.0.1:4001","dst":"100.64.0.2:443","txBytes":20}}]}}}}"#
        ) + "\n"
    }

    #[test]
    fn nodes_are_written_once_per_network_partition_and_batch_not_on_every_row() {
        let body = flow("2025-03-04T17:10:00Z", "web-01", "laptop-2", r#""tag:web""#)
            + &flow("2025-03-04T17:20:00Z", "web-01", "laptop-2", r#""tag:web""#)
            + &flow("2025-03-04T18:05:00Z", "web-01", "laptop-2", r#""tag:web""#);
        let mut packer = LakePacker::new();
        packer.push_rows(&network_rows(&body));
        let objects = packer.finish("raw/test/1-a.ndjson.zst");
        let keys: Vec<_> = objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "tailscale_network/dt=2025-03-04/hour=17/1-a.json.gz",
                "tailscale_network/dt=2025-03-04/hour=18/1-a.json.gz",
                "tailscale_nodes/dt=2025-03-04/hour=17/1-a.json.gz",
                "tailscale_nodes/dt=2025-03-04/hour=18/1-a.json.gz",
            ]
        );
        // Connection rows name nodes by id only.
        for row in lines(&objects[0]) {
            let o = row.as_object().unwrap();
            assert!(o.contains_key("node_id") && o.contains_key("peer_node_id"));
            for fact in crate::lake::NETWORK_NODE_FACTS {
                assert!(!o.contains_key(*fact), "{fact} on a connection row");
            }
        }
        // Hour 17: four connection rows, two nodes, one row each, seen 17:10 .. 17:20.
        let nodes = lines(&objects[2]);
        assert_eq!(objects[2].rows, 2);
        assert_eq!(nodes.len(), 2);
        let n1 = &nodes[0];
        assert_eq!(n1["p_log_type"], "Tailscale.Node");
        assert_eq!(n1["node_id"], "n1");
        assert_eq!(n1["node_name"], "web-01");
        assert_eq!(n1["node_os"], "linux");
        assert_eq!(n1["node_tags"], serde_json::json!(["tag:web"]));
        assert_eq!(n1["first_seen"], "2025-03-04 17:10:00.000");
        assert_eq!(n1["last_seen"], "2025-03-04 17:20:00.000");
        assert_eq!(n1["p_event_time"], n1["last_seen"]);
        assert_eq!(n1["connections"], 4);
        let n2 = &nodes[1];
        assert_eq!((n2["node_id"].as_str(), n2["node_name"].as_str()), (Some("n2"), Some("laptop-2")));
        assert_eq!(n2["node_user"], "bob@example.com");
        // Every column written is a declared column of tailscale_nodes.
        for key in n1.as_object().unwrap().keys() {
            assert!(TAILSCALE_NODES.all_columns().any(|c| c.name == key), "{key}");
        }
        // The same batch again gives the same node rows (ids included).
        let mut again = LakePacker::new();
        again.push_rows(&network_rows(&body));
        assert_eq!(lines(&again.finish("raw/test/1-a.ndjson.zst")[2]), nodes);
    }

    #[test]
    fn a_node_whose_facts_change_within_a_batch_keeps_those_of_its_latest_record() {
        // Near miss: n1 renamed and retagged between two records of one batch, which arrive
        // latest first; a third record without srcNode (no facts) comes last and is latest of all.
        let late = flow("2025-03-04T17:40:00Z", "web-01-renamed", "laptop-2", r#""tag:prod""#);
        let early = flow("2025-03-04T17:10:00Z", "web-01", "laptop-2", r#""tag:web""#);
        let bare = r#"{"time":"2025-03-04T17:50:00Z","event":{"nodeId":"n1","virtualTraffic":[{"proto":17,"src":"100.64.0.1:53","dst":"100.64.0.9:53","txBytes":1}]}}"#.to_owned() + "\n";
        let mut packer = LakePacker::new();
        packer.push_rows(&network_rows(&(late + &early + &bare)));
        let objects = packer.finish("b");
        let nodes = lines(objects.iter().find(|o| o.table.name == "tailscale_nodes").unwrap());
        assert_eq!(nodes.len(), 2, "one row per node, however often its facts changed");
        let n1 = &nodes[0];
        assert_eq!(n1["node_name"], "web-01-renamed");
        assert_eq!(n1["node_tags"], serde_json::json!(["tag:prod"]));
        assert_eq!(n1["first_seen"], "2025-03-04 17:10:00.000");
        assert_eq!(n1["last_seen"], "2025-03-04 17:50:00.000");
        assert_eq!(n1["connections"], 5);
    }

    #[test]
    fn node_rows_fill_network_rows_read_back_from_the_lake() {
        let rows = network_rows(&flow("2025-03-04T17:10:00Z", "web-01", "laptop-2", r#""tag:web""#));
        let mut packer = LakePacker::new();
        packer.push_rows(&rows);
        let objects = packer.finish("b");
        let mut facts = crate::lake::NodeFacts::default();
        for line in lines(&objects[1]) {
            facts.add_json_line(line.to_string().as_bytes()).unwrap();
        }
        for (written, line) in rows.iter().zip(lines(&objects[0])) {
            let mut back = LakeRow::from_json_line(written.table(), line.to_string().as_bytes()).unwrap();
            facts.fill(&mut back);
            let (LakeRow::Network(w), LakeRow::Network(b)) = (written, &back) else {
                panic!()
            };
            assert_eq!((&b.node_name, &b.node_os, &b.node_tags), (&w.node_name, &w.node_os, &w.node_tags));
            assert_eq!((&b.peer_node_name, &b.peer_user), (&w.peer_node_name, &w.peer_user));
        }
    }

    #[test]
    fn stems_are_safe_and_stable() {
        assert_eq!(object_stem("raw/x/dt=1/hour=2/17-a b.ndjson.zst"), "17-a_b");
        assert_eq!(object_stem("replay-0123"), "replay-0123");
        assert_eq!(object_stem(""), object_stem(""));
    }
}
