//! Start-up: time from exec of a Lambda function binary to its first handled invocation, against
//! a minimal Lambda Runtime API served here on 127.0.0.1 (and, for ingest, a Secrets Manager stub
//! so the token fetch that precedes authentication is a fast local call, as in AWS).

use std::io::BufReader;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::http::{read_request, respond};
use crate::measure::{median_of, percentile};

/// The three functions and the first event each handles.
pub const FUNCTIONS: &[&str] = &["ingest", "normalize", "detect"];

const RIGHT_TOKEN: &str = "bench-right-token";

fn event(function: &str) -> String {
    match function {
        "ingest" => {
            let body = include_str!("../../tests/fixtures/tailscale/audit-stream.hec");
            serde_json::json!({
                "version": "2.0",
                "routeKey": "POST /services/collector/event",
                "rawPath": "/services/collector/event",
                "rawQueryString": "",
                "headers": {
                    "authorization": "Bearer a-wrong-token",
                    "content-type": "application/json",
                    "content-length": body.len().to_string(),
                    "host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
                    "user-agent": "Go-http-client/2.0",
                    "x-forwarded-for": "203.0.113.10",
                    "x-forwarded-port": "443",
                    "x-forwarded-proto": "https"
                },
                "requestContext": {
                    "accountId": "123456789012",
                    "apiId": "a1b2c3d4e5",
                    "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
                    "domainPrefix": "a1b2c3d4e5",
                    "http": {
                        "method": "POST",
                        "path": "/services/collector/event",
                        "protocol": "HTTP/1.1",
                        "sourceIp": "203.0.113.10",
                        "userAgent": "Go-http-client/2.0"
                    },
                    "requestId": "GkL3xhT2IAMEVhA=",
                    "routeKey": "POST /services/collector/event",
                    "stage": "$default",
                    "time": "04/Mar/2025:17:21:09 +0000",
                    "timeEpoch": 1_741_108_869_412_u64
                },
                "body": body,
                "isBase64Encoded": false
            })
            .to_string()
        }
        _ => serde_json::json!({
            "Records": [{
                "messageId": "c80e8021-a70a-42c7-a470-796e1186f753",
                "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a2AxIo4C6OJ4J2lf9kBkuiHOzcfEHeVpm6mhgXU9R5Z6YPHzqaPsWBmGbz",
                "body": "{\"Service\":\"Amazon S3\",\"Event\":\"s3:TestEvent\",\"Time\":\"2025-03-04T16:58:02.311Z\",\"Bucket\":\"tailwatch-raw-example\",\"RequestId\":\"5582815E1AEA5ADF\",\"HostId\":\"8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE\"}",
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1741107482401",
                    "SenderId": "AIDAJHIPRHEMV73VRJEBU",
                    "ApproximateFirstReceiveTimestamp": "1741107482413"
                },
                "messageAttributes": {},
                "md5OfBody": "24a0d4113870cebf4694f95144835668",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:tailwatch-RawQueue-AbCdEf123456",
                "awsRegion": "us-east-1"
            }]
        })
        .to_string(),
    }
}

/// A Secrets Manager stub: every `GetSecretValue` answers the right token, fast.
pub struct SecretsStub {
    /// Port on 127.0.0.1.
    pub port: u16,
    /// Requests served.
    pub requests: Arc<AtomicUsize>,
}

impl SecretsStub {
    /// Starts it on a thread (lives until the process exits).
    ///
    /// # Errors
    /// When no port can be bound.
    pub fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let requests = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let count = Arc::clone(&count);
                std::thread::spawn(move || serve_secrets(stream, &count));
            }
        });
        Ok(SecretsStub { port, requests })
    }
}

fn serve_secrets(stream: TcpStream, count: &AtomicUsize) {
    let Ok(mut w) = stream.try_clone() else { return };
    let mut r = BufReader::new(stream);
    while let Ok(Some(req)) = read_request(&mut r) {
        count.fetch_add(1, Ordering::Relaxed);
        let body = if req.header("x-amz-target").is_some_and(|t| t.ends_with("GetSecretValue")) {
            serde_json::json!({
                "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:tailwatch-ingest-token-AbCdEf",
                "Name": "tailwatch-ingest-token",
                "VersionId": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
                "SecretString": serde_json::json!({ "token": RIGHT_TOKEN }).to_string(),
                "VersionStages": ["AWSCURRENT"],
                "CreatedDate": 1_741_107_600.0
            })
            .to_string()
        } else {
            r#"{"__type":"UnknownOperationException"}"#.to_owned()
        };
        if respond(&mut w, 200, &[("content-type", "application/x-amz-json-1.1")], body.as_bytes()).is_err() {
            return;
        }
    }
}

#[derive(Default)]
struct Seen {
    next_at: Option<Instant>,
    response_at: Option<Instant>,
    response: Vec<u8>,
    error: Option<String>,
}

