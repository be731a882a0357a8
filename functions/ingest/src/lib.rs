//! The ingest function's handler: API Gateway REST API (v1 proxy event; the stack's front, binary
//! media type `*/*`, so the body arrives base64 and byte-exact whatever its Content-Type) or HTTP
//! API (payload 2.0) → core's ingest contract → raw batch in S3. Byte-for-byte the behaviour of
//! `tailwatch serve`, because both call `tailwatch_core::pipeline::ingest`.

use std::time::Duration;

use lambda_http::{Body, Request, RequestExt, Response};
use tailwatch_aws::{AwsClients, S3QuarantineSink, S3RawStore, SecretsTokenSource};
use tailwatch_core::pipeline::ingest::{ingest, storage_unavailable, HecResponse, IngestRequest};
use tailwatch_core::time::Timestamp;
use tailwatch_core::wire::DecodeLimits;

/// Settings from the environment (validated once at cold start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `RAW_BUCKET`: where accepted batches go.
    pub raw_bucket: String,
    /// `LAKE_BUCKET`: where quarantine rows go (`tailwatch_quarantine/`).
    pub lake_bucket: String,
    /// `TOKEN_SECRET_ARN`: the Secrets Manager secret holding the token(s).
    pub token_secret_arn: String,
    /// `MAX_BODY_MIB` (default 6, Lambda's synchronous payload limit).
    pub max_body_mib: usize,
    /// `TOKEN_REFRESH_SECONDS` (default 300).
    pub token_refresh: Duration,
}

/// Reads a required variable.
///
/// # Errors
/// Names the missing variable.
pub fn required(name: &str) -> anyhow::Result<String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| anyhow::anyhow!("environment variable {name} is required (set by template.yaml)"))
}

fn optional_number(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v
            .parse()
            .map_err(|_| anyhow::anyhow!("environment variable {name} must be a whole number, got `{v}`")),
        _ => Ok(default),
    }
}

impl Config {
    /// Reads the environment.
    ///
    /// # Errors
    /// A missing or malformed variable, named.
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Config {
            raw_bucket: required("RAW_BUCKET")?,
            lake_bucket: required("LAKE_BUCKET")?,
            token_secret_arn: required("TOKEN_SECRET_ARN")?,
            max_body_mib: usize::try_from(optional_number("MAX_BODY_MIB", 6)?.clamp(1, 64))?,
            token_refresh: Duration::from_secs(optional_number("TOKEN_REFRESH_SECONDS", 300)?),
        })
    }
}

/// The adapters, built once per cold start.
pub struct Deps {
    raw: S3RawStore,
    quarantine: S3QuarantineSink,
    tokens: SecretsTokenSource,
    limits: DecodeLimits,
    metrics: tailwatch_aws::MetricsOut,
}

impl Deps {
    /// Builds the adapters from the clients.
    pub fn new(config: &Config, clients: &AwsClients) -> Self {
        Deps {
            raw: S3RawStore::new(clients.s3.clone(), &config.raw_bucket),
            quarantine: S3QuarantineSink::new(clients.s3.clone(), &config.lake_bucket),
            tokens: SecretsTokenSource::new(clients.secrets.clone(), &config.token_secret_arn, config.token_refresh),
            limits: DecodeLimits {
                max_body_bytes: config.max_body_mib << 20,
                ..DecodeLimits::default()
            },
            metrics: tailwatch_aws::MetricsOut::stdout(),
        }
    }

    /// Sends the EMF metric lines to `out` instead of stdout (tests capture them).
    #[must_use]
    pub fn with_metrics(mut self, out: tailwatch_aws::MetricsOut) -> Self {
        self.metrics = out;
        self
    }
}

fn respond(resp: &HecResponse) -> Response<Body> {
    Response::builder()
        .status(resp.status)
        .header("content-type", "application/json")
        .body(Body::Text(resp.body.clone()))
        .unwrap_or_else(|_| Response::new(Body::Text(resp.body.clone())))
}

/// What ingest reads from a request: every `Authorization` value, `Content-Encoding`, and the body
/// bytes as lambda_http decoded them from the event (base64 when `isBase64Encoded`, else the text).
#[derive(Debug)]
pub struct RequestParts<'a> {
    /// Every `Authorization` header value (core refuses more than one).
    pub authorization: Vec<&'a [u8]>,
    /// `Content-Encoding`, if any.
    pub content_encoding: Option<&'a str>,
    /// The body.
    pub body: &'a [u8],
}

/// Reads the parts ingest needs from a request.
pub fn request_parts(req: &Request) -> RequestParts<'_> {
    RequestParts {
        authorization: req.headers().get_all("authorization").iter().map(|v| v.as_bytes()).collect(),
        content_encoding: req.headers().get("content-encoding").and_then(|v| v.to_str().ok()),
        body: match req.body() {
            Body::Text(t) => t.as_bytes(),
            Body::Binary(b) => b,
            _ => b"",
        },
    }
}

/// Handles one request.
///
/// # Errors
/// Never for request problems (those are HTTP answers); the `Result` is the runtime's contract.
pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    let request_id = req
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .unwrap_or_else(|| format!("local-{}", Timestamp::now().unix_millis()));
    let tokens = match deps.tokens.tokens().await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "no ingest token available");
            return Ok(respond(&storage_unavailable()));
        }
    };
    let parts = request_parts(&req);
    let body = parts.body;
    let request = IngestRequest {
        authorization: &parts.authorization,
        content_encoding: parts.content_encoding,
        body,
        source: "tailscale-http",
        received_at: Timestamp::now(),
        request_id: &request_id,
    };
    let (resp, report) = ingest(request, &tokens, &deps.limits, &deps.raw, &deps.quarantine).await;
    tracing::info!(
        status = resp.status,
        accepted = report.accepted,
        quarantined = report.quarantined,
        raw_key = report.raw_key.as_deref().unwrap_or(""),
        bytes = body.len(),
        "ingest"
    );
    tailwatch_aws::emit_metrics(
        &deps.metrics,
        "ingest",
        &[
            ("RecordsAccepted", report.accepted as f64, "Count"),
            ("RecordsQuarantined", report.quarantined as f64, "Count"),
            ("BytesReceived", body.len() as f64, "Bytes"),
            ("Rejected", f64::from(u8::from(resp.status >= 400)), "Count"),
        ],
    );
    Ok(respond(&resp))
}
