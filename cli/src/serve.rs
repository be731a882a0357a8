//! `tailwatch serve`: the ingest contract over HTTP on a local port, then normalize → lake →
//! detections → alerts in-process, streaming (an alert is printed milliseconds after the POST that
//! caused it). Point Tailscale's Splunk log-streaming destination at `…/services/collector/event`
//! (user `user`, the printed token) through a reverse proxy or Tailscale Funnel.
//!
//! Durability: the raw batch is written and fsynced before the 200. A worker then processes raw
//! batches in arrival order and marks each processed in the state database; on start every raw
//! batch not marked processed is processed again. Lake, quarantine and alert-row files are named
//! after the raw batch, so a re-run replaces instead of duplicating, and alert delivery is
//! remembered per alert, so a re-run does not page twice.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tailwatch_core::engine::state::block_on;
use tailwatch_core::pipeline::ingest::{ingest, HecResponse, IngestRequest, Tokens};
use tailwatch_core::time::Timestamp;
use tailwatch_core::wire::DecodeLimits;
use tailwatch_local::{Console, DirRawStore, FileQuarantineSink};
use tokio::sync::mpsc;

use crate::local::LocalPipeline;
use crate::webhook::WebhookSender;
use crate::{ConfigArg, DataDir};

/// Arguments of `tailwatch serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on. Keep it on loopback and put TLS (a reverse proxy, Tailscale Funnel) in front.
    #[arg(long)]
    pub listen: Option<String>,
    #[command(flatten)]
    pub data: DataDir,
    #[command(flatten)]
    pub config: ConfigArg,
    /// Seconds a client may take to send its body before the request is answered 408.
    #[arg(long, default_value_t = 30)]
    pub body_timeout_secs: u64,
    /// Log format on stderr: text (timestamp, level, message, key=value fields) or json (one object a line).
    #[arg(long, value_enum, default_value_t = crate::output::LogFormat::Text, env = "TAILWATCH_LOG_FORMAT")]
    pub log_format: crate::output::LogFormat,
    /// Delete raw batches, lake and quarantine partitions older than this many days, and prune the
    /// state database (at start and hourly). Default: `[server] retention_days`, else keep forever.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub retention_days: Option<u32>,
}

struct AppState {
    tokens: Tokens,
    limits: DecodeLimits,
    raw: DirRawStore,
    quarantine: FileQuarantineSink,
    queue: mpsc::UnboundedSender<String>,
    body_timeout: Duration,
    /// Requests being read or processed at once; beyond it the answer is 503 (HEC code 9), which
    /// Tailscale retries later. Bounds memory (each request holds at most one body) and CPU.
    in_flight: Arc<tokio::sync::Semaphore>,
    /// The local console (web UI and /api/).
    console: crate::console::Console,
}

/// At most this many ingest requests are read and processed at once.
const MAX_IN_FLIGHT: usize = 16;

const SOURCE: &str = "tailscale-http";

/// Where the generated token is kept when none is configured.
fn token_file(data_dir: &Path) -> PathBuf {
    data_dir.join("token")
}

