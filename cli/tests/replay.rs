//! `tailwatch replay` end to end: the fixtures' documented alerts, no policy alert for a failed
//! ACL change, idempotent re-runs, and the other commands over the same data dir.

use std::path::Path;
use std::process::Command;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/tailscale");

fn tailwatch(args: &[&str], data: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tailwatch"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("TAILWATCH_CONFIG")
        .output()
        .unwrap();
    (
        out.status.success(),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

fn tailwatch_plain(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tailwatch"))
        .args(args)
        .env_remove("TAILWATCH_CONFIG")
        .output()
        .unwrap();
    (
        out.status.success(),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

/// The alerts the fixtures README says `audit-stream.hec` fires.
const EXPECTED: &[&str] = &[
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
fn replaying_the_audit_stream_fires_the_documented_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = tailwatch(&["replay", &fixture("audit-stream.hec")], dir.path());
    assert!(ok, "{out}");
    let alerts = tailwatch_local::read_alerts(&dir.path().join("alerts")).unwrap();
    let ids: Vec<&str> = alerts.iter().map(|a| a.id.as_str()).collect();
    for id in EXPECTED {
        assert!(ids.contains(id), "missing {id}: {ids:?}");
    }
    let policy = alerts.iter().find(|a| a.id == "Tailscale.PolicyFile.Changed").unwrap();
    assert_eq!(policy.severity.as_str(), "HIGH", "the new policy allows * → *:*");
    let key = alerts.iter().find(|a| a.id == "Tailscale.AuthKey.Created").unwrap();
    assert_eq!(key.severity.as_str(), "HIGH", "reusable + preauthorized");
    let lock = alerts.iter().find(|a| a.id == "Tailscale.TailnetLock.Disabled").unwrap();
    assert_eq!(lock.severity.as_str(), "CRITICAL");
    assert!(
        out.contains("ALERT [HIGH] Tailscale MagicDNS disabled by alice@example.com via ADMIN_CONSOLE"),
        "{out}"
    );

    // Replaying again pages nothing new and duplicates no lake rows.
    let (ok, out) = tailwatch(&["replay", &fixture("audit-stream.hec"), "--quiet"], dir.path());
    assert!(ok && out.contains("new_alerts=0"), "{out}");
    assert_eq!(
        tailwatch_local::read_alerts(&dir.path().join("alerts")).unwrap().len(),
        alerts.len()
    );

    // Backtest over the lake sees the same detections fire.
    let (ok, out) = tailwatch(&["backtest", "--since", "2025-03-04", "--until", "2025-03-05"], dir.path());
    assert!(ok, "{out}");
    assert!(out.contains("backtest over 15 rows"), "{out}");
    let magic_line = out.lines().find(|l| l.starts_with("Tailscale.MagicDNS.Disabled")).unwrap();
    assert!(magic_line.trim_end().ends_with(" 1"), "{magic_line}");
    let (ok, out) = tailwatch(&["backtest", "--since", "2025-03-05"], dir.path());
    assert!(ok && out.contains("backtest over 0 rows"), "{out}");
}

#[test]
fn a_failed_acl_change_fires_no_policy_alert() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = tailwatch(&["replay", &fixture("audit-api-response.json")], dir.path());
    assert!(ok, "{out}");
    let alerts = tailwatch_local::read_alerts(&dir.path().join("alerts")).unwrap();
    assert!(alerts.iter().all(|a| a.id != "Tailscale.PolicyFile.Changed"), "{alerts:?}");
    assert!(
        alerts.iter().any(|a| a.id == "Tailscale.MagicDNS.Disabled"),
        "the API copy of the MagicDNS change still fires"
    );
}

#[test]
fn detections_commands_and_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = tailwatch_plain(&["detections", "test"]);
    assert!(ok, "{out}");
    assert!(out.contains("[PASS]") && !out.contains("[FAIL]"), "{out}");
    let (ok, out) = tailwatch_plain(&["detections", "list"]);
    assert!(ok, "{out}");
    assert!(out.contains("38 detections"), "{out}");
    assert!(
        out.contains("Tailscale.ExternalUser.Joined") && out.contains("idle"),
        "org_domains unset: idle, and says so"
    );
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[detections.\"Tailscale.Network.PortScan\"]\nmin_target = 3\n").unwrap();
    let (ok, out) = tailwatch(
        &["replay", &fixture("audit-stream.hec"), "--config", config.to_str().unwrap()],
        dir.path(),
    );
    assert!(!ok);
    assert!(out.contains("detections.\"Tailscale.Network.PortScan\".min_target"), "{out}");
}

/// Reads every row of one lake table (all partitions, all files).
fn lake_rows(data: &Path, table: &str) -> Vec<serde_json::Value> {
    let mut rows = Vec::new();
    let mut dirs = vec![data.join("lake").join(table)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let mut text = String::new();
                std::io::Read::read_to_string(
                    &mut flate2::read::MultiGzDecoder::new(std::fs::File::open(&path).unwrap()),
                    &mut text,
                )
                .unwrap();
                rows.extend(text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()));
            }
        }
    }
    rows
}

#[test]
fn a_batch_larger_than_one_chunk_lands_whole_once_and_a_rerun_replaces_it() {
    // 5 records × 2000 connections = 10 000 rows: more than two chunks' worth of 4096 rows.
    let mut body = String::new();
    for record in 0..5 {
        let conns: Vec<String> = (0..2000)
            .map(|i| {
                format!(
                    r#"{{"proto":6,"src":"100.64.0.9:{}","dst":"100.64.1.{}:443","txBytes":{i}}}"#,
                    30_000 + i,
                    record + 1
                )
            })
            .collect();
        body.push_str(&format!(
            r#"{{"nodeId":"nBig","start":"2025-03-04T17:4{record}:00Z","end":"2025-03-04T17:4{record}:05Z","virtualTraffic":[{}]}}"#,
            conns.join(",")
        ));
        body.push('\n');
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.ndjson");
    std::fs::write(&file, body).unwrap();
    let data = dir.path().join("data");
    let (ok, out) = tailwatch(&["replay", "--quiet", file.to_str().unwrap()], &data);
    assert!(ok, "{out}");
    assert!(out.contains("records=5 rows=10000"), "{out}");
    let rows = lake_rows(&data, "tailscale_network");
    assert_eq!(rows.len(), 10_000, "every row once, across chunk files");
    let ids: std::collections::HashSet<&str> = rows.iter().map(|r| r["p_row_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 10_000);
    let (ok, out) = tailwatch(&["replay", "--quiet", file.to_str().unwrap()], &data);
    assert!(ok, "{out}");
    assert_eq!(lake_rows(&data, "tailscale_network").len(), 10_000, "a re-run replaces its files");
}
