//! One node touching many distinct host:port pairs in a single ~5 s flow window: a scanner, or
//! malware enumerating the tailnet.

use crate::engine::{ConfigError, Expect, LogType, Meta, ParamDoc, Params, Severity, StateQuery, TestCase};
use crate::lake::{NetworkRow, TrafficKind};
use crate::rule::{Hit, Rule};

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.Network.PortScan",
    name: "Tailscale node scanning the tailnet",
    log_types: &[LogType::Network],
    severity: Severity::Medium,
    description: "A node probed at least N distinct (destination address, port) pairs over virtual or subnet traffic within one flow-log window (one record, about 5 seconds): connection attempts that exchanged no data (at most 3 packets out; nothing, or a bare refusal of at most 2 packets and 100 bytes, back). Connections that carried data, as a busy laptop's do, do not count, nor do connections the node answered (its own port lower than the peer's: a server replying to clients' ephemeral ports) do not count. Legitimate services rarely fan out like this; scanners and worms do. One alert per node per hour (dedup: node id and level): MEDIUM from min_targets, HIGH from high_targets; the context carries the count and a sample of the targets. Sources with an allowed tag (a monitoring server scraping every node) never fire.",
    runbook: "1. Identify the node (node_name, node_user / node_tags) and whether it runs a known scanner or monitoring job.\n2. Query tailscale_network for node_id in the window (window_start) to see every target and whether any connection carried data (rx_bytes > 0).\n3. If unexplained, isolate the node: remove it from the tailnet or restrict it in the policy file, and investigate the host.",
    reference: "https://tailscale.com/kb/1219/network-flow-logs",
    tags: &["T1046"],
    params: &[
        ParamDoc { name: "min_targets", default: "25", doc: "Distinct (dst ip, dst port) pairs in one record that make a scan (MEDIUM)" },
        ParamDoc { name: "high_targets", default: "100", doc: "Distinct (dst ip, dst port) pairs in one record that make a HIGH" },
        ParamDoc { name: "allowed_source_tags", default: "[]", doc: "Nodes with any of these tags (e.g. tag:monitoring) never fire" },
    ],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<NetworkRow, PortScan> = Rule {
    meta: META,
    params,
    matches: |r| {
        matches!(r.traffic_kind, TrafficKind::Virtual | TrafficKind::Subnet)
            && r.dst_ip.is_some()
            && r.dst_port.is_some_and(|port| !answers_a_connection(r.src_port, port))
            && is_probe(r)
            && !r.node_tags.iter().any(|t| r.params.allowed_source_tags.contains(t))
    },
    // All rows of one record share the node and the window start: that pair is the record. A
    // record never spans batches, so the count needs no stored state (window 0).
    ask: Some(|r| {
        Some(StateQuery::DistinctCount {
            key: format!("{}|{}", r.node_id, r.window_start.map_or(0, |t| t.unix_millis())),
            member: format!("{}:{}", r.dst_ip.as_deref()?, r.dst_port?),
            window_minutes: 0,
        })
    }),
    decide: |h| h.distinct() >= h.params.min_targets,
    severity: Some(level),
    title: |r| format!("Possible port scan from {}", node_label(r)),
    dedup: Some(|r| format!("{}|{}", r.node_id, level(r))),
    context: Some(|r| {
        serde_json::json!({
            "node_id": r.node_id,
            "node_name": r.node_name,
            "node_user": r.node_user,
            "node_tags": r.node_tags,
            "window_start": r.window_start,
            "targets": r.distinct(),
            "min_targets": r.params.min_targets,
        })
    }),
    tests: TESTS,
    ..Rule::DEFAULT
};

fn params(params: &Params<'_>) -> Result<PortScan, ConfigError> {
    let min_targets = params.u64("min_targets", 25)?.max(2);
    Ok(PortScan {
        min_targets,
        high_targets: params.u64("high_targets", 100)?.max(min_targets),
        allowed_source_tags: params.strings("allowed_source_tags", &[])?,
    })
}

/// Parameters.
#[derive(Default)]
pub struct PortScan {
    min_targets: u64,
    high_targets: u64,
    allowed_source_tags: Vec<String>,
}

/// MEDIUM from `min_targets` distinct targets, HIGH from `high_targets`.
fn level(h: &Hit<'_, NetworkRow, PortScan>) -> Severity {
    if h.distinct() >= h.params.high_targets {
        Severity::High
    } else {
        Severity::Medium
    }
}

fn node_label(row: &NetworkRow) -> String {
    match &row.node_name {
        Some(name) => format!("{name} ({})", row.node_id),
        None => row.node_id.clone(),
    }
}