struct RuntimeApi {
    port: u16,
    seen: Arc<(Mutex<Seen>, Condvar)>,
    stop: Arc<AtomicBool>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl RuntimeApi {
    fn start(function: &str, request_id: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let seen = Arc::new((Mutex::new(Seen::default()), Condvar::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let event = Arc::new(event(function));
        let arn = format!("arn:aws:lambda:us-east-1:123456789012:function:tailwatch-{function}");
        let (seen2, stop2, id) = (Arc::clone(&seen), Arc::clone(&stop), request_id.to_owned());
        let accept = std::thread::spawn(move || {
            let served = Arc::new(AtomicBool::new(false));
            for stream in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let _ = stream.set_nodelay(true);
                let (seen, stop, event, arn, id, served) = (
                    Arc::clone(&seen2),
                    Arc::clone(&stop2),
                    Arc::clone(&event),
                    arn.clone(),
                    id.clone(),
                    Arc::clone(&served),
                );
                std::thread::spawn(move || serve_runtime(stream, &seen, &stop, &event, &arn, &id, &served));
            }
        });
        Ok(RuntimeApi {
            port,
            seen,
            stop,
            accept: Some(accept),
        })
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

fn serve_runtime(
    stream: TcpStream,
    seen: &(Mutex<Seen>, Condvar),
    stop: &AtomicBool,
    event: &str,
    arn: &str,
    id: &str,
    served: &AtomicBool,
) {
    let Ok(mut w) = stream.try_clone() else { return };
    let mut r = BufReader::new(stream);
    while let Ok(Some(req)) = read_request(&mut r) {
        let now = Instant::now();
        if req.method == "GET" && req.path.ends_with("/runtime/invocation/next") {
            if served.swap(true, Ordering::SeqCst) {
                // Only one invocation per process: hold the poll until the process is stopped.
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(5));
                }
                return;
            }
            if let Ok(mut s) = seen.0.lock() {
                s.next_at = Some(now);
            }
            let deadline = (std::time::SystemTime::now() + Duration::from_secs(30))
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0)
                .to_string();
            let headers = [
                ("content-type", "application/json"),
                ("lambda-runtime-aws-request-id", id),
                ("lambda-runtime-deadline-ms", deadline.as_str()),
                ("lambda-runtime-invoked-function-arn", arn),
                (
                    "lambda-runtime-trace-id",
                    "Root=1-67c73725-3f0e0c1b5a7d4e2f9c8b6a41;Parent=9a9197af755a6419;Sampled=0",
                ),
            ];
            if respond(&mut w, 200, &headers, event.as_bytes()).is_err() {
                return;
            }
        } else if req.method == "POST" && req.path.ends_with("/response") {
            {
                let (lock, cv) = seen;
                if let Ok(mut s) = lock.lock() {
                    s.response_at = Some(now);
                    s.response = req.body;
                }
                cv.notify_all();
            }
            let _ = respond(&mut w, 202, &[("content-type", "application/json")], br#"{"status":"OK"}"#);
        } else if req.method == "POST" && req.path.ends_with("/error") {
            {
                let (lock, cv) = seen;
                if let Ok(mut s) = lock.lock() {
                    s.error = Some(format!("{} {}", req.path, String::from_utf8_lossy(&req.body)));
                }
                cv.notify_all();
            }
            let _ = respond(&mut w, 202, &[("content-type", "application/json")], br#"{"status":"OK"}"#);
        } else {
            let _ = respond(&mut w, 404, &[], b"");
        }
    }
}

/// One exec → first response.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// exec → first `GET …/invocation/next` (init done), ms.
    pub init_ms: f64,
    /// exec → the first response posted, ms.
    pub first_ms: f64,
    /// The process's RSS after the first invocation, KiB.
    pub rss_kb: u64,
}

/// Runs of one binary.
#[derive(Debug, Clone)]
pub struct StartupResult {
    /// `ingest`, …
    pub function: &'static str,
    /// Binary size in bytes.
    pub binary_bytes: u64,
    /// Every run.
    pub runs: Vec<Run>,
    /// What the first response said (status check).
    pub response_summary: String,
}

impl StartupResult {
    /// Median exec → first response, ms.
    pub fn median_first_ms(&self) -> f64 {
        median_of(&self.runs.iter().map(|r| r.first_ms).collect::<Vec<_>>())
    }
    /// p90 exec → first response, ms.
    pub fn p90_first_ms(&self) -> f64 {
        percentile(&self.runs.iter().map(|r| r.first_ms).collect::<Vec<_>>(), 90.0)
    }
    /// Min exec → first response, ms.
    pub fn min_first_ms(&self) -> f64 {
        self.runs.iter().map(|r| r.first_ms).fold(f64::INFINITY, f64::min)
    }
    /// Median exec → ready for the first event, ms.
    pub fn median_init_ms(&self) -> f64 {
        median_of(&self.runs.iter().map(|r| r.init_ms).collect::<Vec<_>>())
    }
    /// Median RSS after the first invocation, KiB.
    pub fn median_rss_kb(&self) -> f64 {
        median_of(&self.runs.iter().map(|r| r.rss_kb as f64).collect::<Vec<_>>())
    }
}

fn rss_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmRSS:")).map(str::to_owned))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn one_run(binary: &Path, function: &'static str, secrets_port: u16, seq: usize, log_dir: &Path) -> Result<(Run, String), String> {
    let request_id = format!("bench-{function}-{seq:04}");
    let mut api = RuntimeApi::start(function, &request_id).map_err(|e| format!("runtime api: {e}"))?;
    let endpoint = format!("http://127.0.0.1:{secrets_port}");
    let mut cmd = Command::new(binary);
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("TZ", ":UTC")
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{}", api.port))
        .env("AWS_LAMBDA_FUNCTION_NAME", format!("tailwatch-{function}"))
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/tailwatch-{function}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2025/03/04/[$LATEST]0123456789abcdef")
        .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDBENCHMARKFAKE000")
        .env("AWS_SECRET_ACCESS_KEY", "bench/fake/secret/access/key/000000000000")
        .env("AWS_SESSION_TOKEN", "bench-fake-session-token")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/tailwatch-bench/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/tailwatch-bench/credentials")
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("RUST_LOG", "info")
        .env("RAW_BUCKET", "tailwatch-raw-123456789012-bench")
        .env("LAKE_BUCKET", "tailwatch-lake-123456789012-bench")
        .env(
            "TOKEN_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:tailwatch-ingest-token-AbCdEf",
        )
        .env("FIREHOSE_STREAM", "tailwatch-lake-bench")
        .env("ALERT_STATE_TABLE", "tailwatch-alert-state-bench")
        .env("ALERT_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:tailwatch-alerts-bench")
        .stdin(Stdio::null());
    let out = std::fs::File::create(log_dir.join(format!("{function}.log"))).map_err(|e| e.to_string())?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    cmd.stdout(out).stderr(err);
    let t0 = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("spawn {}: {e}", binary.display()))?;
    let result = {
        let (lock, cv) = &*api.seen;
        let guard = lock.lock().map_err(|_| "poisoned".to_owned())?;
        let (guard, timeout) = cv
            .wait_timeout_while(guard, Duration::from_secs(20), |s| s.response_at.is_none() && s.error.is_none())
            .map_err(|_| "poisoned".to_owned())?;
        if timeout.timed_out() {
            Err(format!(
                "{function}: no response within 20 s (see {}/{function}.log)",
                log_dir.display()
            ))
        } else if let Some(e) = &guard.error {
            Err(format!("{function}: the function reported an error: {e}"))
        } else {
            let rss = rss_of(child.id());
            let first = guard.response_at.map_or(0.0, |t| (t - t0).as_secs_f64() * 1e3);
            let init = guard.next_at.map_or(0.0, |t| (t - t0).as_secs_f64() * 1e3);
            Ok((
                Run {
                    init_ms: init,
                    first_ms: first,
                    rss_kb: rss,
                },
                String::from_utf8_lossy(&guard.response).chars().take(160).collect::<String>(),
            ))
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    api.shutdown();
    result
}

/// Measures `runs` cold starts of each function binary in `bin_dir` (plus one warm-up each).
///
/// # Errors
/// A binary missing or failing.
pub fn run(bin_dir: &Path, runs: usize, log_dir: &Path, log: &mut dyn FnMut(&str)) -> Result<Vec<StartupResult>, String> {
    std::fs::create_dir_all(log_dir).map_err(|e| e.to_string())?;
    let secrets = SecretsStub::start().map_err(|e| format!("secrets stub: {e}"))?;
    let mut out = Vec::new();
    for &function in FUNCTIONS {
        let binary = bin_dir.join(function);
        let binary_bytes = std::fs::metadata(&binary)
            .map_err(|e| {
                format!(
                    "{}: {e} (build with `cargo build --release -p tailwatch-{function}`)",
                    binary.display()
                )
            })?
            .len();
        let (_, summary) = one_run(&binary, function, secrets.port, 0, log_dir)?;
        let expected = if function == "ingest" {
            "\"statusCode\":401"
        } else {
            "batchItemFailures"
        };
        if !summary.contains(expected) {
            return Err(format!("{function}: unexpected first response `{summary}` (expected {expected})"));
        }
        let mut result = StartupResult {
            function,
            binary_bytes,
            runs: Vec::with_capacity(runs),
            response_summary: summary,
        };
        for seq in 1..=runs {
            let (r, _) = one_run(&binary, function, secrets.port, seq, log_dir)?;
            result.runs.push(r);
        }
        log(&format!(
            "  {function:<10} exec→first response median {:.1} ms (min {:.1}, p90 {:.1}); exec→ready {:.1} ms; RSS {:.1} MiB; {} runs",
            result.median_first_ms(),
            result.min_first_ms(),
            result.p90_first_ms(),
            result.median_init_ms(),
            result.median_rss_kb() / 1024.0,
            runs
        ));
        out.push(result);
    }
    log(&format!(
        "  (secrets stub answered {} request(s))",
        secrets.requests.load(Ordering::Relaxed)
    ));
    Ok(out)
}
