//! A laptop opening RDP, SMB, WinRM or VNC on another person's device, or a server reaching into
//! others over SSH, is how an intruder moves from one compromised machine to the next.

use crate::engine::{ConfigError, Expect, LogType, Meta, ParamDoc, Params, Severity, StateQuery, TestCase};
use crate::lake::{NetworkRow, TrafficKind};
use crate::rule::{count, raise, Hit, Rule};

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.Network.LateralAdminPort",
    name: "Tailscale lateral movement over remote-admin ports",
    log_types: &[LogType::Network],
    severity: Severity::Medium,
    description: "Virtual traffic to a remote-admin port (SSH, RDP, SMB, WinRM, RPC, VNC), grouped per source node and hour: one alert per source listing how many distinct (destination, port) pairs it reached and a sample of them. Starting level by direction: a user device to another user device on RDP, SMB, WinRM, RPC or VNC is MEDIUM; a tagged server reaching a user device on any admin port is MEDIUM (servers do not administer laptops); a tagged server reaching another tagged server is LOW (a pivot, unless the source carries an allowed tag such as a CI runner or jump host). One level higher once the source has reached escalate_at distinct destinations in the hour. Ordinary administration (a user device to tagged servers) fires only on fan-out: fanout_min distinct destinations in the hour, LOW. Both the client's record (dst_port = admin port) and the server's (src_port = admin port) are read. Dedup: source node id and level, so a source that widens its reach alerts again at the higher level.",
    runbook: "1. Identify the source in the alert context (source: node id, name, user, tags) and the destinations it reached (state.distinct, state.sample: node id:port); ask the source's owner whether they made the connections.\n2. Query tailscale_network for the source node_id in the hour of window_start for every admin-port connection (dst_port in 22, 3389, 445, 5985, 5986, 135, 5900) and for data moved (tx_bytes, rx_bytes).\n3. If unexplained, isolate the source (remove it from the tailnet or restrict it in the policy file) and investigate it; tighten the policy so these directions are not allowed.",
    reference: "https://tailscale.com/kb/1219/network-flow-logs",
    tags: &["T1021", "T1021.001", "T1021.002", "T1021.004", "T1021.006"],
    params: &[
        ParamDoc { name: "admin_ports", default: "[22, 3389, 5985, 5986, 445, 135, 5900]", doc: "Remote-admin ports watched" },
        ParamDoc { name: "user_device_ports", default: "[3389, 445, 5985, 5986, 135, 5900]", doc: "Ports on which user device -> user device traffic starts at MEDIUM" },
        ParamDoc { name: "allowed_source_tags", default: "[\"tag:ci\", \"tag:jump\", \"tag:bastion\"]", doc: "Source nodes with any of these tags administer others by design and never fire" },
        ParamDoc { name: "allowed_source_users", default: "[]", doc: "Source nodes of these users never fire" },
        ParamDoc { name: "escalate_at", default: "3", doc: "Distinct destinations in an hour at which an unusual direction goes one severity level up" },
        ParamDoc { name: "fanout_min", default: "10", doc: "Distinct admin-port destinations in an hour at which ordinary administration (user device -> tagged servers) fires, LOW" },
    ],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<NetworkRow, LateralAdminPort> = Rule {
    meta: META,
    params,
    matches: |h| h.params.classify(h).is_some(),
    ask: Some(|h| {
        let f = h.params.classify(h)?;
        Some(StateQuery::DistinctCount {
            key: f.source.key().to_owned(),
            member: format!("{}:{}", f.destination.key(), f.port),
            window_minutes: 60,
        })
    }),
    decide: |h| h.params.classify(h).is_some_and(|f| h.params.level(&f, h.distinct()).is_some()),
    severity: Some(|h| finding(h).map_or(META.severity, |(_, _, level)| level)),
    title: |h| {
        finding(h)
            .map(|(f, n, _)| {
                format!(
                    "Remote-admin connections from {} to {} (port {} on {})",
                    f.source.label(),
                    count(n, "destination"),
                    f.port,
                    f.destination.label()
                )
            })
            .unwrap_or_default()
    },
    dedup: Some(|h| {
        finding(h)
            .map(|(f, _, level)| format!("{}|{level}", f.source.key()))
            .unwrap_or_default()
    }),
    context: Some(|r| {
        let Some((f, n, _)) = finding(r) else {
            return serde_json::Value::Null;
        };
        serde_json::json!({
            "source": f.source.json(),
            "distinct_destinations": n,
            "destination": f.destination.json(),
            "port": f.port,
            "proto_name": r.proto_name,
            "tx_bytes": r.tx_bytes,
            "rx_bytes": r.rx_bytes,
            "reported_by": f.reported_by,
            "window_start": r.window_start,
        })
    }),
    tests: TESTS,
    ..Rule::DEFAULT
};

