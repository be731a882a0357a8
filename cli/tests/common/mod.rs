//! The test harness shared by the `tailwatch serve` tests: a server process per test on a free
//! loopback port, an HTTP client, and readers for what the server wrote.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;

pub const TOKEN: &str = "test-token-0123456789";
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/tailscale");

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(FIXTURES).join(name)).unwrap()
}

pub struct Server {
    pub child: Child,
    pub url: String,
    pub data: PathBuf,
    pub log: std::sync::Arc<std::sync::Mutex<String>>,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Server {
    pub fn start(data: &Path) -> Server {
        Self::start_with(data, &[("TAILWATCH_TOKEN", TOKEN)], &[])
    }

    pub fn start_with(data: &Path, env: &[(&str, &str)], extra: &[&str]) -> Server {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tailwatch"));
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(data)
            .args(extra);
        cmd.env_remove("TAILWATCH_TOKEN")
            .env_remove("TAILWATCH_PREVIOUS_TOKEN")
            .env_remove("TAILWATCH_CONFIG");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    log.lock().unwrap().push_str(&(line + "\n"));
                }
            });
        }
        let url = format!("http://127.0.0.1:{port}");
        let server = Server {
            child,
            url,
            data: data.to_owned(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while server.get("/health").0 != 200 {
            assert!(Instant::now() < deadline, "server did not start: {}", server.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn agent() -> ureq::Agent {
        ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(30)))
                .build(),
        )
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        match Self::agent().get(&format!("{}{path}", self.url)).call() {
            Ok(mut r) => (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default()),
            Err(_) => (0, String::new()),
        }
    }

    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, serde_json::Value) {
        let mut req = Self::agent().post(&format!("{}{path}", self.url));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut resp = req.send(body).unwrap();
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
    }

    pub fn post_bearer(&self, body: &[u8]) -> (u16, serde_json::Value) {
        self.post("/services/collector/event", &[("authorization", &format!("Bearer {TOKEN}"))], body)
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits until every accepted raw batch is processed (the lake has `rows` rows); fails the
    /// test when that does not happen within 20 s.
    pub fn wait_rows(&self, table: &str, rows: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found = lake_rows(&self.data, table);
            if found.len() >= rows {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "{table}: {} rows after 20 s, expected at least {rows}; server log:\n{}",
                found.len(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until `ready` holds for the lake or quarantine under the data directory; fails the
    /// test after 20 s, naming `what`.
    pub fn wait_until(&self, what: &str, ready: impl Fn(&Path) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ready(&self.data) {
            assert!(Instant::now() < deadline, "not within 20 s: {what}; server log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stop(mut self) -> String {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(50));
        self.log()
    }

    pub fn kill(mut self) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn files_under(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(suffix) {
                out.push(p);
            }
        }
    }
    out
}

pub fn lake_rows(data: &Path, table: &str) -> Vec<serde_json::Value> {
    let mut rows = Vec::new();
    for f in files_under(&data.join("lake").join(table), ".json.gz") {
        let mut text = String::new();
        if flate2::read::MultiGzDecoder::new(std::fs::File::open(&f).unwrap())
            .read_to_string(&mut text)
            .is_err()
        {
            continue;
        }
        rows.extend(text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()));
    }
    rows
}

/// Every quarantine row under the data directory.
pub fn quarantine_rows(data: &Path) -> Vec<serde_json::Value> {
    let mut rows = Vec::new();
    for f in files_under(&data.join("quarantine"), ".json.gz") {
        let mut text = String::new();
        if flate2::read::MultiGzDecoder::new(std::fs::File::open(&f).unwrap())
            .read_to_string(&mut text)
            .is_err()
        {
            continue;
        }
        rows.extend(text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()));
    }
    rows
}

pub fn raw_batches(data: &Path) -> usize {
    files_under(&data.join("raw"), ".ndjson.zst").len()
}

pub fn basic(user: &str, token: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"))
    )
}

/// Peak resident memory of a process, KiB.
pub fn vm_hwm_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap()
}