/// The ingest tokens: `TAILWATCH_TOKEN` (+ `TAILWATCH_PREVIOUS_TOKEN`), else the config file, else a
/// token generated once and stored with mode 0600 under the data dir. Returns the tokens and, when
/// one was just generated, its value to print once.
fn load_tokens(data_dir: &Path, config: &crate::config::ServerConfig) -> Result<(Tokens, Option<String>, &'static str)> {
    let env = std::env::var("TAILWATCH_TOKEN").ok().filter(|t| !t.is_empty());
    let env_prev = std::env::var("TAILWATCH_PREVIOUS_TOKEN").ok().filter(|t| !t.is_empty());
    if let Some(token) = env {
        return Ok((Tokens::new([Some(token), env_prev].into_iter().flatten()), None, "TAILWATCH_TOKEN"));
    }
    if let Some(token) = &config.token {
        return Ok((
            Tokens::new([Some(token.clone()), config.previous_token.clone()].into_iter().flatten()),
            None,
            "the config file",
        ));
    }
    let path = token_file(data_dir);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let token = existing.trim().to_owned();
        if !token.is_empty() {
            return Ok((Tokens::new([token]), None, "the token file"));
        }
    }
    let token = format!("tw_{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    std::fs::create_dir_all(data_dir)?;
    write_private(&path, token.as_bytes()).with_context(|| format!("cannot store the generated token in {}", path.display()))?;
    Ok((Tokens::new([token.clone()]), Some(token), "the token file"))
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// Where serve listens when neither `--listen` nor `[server] listen` says: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8088";

/// The address to listen on: `--listen`, else `[server] listen`, else [`DEFAULT_LISTEN`].
///
/// # Errors
/// An address that is not `host:port`.
fn listen_address(flag: Option<&str>, config: Option<&str>) -> Result<SocketAddr> {
    let listen = flag.or(config).unwrap_or(DEFAULT_LISTEN);
    listen
        .parse()
        .with_context(|| format!("--listen {listen}: expected host:port, e.g. {DEFAULT_LISTEN}"))
}

/// Runs the server until SIGINT / SIGTERM.
///
/// # Errors
/// A bad config, an unusable data dir or listen address.
pub fn run(args: ServeArgs) -> Result<ExitCode> {
    crate::output::set_log_format(args.log_format);
    let config = args.config.load()?;
    let registry = config.registry()?;
    let addr = listen_address(args.listen.as_deref(), config.server.listen.as_deref())?;
    let data_dir = args.data.data_dir.clone();
    let limits = DecodeLimits {
        max_body_bytes: config.server.max_body_mib.unwrap_or(8) << 20,
        ..DecodeLimits::default()
    };
    let (tokens, generated, token_source) = load_tokens(&data_dir, &config.server)?;
    let color = crate::output::color_stdout();
    let retention_days = args.retention_days.or(config.server.retention_days);
    let pipeline = LocalPipeline::open(
        &data_dir,
        registry,
        Console::Stdout { color },
        // The worker reads back raw batches ingest wrote (and bounded) itself.
        DecodeLimits::own_raw_batch(limits.max_decoded_bytes),
    )?;
    let webhooks = WebhookSender::start(&config.server, &data_dir)?;
    let resent = webhooks.enqueue_undelivered(pipeline.alerts_dir(), &pipeline.state)?;
    if resent > 0 {
        crate::output::info(
            "re-sending alerts no webhook acknowledged before the last stop",
            &[("alerts", resent.into())],
        );
    }

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        let (tx, rx) = mpsc::unbounded_channel::<String>();
        let pending = pending_raw_batches(&data_dir, &pipeline)?;
        for key in &pending {
            tx.send(key.clone()).ok();
        }
        print_banner(local, &data_dir, generated.as_deref(), token_source, pending.len());
        if let Some(days) = retention_days {
            crate::retention::start(&data_dir, days)?;
        }
        let worker = std::thread::Builder::new()
            .name("pipeline".into())
            .spawn(move || worker_loop(rx, pipeline, webhooks))?;

        let tokens_for_console = tokens.clone();
        let state = Arc::new(AppState {
            tokens,
            limits,
            raw: DirRawStore::new(&data_dir),
            quarantine: FileQuarantineSink::new(&data_dir),
            queue: tx,
            body_timeout: Duration::from_secs(args.body_timeout_secs),
            in_flight: Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)),
            console: crate::console::Console {
                data_dir: data_dir.clone(),
                tokens: tokens_for_console,
                listen_loopback: local.ip().is_loopback(),
            },
        });
        let app = axum::Router::new().fallback(handle).with_state(state);
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("server failed")?;
        crate::output::info("shutting down; finishing queued batches", &[]);
        // Dropping the router dropped the last sender: the worker drains the queue and exits.
        tokio::task::spawn_blocking(move || worker.join()).await.ok();
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}

