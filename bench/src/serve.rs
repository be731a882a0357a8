//! Local `tailwatch serve` under load, on loopback only, for a bounded time: N concurrent clients
//! POST 512 KiB network bodies as fast as they are answered, while a probe posts one audit record
//! that fires an alert every few seconds; POST-to-alert latency is read from serve's own stdout
//! (the `ALERT …` line), so it includes the whole pipeline: ingest, raw batch on disk, the worker's
//! normalize → lake files → detections → alert delivery.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::measure::{median_of, percentile};

const TOKEN: &str = "bench-serve-token";

/// Settings.
#[derive(Debug, Clone)]
pub struct ServeOpts {
    /// The `tailwatch` binary.
    pub tailwatch: PathBuf,
    /// Where serve keeps its data (deleted before and after).
    pub data_dir: PathBuf,
    /// Seconds of load.
    pub secs: f64,
    /// Concurrent clients.
    pub clients: usize,
    /// Seconds between probes during the load.
    pub probe_every: f64,
    /// Longest wait for the backlog to drain after the load.
    pub drain_timeout: f64,
}

/// What the run measured.
#[derive(Debug, Clone, Default)]
pub struct ServeResult {
    /// Clients.
    pub clients: usize,
    /// Seconds of load (actual).
    pub secs: f64,
    /// Body size posted.
    pub body_bytes: usize,
    /// 200 answers.
    pub ok: usize,
    /// Anything else (status or transport error).
    pub errors: usize,
    /// The first error.
    pub first_error: Option<String>,
    /// POST latency of the 200s, ms.
    pub latencies_ms: Vec<f64>,
    /// POST-to-alert on an idle server, ms.
    pub idle_alert_ms: Vec<f64>,
    /// POST-to-alert during the load, ms (None: not seen before the end of the run).
    pub load_alert_ms: Vec<Option<f64>>,
    /// POST-to-alert of a probe sent right after the load stopped: the backlog drain, ms.
    pub drain_alert_ms: Option<f64>,
    /// Bytes under the data dir at the end (raw batches, lake, state).
    pub data_dir_bytes: u64,
    /// Lake bytes (gzip NDJSON) at the end.
    pub lake_bytes: u64,
    /// Raw batch bytes (zstd NDJSON) at the end.
    pub raw_bytes: u64,
}

impl ServeResult {
    /// Accepted MB/s over the load.
    pub fn mb_s(&self) -> f64 {
        (self.ok * self.body_bytes) as f64 / 1e6 / self.secs
    }
    /// Latency percentile of the 200s, ms.
    pub fn latency(&self, p: f64) -> f64 {
        percentile(&self.latencies_ms, p)
    }
    /// Input MB/s the worker sustained: everything accepted, processed by the end of the drain.
    pub fn worker_mb_s(&self) -> Option<f64> {
        self.drain_alert_ms
            .map(|d| (self.ok * self.body_bytes) as f64 / 1e6 / (self.secs + d / 1e3))
    }
}

fn probe_body(n: usize) -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!(
        r#"{{"time":{}.{:03},"event":{{"eventGroupID":"{n:032x}","origin":"ADMIN_CONSOLE","actor":{{"id":"uProbe{n}CNTRL","type":"USER","loginName":"probe-{n}@bench.example.com","displayName":"Probe {n}"}},"target":{{"id":"example.com","name":"example.com","type":"TAILNET","property":"MAGIC_DNS"}},"action":"DISABLE"}},"fields":{{"recorded":"2025-03-04T17:21:09.871204398Z"}}}}"#,
        now / 1000,
        now % 1000
    )
    .into_bytes()
}

fn new_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn post(agent: &ureq::Agent, url: &str, body: &[u8]) -> Result<(u16, String), String> {
    match agent
        .post(url)
        .header("authorization", &format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .send(body)
    {
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            let text = resp.body_mut().read_to_string().unwrap_or_default();
            Ok((status, text))
        }
        Err(e) => Err(e.to_string()),
    }
}

