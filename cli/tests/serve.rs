//! `tailwatch serve` over real HTTP on loopback: the ingest contract, the pipeline behind it, and
//! crash recovery. Each test starts its own server process on a free port with its own data dir.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;

const TOKEN: &str = "test-token-0123456789";
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/tailscale");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(FIXTURES).join(name)).unwrap()
}

struct Server {
    child: Child,
    url: String,
    data: PathBuf,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Server {
    fn start(data: &Path) -> Server {
        Self::start_with(data, &[("TAILWATCH_TOKEN", TOKEN)], &[])
    }

    fn start_with(data: &Path, env: &[(&str, &str)], extra: &[&str]) -> Server {
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

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn agent() -> ureq::Agent {
        ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(30)))
                .build(),
        )
    }

    fn get(&self, path: &str) -> (u16, String) {
        match Self::agent().get(&format!("{}{path}", self.url)).call() {
            Ok(mut r) => (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default()),
            Err(_) => (0, String::new()),
        }
    }

    fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, serde_json::Value) {
        let mut req = Self::agent().post(&format!("{}{path}", self.url));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut resp = req.send(body).unwrap();
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
    }

    fn post_bearer(&self, body: &[u8]) -> (u16, serde_json::Value) {
        self.post("/services/collector/event", &[("authorization", &format!("Bearer {TOKEN}"))], body)
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits until every accepted raw batch is processed (the lake has `rows` rows).
    fn wait_rows(&self, table: &str, rows: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found = lake_rows(&self.data, table);
            if found.len() >= rows || Instant::now() > deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(mut self) -> String {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(50));
        self.log()
    }

    fn kill(mut self) {
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

fn files_under(dir: &Path, suffix: &str) -> Vec<PathBuf> {
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

fn lake_rows(data: &Path, table: &str) -> Vec<serde_json::Value> {
    let mut rows = Vec::new();
    for f in files_under(&data.join("lake").join(table), ".json.gz") {
        let mut text = String::new();
        if flate2::read::GzDecoder::new(std::fs::File::open(&f).unwrap())
            .read_to_string(&mut text)
            .is_err()
        {
            continue;
        }
        rows.extend(text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()));
    }
    rows
}

fn raw_batches(data: &Path) -> usize {
    files_under(&data.join("raw"), ".ndjson.zst").len()
}

fn basic(user: &str, token: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"))
    )
}

#[test]
fn each_auth_form_is_accepted_and_wrong_or_missing_tokens_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path());
    let body = fixture("audit-stream.hec");
    for header in [basic("user", TOKEN), format!("Bearer {TOKEN}"), format!("Splunk {TOKEN}")] {
        let (status, resp) = s.post("/services/collector/event", &[("authorization", &header)], &body);
        assert_eq!(
            (status, resp["code"].as_i64(), resp["accepted"].as_u64()),
            (200, Some(0), Some(15)),
            "{header}: {resp}"
        );
    }
    let stored = raw_batches(dir.path());
    assert_eq!(stored, 3);
    for (headers, code) in [
        (vec![], 2),
        (vec![("authorization", "Bearer wrong-token".to_owned())], 4),
        (vec![("authorization", basic("user", "wrong-token"))], 4),
        (vec![("authorization", "Digest abc".to_owned())], 3),
    ] {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, resp) = s.post("/", &h, &body);
        assert_eq!((status, resp["code"].as_i64()), (401, Some(code)), "{resp}");
        assert!(!resp.to_string().contains(TOKEN));
    }
    assert_eq!(raw_batches(dir.path()), stored, "nothing stored for a 401");
    assert!(
        files_under(&dir.path().join("quarantine"), ".gz").is_empty(),
        "nothing quarantined for a 401"
    );
    assert!(!s.log().contains(TOKEN), "the token never appears in logs");
}