fn params(params: &Params<'_>) -> Result<LateralAdminPort, ConfigError> {
    Ok(LateralAdminPort {
        admin_ports: params.ports("admin_ports", &[22, 3389, 5985, 5986, 445, 135, 5900])?,
        user_device_ports: params.ports("user_device_ports", &[3389, 445, 5985, 5986, 135, 5900])?,
        allowed_source_tags: params.strings("allowed_source_tags", &["tag:ci", "tag:jump", "tag:bastion"])?,
        allowed_source_users: params.strings("allowed_source_users", &[])?,
        escalate_at: params.u64("escalate_at", 3)?.max(2),
        fanout_min: params.u64("fanout_min", 10)?.max(2),
    })
}

/// Parameters.
#[derive(Default)]
pub struct LateralAdminPort {
    admin_ports: Vec<u16>,
    user_device_ports: Vec<u16>,
    allowed_source_tags: Vec<String>,
    allowed_source_users: Vec<String>,
    escalate_at: u64,
    fanout_min: u64,
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

    fn tagged(&self) -> bool {
        !self.tags.is_empty()
    }

    fn key(&self) -> &str {
        self.id.or(self.ip).unwrap_or("?")
    }

    fn label(&self) -> String {
        let who = self.name.or(self.id).or(self.ip).unwrap_or("unknown node");
        match (self.user, self.tags.first()) {
            (Some(user), _) => format!("{who} ({user})"),
            (None, Some(_)) => format!("{who} ({})", self.tags.join(",")),
            (None, None) => who.to_owned(),
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
    /// Level of this direction from the first destination; `None`: ordinary, fan-out only.
    base: Option<Severity>,
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
        // Without the source's identity (clients before 1.92 log no srcNode / dstNodes) the
        // direction is unknown: stay quiet rather than guess.
        if allowed || !(source.user_device() || source.tagged()) || !(destination.user_device() || destination.tagged()) {
            return None;
        }
        let base = match (source.tagged(), destination.tagged()) {
            (false, false) if self.user_device_ports.contains(&port) => Some(Severity::Medium),
            (true, false) => Some(Severity::Medium),
            (true, true) => Some(Severity::Low),
            _ => None,
        };
        Some(Finding {
            source,
            destination,
            port,
            reported_by,
            base,
        })
    }

    /// The level of a finding once the source has reached `distinct` destinations.
    fn level(&self, f: &Finding<'_>, distinct: u64) -> Option<Severity> {
        match f.base {
            Some(base) if distinct >= self.escalate_at => Some(raise(base)),
            Some(base) => Some(base),
            None if distinct >= self.fanout_min => Some(Severity::Low),
            None => None,
        }
    }
}

/// The finding, the distinct destinations the state answered, and the level.
fn finding<'a>(h: &'a Hit<'_, NetworkRow, LateralAdminPort>) -> Option<(Finding<'a>, u64, Severity)> {
    let f = h.params.classify(h)?;
    let distinct = h.distinct();
    let level = h.params.level(&f, distinct).unwrap_or(Severity::Low);
    Some((f, distinct, level))
}

/// Alice's laptop opens RDP on Bob's desktop (client side).
const RDP_CLIENT: &str = r#"{"nodeId":"nLaptop42","start":"2025-03-04T17:40:00Z","srcNode":{"nodeId":"nLaptop42","name":"laptop-42.ts.net","addresses":["100.92.240.74"],"os":"macOS","user":"alice@example.com"},"dstNodes":[{"nodeId":"nDesk7","name":"desk-7.ts.net","addresses":["100.70.1.2"],"os":"windows","user":"bob@example.com"}],"virtualTraffic":[{"proto":6,"src":"100.92.240.74:50211","dst":"100.70.1.2:3389","txPkts":90,"txBytes":12000,"rxPkts":120,"rxBytes":480000}]}"#;