fn dir_bytes(path: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![path.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

struct Server {
    child: Child,
    url: String,
    alerts: Arc<Mutex<HashMap<usize, Instant>>>,
}

impl Server {
    fn start(opts: &ServeOpts) -> Result<Self, String> {
        let mut child = Command::new(&opts.tailwatch)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&opts.data_dir)
            .env("TAILWATCH_TOKEN", TOKEN)
            .env_remove("TAILWATCH_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", opts.tailwatch.display()))?;
        let alerts: Arc<Mutex<HashMap<usize, Instant>>> = Arc::default();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let seen = Arc::clone(&alerts);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let now = Instant::now();
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or_default().to_owned());
                }
                if line.starts_with("ALERT") {
                    if let Some(n) = line
                        .split("probe-")
                        .nth(1)
                        .and_then(|r| r.split('@').next())
                        .and_then(|n| n.parse().ok())
                    {
                        if let Ok(mut m) = seen.lock() {
                            m.entry(n).or_insert(now);
                        }
                    }
                }
            }
        });
        // serve logs one line per POST on stderr: drain it so the pipe never blocks the server.
        let stderr = child.stderr.take().ok_or("no stderr")?;
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("error") {
                    eprintln!("  serve: {line}");
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| "tailwatch serve did not print its address within 30 s".to_owned())?;
        Ok(Server {
            child,
            url: format!("http://{addr}/services/collector/event"),
            alerts,
        })
    }

    fn wait_alert(&self, n: usize, timeout: Duration) -> Option<Instant> {
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            if let Some(t) = self.alerts.lock().ok().and_then(|m| m.get(&n).copied()) {
                return Some(t);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        None
    }

    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the load test. `bodies` are the request bodies the clients cycle through.
///
/// # Errors
/// When serve cannot be started.
pub fn run(opts: &ServeOpts, bodies: &[Vec<u8>], log: &mut dyn FnMut(&str)) -> Result<ServeResult, String> {
    let _ = std::fs::remove_dir_all(&opts.data_dir);
    let server = Server::start(opts)?;
    let agent = new_agent();
    let mut result = ServeResult {
        clients: opts.clients,
        body_bytes: bodies.first().map_or(0, Vec::len),
        ..ServeResult::default()
    };

    // Idle: one probe at a time.
    let mut probe = 0usize;
    for _ in 0..5 {
        probe += 1;
        let t0 = Instant::now();
        match post(&agent, &server.url, &probe_body(probe)) {
            Ok((200, _)) => {}
            other => return Err(format!("probe answered {other:?}")),
        }
        if let Some(t) = server.wait_alert(probe, Duration::from_secs(10)) {
            result.idle_alert_ms.push((t - t0).as_secs_f64() * 1e3);
        }
    }

    // Load.
    let errors = Arc::new(AtomicUsize::new(0));
    let first_error: Arc<Mutex<Option<String>>> = Arc::default();
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(opts.secs);
    let mut handles = Vec::new();
    for c in 0..opts.clients {
        let (url, bodies) = (server.url.clone(), bodies.to_vec());
        let (errors, first_error) = (Arc::clone(&errors), Arc::clone(&first_error));
        handles.push(std::thread::spawn(move || {
            let agent = new_agent();
            let mut lat = Vec::new();
            let mut i = c;
            while Instant::now() < deadline {
                let body = &bodies[i % bodies.len()];
                i += 1;
                let t0 = Instant::now();
                match post(&agent, &url, body) {
                    Ok((200, _)) => lat.push(t0.elapsed().as_secs_f64() * 1e3),
                    other => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut f) = first_error.lock() {
                            f.get_or_insert_with(|| format!("{other:?}").chars().take(300).collect());
                        }
                    }
                }
            }
            lat
        }));
    }
    let mut load_probes = Vec::new();
    while Instant::now() + Duration::from_secs_f64(opts.probe_every) < deadline {
        std::thread::sleep(Duration::from_secs_f64(opts.probe_every));
        probe += 1;
        let t0 = Instant::now();
        match post(&agent, &server.url, &probe_body(probe)) {
            Ok((200, _)) => load_probes.push((probe, t0)),
            other => {
                errors.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut f) = first_error.lock() {
                    f.get_or_insert_with(|| format!("probe: {other:?}"));
                }
            }
        }
    }
    for h in handles {
        if let Ok(lat) = h.join() {
            result.latencies_ms.extend(lat);
        }
    }
    result.secs = started.elapsed().as_secs_f64();
    result.ok = result.latencies_ms.len();
    result.errors = errors.load(Ordering::Relaxed);
    result.first_error = first_error.lock().ok().and_then(|f| f.clone());
    log(&format!(
        "  load done: {} x 200 in {:.1} s ({:.1} MB/s), {} error(s); waiting for the backlog",
        result.ok,
        result.secs,
        result.mb_s(),
        result.errors
    ));

    // Drain: a probe posted now is processed after everything accepted before it.
    probe += 1;
    let t0 = Instant::now();
    let drain_probe = probe;
    if let Ok((200, _)) = post(&agent, &server.url, &probe_body(drain_probe)) {
        result.drain_alert_ms = server
            .wait_alert(drain_probe, Duration::from_secs_f64(opts.drain_timeout))
            .map(|t| (t - t0).as_secs_f64() * 1e3);
    }
    for (n, t0) in load_probes {
        result
            .load_alert_ms
            .push(server.wait_alert(n, Duration::ZERO).map(|t| (t - t0).as_secs_f64() * 1e3));
    }
    result.data_dir_bytes = dir_bytes(&opts.data_dir);
    result.lake_bytes = dir_bytes(&opts.data_dir.join("lake"));
    result.raw_bytes = dir_bytes(&opts.data_dir.join("raw"));
    server.stop();
    let _ = std::fs::remove_dir_all(&opts.data_dir);
    Ok(result)
}

/// Median of the seen latencies.
pub fn median_seen(v: &[Option<f64>]) -> Option<f64> {
    let seen: Vec<f64> = v.iter().flatten().copied().collect();
    (!seen.is_empty()).then(|| median_of(&seen))
}