#[test]
fn each_encoding_and_each_framing() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path());
    let plain = fixture("network-stream.hec");
    let gz = fixture("network-stream.hec.gz");
    let zst = tailwatch_core::wire::decode::zstd_compress(&plain, 3);
    let auth = format!("Bearer {TOKEN}");
    for (encoding, body) in [
        (Some("gzip"), &gz),
        (None, &gz),
        (Some("zstd"), &zst),
        (None, &zst),
        (Some("identity"), &plain),
        (None, &plain),
    ] {
        let mut headers = vec![("authorization", auth.as_str())];
        if let Some(e) = encoding {
            headers.push(("content-encoding", e));
        }
        let (status, resp) = s.post("/", &headers, body);
        assert_eq!((status, resp["accepted"].as_u64()), (200, Some(4)), "{encoding:?}: {resp}");
    }
    let (status, resp) = s.post("/", &[("authorization", &auth), ("content-encoding", "br")], &plain);
    assert_eq!((status, resp["code"].as_i64()), (415, Some(6)), "{resp}");

    let record = r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"CONFIG_API","actor":{"id":"k1"},"target":{"type":"TAILNET","property":"HTTPS"},"action":"DISABLE"}"#;
    let envelope = format!(r#"{{"time":1741108869.412,"event":{record},"fields":{{"recorded":"2025-03-04T17:21:09.871Z"}}}}"#);
    for (framing, body, n) in [
        ("concatenated", format!("{envelope}{envelope}{envelope}"), 3),
        ("ndjson", format!("{envelope}\n{envelope}\n"), 2),
        ("bare ndjson", format!("{record}\n{record}\n"), 2),
        ("array", format!("[{envelope},{record}]"), 2),
        (
            "logs",
            format!(r#"{{"version":"1.1","logs":[{record},{record},{record},{record}]}}"#),
            4,
        ),
        ("api response", String::from_utf8(fixture("audit-api-response.json")).unwrap(), 3),
        ("s3 export", String::from_utf8(fixture("audit-s3-export.ndjson")).unwrap(), 2),
    ] {
        let (status, resp) = s.post_bearer(body.as_bytes());
        assert_eq!((status, resp["accepted"].as_u64()), (200, Some(n)), "{framing}: {resp}");
    }
}

#[test]
fn bad_fixtures_get_their_documented_responses() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path());
    let (status, resp) = s.post_bearer(&fixture("bad/truncated.hec"));
    assert_eq!(
        (status, resp["code"].as_i64(), resp["invalid-event-number"].as_u64()),
        (400, Some(6), Some(0)),
        "{resp}"
    );
    assert!(resp["text"].as_str().unwrap().contains("truncated"));
    let (status, resp) = s.post_bearer(&fixture("bad/not-json.txt"));
    assert_eq!((status, resp["code"].as_i64()), (400, Some(6)), "{resp}");
    let (status, resp) = s.post_bearer(&fixture("bad/wrong-types.hec"));
    assert_eq!((status, resp["code"].as_i64()), (400, Some(6)));
    assert!(resp["text"].as_str().unwrap().contains("field `time`"), "{resp}");
    let (status, resp) = s.post_bearer(&fixture("bad/unknown-shape.hec"));
    assert_eq!((status, resp["code"].as_i64()), (400, Some(6)));
    assert!(resp["text"].as_str().unwrap().contains("unrecognized record"), "{resp}");
    let (status, resp) = s.post_bearer(&fixture("bad/mixed-good-and-bad.ndjson"));
    assert_eq!(
        (status, resp["accepted"].as_u64(), resp["quarantined"].as_u64()),
        (200, Some(2), Some(1)),
        "{resp}"
    );
    assert_eq!(resp["first_quarantined"]["line"], 2);
    let (status, resp) = s.post_bearer(&fixture("bad/deep-nesting.json"));
    assert_eq!((status, resp["code"].as_i64()), (400, Some(6)), "{resp}");
    let (status, resp) = s.post_bearer(b"   \n");
    assert_eq!((status, resp["code"].as_i64()), (400, Some(5)), "{resp}");
    // Every rejected value is in quarantine with its reason, and only the mixed batch stored raw.
    assert_eq!(raw_batches(dir.path()), 1);
    let quarantined = files_under(&dir.path().join("quarantine"), ".json.gz").len();
    assert_eq!(quarantined, 6, "one quarantine file per bad request");
    assert_eq!(s.get("/health").0, 200, "still serving");
}

