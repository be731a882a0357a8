//! A user's laptop opening RDP, SMB, WinRM or VNC on another user's device is how an intruder moves
//! from one compromised endpoint to the next.

use crate::engine::registry::Spec;
use crate::engine::{network, ConfigError, Detection, Expect, LogType, Meta, ParamDoc, Params, Severity, TestCase, Verdict};
use crate::lake::{LakeRow, NetworkRow, TrafficKind};

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.Network.LateralAdminPort",
    name: "Tailscale lateral movement over a remote-admin port",
    log_types: &[LogType::Network],
    severity: Severity::Medium,
    description: "Virtual traffic to a remote-admin port (SSH, RDP, SMB, WinRM, RPC, VNC) from a user device whose user and tags are not allowed to administer. MEDIUM when both ends are user devices and the port is one users do not normally serve (RDP, SMB, WinRM, RPC, VNC); LOW when a user device reaches a tagged node on an admin port. Both the client's record (dst_port = admin port) and the server's (src_port = admin port, the client as peer) are read.",
    runbook: "1. Identify both ends from the alert context (source / destination: node name, user, tags) and ask the source's user whether they made the connection.\n2. Query tailscale_network for the source node_id around window_start for other admin-port connections (dst_port in 22, 3389, 445, 5985, 5986, 135, 5900) and for data moved (tx_bytes, rx_bytes).\n3. If unexplained, isolate both devices (remove them from the tailnet or restrict them in the policy file) and investigate the source host; tighten the policy so user devices cannot reach each other on these ports.",
    reference: "https://tailscale.com/kb/1219/network-flow-logs",
    tags: &["T1021", "T1021.001", "T1021.002", "T1021.006"],
    params: &[
        ParamDoc { name: "admin_ports", default: "[22, 3389, 5985, 5986, 445, 135, 5900]", doc: "Remote-admin ports watched" },
        ParamDoc { name: "user_device_ports", default: "[3389, 445, 5985, 5986, 135, 5900]", doc: "Ports on which user device -> user device traffic is a MEDIUM finding" },
        ParamDoc { name: "allowed_source_tags", default: "[]", doc: "Source nodes with any of these tags never fire" },
        ParamDoc { name: "allowed_source_users", default: "[]", doc: "Source nodes of these users never fire" },
    ],
    ..Meta::DEFAULT
};

/// Registration.
pub const SPEC: Spec = Spec { meta: &META, build };

fn build(params: &Params<'_>) -> Result<Box<dyn Detection>, ConfigError> {
    Ok(Box::new(LateralAdminPort {
        admin_ports: params.ports("admin_ports", &[22, 3389, 5985, 5986, 445, 135, 5900])?,
        user_device_ports: params.ports("user_device_ports", &[3389, 445, 5985, 5986, 135, 5900])?,
        allowed_source_tags: params.strings("allowed_source_tags", &[])?,
        allowed_source_users: params.strings("allowed_source_users", &[])?,
    }))
}

struct LateralAdminPort {
    admin_ports: Vec<u16>,
    user_device_ports: Vec<u16>,
    allowed_source_tags: Vec<String>,
    allowed_source_users: Vec<String>,
}

/// One end of the connection.
struct End<'a> {
    id: Option<&'a str>,
    name: Option<&'a str>,
    user: Option<&'a str>,
    tags: &'a [String],
    ip: Option<&'a str>,
}

impl End<'_> {
    fn user_device(&self) -> bool {
        self.user.is_some() && self.tags.is_empty()
    }

    fn key(&self) -> &str {
        self.id.or(self.ip).unwrap_or("?")
    }

    fn label(&self) -> String {
        let who = self.name.or(self.id).or(self.ip).unwrap_or("unknown node");
        match self.user {
            Some(user) => format!("{who} ({user})"),
            None => who.to_owned(),
        }
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({ "node_id": self.id, "name": self.name, "user": self.user, "tags": self.tags, "ip": self.ip })
    }
}

struct Finding<'a> {
    source: End<'a>,
    destination: End<'a>,
    port: u16,
    reported_by: &'static str,
    severity: Severity,
}

