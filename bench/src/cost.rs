//! The cost model: AWS list prices (us-east-1, as assumed below — they cannot be looked up live)
//! applied to what the benchmark measured, per GB of uncompressed Tailscale logs.

use crate::throughput::{BodyFacts, Throughput};

/// A list price the model uses.
pub struct Price {
    /// What it is.
    pub name: &'static str,
    /// USD per unit.
    pub usd: f64,
    /// The unit.
    pub unit: &'static str,
}

/// Prices assumed (AWS public list prices for us-east-1 as published in 2024–2025; check the
/// pricing pages before relying on them).
pub const PRICES: &[Price] = &[
    Price {
        name: "Lambda arm64 duration",
        usd: 0.000_013_333_4,
        unit: "GB-second",
    },
    Price {
        name: "Lambda requests",
        usd: 0.20,
        unit: "million invocations",
    },
    Price {
        name: "API Gateway HTTP API",
        usd: 1.00,
        unit: "million requests (first 300 M/month; metered per 512 KB)",
    },
    Price {
        name: "Firehose Direct PUT ingestion",
        usd: 0.029,
        unit: "GB, each record rounded up to 5 KB (first 500 TB/month)",
    },
    Price {
        name: "Firehose dynamic partitioning",
        usd: 0.020,
        unit: "GB delivered",
    },
    Price {
        name: "Firehose dynamic partitioning objects",
        usd: 0.005,
        unit: "1,000 S3 objects delivered",
    },
    Price {
        name: "S3 Standard PUT/POST",
        usd: 0.005,
        unit: "1,000 requests",
    },
    Price {
        name: "S3 Standard GET",
        usd: 0.0004,
        unit: "1,000 requests",
    },
    Price {
        name: "S3 Standard storage",
        usd: 0.023,
        unit: "GB-month (first 50 TB)",
    },
    Price {
        name: "SQS standard",
        usd: 0.40,
        unit: "million requests (64 KB each)",
    },
    Price {
        name: "DynamoDB on-demand writes",
        usd: 0.625,
        unit: "million write request units",
    },
    Price {
        name: "CloudWatch Logs ingestion",
        usd: 0.50,
        unit: "GB",
    },
];

fn price(name: &str) -> f64 {
    PRICES.iter().find(|p| p.name == name).map_or(0.0, |p| p.usd)
}

/// Lambda gives a function one vCPU at 1769 MB and CPU in proportion below that, so CPU-bound work
/// costs the same GB-seconds at any memory size up to 1769 MB: 1.769 GB-s per CPU-second.
pub const GB_S_PER_CPU_S: f64 = 1.769;
/// The memory size the model bills I/O waits at.
pub const MEMORY_GB: f64 = 0.125;
/// Request size Tailscale sends (its status API reports a 512 KiB maximum body).
pub const REQUEST_BYTES: f64 = 512.0 * 1024.0;

/// Assumed latencies of the AWS calls a function waits on (billed duration, not CPU).
pub const S3_PUT_MS: f64 = 40.0;
/// S3 GET of one object.
pub const S3_GET_MS: f64 = 25.0;
/// One Firehose PutRecordBatch (≤ 500 records, ≤ 4 MiB), sequential in the normalize function.
pub const FIREHOSE_CALL_MS: f64 = 40.0;
/// One DynamoDB request (the detect engine awaits them one by one).
pub const DYNAMO_CALL_MS: f64 = 6.0;
/// DynamoDB write requests per recorded match (row outcome, attach/open, claim) and WRUs each.
pub const DYNAMO_WRITES_PER_MATCH: f64 = 4.0;
/// Firehose buffer (objects per partition are flushed at this size under load).
pub const FIREHOSE_BUFFER_BYTES: f64 = 64.0 * 1024.0 * 1024.0;

/// One line of the model.
#[derive(Debug, Clone)]
pub struct Line {
    /// Service / meter.
    pub item: String,
    /// Quantity per GB of logs, with unit.
    pub quantity: String,
    /// USD per GB of logs.
    pub usd_per_gb: f64,
}

