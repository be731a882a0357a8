//! Gigabytes leaving through an exit node in an hour: bulk exfiltration to the internet, hidden in
//! traffic that looks like ordinary browsing.

use crate::engine::{Expect, LogType, Meta, ParamDoc, Severity, StateQuery, TestCase};
use crate::lake::{NetworkRow, TrafficKind};
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.Network.ExitEgressSpike",
    name: "Tailscale exit-node egress spike",
    log_types: &[LogType::Network],
    severity: Severity::Medium,
    description: "One node sent at least threshold_bytes (default 10 GiB) of exit traffic (through an exit node to the internet) within one clock hour, summed over its flow records. Traffic an exit node forwards for its clients (exit entries whose other end is a peer) is not its own upload and is not counted. Large uploads to the internet from a single device are rare; data theft and backups to unknown clouds look like this.",
    runbook: "1. Identify the node (node_name, node_user / node_tags) and ask its owner what it uploaded around window_start.\n2. Sum tx_bytes by hour for node_id in tailscale_network (traffic_kind = 'exit') to see whether this is new, and whether dst_ip is logged (exit-flow logging on) to name the destination.\n3. If unexplained, remove the node's exit-node access in the policy file (autogroup:internet) and investigate the host.",
    reference: "https://tailscale.com/kb/1103/exit-nodes",
    tags: &["T1048", "T1567"],
    params: &[ParamDoc {
        name: "threshold_bytes",
        default: "10737418240",
        doc: "Exit bytes one node must send within one hour to fire (default 10 GiB)",
    }],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<NetworkRow, ExitEgressSpike> = Rule {
    meta: META,
    params: |p| {
        Ok(ExitEgressSpike {
            threshold_bytes: p.u64("threshold_bytes", 10 * 1024 * 1024 * 1024)?.max(1),
        })
    },
    matches: |r| r.traffic_kind == TrafficKind::Exit && r.tx_bytes > 0 && !forwarded(r),
    ask: Some(|r| {
        Some(StateQuery::SumOverWindow {
            key: r.node_id.clone(),
            amount: r.tx_bytes,
            window_minutes: 60,
        })
    }),
    decide: |h| h.sum() >= h.params.threshold_bytes,
    title: |r| {
        format!(
            "Over {} sent through an exit node by {} in an hour",
            human_bytes(r.params.threshold_bytes),
            node_label(r)
        )
    },
    dedup: Some(|r| r.node_id.clone()),
    context: Some(|r| {
        serde_json::json!({
            "node_id": r.node_id,
            "node_name": r.node_name,
            "node_user": r.node_user,
            "node_tags": r.node_tags,
            "dst_ip": r.dst_ip,
            "tx_bytes": r.tx_bytes,
            "window_start": r.window_start,
            "threshold_bytes": r.params.threshold_bytes,
        })
    }),
    tests: TESTS,
    ..Rule::DEFAULT
};

/// Parameters.
#[derive(Default)]
pub struct ExitEgressSpike {
    threshold_bytes: u64,
}

fn node_label(row: &NetworkRow) -> String {
    match &row.node_name {
        Some(name) => format!("{name} ({})", row.node_id),
        None => row.node_id.clone(),
    }
}

/// On the exit node itself, exit entries describe the traffic it forwards for its clients: the
/// other Tailscale end is a peer (`src` = the client's Tailscale address), and its `tx` is what it
/// sends back to the client, i.e. the users' downloads. Those bytes are not the exit node's own
/// upload, so they are not charged to it.
fn forwarded(r: &NetworkRow) -> bool {
    r.peer_node_id.is_some()
}

/// `10 GiB`, `1.5 MiB`, `1000 B`.
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let text = format!("{value:.1}");
    format!("{} {}", text.strip_suffix(".0").unwrap_or(&text), UNITS[unit])
}

const EARLIER: &str = r#"{"nodeId":"nLaptop42","start":"2025-03-04T17:10:00Z","srcNode":{"nodeId":"nLaptop42","name":"laptop-42.ts.net","user":"alice@example.com"},"exitTraffic":[{"src":"100.92.240.74:0","txPkts":400,"txBytes":600,"rxBytes":90}]}"#;