impl LateralAdminPort {
    fn classify<'a>(&self, r: &'a NetworkRow) -> Option<Finding<'a>> {
        if r.traffic_kind != TrafficKind::Virtual {
            return None;
        }
        let node = End {
            id: Some(r.node_id.as_str()),
            name: r.node_name.as_deref(),
            user: r.node_user.as_deref(),
            tags: &r.node_tags,
            ip: r.src_ip.as_deref(),
        };
        let peer = End {
            id: r.peer_node_id.as_deref(),
            name: r.peer_node_name.as_deref(),
            user: r.peer_user.as_deref(),
            tags: &r.peer_tags,
            ip: r.dst_ip.as_deref(),
        };
        let admin = |p: u16| self.admin_ports.contains(&p);
        // `src` is always the reporting node's side: the client reports dst = server:admin port,
        // the server reports src = its own admin port and dst = the client's ephemeral port.
        let (source, destination, port, reported_by) = match (r.src_port, r.dst_port) {
            (_, Some(dst)) if admin(dst) => (node, peer, dst, "source"),
            (Some(src), Some(dst)) if admin(src) && dst >= 1024 => (peer, node, src, "destination"),
            _ => return None,
        };
        let allowed = source.tags.iter().any(|t| self.allowed_source_tags.contains(t))
            || source.user.is_some_and(|u| self.allowed_source_users.iter().any(|a| a == u));
        if allowed || !source.user_device() {
            return None;
        }
        let severity = if destination.user_device() && self.user_device_ports.contains(&port) {
            Severity::Medium
        } else if !destination.tags.is_empty() {
            Severity::Low
        } else {
            return None;
        };
        Some(Finding {
            source,
            destination,
            port,
            reported_by,
            severity,
        })
    }
}

impl Detection for LateralAdminPort {
    fn meta(&self) -> &Meta {
        &META
    }

    fn evaluate(&self, row: &LakeRow) -> Verdict {
        network(row).is_some_and(|r| self.classify(r).is_some()).into()
    }

    fn severity(&self, row: &LakeRow) -> Severity {
        network(row).and_then(|r| self.classify(r)).map_or(META.severity, |f| f.severity)
    }

    fn title(&self, row: &LakeRow) -> String {
        network(row)
            .and_then(|r| self.classify(r))
            .map(|f| {
                format!(
                    "Connection to admin port {} from {} to {}",
                    f.port,
                    f.source.label(),
                    f.destination.label()
                )
            })
            .unwrap_or_default()
    }

    fn dedup(&self, row: &LakeRow) -> String {
        network(row)
            .and_then(|r| self.classify(r))
            .map(|f| format!("{}->{}:{}", f.source.key(), f.destination.key(), f.port))
            .unwrap_or_default()
    }

    fn context(&self, row: &LakeRow) -> serde_json::Value {
        let Some(r) = network(row) else { return serde_json::Value::Null };
        let Some(f) = self.classify(r) else {
            return serde_json::Value::Null;
        };
        serde_json::json!({
            "node_id": r.node_id,
            "node_name": r.node_name,
            "peer_node_id": r.peer_node_id,
            "peer_node_name": r.peer_node_name,
            "port": f.port,
            "proto_name": r.proto_name,
            "tx_bytes": r.tx_bytes,
            "rx_bytes": r.rx_bytes,
            "reported_by": f.reported_by,
            "source": f.source.json(),
            "destination": f.destination.json(),
            "window_start": r.window_start,
        })
    }

    fn tests(&self) -> &'static [TestCase] {
        TESTS
    }
}

/// Alice's laptop opens RDP on Bob's desktop (client side).
const RDP_CLIENT: &str = r#"{"nodeId":"nLaptop42","start":"2025-03-04T17:40:00Z","srcNode":{"nodeId":"nLaptop42","name":"laptop-42.ts.net","addresses":["100.92.240.74"],"os":"macOS","user":"alice@example.com"},"dstNodes":[{"nodeId":"nDesk7","name":"desk-7.ts.net","addresses":["100.70.1.2"],"os":"windows","user":"bob@example.com"}],"virtualTraffic":[{"proto":6,"src":"100.92.240.74:50211","dst":"100.70.1.2:3389","txPkts":90,"txBytes":12000,"rxPkts":120,"rxBytes":480000}]}"#;