/// The model for one log type under one design.
#[derive(Debug, Clone)]
pub struct Model {
    /// Title.
    pub title: String,
    /// Lines.
    pub lines: Vec<Line>,
    /// Lambda GB-seconds per GB of logs.
    pub gb_seconds: f64,
}

impl Model {
    /// Total USD per GB.
    pub fn total(&self) -> f64 {
        self.lines.iter().map(|l| l.usd_per_gb).sum()
    }
}

/// How rows reach the lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Design {
    /// As deployed (template.yaml): one Firehose record per row, dynamic partitioning.
    Deployed,
    /// What-if: rows packed into ≤ 1000 KiB Firehose records (≤ 500 rows each) with JSON multi-record
    /// deaggregation before dynamic partitioning: no 5 KB rounding per row.
    Aggregated,
    /// What-if: normalize writes gzip NDJSON objects per partition straight to S3 (as local mode does).
    DirectS3,
}

/// Builds the model from the 6 MiB body of `kind` (the largest sample of the corpus).
pub fn model(t: &Throughput, body: &str, design: Design) -> Option<Model> {
    let f: &BodyFacts = t.facts.iter().find(|f| f.body == body)?;
    let per_gb = 1e9 / f.bytes as f64;
    let cpu = |stage: &str| t.get(body, "raw", stage).map(|r| r.timing.cpu * per_gb);
    let (ingest_cpu, normalize_cpu, detect_cpu) = (cpu("ingest")?, cpu("normalize-lambda")?, cpu("detect-lambda")?);
    let requests = 1e9 / REQUEST_BYTES;
    let rows = f.rows as f64 * per_gb;
    let row_gb = f.row_bytes as f64 * per_gb / 1e9;
    let firehose_calls = (rows / 500.0).max(row_gb * 1e9 / (4.0 * 1024.0 * 1024.0));
    let state_calls = (f.state_helpers as f64 + f.state_matches as f64 * DYNAMO_WRITES_PER_MATCH) * per_gb;
    let lake_objects = (row_gb * 1e9 / FIREHOSE_BUFFER_BYTES).max(1.0);

    let mut lines = Vec::new();
    let mut line = |item: &str, quantity: String, usd: f64| {
        lines.push(Line {
            item: item.to_owned(),
            quantity,
            usd_per_gb: usd,
        })
    };
    line(
        "API Gateway HTTP API",
        format!("{requests:.0} requests of 512 KiB"),
        requests / 1e6 * price("API Gateway HTTP API"),
    );
    // Lambda GB-seconds: CPU at 1.769 GB-s per CPU-s, plus I/O waits billed at 128 MB.
    let ingest_gbs = ingest_cpu * GB_S_PER_CPU_S + requests * S3_PUT_MS / 1e3 * MEMORY_GB;
    let lake_io_ms = match design {
        Design::Deployed | Design::Aggregated => {
            let calls = match design {
                Design::Aggregated => (row_gb * 1e9 / (4.0 * 1024.0 * 1024.0)).max(rows / 500.0 / 500.0),
                _ => firehose_calls,
            };
            calls * FIREHOSE_CALL_MS
        }
        Design::DirectS3 => requests * 2.0 * S3_PUT_MS,
    };
    let normalize_gbs = normalize_cpu * GB_S_PER_CPU_S + (requests * S3_GET_MS + lake_io_ms) / 1e3 * MEMORY_GB;
    let detect_gbs = detect_cpu * GB_S_PER_CPU_S + (lake_objects * S3_GET_MS + state_calls * DYNAMO_CALL_MS) / 1e3 * MEMORY_GB;
    let gb_seconds = ingest_gbs + normalize_gbs + detect_gbs;
    let lambda = price("Lambda arm64 duration");
    line(
        "Lambda ingest (arm64)",
        format!("{ingest_gbs:.2} GB-s ({:.2} CPU-s + S3 PUT waits)", ingest_cpu),
        ingest_gbs * lambda + requests / 1e6 * price("Lambda requests"),
    );
    line(
        "Lambda normalize (arm64)",
        format!("{normalize_gbs:.2} GB-s ({:.2} CPU-s + S3 GET / lake write waits)", normalize_cpu),
        normalize_gbs * lambda + requests / 10.0 / 1e6 * price("Lambda requests"),
    );
    line(
        "Lambda detect (arm64)",
        format!("{detect_gbs:.2} GB-s ({:.2} CPU-s + {:.0} DynamoDB waits)", detect_cpu, state_calls),
        detect_gbs * lambda + lake_objects / 1e6 * price("Lambda requests"),
    );
    line(
        "S3 raw batches: PUT",
        format!("{requests:.0} PUTs"),
        requests / 1e3 * price("S3 Standard PUT/POST"),
    );
    line(
        "S3 raw batches: storage, first month",
        format!("{:.3} GB (zstd)", f.raw_batch_bytes as f64 * per_gb / 1e9),
        f.raw_batch_bytes as f64 * per_gb / 1e9 * price("S3 Standard storage"),
    );
    line(
        "SQS raw → normalize",
        format!("{:.0} requests (send, receive, delete)", requests * 3.0),
        requests * 3.0 / 1e6 * price("SQS standard"),
    );
    match design {
        Design::Deployed => {
            let billed = f.firehose_billed_bytes as f64 * per_gb / 1e9;
            line(
                "Firehose ingestion",
                format!("{rows:.0} records, {row_gb:.2} GB of rows billed as {billed:.1} GB (5 KB each)"),
                billed * price("Firehose Direct PUT ingestion"),
            );
        }
        Design::Aggregated => {
            let records = rows / 500.0;
            line(
                "Firehose ingestion",
                format!("{records:.0} records of ≤ 500 rows, {row_gb:.2} GB"),
                row_gb * price("Firehose Direct PUT ingestion"),
            );
        }
        Design::DirectS3 => {}
    }
    match design {
        Design::Deployed | Design::Aggregated => {
            line(
                "Firehose dynamic partitioning",
                format!("{row_gb:.2} GB + {lake_objects:.0} objects"),
                row_gb * price("Firehose dynamic partitioning") + lake_objects / 1e3 * price("Firehose dynamic partitioning objects"),
            );
        }
        Design::DirectS3 => line(
            "S3 lake objects: PUT",
            format!("{:.0} PUTs (about 2 partitions per batch)", requests * 2.0),
            requests * 2.0 / 1e3 * price("S3 Standard PUT/POST"),
        ),
    }
    line(
        "S3 lake: storage, first month",
        format!("{:.3} GB (gzip NDJSON)", f.lake_gz_bytes as f64 * per_gb / 1e9),
        f.lake_gz_bytes as f64 * per_gb / 1e9 * price("S3 Standard storage"),
    );
    line(
        "SQS lake → detect, S3 GETs",
        format!("{lake_objects:.0} objects"),
        lake_objects * 3.0 / 1e6 * price("SQS standard") + lake_objects / 1e3 * price("S3 Standard GET"),
    );
    line(
        "DynamoDB alert state",
        format!(
            "{state_calls:.0} writes ({} helper + {} match calls per {:.1} MB sample)",
            f.state_helpers,
            f.state_matches,
            f.bytes as f64 / 1e6
        ),
        state_calls / 1e6 * price("DynamoDB on-demand writes"),
    );
    line(
        "CloudWatch Logs (function log lines)",
        format!("≈ {:.1} MB", requests * 1.5 * 1024.0 / 1e6),
        requests * 1.5 * 1024.0 / 1e9 * price("CloudWatch Logs ingestion"),
    );
    let title = match design {
        Design::Deployed => format!("{body}: as deployed (one Firehose record per row)"),
        Design::Aggregated => format!("{body}: what-if, rows aggregated into Firehose records"),
        Design::DirectS3 => format!("{body}: what-if, normalize writes lake objects to S3 directly"),
    };
    Some(Model { title, lines, gb_seconds })
}
