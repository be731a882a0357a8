//! `tailwatch serve` killed between its writes. The debug build's checkpoint hook
//! (`TAILWATCH_TEST_ABORT_AT=<checkpoint>:<n>`, `tailwatch_local::checkpoint`) aborts the process
//! right after the n-th pass of a checkpoint; every checkpoint sits right after one write of the
//! per-batch sequence (quarantine, raw batch, state commit, alert rows, alerts file, delivered
//! mark, lake objects, processed mark, webhook POST, webhook delivered mark). For each checkpoint,
//! at its first, a middle and its last pass in a clean run, a fresh server is posted the same
//! realistic batches, dies there, is restarted, is sent again whatever got no answer (as Tailscale
//! does), and is stopped. Then, against the clean run:
//!
//! - the lake holds the same `p_row_id`s, each as many times as in the clean run, except the one
//!   documented bound: a batch whose request got no answer may have been stored before the kill
//!   (after its raw write, before its 200) and is stored again when re-sent, so its rows may be
//!   there once more under the same `p_row_id`s;
//! - the alert rows, the alerts file and the alerts (ids, detections, event counts) are the clean
//!   run's, each alert once;
//! - the webhook received every alert; at most one alert twice: the one whose POST succeeded right
//!   before the kill (its delivered mark was never written: the documented bound, same alert id);
//! - the quarantine holds the clean run's rows (plus at most one copy per request that got no
//!   answer: each attempt wrote the values it rejected, as documented);
//! - `tailwatch status --json` counts the same records per stream, quarantine rows, alerts by
//!   severity and failed deliveries (when no request went unanswered).

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

/// The batches posted, in order: audit records that page, network flows, and a body with a value
/// rejected at ingest.
const BATCHES: &[&str] = &["audit-stream.hec", "network-stream.hec.gz", "bad/mixed-good-and-bad.ndjson"];

/// A local webhook receiver: records every POST body, answers 200.
struct Hook {
    url: String,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Hook {
    fn start() -> Hook {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook/secret-path", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let sink = bodies.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().map_while(Result::ok) {
                let sink = sink.clone();
                std::thread::spawn(move || serve_hook(conn, &sink));
            }
        });
        Hook { url, bodies }
    }

    fn alert_ids(&self) -> BTreeMap<String, usize> {
        let mut ids = BTreeMap::new();
        for b in self.bodies.lock().unwrap().iter() {
            *ids.entry(b["alertId"].as_str().unwrap_or_else(|| panic!("no alertId in {b}")).to_owned())
                .or_insert(0) += 1;
        }
        ids
    }
}

fn serve_hook(conn: std::net::TcpStream, sink: &Mutex<Vec<serde_json::Value>>) {
    let mut out = conn.try_clone().unwrap();
    let mut reader = BufReader::new(conn);
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        sink.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
        if out.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_err() {
            return;
        }
    }
}

/// Posts a batch; `None` when the server died before answering.
fn try_post(url: &str, body: &[u8]) -> Option<u16> {
    Server::agent()
        .post(&format!("{url}/services/collector/event"))
        .header("authorization", &format!("Bearer {TOKEN}"))
        .send(body)
        .ok()
        .map(|r| r.status().as_u16())
}

/// Everything a run left behind that the claims are about.
#[derive(Debug, PartialEq)]
struct Outcome {
    /// `p_row_id` → copies, per table.
    rows: BTreeMap<String, BTreeMap<String, usize>>,
    /// Alert id → lines in the alerts files.
    alert_lines: BTreeMap<String, usize>,
    /// Alert id → (detection, event count) as delivered.
    alerts: BTreeMap<String, (String, u64)>,
    /// Alert id → webhook POSTs.
    webhook: BTreeMap<String, usize>,
    /// (reason, original value) → copies.
    quarantine: BTreeMap<(String, String), usize>,
    /// `tailwatch status --json`: records per stream, quarantine total, alerts in 24 h.
    status: serde_json::Value,
}

