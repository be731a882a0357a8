//! What an operator meets around the pipeline: `status` (and its exit code for monitoring), exit
//! codes 0/1/2, `config validate`, completions, `NO_COLOR` / `--color`, `replay --json`, serve's
//! JSON logs and retention.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{fixture, Server, FIXTURES, TOKEN};

fn tailwatch(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tailwatch"));
    cmd.args(args)
        .env_remove("TAILWATCH_CONFIG")
        .env_remove("TAILWATCH_TOKEN")
        .env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn status_json(data: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args = vec!["status", "--json", "--data-dir", data.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = tailwatch(&args, &[]);
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    (out.status.code().unwrap(), v)
}

#[test]
fn status_reports_each_stream_and_fails_when_one_falls_silent() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    let out = tailwatch(&["status", "--data-dir", data.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1), "no data dir is a runtime error: {}", text(&out));
    assert!(text(&out).contains("no data dir"), "{}", text(&out));

    let server = Server::start(&data);
    assert_eq!(server.post_bearer(&fixture("audit-stream.hec")).0, 200);
    assert_eq!(server.post_bearer(&fixture("network-stream.hec")).0, 200);
    assert_eq!(server.post_bearer(&fixture("bad/not-json.txt")).0, 400);
    server.wait_rows("tailscale_network", 15);
    let deadline = Instant::now() + Duration::from_secs(20);
    let v = loop {
        let (code, v) = status_json(&data, &[]);
        if v["streams"].as_array().map_or(0, Vec::len) == 2 {
            assert_eq!(code, 0, "{v}");
            break v;
        }
        assert!(Instant::now() < deadline, "streams did not appear: {v}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(v["healthy"], true);
    let audit = v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["log_type"] == "Tailscale.Audit")
        .unwrap();
    assert_eq!(audit["source"], "tailscale-http");
    assert_eq!(audit["records_last_hour"], 15);
    assert_eq!(audit["batches"], 1);
    assert_eq!(audit["last_event"], "2025-03-04T17:36:00.052Z");
    assert_eq!(v["pending_raw_batches"], 0);
    assert_eq!(v["quarantine"]["total"], 1);
    assert_eq!(v["alerts_24h"]["by_severity"]["CRITICAL"], 2);
    assert_eq!(v["alerts_24h"]["total"], 11);
    // status runs here without TAILWATCH_TOKEN, and serve (which had it) wrote no token file.
    assert!(v["token_source"].as_str().unwrap().starts_with("none yet"), "{v}");
    let out = tailwatch(
        &["status", "--json", "--data-dir", data.to_str().unwrap()],
        &[("TAILWATCH_TOKEN", "x")],
    );
    assert!(text(&out).contains(r#""token_source":"TAILWATCH_TOKEN""#), "{}", text(&out));
    assert!(v["disk"]["lake_bytes"].as_u64().unwrap() > 0);

    // The text report says the same, for a person.
    let out = tailwatch(&["status", "--data-dir", data.to_str().unwrap()], &[]);
    let report = text(&out);
    assert!(report.contains("HEALTHY") && report.contains("Tailscale.Network"), "{report}");
    assert!(
        report.contains("alerts, last 24 h:   11 (CRITICAL 2, HIGH 7, MEDIUM 2)"),
        "{report}"
    );

    // A second later, with a one-second threshold, both streams are silent: exit 1, named.
    std::thread::sleep(Duration::from_millis(2100));
    let (code, v) = status_json(&data, &["--silent-after", "1s"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["healthy"], false);
    let problems = v["problems"].to_string();
    assert!(
        problems.contains("Tailscale.Audit") && problems.contains("Tailscale.Network"),
        "{problems}"
    );

    // A usage error is 2.
    let out = tailwatch(&["status", "--silent-after", "soon"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn exit_codes_config_validate_completions_and_color() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(tailwatch(&["no-such-command"], &[]).status.code(), Some(2));
    assert_eq!(tailwatch(&["replay"], &[]).status.code(), Some(2), "missing PATH");
    let out = tailwatch(&["replay", "/no/such/file", "--data-dir", dir.path().to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1), "a runtime error: {}", text(&out));

    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[server]\nlisten = \"127.0.0.1:9000\"\nretention_days = 30\n").unwrap();
    let out = tailwatch(&["config", "validate", "--config", good.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[server]\nlisten = \"127.0.0.1:9000\"\nlisen_port = 9\n").unwrap();
    let out = tailwatch(&["config", "validate", "--config", bad.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    let msg = text(&out);
    assert!(msg.contains(&format!("{}:3:1:", bad.display())), "file:line:col: {msg}");
    assert!(
        msg.contains("lisen_port") && msg.contains("listen") && msg.contains("webhook_url"),
        "{msg}"
    );
    // serve refuses the same file the same way.
    let out = tailwatch(
        &[
            "serve",
            "--config",
            bad.to_str().unwrap(),
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains(":3:1:"), "{}", text(&out));

    for shell in ["bash", "zsh", "fish"] {
        let out = tailwatch(&["completions", shell], &[]);
        assert!(out.status.success());
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(
            script.contains("silent-after") && script.contains("retention-days"),
            "{shell}: {script}"
        );
    }

    // Colour: status's verdict is painted only when asked, and NO_COLOR wins over auto only.
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let d = data.to_str().unwrap();
    let painted = |out: Output| String::from_utf8_lossy(&out.stdout).contains("\x1b[");
    assert!(painted(tailwatch(
        &["status", "--data-dir", d, "--color", "always"],
        &[("NO_COLOR", "1")]
    )));
    assert!(!painted(tailwatch(&["status", "--data-dir", d, "--color", "never"], &[])));
    assert!(!painted(tailwatch(&["status", "--data-dir", d], &[("NO_COLOR", "1")])));
}

#[test]
fn replay_json_is_one_document() {
    let dir = tempfile::tempdir().unwrap();
    let out = tailwatch(
        &[
            "replay",
            "--json",
            &format!("{FIXTURES}/audit-stream.hec"),
            &format!("{FIXTURES}/bad/not-json.txt"),
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["files"], 2);
    assert_eq!(v["records"]["audit"], 15);
    assert_eq!(v["rows"]["tailscale_audit"], 15);
    assert_eq!(v["alerts"], 11);
    assert_eq!(v["new_alerts"], 11);
    assert!(v["quarantined"].as_u64().unwrap() >= 1);
}

#[test]
fn serve_logs_json_lines_and_retention_deletes_only_what_is_old() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let old_lake = data.join("lake/tailscale_audit/dt=2020-01-01/hour=00/old.json.gz");
    let old_q = data.join("quarantine/tailwatch_quarantine/dt=2020-01-01/hour=00/old.json.gz");
    for p in [&old_lake, &old_q] {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"old").unwrap();
    }
    let server = Server::start_with(
        &data,
        &[("TAILWATCH_TOKEN", TOKEN)],
        &["--log-format", "json", "--retention-days", "30"],
    );
    assert_eq!(server.post_bearer(&fixture("audit-stream.hec")).0, 200);
    server.wait_rows("tailscale_audit", 15);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !server.log().contains("retention sweep") || !server.log().contains("batch received") {
        assert!(Instant::now() < deadline, "no sweep or request log: {}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!old_lake.exists() && !old_q.exists(), "partitions from 2020 are deleted");
    assert!(!data.join("lake/tailscale_audit/dt=2020-01-01").exists());
    // The fixture's rows (2025-03-04) are older than 30 days too, but arrived just now: the lake is by
    // event time, so they are deleted at the next sweep, while their raw batch (by arrival) stays.
    let log = server.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let request = lines.iter().find(|l| l["msg"] == "batch received").unwrap();
    assert_eq!(request["level"], "INFO");
    assert_eq!(request["status"], 200);
    assert_eq!(request["accepted"], 15);
    assert!(request["ts"].as_str().unwrap().ends_with('Z'));
    let sweep = lines.iter().find(|l| l["msg"] == "retention sweep").unwrap();
    assert_eq!(sweep["partitions"], 2);
    assert!(!log.contains(TOKEN), "the token is never logged");
}