/// A connection attempt that exchanged no data: a few packets out (a SYN and its retries, a UDP
/// probe) and nothing back, or a bare refusal or handshake (at most two packets, 100 bytes, back).
/// A scan is mostly such attempts; a laptop busy with many services is not, since its connections
/// carry data. Flow logs omit zero counters, so an entry with no counters is a probe.
fn is_probe(r: &NetworkRow) -> bool {
    r.tx_pkts <= 3 && r.rx_pkts <= 2 && r.rx_bytes <= 100
}

/// Tailscale logs every connection from the reporting node's side (`src` is always the node), so a
/// server's record lists each client it answered as a `dst` with the client's ephemeral port: a busy
/// server would look like a scanner on every window. The node initiated a connection when its own
/// port is the higher, ephemeral one; it answered one when its port is the lower, service one. Entries
/// without a source port (subnet traffic may lack it) count.
fn answers_a_connection(src_port: Option<u16>, dst_port: u16) -> bool {
    src_port.is_some_and(|src| src < dst_port)
}

const TESTS: &[TestCase] = &[
    TestCase {
        name: "five targets with min_targets = 5",
        setup: &[],
        record: r#"{"nodeId":"nScan","start":"2025-03-04T17:40:00Z","srcNode":{"nodeId":"nScan","name":"laptop-7.ts.net"},"virtualTraffic":[
            {"proto":6,"src":"100.64.0.9:40000","dst":"100.64.0.1:22"},{"proto":6,"src":"100.64.0.9:40001","dst":"100.64.0.1:80"},
            {"proto":6,"src":"100.64.0.9:40002","dst":"100.64.0.2:22"},{"proto":6,"src":"100.64.0.9:40003","dst":"100.64.0.3:443"},
            {"proto":6,"src":"100.64.0.9:40004","dst":"100.64.0.4:3389"}]}"#,
        params: "min_targets = 5",
        expect: Expect::Fire {
            title: "Possible port scan from laptop-7.ts.net (nScan)",
            severity: Severity::Medium,
            dedup: Some("nScan|MEDIUM"),
            context_keys: &["node_id", "window_start", "state"],
        },
    },
    TestCase {
        name: "five targets with high_targets = 5: HIGH",
        setup: &[],
        record: r#"{"nodeId":"nScan","start":"2025-03-04T17:40:00Z","srcNode":{"nodeId":"nScan","name":"laptop-7.ts.net"},"virtualTraffic":[
            {"proto":6,"src":"100.64.0.9:40000","dst":"100.64.0.1:22"},{"proto":6,"src":"100.64.0.9:40001","dst":"100.64.0.1:80"},
            {"proto":6,"src":"100.64.0.9:40002","dst":"100.64.0.2:22"},{"proto":6,"src":"100.64.0.9:40003","dst":"100.64.0.3:443"},
            {"proto":6,"src":"100.64.0.9:40004","dst":"100.64.0.4:3389"}]}"#,
        params: "min_targets = 3\nhigh_targets = 5",
        expect: Expect::Fire {
            title: "Possible port scan from laptop-7.ts.net (nScan)",
            severity: Severity::High,
            dedup: Some("nScan|HIGH"),
            context_keys: &["targets", "state"],
        },
    },
    TestCase {
        name: "near miss: a monitoring server scraping five nodes (allowed tag)",
        setup: &[],
        record: r#"{"nodeId":"nProm","start":"2025-03-04T17:40:00Z","srcNode":{"nodeId":"nProm","tags":["tag:monitoring"]},"virtualTraffic":[
            {"proto":6,"src":"100.64.0.9:40000","dst":"100.64.0.1:9100"},{"proto":6,"src":"100.64.0.9:40001","dst":"100.64.0.2:9100"},
            {"proto":6,"src":"100.64.0.9:40002","dst":"100.64.0.3:9100"},{"proto":6,"src":"100.64.0.9:40003","dst":"100.64.0.4:9100"},
            {"proto":6,"src":"100.64.0.9:40004","dst":"100.64.0.5:9100"}]}"#,
        params: "min_targets = 5\nallowed_source_tags = [\"tag:monitoring\"]",
        expect: Expect::Quiet,
    },
    TestCase {
        name: "near miss: a busy laptop's five connections that all carried data",
        setup: &[],
        record: r#"{"nodeId":"nBusy","start":"2025-03-04T17:40:00Z","srcNode":{"nodeId":"nBusy","name":"laptop-9"},"virtualTraffic":[
            {"proto":6,"src":"100.64.0.9:40000","dst":"100.64.0.1:22","txPkts":40,"txBytes":4000,"rxPkts":38,"rxBytes":9000},
            {"proto":6,"src":"100.64.0.9:40001","dst":"100.64.0.1:80","txPkts":9,"txBytes":900,"rxPkts":12,"rxBytes":15000},
            {"proto":6,"src":"100.64.0.9:40002","dst":"100.64.0.2:22","txPkts":4,"txBytes":400,"rxPkts":3,"rxBytes":300},
            {"proto":6,"src":"100.64.0.9:40003","dst":"100.64.0.3:443","txPkts":20,"txBytes":3000,"rxPkts":25,"rxBytes":30000},
            {"proto":6,"src":"100.64.0.9:40004","dst":"100.64.0.4:3389","txPkts":200,"txBytes":20000,"rxPkts":300,"rxBytes":400000}]}"#,
        params: "min_targets = 5",
        expect: Expect::Quiet,
    },
    TestCase {
        name: "SYNs refused or unanswered: five probes (a refusal is one small packet back)",
        setup: &[],
        record: r#"{"nodeId":"nScan","start":"2025-03-04T17:40:00Z","srcNode":{"nodeId":"nScan","name":"laptop-7.ts.net"},"virtualTraffic":[
            {"proto":6,"src":"100.64.0.9:40000","dst":"100.64.0.1:22","txPkts":1,"txBytes":60,"rxPkts":1,"rxBytes":40},
            {"proto":6,"src":"100.64.0.9:40001","dst":"100.64.0.1:80","txPkts":2,"txBytes":120},
            {"proto":6,"src":"100.64.0.9:40002","dst":"100.64.0.2:22","txPkts":1,"txBytes":60,"rxPkts":1,"rxBytes":40},
            {"proto":6,"src":"100.64.0.9:40003","dst":"100.64.0.3:443","txPkts":1,"txBytes":60},
            {"proto":6,"src":"100.64.0.9:40004","dst":"100.64.0.4:3389","txPkts":3,"txBytes":180}]}"#,
        params: "min_targets = 5",
        expect: Expect::Fire {
            title: "Possible port scan from laptop-7.ts.net (nScan)",
            severity: Severity::Medium,
            dedup: Some("nScan|MEDIUM"),
            context_keys: &["node_id", "targets", "state"],
        },
    },
    TestCase {
        name: "near miss: four targets",
        setup: &[],
        record: r#"{"nodeId":"nScan","start":"2025-03-04T17:40:00Z","virtualTraffic":[
            {"proto":6,"src":"100.64.0.9:40000","dst":"100.64.0.1:22"},{"proto":6,"src":"100.64.0.9:40001","dst":"100.64.0.1:80"},
            {"proto":6,"src":"100.64.0.9:40002","dst":"100.64.0.2:22"},{"proto":6,"src":"100.64.0.9:40003","dst":"100.64.0.3:443"}]}"#,
        params: "min_targets = 5",
        expect: Expect::Quiet,
    },
    TestCase {
        name: "near miss: a server answering five clients (its port is the lower, service side)",
        setup: &[],
        record: r#"{"nodeId":"nWeb","start":"2025-03-04T17:40:00Z","virtualTraffic":[
            {"proto":6,"src":"100.64.0.9:443","dst":"100.64.0.1:51000"},{"proto":6,"src":"100.64.0.9:443","dst":"100.64.0.2:51001"},
            {"proto":6,"src":"100.64.0.9:443","dst":"100.64.0.3:60412"},{"proto":6,"src":"100.64.0.9:443","dst":"100.64.0.4:49152"},
            {"proto":6,"src":"100.64.0.9:443","dst":"100.64.0.5:33000"}]}"#,
        params: "min_targets = 5",
        expect: Expect::Quiet,
    },
    TestCase {
        name: "subnet traffic without source ports still counts",
        setup: &[],
        record: r#"{"nodeId":"nRouter","start":"2025-03-04T17:40:00Z","subnetTraffic":[
            {"proto":6,"dst":"10.0.0.1:22"},{"proto":6,"dst":"10.0.0.1:80"},{"proto":6,"dst":"10.0.0.2:22"},
            {"proto":6,"dst":"10.0.0.3:443"},{"proto":6,"dst":"10.0.0.4:3389"}]}"#,
        params: "min_targets = 5",
        expect: Expect::Fire {
            title: "Possible port scan from nRouter",
            severity: Severity::Medium,
            dedup: Some("nRouter|MEDIUM"),
            context_keys: &["node_id", "window_start", "state"],
        },
    },
    TestCase {
        name: "near miss: five entries to the same target over physical paths",
        setup: &[],
        record: r#"{"nodeId":"nScan","start":"2025-03-04T17:40:00Z","physicalTraffic":[
            {"src":"100.64.0.1:0","dst":"10.0.0.1:41641"},{"src":"100.64.0.2:0","dst":"10.0.0.2:41641"},{"src":"100.64.0.3:0","dst":"10.0.0.3:41641"},
            {"src":"100.64.0.4:0","dst":"10.0.0.4:41641"},{"src":"100.64.0.5:0","dst":"10.0.0.5:41641"}]}"#,
        params: "min_targets = 5",
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
