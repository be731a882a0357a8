//! `tailwatch serve` over real HTTP on loopback: the ingest contract, the pipeline behind it, and
//! crash recovery. Each test starts its own server process on a free port with its own data dir.

mod common;

use std::time::{Duration, Instant};

use common::*;

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
    // An unreadable `time` is no longer fatal on its own (the next time source is tried), so the
    // first error named is the wrongly typed `nodeId`.
    assert!(resp["text"].as_str().unwrap().contains("field `nodeId`"), "{resp}");
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

/// Webhook URLs are secrets (a Slack incoming-webhook URL is the credential): a delivery that fails
/// (a closed port) logs the sink, the alert and the error, never the URL or a part of its path or
/// query, in either log format; neither do the start-up banner, `status`, nor the config check for
/// a URL that is not http(s). (The deliveries go one target at a time, 8 attempts each, so only the
/// first target's failures are seen here; both go through `webhook::post_once`, whose redaction
/// `cli/src/webhook.rs`' tests check for each kind of error.)
#[test]
fn webhook_urls_never_reach_the_log_even_when_delivery_fails() {
    let dir = tempfile::tempdir().unwrap();
    let closed = free_port();
    let config = dir.path().join("tailwatch.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nwebhook_url = \"http://127.0.0.1:{closed}/hook/PATHSECRET?token=QUERYSECRET\"\n\
             slack_webhook_url = \"http://127.0.0.1:{closed}/services/T0SECRET/B0SECRET/SLACKSECRET\"\n"
        ),
    )
    .unwrap();
    let secrets = ["PATHSECRET", "QUERYSECRET", "T0SECRET", "B0SECRET", "SLACKSECRET"];
    let data = dir.path().join("data");
    let config_arg = config.to_string_lossy().into_owned();
    for format in ["text", "json"] {
        let s = Server::start_with(
            &data,
            &[("TAILWATCH_TOKEN", TOKEN)],
            &["--config", &config_arg, "--log-format", format],
        );
        assert_eq!(s.post_bearer(&fixture("audit-stream.hec")).0, 200);
        let deadline = Instant::now() + Duration::from_secs(20);
        while s.log().matches("webhook delivery failed").count() < 2 {
            assert!(Instant::now() < deadline, "no failed delivery logged: {}", s.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = s.log();
        assert!(log.contains("Connection refused"), "the error is logged: {log}");
        for secret in secrets {
            assert!(!log.contains(secret), "{format}: {secret} in the log:\n{log}");
        }
        s.kill();
    }
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_tailwatch"))
        .args(["status", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&status.stdout).into_owned() + &String::from_utf8_lossy(&status.stderr);
    for secret in secrets {
        assert!(!status.contains(secret), "{secret} in status:\n{status}");
    }
    std::fs::write(
        &config,
        "[server]\nslack_webhook_url = \"hooks.slack.com/services/T0SECRET/B0SECRET/SLACKSECRET\"\n",
    )
    .unwrap();
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_tailwatch"))
        .args(["config", "validate", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!check.status.success(), "{check:?}");
    let message = String::from_utf8_lossy(&check.stderr).into_owned() + &String::from_utf8_lossy(&check.stdout);
    assert!(message.contains("slack_webhook_url"), "{message}");
    for secret in secrets {
        assert!(!message.contains(secret), "{secret} in the config error:\n{message}");
    }
}