fn vm_hwm_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap()
}

#[test]
fn compression_bombs_and_oversized_bodies_are_413_with_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path());
    // 1 GiB of zeros in ~1 MiB of gzip, and the same as zstd (≈ 30 KiB).
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![b'0'; 1 << 20];
    for _ in 0..1024 {
        std::io::Write::write_all(&mut e, &chunk).unwrap();
    }
    let gz_bomb = e.finish().unwrap();
    let mut z = zstd::stream::write::Encoder::new(Vec::new(), 19).unwrap();
    for _ in 0..1024 {
        std::io::Write::write_all(&mut z, &chunk).unwrap();
    }
    let zst_bomb = z.finish().unwrap();
    for bomb in [&gz_bomb, &zst_bomb] {
        let (status, resp) = s.post(
            "/",
            &[("authorization", &format!("Bearer {TOKEN}")), ("content-encoding", "gzip")],
            bomb,
        );
        assert_eq!((status, resp["code"].as_i64()), (413, Some(6)), "{resp}");
        assert!(resp["text"].as_str().unwrap().contains("compression bomb"), "{resp}");
    }
    let big = vec![b' '; 9 << 20];
    let (status, resp) = s.post_bearer(&big);
    assert_eq!(status, 413, "{resp}");
    let hwm = vm_hwm_kib(s.pid());
    assert!(hwm < 256 * 1024, "peak RSS {hwm} KiB after bombs");
    assert_eq!(raw_batches(dir.path()), 0);
    assert_eq!(s.post_bearer(&fixture("audit-stream.hec")).0, 200, "still serving");
}

#[test]
fn concurrent_clients_all_land_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path());
    let body = fixture("network-stream.hec");
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..10 {
                    let (status, resp) = s.post_bearer(&body);
                    assert_eq!(status, 200, "{resp}");
                }
            });
        }
    });
    let rows = s.wait_rows("tailscale_network", 80 * 15);
    assert_eq!(rows.len(), 80 * 15, "every accepted batch is in the lake once");
    assert_eq!(raw_batches(dir.path()), 80);
}

#[test]
fn posting_the_audit_stream_pages_the_expected_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path());
    let started = Instant::now();
    assert_eq!(
        s.post(
            "/services/collector/event",
            &[("authorization", &basic("user", TOKEN))],
            &fixture("audit-stream.hec")
        )
        .0,
        200
    );
    let alerts_dir = dir.path().join("alerts");
    let deadline = Instant::now() + Duration::from_secs(20);
    let alerts = loop {
        let alerts = tailwatch_local::read_alerts(&alerts_dir).unwrap();
        let all = EXPECTED_FROM_AUDIT_STREAM.iter().all(|id| alerts.iter().any(|a| a.id == *id));
        if all || Instant::now() > deadline {
            break alerts;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let latency = started.elapsed();
    let ids: Vec<&str> = alerts.iter().map(|a| a.id.as_str()).collect();
    for expected in EXPECTED_FROM_AUDIT_STREAM {
        assert!(ids.contains(expected), "missing {expected}; got {ids:?}");
    }
    let magic = alerts.iter().find(|a| a.id == "Tailscale.MagicDNS.Disabled").unwrap();
    assert_eq!(magic.title, "Tailscale MagicDNS disabled by alice@example.com via ADMIN_CONSOLE");
    assert!(latency < Duration::from_secs(5), "alert took {latency:?}");
    let log = s.stop();
    assert!(log.contains("ALERT [HIGH] Tailscale MagicDNS disabled"), "{log}");
    // A second identical POST (Tailscale retrying) pages nothing new.
    let s = Server::start(dir.path());
    assert_eq!(s.post_bearer(&fixture("audit-stream.hec")).0, 200);
    s.wait_rows("tailscale_audit", 30);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        tailwatch_local::read_alerts(&alerts_dir).unwrap().len(),
        alerts.len(),
        "a retried batch does not page twice"
    );
}

