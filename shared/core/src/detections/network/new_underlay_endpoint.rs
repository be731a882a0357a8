//! A peer suddenly reached from a public address it never used before: a stolen node key in use
//! from somewhere else, or a device that travelled.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::engine::{Expect, LogType, Meta, ParamDoc, Severity, StateQuery, TestCase};
use crate::lake::{NetworkRow, TrafficKind};
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.Network.NewUnderlayEndpoint",
    name: "Tailscale peer at a new public underlay endpoint",
    log_types: &[LogType::Network],
    severity: Severity::Info,
    description: "Physical (WireGuard underlay) traffic to a peer went to a public address that peer has not used in the look-back period (default 30 days). Private, loopback, link-local, CGNAT / Tailscale (100.64.0.0/10), unique-local IPv6 and DERP-relayed (127.3.3.40) paths are ignored. Noisy for roaming laptops, hence off by default; useful on servers whose endpoints should never move.",
    runbook: "1. Identify the peer (peer_node_name, peer_user / peer_tags) and the new endpoint (dst_ip); look the address up (ASN, country) and ask the owner whether the device moved.\n2. Query tailscale_network for peer_node_id with traffic_kind = 'physical' over the last 30 days to see its usual endpoints (dst_ip).\n3. If the device did not move, treat its node key as stolen: remove the node from the tailnet and re-authenticate the real device.",
    reference: "https://tailscale.com/kb/1257/connection-types",
    tags: &["T1078", "T1133"],
    enabled_by_default: false,
    params: &[ParamDoc {
        name: "lookback_days",
        default: "30",
        doc: "An endpoint counts as new when not seen for the peer in this many days",
    }],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<NetworkRow, NewUnderlayEndpoint> = Rule {
    meta: META,
    params: |p| {
        Ok(NewUnderlayEndpoint {
            lookback_days: u32::try_from(p.u64("lookback_days", 30)?.clamp(1, 3650)).unwrap_or(30),
        })
    },
    matches: |r| peer_key(r).is_some() && endpoint(r).is_some(),
    ask: Some(|r| {
        Some(StateQuery::FirstSeen {
            key: format!("{}|{}", peer_key(r)?, endpoint(r)?),
            within_days: r.params.lookback_days,
        })
    }),
    title: |r| {
        let peer = match (&r.peer_node_name, peer_key(r)) {
            (Some(name), Some(key)) => format!("{name} ({key})"),
            (_, key) => key.unwrap_or("unknown peer").to_owned(),
        };
        format!(
            "Tailscale peer {peer} reached at new public endpoint {} (seen by {})",
            r.dst_ip.as_deref().unwrap_or("?"),
            r.node_name.as_deref().unwrap_or(&r.node_id)
        )
    },
    dedup: Some(|r| format!("{}|{}", peer_key(r).unwrap_or_default(), r.dst_ip.as_deref().unwrap_or_default())),
    context: Some(|r| {
        serde_json::json!({
            "node_id": r.node_id,
            "node_name": r.node_name,
            "peer_node_id": r.peer_node_id,
            "peer_node_name": r.peer_node_name,
            "peer_user": r.peer_user,
            "peer_tags": r.peer_tags,
            "peer_ip": r.src_ip,
            "endpoint_ip": r.dst_ip,
            "endpoint_port": r.dst_port,
            "window_start": r.window_start,
            "lookback_days": r.params.lookback_days,
        })
    }),
    tests: TESTS,
    ..Rule::DEFAULT
};

/// Parameters.
#[derive(Default)]
pub struct NewUnderlayEndpoint {
    lookback_days: u32,
}

/// Whether an underlay address is on the public internet (not private, loopback, link-local,
/// CGNAT / Tailscale, DERP's magic 127.3.3.40, multicast, unique-local IPv6, …).
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    let cgnat = a == 100 && (64..128).contains(&b);
    let this_network = a == 0;
    let reserved = a >= 240;
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || cgnat
        || this_network
        || reserved)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    let unique_local = (first & 0xfe00) == 0xfc00;
    let link_local = (first & 0xffc0) == 0xfe80;
    !(ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() || unique_local || link_local)
}

/// The peer: its node id, else its Tailscale address (`src` of a physical entry).
fn peer_key(row: &NetworkRow) -> Option<&str> {
    row.peer_node_id.as_deref().or(row.src_ip.as_deref())
}