fn outcome(data: &Path, hook: &Hook) -> Outcome {
    let mut rows = BTreeMap::new();
    for table in ["tailscale_audit", "tailscale_network", "tailwatch_alerts"] {
        let mut ids = BTreeMap::new();
        for r in lake_rows(data, table) {
            *ids.entry(r["p_row_id"].as_str().unwrap().to_owned()).or_insert(0) += 1;
        }
        rows.insert(table.to_owned(), ids);
    }
    let mut alert_lines = BTreeMap::new();
    let mut alerts = BTreeMap::new();
    for a in tailwatch_local::read_alerts(&data.join("alerts")).unwrap() {
        *alert_lines.entry(a.alert_id.clone()).or_insert(0) += 1;
        alerts.insert(a.alert_id.clone(), (a.id.clone(), a.event_count));
    }
    let mut quarantine = BTreeMap::new();
    for q in quarantine_rows(data) {
        *quarantine.entry((q["reason"].to_string(), q["original"].to_string())).or_insert(0) += 1;
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tailwatch"))
        .args(["status", "--json", "--data-dir"])
        .arg(data)
        .output()
        .unwrap();
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let streams: Vec<_> = s["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| serde_json::json!([x["log_type"], x["records"]]))
        .collect();
    let status = serde_json::json!({
        "streams": streams,
        "quarantine": s["quarantine"]["total"],
        "alerts": s["alerts_24h"],
        "failed_deliveries": s["failed_deliveries"],
    });
    Outcome {
        rows,
        alert_lines,
        alerts,
        webhook: hook.alert_ids(),
        quarantine,
        status,
    }
}

fn config(dir: &Path, hook: &Hook) -> String {
    let path = dir.join("tailwatch.toml");
    std::fs::write(&path, format!("[server]\nwebhook_url = \"{}\"\n", hook.url)).unwrap();
    path.to_string_lossy().into_owned()
}

/// A run with the hook set to `abort_at` (`None`: a clean run). Returns the run's outcome, which
/// batches got no answer from the first server (re-sent to the second), and the first server's log.
fn run(abort_at: Option<&str>) -> (Outcome, Vec<&'static str>, String) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let hook = Hook::start();
    let cfg = config(dir.path(), &hook);
    let extra = ["--config", cfg.as_str()];
    let env = [("TAILWATCH_TOKEN", TOKEN), ("TAILWATCH_TEST_ABORT_AT", abort_at.unwrap_or("trace"))];
    let mut s = Server::start_with(&data, &env, &extra);
    let mut unanswered = Vec::new();
    for name in BATCHES {
        match try_post(&s.url, &fixture(name)) {
            Some(status) => assert_eq!(status, 200, "{name}: {}", s.log()),
            None => unanswered.push(*name),
        }
    }
    let first_log = if let Some(at) = abort_at {
        // The server must die at the checkpoint: a checkpoint never reached proves nothing.
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = s.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "{at}: never reached; log:\n{}", s.log());
            std::thread::sleep(Duration::from_millis(20));
        };
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(6),
            "{at}: expected SIGABRT, got {status:?}; log:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(50));
        let log = s.log();
        assert!(log.contains("TAILWATCH_TEST_ABORT_AT: aborting"), "{log}");
        drop(s);
        // Restart without the hook; re-send what got no answer.
        s = Server::start_with(&data, &[("TAILWATCH_TOKEN", TOKEN)], &extra);
        for name in &unanswered {
            assert_eq!(try_post(&s.url, &fixture(name)), Some(200), "{name}: {}", s.log());
        }
        log
    } else {
        assert!(unanswered.is_empty(), "clean run: {unanswered:?}");
        String::new()
    };
    let log = s.stop();
    let first_log = if abort_at.is_some() { first_log } else { log };
    (outcome(&data, &hook), unanswered, first_log)
}

