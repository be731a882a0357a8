//! Tens of gigabytes from one node to one peer in an hour: data being staged or exfiltrated across
//! the tailnet.

use crate::engine::{Expect, LogType, Meta, ParamDoc, Severity, StateQuery, TestCase};
use crate::lake::{NetworkRow, TrafficKind};
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.Network.LargeTransfer",
    name: "Tailscale large transfer between two nodes",
    log_types: &[LogType::Network],
    severity: Severity::Low,
    description: "One node sent at least threshold_bytes (default 20 GiB) to one peer (by peer node id, else destination address) over virtual or subnet traffic within one clock hour, summed over its flow records. Backups and replication do this on schedule; a laptop pushing gigabytes to a tagged server or another user's device is worth a look.",
    runbook: "1. Identify both ends (node_name / node_user, peer_node_name / peer_user, dst_ip) and whether a known job (backup, replication, CI) explains the volume.\n2. Sum tx_bytes by hour for this node_id and peer_node_id (or dst_ip) in tailscale_network to see whether the pattern is new, and which dst_port carried it.\n3. If unexplained, restrict the pair in the policy file and investigate the sending host.",
    reference: "https://tailscale.com/kb/1219/network-flow-logs",
    tags: &["T1030", "T1570", "T1048"],
    params: &[ParamDoc {
        name: "threshold_bytes",
        default: "21474836480",
        doc: "Bytes one node must send to one peer within one hour to fire (default 20 GiB)",
    }],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<NetworkRow, LargeTransfer> = Rule {
    meta: META,
    params: |p| {
        Ok(LargeTransfer {
            threshold_bytes: p.u64("threshold_bytes", 20 * 1024 * 1024 * 1024)?.max(1),
        })
    },
    matches: |r| matches!(r.traffic_kind, TrafficKind::Virtual | TrafficKind::Subnet) && r.tx_bytes > 0,
    ask: Some(|r| {
        Some(StateQuery::SumOverWindow {
            key: format!("{}|{}", r.node_id, peer_key(r)?),
            amount: r.tx_bytes,
            window_minutes: 60,
        })
    }),
    decide: |h| h.sum() >= h.params.threshold_bytes,
    title: |r| {
        format!(
            "Over {} sent from {} to {} in an hour",
            human_bytes(r.params.threshold_bytes),
            node_label(r),
            peer_label(r)
        )
    },
    dedup: Some(|r| format!("{}|{}", r.node_id, peer_key(r).unwrap_or_default())),
    context: Some(|r| {
        serde_json::json!({
            "node_id": r.node_id,
            "node_name": r.node_name,
            "node_user": r.node_user,
            "node_tags": r.node_tags,
            "peer_node_id": r.peer_node_id,
            "peer_node_name": r.peer_node_name,
            "peer_user": r.peer_user,
            "peer_tags": r.peer_tags,
            "traffic_kind": r.traffic_kind,
            "dst_ip": r.dst_ip,
            "dst_port": r.dst_port,
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
pub struct LargeTransfer {
    threshold_bytes: u64,
}

/// The receiving end: the peer node, else the destination address.
fn peer_key(row: &NetworkRow) -> Option<&str> {
    row.peer_node_id.as_deref().or(row.dst_ip.as_deref())
}

fn node_label(row: &NetworkRow) -> String {
    match &row.node_name {
        Some(name) => format!("{name} ({})", row.node_id),
        None => row.node_id.clone(),
    }
}

fn peer_label(row: &NetworkRow) -> String {
    match (&row.peer_node_name, peer_key(row)) {
        (Some(name), Some(key)) => format!("{name} ({key})"),
        (_, key) => key.unwrap_or("unknown peer").to_owned(),
    }
}

/// `20 GiB`, `1.5 MiB`, `1000 B`.
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

const EARLIER: &str = r#"{"nodeId":"nLaptop42","start":"2025-03-04T17:10:00Z","srcNode":{"nodeId":"nLaptop42","name":"laptop-42.ts.net","addresses":["100.92.240.74"],"user":"alice@example.com"},"dstNodes":[{"nodeId":"nNas1","name":"nas-1.ts.net","addresses":["100.77.3.9"],"tags":["tag:storage"]}],"virtualTraffic":[{"proto":6,"src":"100.92.240.74:50000","dst":"100.77.3.9:445","txBytes":600}]}"#;

const TESTS: &[TestCase] = &[
    TestCase {
        name: "600 + 400 bytes to the same peer in one hour with threshold 1000",
        setup: &[EARLIER],
        record: r#"{"nodeId":"nLaptop42","start":"2025-03-04T17:40:00Z","srcNode":{"nodeId":"nLaptop42","name":"laptop-42.ts.net","addresses":["100.92.240.74"],"user":"alice@example.com"},"dstNodes":[{"nodeId":"nNas1","name":"nas-1.ts.net","addresses":["100.77.3.9"],"tags":["tag:storage"]}],"virtualTraffic":[{"proto":6,"src":"100.92.240.74:50001","dst":"100.77.3.9:445","txBytes":400}]}"#,
        params: "threshold_bytes = 1000",
        expect: Expect::Fire {
            title: "Over 1000 B sent from laptop-42.ts.net (nLaptop42) to nas-1.ts.net (nNas1) in an hour",
            severity: Severity::Low,
            dedup: Some("nLaptop42|nNas1"),
            context_keys: &["node_id", "peer_node_id", "tx_bytes", "threshold_bytes", "state"],
        },
    },
    TestCase {
        name: "subnet traffic to a LAN address, keyed by the address",
        setup: &[],
        record: r#"{"nodeId":"nLaptop42","start":"2025-03-04T17:40:00Z","subnetTraffic":[{"proto":6,"src":"100.92.240.74:50001","dst":"10.20.3.15:22","txBytes":1000}]}"#,
        params: "threshold_bytes = 1000",
        expect: Expect::Fire {
            title: "Over 1000 B sent from nLaptop42 to 10.20.3.15 in an hour",
            severity: Severity::Low,
            dedup: Some("nLaptop42|10.20.3.15"),
            context_keys: &["dst_ip", "state"],
        },
    },
    TestCase {
        name: "near miss: 600 + 399 bytes, one under the threshold",
        setup: &[EARLIER],
        record: r#"{"nodeId":"nLaptop42","start":"2025-03-04T17:40:00Z","srcNode":{"nodeId":"nLaptop42","addresses":["100.92.240.74"]},"dstNodes":[{"nodeId":"nNas1","addresses":["100.77.3.9"]}],"virtualTraffic":[{"proto":6,"src":"100.92.240.74:50001","dst":"100.77.3.9:445","txBytes":399}]}"#,
        params: "threshold_bytes = 1000",
        expect: Expect::Quiet,
    },
    TestCase {
        name: "near miss: 600 + 400 bytes but to two different peers",
        setup: &[EARLIER],
        record: r#"{"nodeId":"nLaptop42","start":"2025-03-04T17:40:00Z","virtualTraffic":[{"proto":6,"src":"100.92.240.74:50001","dst":"100.70.1.2:445","txBytes":400}]}"#,
        params: "threshold_bytes = 1000",
        expect: Expect::Quiet,
    },
    TestCase {
        name: "near miss: received bytes do not count",
        setup: &[],
        record: r#"{"nodeId":"nLaptop42","start":"2025-03-04T17:40:00Z","virtualTraffic":[{"proto":6,"src":"100.92.240.74:50001","dst":"100.70.1.2:445","txBytes":10,"rxBytes":5000}]}"#,
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
}
