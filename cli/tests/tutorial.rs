//! docs/DETECTIONS.md's tutorials, step by step, with the commands and files the page shows: a
//! regression test that the page stays true.

use std::path::Path;
use std::process::Command;

const PAGE: &str = include_str!("../../docs/DETECTIONS.md");

/// The fenced block after `<!-- tutorial:NAME -->`.
fn block(name: &str) -> &'static str {
    let marker = format!("<!-- tutorial:{name} -->\n");
    let start = PAGE.find(&marker).unwrap_or_else(|| panic!("no {marker} in docs/DETECTIONS.md")) + marker.len();
    let body = &PAGE[start..];
    let body = &body[body.find('\n').expect("fence line") + 1..];
    &body[..body.find("\n```").expect("closing fence") + 1]
}

/// Runs a command line exactly as the page shows it, in `dir`; (exit code, stdout + stderr).
fn run(line: &str, dir: &Path) -> (i32, String) {
    assert!(PAGE.contains(line), "docs/DETECTIONS.md does not show `{line}`");
    let mut words = line.split_whitespace();
    assert_eq!(words.next(), Some("tailwatch"));
    let out = Command::new(env!("CARGO_BIN_EXE_tailwatch"))
        .args(words)
        .current_dir(dir)
        .env_remove("TAILWATCH_CONFIG")
        .output()
        .expect("runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn the_toml_rule_tutorial_works_as_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();

    // 1. Scaffold; its test fails.
    let (code, out) = run("tailwatch detections new node_deleted_by_oauth --toml --dir my-rules", dir);
    assert_eq!(code, 0, "{out}");
    let (code, out) = run("tailwatch detections test --path my-rules --id Custom.NodeDeletedByOauth", dir);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("[FAIL] fires on the event (fires): expected an alert, got none"),
        "{out}"
    );

    // 2-3. Write the rule; the tests pass, JUnit XML written.
    std::fs::write(dir.join("my-rules/node_deleted_by_oauth.toml"), block("toml-rule")).expect("write rule");
    let (code, out) = run(
        "tailwatch detections test --path my-rules --id Custom.NodeDeletedByOauth --junit rules.xml",
        dir,
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 passed, 0 failed"), "{out}");
    let junit = std::fs::read_to_string(dir.join("rules.xml")).expect("junit");
    assert!(
        junit.contains("<testsuite name=\"Custom.NodeDeletedByOauth\" tests=\"2\" failures=\"0\""),
        "{junit}"
    );

    // A mistake names the file and the line.
    let broken = block("toml-rule").replace("field = \"actor_type\"", "field = \"actor_kind\"");
    std::fs::write(dir.join("broken.toml"), broken).expect("write");
    let (code, out) = run_plain(&["detections", "test", "--path", "broken.toml"], dir);
    assert_eq!(code, 1, "a broken rule file is a runtime error (exit 1; 2 is for usage): {out}");
    assert!(out.contains("broken.toml:16: unknown field `actor_kind`"), "{out}");

    // 4. Backtest over history: the hit is shown, --fail-on-alert exits 1.
    std::fs::write(dir.join("history.ndjson"), block("history")).expect("write history");
    let (code, out) = run("tailwatch replay history.ndjson --data-dir data", dir);
    assert_eq!(code, 0, "{out}");
    let (code, out) = run("tailwatch backtest --path my-rules --data-dir data --fail-on-alert", dir);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("Custom.NodeDeletedByOauth"), "{out}");
    assert!(
        out.contains("[MEDIUM]") && out.contains("Node db-2 deleted by OAuth client kQ8rT2xCNTRL"),
        "{out}"
    );
    assert!(
        !out.contains("Tailscale.MagicDNS"),
        "only the rules under --path are backtested: {out}"
    );

    // `detections list` says where it comes from.
    let (code, out) = run_plain(&["detections", "list", "--path", "my-rules", "--json"], dir);
    assert_eq!(code, 0, "{out}");
    let line = out.lines().find(|l| l.contains("Custom.NodeDeletedByOauth")).expect("listed");
    let v: serde_json::Value = serde_json::from_str(line).expect("json");
    assert_eq!(v["source"], "my-rules/node_deleted_by_oauth.toml");
    assert!(out.lines().any(|l| l.contains("\"source\":\"built-in\"")));
}

fn run_plain(args: &[&str], dir: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tailwatch"))
        .args(args)
        .current_dir(dir)
        .env_remove("TAILWATCH_CONFIG")
        .output()
        .expect("runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// The Rust walk-through: scaffold, the test fails, implement, it passes. Builds tailwatch-core in
/// its own target directory (cargo's lock on this one is held while tests run): about a minute.
#[test]
fn the_rust_detection_tutorial_works_as_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let (code, out) = run_plain(&["detections", "new", "node_deleted_by_person", "--dir", "my-detections"], dir);
    assert_eq!(code, 0, "{out}");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace");
    let cargo_test = |dir: &Path| {
        let out = Command::new(env!("CARGO"))
            .args(["test", "-p", "tailwatch-user"])
            .current_dir(workspace)
            .env("TAILWATCH_RUST_DETECTIONS", dir.join("my-detections"))
            .env("CARGO_TARGET_DIR", workspace.join("target/tutorial"))
            .output()
            .expect("cargo runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = cargo_test(dir);
    assert!(!ok && out.contains("expected an alert, got none"), "{out}");
    let file = dir.join("my-detections/node_deleted_by_person.rs");
    let text = std::fs::read_to_string(&file).expect("read");
    let step = "matches: |h| h.event_name == \"NODE.DELETE\" && h.actor_type == Some(ActorType::User),";
    assert!(PAGE.contains(step));
    std::fs::write(&file, text.replace("matches: |_h| false,", step)).expect("write");
    let (ok, out) = cargo_test(dir);
    assert!(ok, "{out}");
}
