//! The cost model: AWS list prices (us-east-1; the table below names each price's page) applied to
//! what the benchmark **counted** while running the product's stage loop over request-sized
//! batches (bench/src/flow.rs), per GB of uncompressed Tailscale logs. Nothing here is an assumed
//! ratio of requests to bytes except where a line says so (SQS polling, Lambda I/O waits).

use crate::flow::StreamFacts;
use crate::throughput::Throughput;

/// A list price the model uses.
pub struct Price {
    /// What it is.
    pub name: &'static str,
    /// USD per unit.
    pub usd: f64,
    /// The unit.
    pub unit: &'static str,
    /// Where the price is published, and since when it applies.
    pub source: &'static str,
}

/// us-east-1 list prices. They are not fetched at run time: the source column says which page
/// lists them and since when (check the page before relying on a figure).
pub const PRICES: &[Price] = &[
    Price {
        name: "API Gateway REST API",
        usd: 3.50,
        unit: "million requests (first 333 M/month; per request, any size up to 10 MB)",
        source: "aws.amazon.com/api-gateway/pricing (REST APIs; unchanged since 2016)",
    },
    Price {
        name: "Lambda arm64 duration",
        usd: 0.000_013_333_4,
        unit: "GB-second (first 6 B GB-s/month)",
        source: "aws.amazon.com/lambda/pricing (arm64 since 2021-09-29)",
    },
    Price {
        name: "Lambda requests",
        usd: 0.20,
        unit: "million invocations",
        source: "aws.amazon.com/lambda/pricing",
    },
    Price {
        name: "S3 Standard PUT/POST",
        usd: 0.005,
        unit: "1,000 requests",
        source: "aws.amazon.com/s3/pricing (Requests & data retrievals)",
    },
    Price {
        name: "S3 Standard GET",
        usd: 0.0004,
        unit: "1,000 requests",
        source: "aws.amazon.com/s3/pricing",
    },
    Price {
        name: "S3 Standard storage",
        usd: 0.023,
        unit: "GB-month (first 50 TB)",
        source: "aws.amazon.com/s3/pricing",
    },
    Price {
        name: "SNS standard publish",
        usd: 0.50,
        unit: "million requests (64 KB each); deliveries to SQS free",
        source: "aws.amazon.com/sns/pricing",
    },
    Price {
        name: "SQS standard",
        usd: 0.40,
        unit: "million requests (64 KB each; first 100 B/month tier)",
        source: "aws.amazon.com/sqs/pricing",
    },
    Price {
        name: "Firehose Direct PUT ingestion",
        usd: 0.029,
        unit: "GB, each record rounded up to 5 KB (first 500 TB/month)",
        source: "aws.amazon.com/firehose/pricing",
    },
    Price {
        name: "Firehose dynamic partitioning",
        usd: 0.020,
        unit: "GB delivered (+ $0.005 per 1,000 objects, not modelled: time-bound, not per GB)",
        source: "aws.amazon.com/firehose/pricing",
    },
    Price {
        name: "DynamoDB on-demand reads",
        usd: 0.125,
        unit: "million read request units",
        source: "aws.amazon.com/dynamodb/pricing/on-demand (since the 2024-11-01 price cut)",
    },
    Price {
        name: "DynamoDB on-demand writes",
        usd: 0.625,
        unit: "million write request units",
        source: "aws.amazon.com/dynamodb/pricing/on-demand (since 2024-11-01)",
    },
    Price {
        name: "KMS requests",
        usd: 0.03,
        unit: "10,000 requests",
        source: "aws.amazon.com/kms/pricing",
    },
    Price {
        name: "CloudWatch Logs ingestion",
        usd: 0.50,
        unit: "GB",
        source: "aws.amazon.com/cloudwatch/pricing",
    },
];

fn price(name: &str) -> f64 {
    PRICES.iter().find(|p| p.name == name).map_or(0.0, |p| p.usd)
}

/// The template's memory size for each function (template.yaml `MemorySize`), MB.
pub const MEMORY_MB: f64 = 512.0;
/// Lambda gives one vCPU at 1769 MB and CPU in proportion below it: at 512 MB, 0.289 of a vCPU,
/// so a CPU-bound second here takes 1/0.289 s of billed duration there.
pub const FULL_VCPU_MB: f64 = 1769.0;