/// The public endpoint of a physical row, if it has one.
fn endpoint(row: &NetworkRow) -> Option<&str> {
    if row.traffic_kind != TrafficKind::Physical || row.derp_region.is_some() {
        return None;
    }
    let text = row.dst_ip.as_deref()?;
    text.parse::<IpAddr>().ok().filter(|ip| is_public(*ip)).map(|_| text)
}

/// The sample stream's subnet router reaching laptop-42 at a public address.
const ROUTER_TO_LAPTOP: &str = r#"{"nodeId":"nR0uter7x9CNTRL","start":"2025-03-04T17:40:01.5Z","srcNode":{"nodeId":"nR0uter7x9CNTRL","name":"router-1.tail1a2b.ts.net","addresses":["100.88.1.7"],"tags":["tag:networking"]},"dstNodes":[{"nodeId":"nLaptop42CNTRL","name":"laptop-42.tail1a2b.ts.net","addresses":["100.92.240.74"],"os":"macOS","user":"alice@example.com"}],"physicalTraffic":[{"src":"100.92.240.74:0","dst":"203.0.113.45:41641","txPkts":374,"txBytes":498102,"rxPkts":236,"rxBytes":39220}]}"#;

const TESTS: &[TestCase] = &[
    TestCase::new(
        "first time the peer is seen at this public address",
        ROUTER_TO_LAPTOP,
        Expect::Fire {
            title: "Tailscale peer laptop-42.tail1a2b.ts.net (nLaptop42CNTRL) reached at new public endpoint 203.0.113.45 (seen by router-1.tail1a2b.ts.net)",
            severity: Severity::Info,
            dedup: Some("nLaptop42CNTRL|203.0.113.45"),
            context_keys: &["peer_node_id", "endpoint_ip", "node_id", "state"],
        },
    ),
    TestCase::new(
        "peer without identity, public IPv6 endpoint",
        r#"{"nodeId":"nOld1","start":"2025-03-04T17:40:00Z","physicalTraffic":[{"src":"100.92.240.74:0","dst":"[2001:db8::7]:41641","txBytes":100}]}"#,
        Expect::Fire {
            title: "Tailscale peer 100.92.240.74 reached at new public endpoint 2001:db8::7 (seen by nOld1)",
            severity: Severity::Info,
            dedup: Some("100.92.240.74|2001:db8::7"),
            context_keys: &["peer_ip", "endpoint_ip"],
        },
    ),
    TestCase {
        name: "near miss: the same endpoint seen 10 days ago",
        setup: &[
            r#"{"nodeId":"nWeb01","start":"2025-02-22T09:00:00Z","dstNodes":[{"nodeId":"nLaptop42CNTRL","addresses":["100.92.240.74"]}],"physicalTraffic":[{"src":"100.92.240.74:0","dst":"203.0.113.45:41641","txBytes":10}]}"#,
        ],
        record: ROUTER_TO_LAPTOP,
        params: "",
        expect: Expect::Quiet,
    },
    TestCase::new(
        "near miss: a private LAN endpoint",
        r#"{"nodeId":"nOldNas1CNTRL","start":"2025-03-04T17:40:03.25Z","physicalTraffic":[{"src":"100.92.240.74:0","dst":"192.168.1.23:41641","txBytes":1333511}]}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: relayed through DERP",
        r#"{"nodeId":"nWeb01","start":"2025-03-04T17:40:00Z","physicalTraffic":[{"src":"100.92.240.74:0","dst":"127.3.3.40:1","txBytes":4080}]}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: a CGNAT endpoint",
        r#"{"nodeId":"nWeb01","start":"2025-03-04T17:40:00Z","physicalTraffic":[{"src":"100.92.240.74:0","dst":"100.101.0.3:41641","txBytes":4080}]}"#,
        Expect::Quiet,
    ),
];

#[cfg(test)]
mod tests {
    use super::is_public;

    #[test]
    fn cases() {
        crate::engine::testing::assert_cases(&super::RULE);
    }

    #[test]
    fn public_addresses() {
        for ip in ["203.0.113.45", "8.8.8.8", "2001:4860::1", "::ffff:8.8.8.8"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "127.3.3.40",
            "169.254.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "fd7a:115c:a1e0::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
