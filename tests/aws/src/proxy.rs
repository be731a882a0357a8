//! A fault-injecting proxy in front of the AWS API emulator: forwards every request unchanged,
//! except the operations a test asks it to break. Used to drive failures the emulator cannot
//! produce itself (Firehose partial failures, a service that is down).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// What to break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward everything.
    None,
    /// The first `PutRecordBatch` delivers only the even-indexed records and reports the odd ones
    /// as failed (`FailedPutCount` > 0); later calls pass through.
    FirehoseOddRecordsFailOnce,
    /// Every `PutRecordBatch` reports every record as failed (retries run out).
    FirehoseAlwaysFails,
    /// Every request whose `X-Amz-Target`, path or body contains `needle` gets a 503.
    ServiceDown(&'static str),
    /// Every DynamoDB request whose `X-Amz-Target` contains `needle` is throttled
    /// (`ProvisionedThroughputExceededException`, HTTP 400).
    DynamoThrottled(&'static str),
    /// DynamoDB requests whose target or body contains `needle` pass while `ok` is above zero
    /// (each one counts it down); every later one fails with a 500. Breaks a sequence of writes
    /// after its first `ok` steps.
    DynamoFailAfter {
        /// What selects the requests (e.g. `"st":` for detection-state writes).
        needle: &'static str,
        /// How many more pass.
        ok: usize,
    },
    /// Every write (see [`write_kind`]: S3 `PUT`/`POST`, DynamoDB item writes, SNS `Publish`,
    /// Firehose puts) passes while `ok` is above zero (each one counts it down); every later write
    /// fails with a 5xx, so the SDK's own retries fail too. Breaks any sequence of writes after its
    /// first `ok` steps; reads always pass.
    FailWritesAfter {
        /// How many more writes pass.
        ok: usize,
    },
}

/// The kind of a write request (`None` for reads), as logged in [`Proxy::writes`]:
/// `s3:PUT <bucket-prefix>` (the bucket name up to its first `-`: `raw`, `lake`),
/// `dynamodb:<Operation>` (`dynamodb:PutItem:delivered` for a delivered mark), `sns:Publish`,
/// `firehose:PutRecordBatch`.
pub fn write_kind(method: &hyper::Method, target: &str, path: &str, body: &[u8]) -> Option<String> {
    let has = |needle: &str| body.windows(needle.len()).any(|w| w == needle.as_bytes());
    if let Some(op) = target.strip_prefix("DynamoDB_20120810.") {
        return match op {
            "PutItem" if has("delivered#") => Some("dynamodb:PutItem:delivered".into()),
            "PutItem" | "UpdateItem" | "DeleteItem" | "BatchWriteItem" | "TransactWriteItems" => Some(format!("dynamodb:{op}")),
            _ => None,
        };
    }
    if let Some(op) = target.strip_prefix("Firehose_20150804.") {
        return op.starts_with("PutRecord").then(|| format!("firehose:{op}"));
    }
    if has("Action=Publish") {
        return Some("sns:Publish".into());
    }
    if target.is_empty() && (method == hyper::Method::PUT || (method == hyper::Method::POST && !has("Action="))) {
        let bucket = path.trim_start_matches('/').split(['/', '-']).next().unwrap_or_default();
        return Some(format!("s3:{method} {bucket}"));
    }
    None
}

/// A running proxy.
pub struct Proxy {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    fault: Arc<Mutex<Fault>>,
    /// Record counts of every `PutRecordBatch` the proxy saw, in order.
    pub firehose_calls: Arc<Mutex<Vec<usize>>>,
    /// Requests answered with an injected failure.
    pub injected: Arc<AtomicUsize>,
    /// Every write that passed, in order ([`write_kind`]).
    pub writes: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    /// Starts a proxy to `upstream` on a free loopback port.
    pub async fn start(upstream: String, fault: Fault) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let fault = Arc::new(Mutex::new(fault));
        let firehose_calls = Arc::new(Mutex::new(Vec::new()));
        let injected = Arc::new(AtomicUsize::new(0));
        let writes = Arc::new(Mutex::new(Vec::new()));
        // DynamoDB has its own emulator (dynalite) when AWS_ENDPOINT_URL_DYNAMODB names one.
        let dynamodb = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_else(|_| upstream.clone());
        let state = (
            fault.clone(),
            firehose_calls.clone(),
            injected.clone(),
            Arc::new((upstream, dynamodb)),
            writes.clone(),
        );
        tokio::spawn(async move {
            let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (state, client) = (state.clone(), client.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| handle(req, state.clone(), client.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Proxy {
            url: format!("http://{addr}"),
            fault,
            firehose_calls,
            injected,
            writes,
        }
    }

    /// Changes the fault.
    pub fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }
}

/// The fault, Firehose call counts, injected count, the upstreams (everything, DynamoDB), and the
/// writes that passed.
type State = (
    Arc<Mutex<Fault>>,
    Arc<Mutex<Vec<usize>>>,
    Arc<AtomicUsize>,
    Arc<(String, String)>,
    Arc<Mutex<Vec<String>>>,
);
type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

fn json_response(status: u16, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.1")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

async fn forward(client: &HttpClient, upstream: &str, parts: &hyper::http::request::Parts, body: Bytes) -> Response<Full<Bytes>> {
    let uri = format!("{upstream}{}", parts.uri.path_and_query().map_or("/", |p| p.as_str()));
    let mut req = Request::builder().method(parts.method.clone()).uri(uri);
    for (k, v) in &parts.headers {
        if k != "host" && k != "content-length" {
            req = req.header(k, v);
        }
    }
    let req = req.header("content-length", body.len()).body(Full::new(body)).unwrap();
    match client.request(req).await {
        Ok(resp) => {
            let (p, b) = resp.into_parts();
            let bytes = b.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
            Response::from_parts(p, Full::new(bytes))
        }
        Err(e) => json_response(502, format!("{{\"message\":\"proxy: {e}\"}}")),
    }
}

async fn handle(req: Request<Incoming>, state: State, client: HttpClient) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (fault, calls, injected, upstreams, writes) = state;
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let current = *fault.lock().unwrap();
    if let Some(kind) = write_kind(&parts.method, &target, parts.uri.path(), &body) {
        let mut guard = fault.lock().unwrap();
        if let Fault::FailWritesAfter { ok } = *guard {
            if ok == 0 {
                injected.fetch_add(1, Ordering::SeqCst);
                let (status, kind_error) = if target.starts_with("DynamoDB_") {
                    (500, "com.amazonaws.dynamodb.v20120810#InternalServerError")
                } else {
                    (503, "ServiceUnavailableException")
                };
                return Ok(json_response(
                    status,
                    format!(r#"{{"__type":"{kind_error}","message":"injected by the test proxy: {kind}"}}"#),
                ));
            }
            *guard = Fault::FailWritesAfter { ok: ok - 1 };
        }
        writes.lock().unwrap().push(kind);
    }
    if let Fault::ServiceDown(needle) = current {
        let in_body = body.windows(needle.len()).any(|w| w == needle.as_bytes());
        if target.contains(needle) || parts.uri.path().contains(needle) || in_body {
            injected.fetch_add(1, Ordering::SeqCst);
            return Ok(json_response(
                503,
                r#"{"__type":"ServiceUnavailableException","message":"injected by the test proxy"}"#.into(),
            ));
        }
    }
    if let Fault::DynamoThrottled(needle) = current {
        if target.starts_with("DynamoDB_") && target.contains(needle) {
            injected.fetch_add(1, Ordering::SeqCst);
            return Ok(json_response(
                400,
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"injected by the test proxy"}"#.into(),
            ));
        }
    }
    if let Fault::DynamoFailAfter { needle, ok } = current {
        let in_body = body.windows(needle.len()).any(|w| w == needle.as_bytes());
        if target.starts_with("DynamoDB_") && (target.contains(needle) || in_body) {
            let mut guard = fault.lock().unwrap();
            if ok > 0 {
                *guard = Fault::DynamoFailAfter { needle, ok: ok - 1 };
            } else {
                injected.fetch_add(1, Ordering::SeqCst);
                return Ok(json_response(
                    500,
                    r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected by the test proxy"}"#.into(),
                ));
            }
        }
    }
    let upstream = if target.starts_with("DynamoDB_") {
        &upstreams.1
    } else {
        &upstreams.0
    };
    if !target.ends_with("PutRecordBatch") {
        return Ok(forward(&client, upstream, &parts, body).await);
    }
    let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let records = request["Records"].as_array().cloned().unwrap_or_default();
    calls.lock().unwrap().push(records.len());
    match current {
        Fault::FirehoseAlwaysFails => {
            injected.fetch_add(1, Ordering::SeqCst);
            let responses: Vec<serde_json::Value> = records
                .iter()
                .map(|_| serde_json::json!({"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "injected"}))
                .collect();
            Ok(json_response(
                200,
                serde_json::json!({"FailedPutCount": records.len(), "Encrypted": false, "RequestResponses": responses}).to_string(),
            ))
        }
        Fault::FirehoseOddRecordsFailOnce => {
            *fault.lock().unwrap() = Fault::None;
            injected.fetch_add(1, Ordering::SeqCst);
            let even: Vec<serde_json::Value> = records.iter().step_by(2).cloned().collect();
            let mut forwarded = request.clone();
            forwarded["Records"] = serde_json::Value::Array(even);
            let resp = forward(&client, upstream, &parts, Bytes::from(forwarded.to_string())).await;
            let (p, b) = resp.into_parts();
            let upstream_body: serde_json::Value =
                serde_json::from_slice(&b.collect().await.map(|c| c.to_bytes()).unwrap_or_default()).unwrap_or_default();
            let ok = upstream_body["RequestResponses"].as_array().cloned().unwrap_or_default();
            let mut ok = ok.into_iter();
            let responses: Vec<serde_json::Value> = (0..records.len())
                .map(|i| {
                    if i % 2 == 0 {
                        ok.next().unwrap_or_else(|| serde_json::json!({"RecordId": "x"}))
                    } else {
                        serde_json::json!({"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "injected"})
                    }
                })
                .collect();
            let failed = records.len() / 2;
            let _ = p;
            Ok(json_response(
                200,
                serde_json::json!({"FailedPutCount": failed, "Encrypted": false, "RequestResponses": responses}).to_string(),
            ))
        }
        _ => Ok(forward(&client, upstream, &parts, body).await),
    }
}

/// Decodes the `Data` of Firehose records (for assertions).
pub fn record_data(record: &serde_json::Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(record["Data"].as_str().unwrap_or_default())
        .unwrap_or_default()
}