/// Assumed latencies of the AWS calls a function waits on (billed duration, not CPU).
pub const S3_PUT_MS: f64 = 40.0;
/// S3 GET of one raw batch.
pub const S3_GET_MS: f64 = 25.0;
/// One DynamoDB request.
pub const DYNAMO_MS: f64 = 6.0;
/// Conditional key writes go out this many at a time (`WRITE_CONCURRENCY` in the adapter).
pub const DYNAMO_WRITE_CONCURRENCY: f64 = 16.0;
/// Alert keys recorded at once (`engine::run::MATCH_CONCURRENCY`).
pub const MATCH_CONCURRENCY: f64 = tailwatch_core::engine::run::MATCH_CONCURRENCY as f64;
/// Alerts checked, published and marked at once (`pipeline::detect::DELIVERY_CONCURRENCY`).
pub const DELIVERY_CONCURRENCY: f64 = tailwatch_core::pipeline::detect::DELIVERY_CONCURRENCY as f64;
/// The longest chain of DynamoDB requests one alert key waits on in a batch (two recordings of
/// claim, attach, open, notification claim and outcome): concurrency cannot go below it.
pub const MATCH_CHAIN: f64 = 8.0;

/// Waves of `n` independent operations `at_once` at a time, each `chain` long: `n` when serial.
pub fn waves(n: f64, at_once: f64, chain: f64) -> f64 {
    if n <= 0.0 {
        return 0.0;
    }
    (n / at_once).max(chain.min(n))
}

/// One SNS publish.
pub const SNS_MS: f64 = 30.0;
/// One Firehose PutRecordBatch.
pub const FIREHOSE_MS: f64 = 40.0;

/// CPU seconds → billed GB-seconds at the template's memory size.
pub fn gb_s(cpu_s: f64, wait_s: f64) -> f64 {
    (cpu_s * FULL_VCPU_MB / MEMORY_MB + wait_s) * MEMORY_MB / 1024.0
}

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

/// The model for one stream.
#[derive(Debug, Clone)]
pub struct Model {
    /// Title.
    pub title: String,
    /// Lines.
    pub lines: Vec<Line>,
    /// Lambda GB-seconds per GB of logs.
    pub gb_seconds: f64,
    /// DynamoDB requests per GB.
    pub dynamo_requests: f64,
}

impl Model {
    /// Total USD per GB.
    pub fn total(&self) -> f64 {
        self.lines.iter().map(|l| l.usd_per_gb).sum()
    }
}

/// CPU seconds per byte of logs of a stage, from the 512 KiB body of the stream's kind.
fn cpu_per_byte(t: &Throughput, kind: &str, stage: &str) -> Option<f64> {
    let r = t.get(&format!("{kind}-512k"), "raw", stage)?;
    Some(r.timing.cpu / r.bytes as f64)
}