const TESTS: &[TestCase] = &[
    TestCase::new(
        "user device to user device on RDP, client side",
        RDP_CLIENT,
        Expect::Fire {
            title: "Connection to admin port 3389 from laptop-42.ts.net (alice@example.com) to desk-7.ts.net (bob@example.com)",
            severity: Severity::Medium,
            dedup: Some("nLaptop42->nDesk7:3389"),
            context_keys: &["node_id", "peer_node_id", "port", "tx_bytes", "rx_bytes", "source", "destination"],
        },
    ),
    TestCase::new(
        "user device to user device on SMB, reported by the server",
        r#"{"nodeId":"nDesk7","start":"2025-03-04T17:40:00Z","srcNode":{"nodeId":"nDesk7","name":"desk-7.ts.net","addresses":["100.70.1.2"],"os":"windows","user":"bob@example.com"},"dstNodes":[{"nodeId":"nLaptop42","name":"laptop-42.ts.net","addresses":["100.92.240.74"],"user":"alice@example.com"}],"virtualTraffic":[{"proto":6,"src":"100.70.1.2:445","dst":"100.92.240.74:50300","txPkts":900,"txBytes":1290311,"rxPkts":430,"rxBytes":22360}]}"#,
        Expect::Fire {
            title: "Connection to admin port 445 from laptop-42.ts.net (alice@example.com) to desk-7.ts.net (bob@example.com)",
            severity: Severity::Medium,
            dedup: Some("nLaptop42->nDesk7:445"),
            context_keys: &["reported_by", "port", "tx_bytes"],
        },
    ),
    TestCase::new(
        "user device to a tagged server on SSH (the sample stream's web-01 record, server side)",
        r#"{"nodeId":"nWeb01aaCNTRL","start":"2025-03-04T17:40:00.118204311Z","srcNode":{"nodeId":"nWeb01aaCNTRL","name":"web-01.tail1a2b.ts.net","addresses":["100.101.7.12","fd7a:115c:a1e0::6501:70c"],"os":"linux","tags":["tag:web"]},"dstNodes":[{"nodeId":"nLaptop42CNTRL","name":"laptop-42.tail1a2b.ts.net","addresses":["100.92.240.74","fd7a:115c:a1e0::925c:f04a"],"os":"macOS","user":"alice@example.com"}],"virtualTraffic":[{"proto":6,"src":"100.101.7.12:22","dst":"100.92.240.74:60125","txPkts":21,"txBytes":2459,"rxPkts":18,"rxBytes":1396}]}"#,
        Expect::Fire {
            title: "Connection to admin port 22 from laptop-42.tail1a2b.ts.net (alice@example.com) to web-01.tail1a2b.ts.net",
            severity: Severity::Low,
            dedup: Some("nLaptop42CNTRL->nWeb01aaCNTRL:22"),
            context_keys: &["source", "destination", "port"],
        },
    ),
    TestCase {
        name: "near miss: the source user is allowed",
        setup: &[],
        record: RDP_CLIENT,
        params: r#"allowed_source_users = ["alice@example.com"]"#,
        expect: Expect::Quiet,
    },
    TestCase::new(
        "near miss: user device to user device on SSH (not a user-device port)",
        r#"{"nodeId":"nLaptop42","start":"2025-03-04T17:40:00Z","srcNode":{"nodeId":"nLaptop42","addresses":["100.92.240.74"],"user":"alice@example.com"},"dstNodes":[{"nodeId":"nDesk7","addresses":["100.70.1.2"],"user":"bob@example.com"}],"virtualTraffic":[{"proto":6,"src":"100.92.240.74:50211","dst":"100.70.1.2:22","txBytes":1200}]}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: a tagged server reaching a user device on RDP",
        r#"{"nodeId":"nJump1","start":"2025-03-04T17:40:00Z","srcNode":{"nodeId":"nJump1","addresses":["100.80.0.1"],"tags":["tag:jump"]},"dstNodes":[{"nodeId":"nDesk7","addresses":["100.70.1.2"],"user":"bob@example.com"}],"virtualTraffic":[{"proto":6,"src":"100.80.0.1:50211","dst":"100.70.1.2:3389","txBytes":1200}]}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: an old client without node identities (the sample stream's NAS)",
        r#"{"nodeId":"nOldNas1CNTRL","start":"2025-03-04T17:40:03.25Z","virtualTraffic":[{"proto":6,"src":"100.77.3.9:445","dst":"100.92.240.74:50211","txPkts":900,"txBytes":1290311,"rxPkts":430,"rxBytes":22360}]}"#,
        Expect::Quiet,
    ),
];

#[cfg(test)]
mod tests {
    #[test]
    fn cases() {
        crate::engine::testing::assert_cases(&super::SPEC);
    }
}