#[test]
fn serve_killed_between_any_two_writes_loses_nothing_and_pages_once() {
    let (clean, _, trace) = run(None);
    // Sanity: the clean run is what the checks compare against, so it must exercise everything.
    assert!(clean.alerts.len() >= 10, "{:?}", clean.alerts);
    assert_eq!(clean.webhook.len(), clean.alerts.len());
    assert!(clean.webhook.values().all(|n| *n == 1));
    assert!(clean.alert_lines.values().all(|n| *n == 1));
    assert!(!clean.quarantine.is_empty());
    for table in ["tailscale_audit", "tailscale_network"] {
        assert!(!clean.rows[table].is_empty(), "{table}");
    }
    assert_eq!(clean.rows["tailwatch_alerts"].len(), clean.alerts.len());

    let mut passes: BTreeMap<&str, usize> = BTreeMap::new();
    for line in trace.lines() {
        if let Some(name) = line.strip_prefix("checkpoint ") {
            let name = tailwatch_local::checkpoint::CHECKPOINTS
                .iter()
                .find(|c| **c == name)
                .unwrap_or_else(|| panic!("unlisted checkpoint {name}"));
            *passes.entry(name).or_insert(0) += 1;
        }
    }
    for c in tailwatch_local::checkpoint::CHECKPOINTS {
        assert!(passes.contains_key(c), "the clean run never passed {c}: {passes:?}");
    }
    eprintln!("passes in a clean run: {passes:?}");

    let mut failures = Vec::new();
    for (checkpoint, count) in &passes {
        let mut ns = vec![1, count.div_ceil(2), *count];
        ns.dedup();
        for n in ns {
            let at = format!("{checkpoint}:{n}");
            let (got, unanswered, _) = run(Some(&at));
            if let Err(e) = check(&clean, &got, &unanswered) {
                failures.push(format!("{at} (re-sent {unanswered:?}): {e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Compares a killed-and-restarted run with the clean run, allowing only the documented bounds.
fn check(clean: &Outcome, got: &Outcome, unanswered: &[&str]) -> Result<(), String> {
    // A batch whose request got no answer (the process died during it, whatever the checkpoint:
    // the HTTP handler runs beside the worker) may have been stored before the kill; re-sent, it is
    // stored again, so its rows may be in the lake once more under the same p_row_ids.
    let resent = !unanswered.is_empty();
    for (table, ids) in &clean.rows {
        let g = &got.rows[table];
        if g.keys().ne(ids.keys()) {
            return Err(format!("{table}: a different set of p_row_ids: {} vs {}", g.len(), ids.len()));
        }
        for (id, n) in ids {
            let m = g[id];
            let extra_allowed = usize::from(resent && table != "tailwatch_alerts");
            if m < *n || m > n + extra_allowed {
                return Err(format!("{table}: {id} {m} times, clean run {n}"));
            }
        }
    }
    if got.alert_lines != clean.alert_lines {
        return Err(format!("alerts file: {:?} vs clean {:?}", got.alert_lines, clean.alert_lines));
    }
    if got.alerts != clean.alerts {
        return Err(format!("alerts: {:?} vs clean {:?}", got.alerts, clean.alerts));
    }
    if got.webhook.keys().ne(clean.webhook.keys()) {
        return Err(format!("webhook: {:?} vs clean {:?}", got.webhook, clean.webhook));
    }
    // The webhook thread runs beside the worker: whatever the checkpoint, the process may die
    // between one POST and its delivered mark. At most that one alert is posted again.
    let twice: Vec<_> = got.webhook.iter().filter(|(_, n)| **n > 1).collect();
    if twice.len() > 1 || twice.iter().any(|(_, n)| **n > 2) {
        return Err(format!("webhook: posted more than once: {twice:?}"));
    }
    for (key, n) in &clean.quarantine {
        let m = got.quarantine.get(key).copied().unwrap_or(0);
        // Each ingest attempt that got no answer wrote its own copy of the values it rejected.
        let extra = unanswered.len();
        if m < *n || m > n + extra {
            return Err(format!("quarantine {key:?}: {m} copies, clean run {n}"));
        }
    }
    if got.quarantine.keys().ne(clean.quarantine.keys()) {
        return Err(format!("quarantine: {:?} vs clean {:?}", got.quarantine, clean.quarantine));
    }
    // A re-sent batch stored twice is counted twice in the stream totals (and its extra quarantine
    // copy too); otherwise the totals are the clean run's.
    if !resent && got.status != clean.status {
        return Err(format!("status: {} vs clean {}", got.status, clean.status));
    }
    Ok(())
}