/// The model of one counted stream.
pub fn model(t: &Throughput, f: &StreamFacts) -> Option<Model> {
    let gb = |n: usize| f.per_gb(n);
    let requests = gb(f.batches);
    let cpu = |stage: &str| cpu_per_byte(t, f.kind, stage).map(|c| c * 1e9);
    let (ingest_cpu, normalize_cpu, detect_cpu) = (cpu("ingest")?, cpu("normalize")?, cpu("detect-default")?);
    let d = &f.dynamo;
    let dynamo_requests = gb(d.requests());
    let lake_puts = gb(f.lake_objects + f.quarantine_objects);
    let alerts = gb(f.alerts_total());
    let firehose_calls = gb(f.firehose_calls);

    let ingest_gbs = gb_s(ingest_cpu, requests * S3_PUT_MS / 1e3);
    let normalize_gbs = gb_s(normalize_cpu, (requests * S3_GET_MS + lake_puts * S3_PUT_MS) / 1e3);
    // Waits per batch (`waves` needs per-batch counts), times batches per GB.
    let batch = |n: usize| n as f64 / f.batches.max(1) as f64;
    let dynamo_wait = requests
        * (batch(d.batch_gets)
            + waves(batch(d.match_requests), MATCH_CONCURRENCY, MATCH_CHAIN)
            + waves(batch(d.gets), DELIVERY_CONCURRENCY, 1.0)
            + batch(d.key_writes) / DYNAMO_WRITE_CONCURRENCY);
    let deliveries = requests * waves(batch(f.alerts_total()), DELIVERY_CONCURRENCY, 1.0);
    let detect_gbs = gb_s(
        detect_cpu,
        (requests * S3_GET_MS + dynamo_wait * DYNAMO_MS + deliveries * (SNS_MS + DYNAMO_MS) + firehose_calls * FIREHOSE_MS) / 1e3,
    );
    let lambda = price("Lambda arm64 duration");
    let invoke = price("Lambda requests") / 1e6;

    let mut lines = Vec::new();
    let mut line = |item: &str, quantity: String, usd: f64| {
        lines.push(Line {
            item: item.to_owned(),
            quantity,
            usd_per_gb: usd,
        })
    };
    line(
        "API Gateway REST API",
        format!("{requests:.0} requests of {} KiB", f.request_bytes >> 10),
        requests / 1e6 * price("API Gateway REST API"),
    );
    line(
        "Lambda ingest (arm64, 512 MB)",
        format!("{ingest_gbs:.1} GB-s ({ingest_cpu:.1} CPU-s here + one S3 PUT each); {requests:.0} invocations"),
        ingest_gbs * lambda + requests * invoke,
    );
    line(
        "Lambda normalize (arm64, 512 MB)",
        format!("{normalize_gbs:.1} GB-s ({normalize_cpu:.1} CPU-s + S3 GET + lake PUTs); {requests:.0} invocations (1 message each: the low-traffic worst case)"),
        normalize_gbs * lambda + requests * invoke,
    );
    line(
        "Lambda detect (arm64, 512 MB)",
        format!("{detect_gbs:.1} GB-s ({detect_cpu:.1} CPU-s + S3 GET + DynamoDB/SNS/Firehose waits); {requests:.0} invocations"),
        detect_gbs * lambda + requests * invoke,
    );
    line(
        "S3 PUT: raw batches + lake objects",
        format!(
            "{requests:.0} raw + {:.0} lake + {:.0} quarantine objects",
            gb(f.lake_objects),
            gb(f.quarantine_objects)
        ),
        (requests + lake_puts) / 1e3 * price("S3 Standard PUT/POST"),
    );
    line(
        "S3 GET: raw batch read by normalize and by detect",
        format!("{:.0} GETs", requests * 2.0),
        requests * 2.0 / 1e3 * price("S3 Standard GET"),
    );
    let stored = gb(f.raw_bytes + f.lake_gzip_bytes) / 1e9;
    line(
        "S3 storage, first month",
        format!(
            "{:.3} GB raw (zstd) + {:.3} GB lake (gzip)",
            gb(f.raw_bytes) / 1e9,
            gb(f.lake_gzip_bytes) / 1e9
        ),
        stored * price("S3 Standard storage"),
    );
    let sns = requests + alerts;
    line(
        "SNS publishes",
        format!("{requests:.0} raw-batch events (S3 → topic) + {alerts:.0} alerts"),
        sns / 1e6 * price("SNS standard publish"),
    );
    line(
        "SQS requests",
        format!("{:.0} (2 queues × send + receive + delete per raw batch)", requests * 6.0),
        requests * 6.0 / 1e6 * price("SQS standard"),
    );
    let billed = gb(f.firehose_billed) / 1e9;
    line(
        "Firehose (alert rows only, packed)",
        format!("{:.0} records, {billed:.4} GB billed (5 KB rounding)", gb(f.firehose_records)),
        billed * (price("Firehose Direct PUT ingestion") + price("Firehose dynamic partitioning")),
    );
    let (rru, wru) = (gb(d.rru), gb(d.wru));
    line(
        "DynamoDB state",
        format!(
            "{dynamo_requests:.0} requests: {:.0} BatchGetItem, {:.0} key PutItem, {:.0} record_match requests ({:.0} calls), {:.0} delivered reads + {:.0} marks; {rru:.0} RRU, {wru:.0} WRU",
            gb(d.batch_gets),
            gb(d.key_writes),
            gb(d.match_requests),
            gb(d.match_calls),
            gb(d.gets),
            gb(d.delivered_marks)
        ),
        rru / 1e6 * price("DynamoDB on-demand reads") + wru / 1e6 * price("DynamoDB on-demand writes"),
    );
    // SQS reuses data keys (KmsDataKeyReusePeriodSeconds, 300 s) and S3 uses Bucket Keys, so their
    // KMS calls are per time, not per GB; an encrypted SNS topic is modelled at one KMS request per
    // publish (an upper bound).
    line(
        "KMS requests",
        format!("≤ {sns:.0} (one per SNS publish, upper bound; S3 Bucket Keys and SQS key reuse make the rest per-hour)"),
        sns / 1e4 * price("KMS requests"),
    );
    let log_mb = requests * 3.0 * 0.5 * 1024.0 / 1e6;
    line(
        "CloudWatch Logs",
        format!("≈ {log_mb:.1} MB (about 0.5 KB of log lines per invocation)"),
        log_mb / 1e3 * price("CloudWatch Logs ingestion"),
    );
    Some(Model {
        title: format!("{} logs, {} KiB requests", f.kind, f.request_bytes >> 10),
        lines,
        gb_seconds: ingest_gbs + normalize_gbs + detect_gbs,
        dynamo_requests,
    })
}