fn print_banner(addr: SocketAddr, data_dir: &Path, generated: Option<&str>, token_source: &str, recovering: usize) {
    println!("tailwatch serve: listening on http://{addr}  (data: {})", data_dir.display());
    match generated {
        Some(token) => {
            println!(
                "\nGenerated an ingest token (stored with mode 0600 in {}; shown only this once):\n\n    {token}\n",
                token_file(data_dir).display()
            );
            println!("Tailscale admin console → Logs → Streaming → Add destination:");
            println!("    Destination type: Splunk");
            println!("    URL:              https://<your public name>/services/collector/event   (TLS via a reverse proxy or `tailscale funnel {}`)", addr.port());
            println!("    User:             user");
            println!("    Token:            {token}\n");
            println!("Try it:\n    curl -sS -u user:{token} --data-binary @tests/fixtures/tailscale/audit-stream.hec http://{addr}/services/collector/event\n");
        }
        None => {
            println!("ingest token: from {token_source} (not printed)");
            if token_source == "the token file" {
                println!(
                    "Try it:\n    curl -sS -u user:$(cat {}) --data-binary @tests/fixtures/tailscale/audit-stream.hec http://{addr}/services/collector/event",
                    token_file(data_dir).display()
                );
            }
        }
    }
    if recovering > 0 {
        println!("recovering {recovering} raw batch(es) accepted before the last stop but not processed");
    }
    println!("console: http://{addr}/   health: http://{addr}/health   stop: Ctrl-C");
}

/// Raw batches on disk not yet marked processed, oldest first (names sort by arrival time).
fn pending_raw_batches(data_dir: &Path, pipeline: &LocalPipeline) -> Result<Vec<String>> {
    let mut keys = Vec::new();
    let root = data_dir.join("raw");
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(".ndjson.zst") {
                if let Ok(rel) = p.strip_prefix(data_dir) {
                    let key = rel.to_string_lossy().replace('\\', "/");
                    if !pipeline.state.is_processed(&key)? {
                        keys.push(key);
                    }
                }
            }
        }
    }
    keys.sort_by(|a, b| a.rsplit('/').next().cmp(&b.rsplit('/').next()));
    Ok(keys)
}

fn worker_loop(mut rx: mpsc::UnboundedReceiver<String>, pipeline: LocalPipeline, webhooks: WebhookSender) {
    while let Some(key) = rx.blocking_recv() {
        let mut attempt = 0u32;
        loop {
            match process_key(&pipeline, &key, &webhooks) {
                Ok(()) => break,
                Err(e) => {
                    attempt += 1;
                    crate::output::warn(
                        "batch failed; it stays on disk and is retried",
                        &[
                            ("raw_key", key.as_str().into()),
                            ("attempt", attempt.into()),
                            ("error", format!("{e:#}").into()),
                        ],
                    );
                    if attempt >= 5 {
                        crate::output::error(
                            "batch given up for now; it is processed again at the next start",
                            &[("raw_key", key.as_str().into())],
                        );
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(200 * 2u64.pow(attempt)));
                }
            }
        }
    }
    webhooks.finish();
}

fn process_key(pipeline: &LocalPipeline, key: &str, webhooks: &WebhookSender) -> Result<()> {
    let path = pipeline.data_dir.join(key);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let report = pipeline.process(&bytes, SOURCE, key, key)?;
    for alert in &report.detect.alerts {
        webhooks.enqueue(alert, &pipeline.state);
    }
    pipeline.state.mark_processed_with_counts(key, &stream_counts(&report))?;
    Ok(())
}

/// What a batch delivered per log type, for `tailwatch status`.
fn stream_counts(report: &crate::local::BatchReport) -> Vec<tailwatch_local::StreamCount> {
    let mut counts: Vec<_> = report
        .rows
        .iter()
        .filter_map(|(table, n)| {
            Some(tailwatch_local::StreamCount {
                source: SOURCE.to_owned(),
                log_type: tailwatch_core::lake::table_by_name(table)?.log_type.to_owned(),
                records: *n as u64,
                last_event: report.last_event.get(table).copied(),
            })
        })
        .collect();
    if !report.quarantined.is_empty() {
        counts.push(tailwatch_local::StreamCount {
            source: SOURCE.to_owned(),
            log_type: tailwatch_core::lake::TAILWATCH_QUARANTINE.log_type.to_owned(),
            records: report.quarantined.len() as u64,
            last_event: None,
        });
    }
    counts
}

fn hec(resp: &HecResponse) -> Response {
    let status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [("content-type", "application/json")], resp.body.clone()).into_response()
}