/// The alerts the fixtures README says `audit-stream.hec` fires.
const EXPECTED_FROM_AUDIT_STREAM: &[&str] = &[
    "Tailscale.MagicDNS.Disabled",
    "Tailscale.HTTPS.Disabled",
    "Tailscale.DeviceApproval.Disabled",
    "Tailscale.PolicyFile.Changed",
    "Tailscale.User.RoleEscalated",
    "Tailscale.AuthKey.Created",
    "Tailscale.Node.ExitNodeApproved",
    "Tailscale.Node.KeyExpiryDisabled",
    "Tailscale.TailnetLock.Disabled",
    "Tailscale.LogStreaming.Tampered",
];

#[test]
fn a_crash_after_the_200_loses_nothing_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // Make the worker fail (a lake that cannot be written) so accepted batches stay unprocessed
    // deterministically, then SIGKILL right after the 200s.
    std::fs::create_dir_all(dir.path()).unwrap();
    std::fs::write(dir.path().join("lake"), b"not a directory").unwrap();
    let s = Server::start(dir.path());
    let mut accepted = 0;
    for body in [
        fixture("audit-stream.hec"),
        fixture("network-stream.hec.gz"),
        fixture("audit-api-response.json"),
    ] {
        let (status, resp) = s.post_bearer(&body);
        assert_eq!(status, 200, "{resp}");
        accepted += resp["accepted"].as_u64().unwrap();
    }
    assert_eq!(accepted, 15 + 4 + 3);
    s.kill();
    std::fs::remove_file(dir.path().join("lake")).unwrap();

    let s = Server::start(dir.path());
    let audit = s.wait_rows("tailscale_audit", 18);
    let network = s.wait_rows("tailscale_network", 15);
    assert!(s.log().contains("recovering 3 raw batch(es)"), "{}", s.log());
    let ids = |rows: &[serde_json::Value]| {
        let mut ids: Vec<String> = rows.iter().map(|r| r["p_row_id"].as_str().unwrap().to_owned()).collect();
        ids.sort();
        ids
    };
    // Exactly once by p_row_id: every accepted record, no duplicates.
    assert_eq!(audit.len(), 18);
    assert_eq!(network.len(), 15);
    for rows in [&audit, &network] {
        let mut unique = ids(rows);
        unique.dedup();
        assert_eq!(unique.len(), rows.len());
    }
    // A second restart re-processes nothing.
    let log = s.stop();
    assert!(!log.contains("error processing"), "{log}");
    let s = Server::start(dir.path());
    assert!(!s.log().contains("recovering"), "{}", s.log());
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(lake_rows(dir.path(), "tailscale_audit").len(), 18);
}

#[test]
fn a_generated_token_is_stored_privately_and_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(dir.path(), &[], &[]);
    let token = std::fs::read_to_string(dir.path().join("token")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(dir.path().join("token")).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(s.log().contains(&token), "printed on generation");
    assert!(s.log().contains("/services/collector/event"));
    assert_eq!(
        s.post("/", &[("authorization", &basic("user", &token))], &fixture("audit-stream.hec"))
            .0,
        200
    );
    s.stop();
    let s = Server::start_with(dir.path(), &[], &[]);
    assert!(!s.log().contains(&token), "not printed again");
    assert_eq!(
        s.post("/", &[("authorization", &format!("Bearer {token}"))], &fixture("audit-stream.hec"))
            .0,
        200
    );
}

#[test]
fn two_tokens_work_during_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(
        dir.path(),
        &[("TAILWATCH_TOKEN", "new-token"), ("TAILWATCH_PREVIOUS_TOKEN", "old-token")],
        &[],
    );
    for t in ["new-token", "old-token"] {
        assert_eq!(
            s.post("/", &[("authorization", &format!("Bearer {t}"))], &fixture("audit-stream.hec"))
                .0,
            200
        );
    }
    assert_eq!(
        s.post("/", &[("authorization", "Bearer older-token")], &fixture("audit-stream.hec"))
            .0,
        401
    );
}