/// Alice's laptop opens RDP on three colleagues' desktops in one window (real-export shape: no
/// `os`, an empty `physicalTraffic`).
const RDP_SPREAD: &str = r#"{"nodeId":"nLaptop42","start":"2025-03-04T17:40:00Z","srcNode":{"nodeId":"nLaptop42","name":"laptop-42.ts.net","addresses":["100.92.240.74"],"user":"alice@example.com"},"dstNodes":[{"nodeId":"nDesk7","name":"desk-7.ts.net","addresses":["100.70.1.2"],"user":"bob@example.com"},{"nodeId":"nDesk8","name":"desk-8.ts.net","addresses":["100.70.1.3"],"user":"carol@example.com"},{"nodeId":"nDesk9","name":"desk-9.ts.net","addresses":["100.70.1.4"],"user":"dave@example.com"}],"virtualTraffic":[
    {"proto":6,"src":"100.92.240.74:50211","dst":"100.70.1.2:3389","txBytes":12000},{"proto":6,"src":"100.92.240.74:50212","dst":"100.70.1.3:3389","txBytes":9000},
    {"proto":6,"src":"100.92.240.74:50213","dst":"100.70.1.4:445","txBytes":700}],"physicalTraffic":[]}"#;

const TESTS: &[TestCase] = &[
    TestCase::new(
        "user device to user device on RDP, client side",
        RDP_CLIENT,
        Expect::Fire {
            title: "Remote-admin connections from laptop-42.ts.net (alice@example.com) to 1 destination (port 3389 on desk-7.ts.net (bob@example.com))",
            severity: Severity::Medium,
            dedup: Some("nLaptop42|MEDIUM"),
            context_keys: &["source", "distinct_destinations", "destination", "port", "tx_bytes", "state"],
        },
    ),
    TestCase::new(
        "user device to user device on SMB, reported by the server",
        r#"{"nodeId":"nDesk7","start":"2025-03-04T17:40:00Z","srcNode":{"nodeId":"nDesk7","name":"desk-7.ts.net","addresses":["100.70.1.2"],"os":"windows","user":"bob@example.com"},"dstNodes":[{"nodeId":"nLaptop42","name":"laptop-42.ts.net","addresses":["100.92.240.74"],"user":"alice@example.com"}],"virtualTraffic":[{"proto":6,"src":"100.70.1.2:445","dst":"100.92.240.74:50300","txPkts":900,"txBytes":1290311,"rxPkts":430,"rxBytes":22360}]}"#,
        Expect::Fire {
            title: "Remote-admin connections from laptop-42.ts.net (alice@example.com) to 1 destination (port 445 on desk-7.ts.net (bob@example.com))",
            severity: Severity::Medium,
            dedup: Some("nLaptop42|MEDIUM"),
            context_keys: &["reported_by", "port", "source", "destination"],
        },
    ),
    TestCase::new(
        "three desktops in one window: one alert for the source, one level up",
        RDP_SPREAD,
        Expect::Fire {
            title: "Remote-admin connections from laptop-42.ts.net (alice@example.com) to 3 destinations (port 3389 on desk-7.ts.net (bob@example.com))",
            severity: Severity::High,
            dedup: Some("nLaptop42|HIGH"),
            context_keys: &["distinct_destinations", "state"],
        },
    ),
    TestCase::new(
        "a tagged server pivoting to another server over SSH",
        r#"{"nodeId":"nWeb01aaCNTRL","start":"2025-03-04T17:40:00Z","srcNode":{"nodeId":"nWeb01aaCNTRL","name":"web-01.tail1a2b.ts.net","addresses":["100.101.7.12"],"tags":["tag:web"]},"dstNodes":[{"nodeId":"nDb01CNTRL","name":"db-01.tail1a2b.ts.net","addresses":["100.101.9.3"],"tags":["tag:db","tag:prod"]}],"virtualTraffic":[{"proto":6,"src":"100.101.7.12:41022","dst":"100.101.9.3:22","txBytes":5120,"rxBytes":3300}]}"#,
        Expect::Fire {
            title: "Remote-admin connections from web-01.tail1a2b.ts.net (tag:web) to 1 destination (port 22 on db-01.tail1a2b.ts.net (tag:db,tag:prod))",
            severity: Severity::Low,
            dedup: Some("nWeb01aaCNTRL|LOW"),
            context_keys: &["source", "destination", "port"],
        },
    ),
    TestCase::new(
        "a tagged server reaching into a person's laptop over SSH",
        r#"{"nodeId":"nWeb01aaCNTRL","start":"2025-03-04T17:40:00Z","srcNode":{"nodeId":"nWeb01aaCNTRL","name":"web-01.tail1a2b.ts.net","addresses":["100.101.7.12"],"tags":["tag:web"]},"dstNodes":[{"nodeId":"nLaptop42CNTRL","name":"laptop-42.tail1a2b.ts.net","addresses":["100.92.240.74"],"user":"alice@example.com"}],"virtualTraffic":[{"proto":6,"src":"100.101.7.12:41022","dst":"100.92.240.74:22","txBytes":5120}]}"#,
        Expect::Fire {
            title: "Remote-admin connections from web-01.tail1a2b.ts.net (tag:web) to 1 destination (port 22 on laptop-42.tail1a2b.ts.net (alice@example.com))",
            severity: Severity::Medium,
            dedup: Some("nWeb01aaCNTRL|MEDIUM"),
            context_keys: &["source", "destination"],
        },
    ),
    TestCase {
        name: "a laptop fanning out over SSH to many servers",
        setup: &[],
        record: r#"{"nodeId":"nLaptop42","start":"2025-03-04T17:40:00Z","srcNode":{"nodeId":"nLaptop42","name":"laptop-42.ts.net","addresses":["100.92.240.74"],"user":"alice@example.com"},"dstNodes":[{"nodeId":"nS1","addresses":["100.101.0.1"],"tags":["tag:web"]},{"nodeId":"nS2","addresses":["100.101.0.2"],"tags":["tag:web"]},{"nodeId":"nS3","addresses":["100.101.0.3"],"tags":["tag:db"]}],"virtualTraffic":[
            {"proto":6,"src":"100.92.240.74:50001","dst":"100.101.0.1:22"},{"proto":6,"src":"100.92.240.74:50002","dst":"100.101.0.2:22"},{"proto":6,"src":"100.92.240.74:50003","dst":"100.101.0.3:22"}]}"#,
        params: "fanout_min = 3",
        expect: Expect::Fire {
            title: "Remote-admin connections from laptop-42.ts.net (alice@example.com) to 3 destinations (port 22 on nS1 (tag:web))",
            severity: Severity::Low,
            dedup: Some("nLaptop42|LOW"),
            context_keys: &["distinct_destinations", "state"],
        },
    },
    TestCase::new(
        "near miss: a user administering one tagged server over SSH (the sample stream's web-01 record, server side)",
        r#"{"nodeId":"nWeb01aaCNTRL","start":"2025-03-04T17:40:00.118204311Z","srcNode":{"nodeId":"nWeb01aaCNTRL","name":"web-01.tail1a2b.ts.net","addresses":["100.101.7.12","fd7a:115c:a1e0::6501:70c"],"os":"linux","tags":["tag:web"]},"dstNodes":[{"nodeId":"nLaptop42CNTRL","name":"laptop-42.tail1a2b.ts.net","addresses":["100.92.240.74","fd7a:115c:a1e0::925c:f04a"],"os":"macOS","user":"alice@example.com"}],"virtualTraffic":[{"proto":6,"src":"100.101.7.12:22","dst":"100.92.240.74:60125","txPkts":21,"txBytes":2459,"rxPkts":18,"rxBytes":1396}]}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: a CI runner deploying over SSH (allowed tag by default)",
        r#"{"nodeId":"nCi1CNTRL","start":"2025-03-04T17:40:00Z","srcNode":{"nodeId":"nCi1CNTRL","addresses":["100.80.0.9"],"tags":["tag:ci"]},"dstNodes":[{"nodeId":"nWeb01aaCNTRL","addresses":["100.101.7.12"],"tags":["tag:web"]}],"virtualTraffic":[{"proto":6,"src":"100.80.0.9:41000","dst":"100.101.7.12:22","txBytes":1200}]}"#,
        Expect::Quiet,
    ),
    TestCase {
        name: "near miss: the source user is allowed",
        setup: &[],
        record: RDP_CLIENT,
        params: r#"allowed_source_users = ["alice@example.com"]"#,
        expect: Expect::Quiet,
    },
    TestCase::new(
        "near miss: user device to user device on SSH (not a user-device port, no fan-out)",
        r#"{"nodeId":"nLaptop42","start":"2025-03-04T17:40:00Z","srcNode":{"nodeId":"nLaptop42","addresses":["100.92.240.74"],"user":"alice@example.com"},"dstNodes":[{"nodeId":"nDesk7","addresses":["100.70.1.2"],"user":"bob@example.com"}],"virtualTraffic":[{"proto":6,"src":"100.92.240.74:50211","dst":"100.70.1.2:22","txBytes":1200}]}"#,
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
        crate::engine::testing::assert_cases(&super::RULE);
    }

    #[test]
    fn one_alert_per_source_however_many_rows() {
        let alerts = crate::detections::replay(&super::RULE, "", &[super::RDP_SPREAD, super::RDP_CLIENT]);
        let titles: Vec<_> = alerts.iter().map(|a| (a.severity, a.dedup.as_str())).collect();
        assert_eq!(titles, [(crate::engine::Severity::High, "nLaptop42|HIGH")], "{alerts:#?}");
    }
}