const TESTS: &[TestCase] = &[
    TestCase {
        name: "600 + 400 bytes in one hour with threshold 1000",
        setup: &[EARLIER],
        record: r#"{"nodeId":"nLaptop42","start":"2025-03-04T17:40:00Z","srcNode":{"nodeId":"nLaptop42","name":"laptop-42.ts.net","user":"alice@example.com"},"exitTraffic":[{"src":"100.92.240.74:0","txPkts":300,"txBytes":400,"rxBytes":50}]}"#,
        params: "threshold_bytes = 1000",
        expect: Expect::Fire {
            title: "Over 1000 B sent through an exit node by laptop-42.ts.net (nLaptop42) in an hour",
            severity: Severity::Medium,
            dedup: Some("nLaptop42"),
            context_keys: &["node_id", "tx_bytes", "threshold_bytes", "state"],
        },
    },
    TestCase::new(
        "one record over the default 10 GiB",
        r#"{"nodeId":"nLaptop42","start":"2025-03-04T17:40:00Z","exitTraffic":[{"src":"100.92.240.74:0","txBytes":10737418240}]}"#,
        Expect::Fire {
            title: "Over 10 GiB sent through an exit node by nLaptop42 in an hour",
            severity: Severity::Medium,
            dedup: Some("nLaptop42"),
            context_keys: &["node_id", "state"],
        },
    ),
    TestCase {
        name: "near miss: 600 + 399 bytes, one under the threshold",
        setup: &[EARLIER],
        record: r#"{"nodeId":"nLaptop42","start":"2025-03-04T17:40:00Z","exitTraffic":[{"src":"100.92.240.74:0","txBytes":399}]}"#,
        params: "threshold_bytes = 1000",
        expect: Expect::Quiet,
    },
    TestCase {
        name: "600 + 400 bytes within 50 minutes that straddle a clock hour (windows slide)",
        setup: &[r#"{"nodeId":"nLaptop42","start":"2025-03-04T16:50:00Z","exitTraffic":[{"src":"100.92.240.74:0","txBytes":600}]}"#],
        record: r#"{"nodeId":"nLaptop42","start":"2025-03-04T17:40:00Z","exitTraffic":[{"src":"100.92.240.74:0","txBytes":400}]}"#,
        params: "threshold_bytes = 1000",
        expect: Expect::Fire {
            title: "Over 1000 B sent through an exit node by nLaptop42 in an hour",
            severity: Severity::Medium,
            dedup: Some("nLaptop42"),
            context_keys: &["node_id", "state"],
        },
    },
    TestCase {
        name: "near miss: the earlier 600 bytes were sent 70 minutes before",
        setup: &[r#"{"nodeId":"nLaptop42","start":"2025-03-04T16:30:00Z","exitTraffic":[{"src":"100.92.240.74:0","txBytes":600}]}"#],
        record: r#"{"nodeId":"nLaptop42","start":"2025-03-04T17:40:00Z","exitTraffic":[{"src":"100.92.240.74:0","txBytes":400}]}"#,
        params: "threshold_bytes = 1000",
        expect: Expect::Quiet,
    },
    TestCase {
        name: "near miss: an exit node forwarding a user's 2000-byte download",
        setup: &[],
        record: r#"{"nodeId":"nExitFra","start":"2025-03-04T17:40:00Z","srcNode":{"nodeId":"nExitFra","name":"exit-fra.ts.net","addresses":["100.99.0.1"],"tags":["tag:exit"]},"dstNodes":[{"nodeId":"nLaptop42","name":"laptop-42.ts.net","addresses":["100.92.240.74"],"user":"alice@example.com"}],"exitTraffic":[{"src":"100.92.240.74:0","txPkts":1500,"txBytes":2000,"rxBytes":80}]}"#,
        params: "threshold_bytes = 1000",
        expect: Expect::Quiet,
    },
    TestCase {
        name: "near miss: the same bytes over virtual traffic",
        setup: &[],
        record: r#"{"nodeId":"nLaptop42","start":"2025-03-04T17:40:00Z","virtualTraffic":[{"proto":6,"src":"100.92.240.74:50000","dst":"100.70.1.2:443","txBytes":5000}]}"#,
        params: "threshold_bytes = 1000",
        expect: Expect::Quiet,
    },
];

#[cfg(test)]
mod tests {
    #[test]
    fn cases() {
        crate::engine::testing::assert_cases(&super::RULE);
    }

    #[test]
    fn bytes_read_well() {
        assert_eq!(super::human_bytes(1000), "1000 B");
        assert_eq!(super::human_bytes(1536), "1.5 KiB");
        assert_eq!(super::human_bytes(20 * 1024 * 1024 * 1024), "20 GiB");
        assert_eq!(super::human_bytes(u64::MAX), "16384 PiB");
    }
}