async fn handle(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if method == Method::GET && crate::console::owns(uri.path()) {
        let query = uri.query().map(str::to_owned);
        return crate::console::handle(state.console.clone(), peer, headers, uri.path().to_owned(), query).await;
    }
    if uri.path() == "/health" || uri.path() == "/services/collector/health" {
        return (
            StatusCode::OK,
            [("content-type", "application/json")],
            r#"{"text":"HEC is healthy","code":17}"#,
        )
            .into_response();
    }
    if method != Method::POST {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [("allow", "POST")],
            r#"{"text":"Use POST to send logs","code":6}"#,
        )
            .into_response();
    }
    let started = Instant::now();
    // Abuse: authenticate from the headers before reading a byte of the body, and cap concurrency.
    let auth: Vec<Vec<u8>> = headers.get_all("authorization").iter().map(|v| v.as_bytes().to_vec()).collect();
    let auth_refs: Vec<&[u8]> = auth.iter().map(Vec::as_slice).collect();
    if let Err(e) = tailwatch_core::pipeline::ingest::authenticate(&auth_refs, &state.tokens) {
        crate::output::warn(
            "request refused",
            &[
                ("path", uri.path().into()),
                ("status", 401.into()),
                ("reason", e.to_string().into()),
            ],
        );
        return hec(&(&e).into());
    }
    let Ok(_permit) = Arc::clone(&state.in_flight).try_acquire_owned() else {
        crate::output::warn(
            "request refused: too many in flight",
            &[("path", uri.path().into()), ("status", 503.into()), ("limit", MAX_IN_FLIGHT.into())],
        );
        return hec(&tailwatch_core::pipeline::ingest::server_busy());
    };
    let limit = state.limits.max_body_bytes;
    let bytes = match tokio::time::timeout(state.body_timeout, axum::body::to_bytes(body, limit + 1)).await {
        Err(_) => {
            return (
                StatusCode::REQUEST_TIMEOUT,
                r#"{"text":"Request body not received in time","code":6}"#,
            )
                .into_response()
        }
        Ok(Err(_)) => {
            let resp = tailwatch_core::pipeline::ingest::body_too_large(limit);
            return hec(&resp);
        }
        Ok(Ok(b)) => b,
    };
    let encoding = headers.get("content-encoding").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let state2 = Arc::clone(&state);
    let result = tokio::task::spawn_blocking(move || {
        let auth_refs: Vec<&[u8]> = auth.iter().map(Vec::as_slice).collect();
        let request_id = uuid::Uuid::new_v4().simple().to_string();
        let req = IngestRequest {
            authorization: &auth_refs,
            content_encoding: encoding.as_deref(),
            body: &bytes,
            source: SOURCE,
            received_at: Timestamp::now(),
            request_id: &request_id,
        };
        block_on(ingest(req, &state2.tokens, &state2.limits, &state2.raw, &state2.quarantine))
    })
    .await;
    let (resp, report) = match result {
        Ok(r) => r,
        Err(_) => return hec(&tailwatch_core::pipeline::ingest::storage_unavailable()),
    };
    if let Some(key) = &report.raw_key {
        // The batch is on disk; if the worker is gone (shutting down) it is recovered at the next start.
        let _ = state.queue.send(key.clone());
    }
    crate::output::info(
        "batch received",
        &[
            ("path", uri.path().into()),
            ("status", resp.status.into()),
            ("accepted", report.accepted.into()),
            ("quarantined", report.quarantined.into()),
            ("ms", ((started.elapsed().as_secs_f64() * 1e4).round() / 10.0).into()),
        ],
    );
    hec(&resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_listen_settings_serve_listens_on_loopback_only() {
        let addr = listen_address(None, None).unwrap();
        assert!(addr.ip().is_loopback(), "default {addr} is not loopback");
        assert_eq!(addr, "127.0.0.1:8088".parse::<SocketAddr>().unwrap());
        // `--listen` wins over the config file, which wins over the default.
        assert_eq!(listen_address(Some("127.0.0.1:9"), Some("0.0.0.0:7")).unwrap().port(), 9);
        assert_eq!(listen_address(None, Some("0.0.0.0:7")).unwrap().to_string(), "0.0.0.0:7");
        assert!(listen_address(Some("localhost"), None).is_err());
    }
}