/// Modelled AWS POST → SNS publish latency for one request of the stream `f` (512 KiB), p50, and
/// its parts (label, ms). detect's DynamoDB round trips are the stream's measured requests per
/// batch, in waves as the engine makes them: alert keys 16 at a time (each key's own requests in
/// order), key writes 16 at a time, alerts checked, published and marked 8 at a time.
pub fn alert_latency(t: &Throughput, f: &StreamFacts) -> Option<(f64, Vec<(String, f64)>)> {
    let bytes = f.request_bytes as f64;
    let slow = FULL_VCPU_MB / MEMORY_MB;
    let ingest = cpu_per_byte(t, f.kind, "ingest")? * bytes * slow * 1e3;
    let detect = cpu_per_byte(t, f.kind, "detect-default")? * bytes * slow * 1e3;
    let d = &f.dynamo;
    let per_batch = |n: usize| n as f64 / f.batches as f64;
    let round_trips = per_batch(d.batch_gets)
        + waves(per_batch(d.match_requests), MATCH_CONCURRENCY, MATCH_CHAIN)
        + waves(per_batch(d.gets), DELIVERY_CONCURRENCY, 1.0)
        + per_batch(d.key_writes) / DYNAMO_WRITE_CONCURRENCY;
    let publishes = per_batch(f.alerts_total());
    let delivery_waves = waves(publishes, DELIVERY_CONCURRENCY, 1.0);
    let parts = vec![
        ("ingest λ (CPU here × 1769/512) + S3 PUT".to_owned(), ingest + S3_PUT_MS),
        ("S3 event notification → SNS (assumed; AWS documents \"typically seconds\")".to_owned(), 500.0),
        ("SNS → SQS delivery (assumed)".to_owned(), 100.0),
        ("Lambda SQS poller picks the message up (assumed; long polling, batching window 0)".to_owned(), 250.0),
        (
            format!("detect λ: S3 GET + process_batch (CPU × 1769/512) + {round_trips:.0} DynamoDB round trips × {DYNAMO_MS} ms (measured requests per batch)"),
            S3_GET_MS + detect + round_trips * DYNAMO_MS,
        ),
        (
            format!("SNS publishes: {publishes:.1} per batch, {DELIVERY_CONCURRENCY} at a time, each then marked delivered: {delivery_waves:.1} × ({SNS_MS} + {DYNAMO_MS}) ms"),
            delivery_waves * (SNS_MS + DYNAMO_MS),
        ),
    ];
    Some((parts.iter().map(|(_, ms)| ms).sum(), parts))
}
