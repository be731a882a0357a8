//! A deterministic benchmark corpus shaped like real Tailscale log streaming.
//!
//! Bodies are HEC envelopes concatenated with no separator, exactly what Tailscale's Splunk
//! destination POSTs (see tests/fixtures/tailscale/*.hec). One seed gives the same bytes on every
//! machine, so numbers from two runs are about the same input.
//!
//! The tailnet: 300 nodes (180 user devices, 100 tagged servers, 12 subnet routers, 8 exit nodes)
//! and 60 users. Network flow records (one per node per 5 s window) carry 1–2000 connection
//! entries, drawn log-uniformly within four buckets (1–8, 8–100, 100–600, 600–2000) whose weights
//! depend on the node: user devices mostly log a few entries (70/26/4/0%), servers 35/35/22/8%,
//! routers and exit nodes 20/40/30/10%. Clients open connections to servers' service ports;
//! servers log those as accepted (`src` = own service port, `dst` = the client's ephemeral port);
//! each node keeps one underlay endpoint or DERP home. Entries cover all four traffic kinds (virtual,
//! subnet, exit — anonymized or with exit-flow logging — and physical, direct or DERP-relayed),
//! IPv4 and IPv6 (about 15% of virtual and physical entries), and omit zero counters as Tailscale
//! does. 85% of records carry `srcNode` / `dstNodes` (clients ≥ 1.92). Audit records follow a mix
//! dominated by logins and node changes, with policy-file updates carrying the whole HuJSON text.

use std::fmt::Write as _;
use std::path::Path;

/// SplitMix64: tiny, fast, and the same sequence everywhere.
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi].
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// One element.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.next_u64() as usize % items.len()]
    }

    /// One element by weight.
    pub fn weighted<'a, T>(&mut self, items: &'a [(T, u32)]) -> &'a T {
        let total: u64 = items.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut x = self.next_u64() % total;
        for (item, w) in items {
            if x < u64::from(*w) {
                return item;
            }
            x -= u64::from(*w);
        }
        &items[items.len() - 1].0
    }

    /// Log-uniform integer in [lo, hi].
    pub fn log_uniform(&mut self, lo: u64, hi: u64) -> u64 {
        let (a, b) = ((lo as f64).ln(), ((hi + 1) as f64).ln());
        ((a + (b - a) * self.f64()).exp() as u64).clamp(lo, hi)
    }

    fn alnum(&mut self, n: usize) -> String {
        const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
        (0..n).map(|_| CHARS[self.next_u64() as usize % CHARS.len()] as char).collect()
    }

    fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b"0123456789abcdef"[self.next_u64() as usize % 16]))
            .collect()
    }
}

/// RFC 3339 with nanoseconds, UTC (`2025-03-04T17:40:00.118204311Z`), as Tailscale writes it.
pub fn rfc3339_nanos(unix_nanos: i64) -> String {
    let secs = unix_nanos.div_euclid(1_000_000_000);
    let nanos = unix_nanos.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Client,
    Server,
    SubnetRouter,
    ExitNode,
}

struct Node {
    id: String,
    name: String,
    v4: [u8; 4],
    v6: String,
    os: &'static str,
    user: Option<usize>,
    tags: Vec<&'static str>,
    role: Role,
    /// Where its WireGuard packets go: a public or LAN `ip:41641`, `[v6]:41641`, or its DERP home.
    underlay: String,
}

impl Node {
    fn v4(&self) -> String {
        let [a, b, c, d] = self.v4;
        format!("{a}.{b}.{c}.{d}")
    }
}

struct User {
    id: String,
    login: String,
    display: String,
}

/// The simulated tailnet every record is drawn from.
pub struct Tailnet {
    nodes: Vec<Node>,
    users: Vec<User>,
}

const SERVER_TAGS: &[&[&str]] = &[
    &["tag:web"],
    &["tag:db", "tag:prod"],
    &["tag:k8s", "tag:prod"],
    &["tag:ci"],
    &["tag:monitoring"],
    &["tag:web", "tag:staging"],
];

impl Tailnet {
    /// A tailnet of 300 nodes and 60 users.
    pub fn new(rng: &mut Rng) -> Self {
        const FIRST: &[&str] = &[
            "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj", "olivia", "peggy",
            "rupert", "sybil", "trent", "victor", "walter", "yuki",
        ];
        let users: Vec<User> = (0..60)
            .map(|i| {
                let first = FIRST[i % FIRST.len()];
                let login = if i < FIRST.len() {
                    format!("{first}@example.com")
                } else {
                    format!("{first}.{i}@example.com")
                };
                User {
                    id: format!("u{}CNTRL", rng.alnum(9)),
                    display: format!("{}{} {}", first[..1].to_ascii_uppercase(), &first[1..], i),
                    login,
                }
            })
            .collect();
        let mut used = std::collections::HashSet::new();
        let mut nodes = Vec::with_capacity(300);
        for i in 0..300usize {
            let role = match i {
                0..180 => Role::Client,
                180..280 => Role::Server,
                280..292 => Role::SubnetRouter,
                _ => Role::ExitNode,
            };
            let v4 = loop {
                let a = [100, 64 + rng.range(0, 63) as u8, rng.range(0, 255) as u8, rng.range(1, 254) as u8];
                if used.insert(a) {
                    break a;
                }
            };
            let v6 = format!("fd7a:115c:a1e0::{:x}:{:x}", (u16::from(v4[1]) << 8) | u16::from(v4[2]), v4[3]);
            let (name, os, user, tags) = match role {
                Role::Client => {
                    let os = *rng.pick(&["macOS", "windows", "linux", "iOS", "android"]);
                    let kind = if matches!(os, "iOS" | "android") { "phone" } else { "laptop" };
                    (format!("{kind}-{i}"), os, Some(i % users.len()), Vec::new())
                }
                // One RDP jump host; the other servers carry ordinary service tags (CI runners among them).
                Role::Server if i == JUMP_HOST => (format!("jump-{i}"), "windows", None, vec!["tag:jump"]),
                Role::Server => ("srv".to_owned() + &format!("-{i}"), "linux", None, rng.pick(SERVER_TAGS).to_vec()),
                Role::SubnetRouter => (format!("router-{i}"), "linux", None, vec!["tag:networking"]),
                Role::ExitNode => (format!("exit-{i}"), "linux", None, vec!["tag:exit"]),
            };
            let underlay = match rng.range(0, 19) {
                0..=3 => format!("127.3.3.40:{}", rng.range(1, 30)),
                4..=6 => format!("[2001:db8:{:x}::{:x}]:41641", rng.range(1, 0xffff), rng.range(1, 0xffff)),
                7..=11 => format!("10.{}.{}.{}:41641", rng.range(0, 40), rng.range(0, 255), rng.range(1, 254)),
                _ => format!(
                    "{}.{}.{}.{}:{}",
                    rng.range(1, 223),
                    rng.range(0, 255),
                    rng.range(0, 255),
                    rng.range(1, 254),
                    rng.range(1024, 65535)
                ),
            };
            nodes.push(Node {
                id: format!("n{}CNTRL", rng.alnum(10)),
                name: format!("{name}.tail1a2b.ts.net"),
                v4,
                v6,
                os,
                user,
                tags,
                role,
                underlay,
            });
        }
        Tailnet { nodes, users }
    }

    fn node_json(&self, out: &mut String, n: &Node, with_os: bool) {
        let _ = write!(
            out,
            r#"{{"nodeId":"{}","name":"{}","addresses":["{}","{}"]"#,
            n.id,
            n.name,
            n.v4(),
            n.v6
        );
        if with_os {
            let _ = write!(out, r#","os":"{}""#, n.os);
        }
        match n.user {
            Some(u) => {
                let _ = write!(out, r#","user":"{}""#, self.users[u].login);
            }
            None => {
                out.push_str(r#","tags":["#);
                for (i, t) in n.tags.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "\"{t}\"");
                }
                out.push(']');
            }
        }
        out.push('}');
    }
}

/// Which log type a body holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Configuration audit records.
    Audit,
    /// Network flow records.
    Network,
}

impl Kind {
    /// `audit` / `network`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Audit => "audit",
            Kind::Network => "network",
        }
    }
}

/// The RDP jump host (a server node tagged `tag:jump`).
const JUMP_HOST: usize = 180;

/// The servers a person's device talks to: five stable servers (the ones they work on) and the
/// jump host. Real users reach a handful of servers, not a random one per flow.
fn working_set(client: usize) -> [usize; 6] {
    let pick = |k: usize| 181 + (client * 7 + k * 17) % 99;
    [pick(0), pick(1), pick(2), pick(3), pick(4), JUMP_HOST]
}

/// The servers a server calls (its database, cache, API): three stable upstreams.
fn upstreams(server: usize) -> [usize; 3] {
    let pick = |k: usize| 181 + (server * 11 + k * 29) % 99;
    [pick(0), pick(1), pick(2)]
}

/// The port `from` opens on `to`, as a busy but ordinary tailnet uses them: each server offers
/// one service; people SSH to the servers they work on and RDP to the jump host; CI runners
/// and the jump host administer servers over SSH. No admin port in any other direction, so the
/// remote-admin and scan detections stay quiet on ordinary traffic.
fn service(rng: &mut Rng, tailnet: &Tailnet, from: usize, to: usize) -> u64 {
    let nodes = &tailnet.nodes;
    let (a, b) = (&nodes[from], &nodes[to]);
    let own_service = [443u64, 5432, 8080, 53, 9100, 6443][to % 6];
    match (a.role, b.role) {
        (Role::Client, Role::Server) if to == JUMP_HOST => 3389,
        (Role::Client, Role::Server) if working_set(from).contains(&to) && rng.chance(0.15) => 22,
        (Role::Server, Role::Server) if a.tags.iter().any(|t| matches!(*t, "tag:ci" | "tag:jump")) && rng.chance(0.3) => 22,
        (_, Role::Server) => own_service,
        _ => *rng.pick(&[443u64, 8080, 53]),
    }
}

/// 2025-03-04T17:00:00Z: where every corpus starts.
const BASE_UNIX_MS: i64 = 1_741_107_600_000;

/// Generates HEC bodies of one kind.
pub struct Generator {
    rng: Rng,
    tailnet: Tailnet,
    now_ms: i64,
    kind: Kind,
}

impl Generator {
    /// A generator for `kind` from `seed`.
    pub fn new(kind: Kind, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let tailnet = Tailnet::new(&mut rng);
        Generator {
            rng,
            tailnet,
            now_ms: BASE_UNIX_MS,
            kind,
        }
    }

    /// One body of at most `max_bytes`: as many whole envelopes as fit. Returns the body and the
    /// number of records in it.
    pub fn body(&mut self, max_bytes: usize) -> (Vec<u8>, usize) {
        let mut body = Vec::with_capacity(max_bytes);
        let mut records = 0;
        let mut misses = 0;
        loop {
            let envelope = self.envelope();
            if body.len() + envelope.len() > max_bytes {
                // A large record did not fit; a smaller one may. Stop after a few tries.
                misses += 1;
                if misses > 8 {
                    break;
                }
                continue;
            }
            body.extend_from_slice(envelope.as_bytes());
            records += 1;
        }
        (body, records)
    }

    /// One HEC envelope.
    pub fn envelope(&mut self) -> String {
        let (event, event_ms) = match self.kind {
            Kind::Audit => {
                self.now_ms += self.rng.range(50, 4000) as i64;
                (self.audit_record(), self.now_ms)
            }
            Kind::Network => {
                self.now_ms += self.rng.range(0, 40) as i64;
                let (event, end_ms) = self.network_record();
                (event, end_ms)
            }
        };
        let publish_ms = event_ms + self.rng.range(300, 3000) as i64;
        let recorded = rfc3339_nanos(publish_ms * 1_000_000 + self.rng.range(0, 999_999) as i64);
        format!(
            r#"{{"time":{}.{:03},"event":{event},"fields":{{"recorded":"{recorded}"}}}}"#,
            event_ms.div_euclid(1000),
            event_ms.rem_euclid(1000)
        )
    }

    /// Entries in one record: quiet devices log a few, busy servers and routers up to 2000.
    fn entry_count(&mut self, role: Role) -> u64 {
        let weights: &[(u8, u32)] = match role {
            Role::Client => &[(0, 70), (1, 26), (2, 4), (3, 0)],
            Role::Server => &[(0, 35), (1, 35), (2, 22), (3, 8)],
            Role::SubnetRouter | Role::ExitNode => &[(0, 20), (1, 40), (2, 30), (3, 10)],
        };
        match *self.rng.weighted(weights) {
            0 => self.rng.log_uniform(1, 8),
            1 => self.rng.log_uniform(8, 100),
            2 => self.rng.log_uniform(100, 600),
            _ => self.rng.log_uniform(600, 2000),
        }
    }

    fn counts(rng: &mut Rng, out: &mut String) {
        let tx_pkts = rng.log_uniform(1, 50_000);
        let tx_bytes = tx_pkts * rng.range(60, 1400);
        let _ = write!(out, r#","txPkts":{tx_pkts},"txBytes":{tx_bytes}"#);
        if !rng.chance(0.12) {
            let rx_pkts = rng.log_uniform(1, 50_000);
            let rx_bytes = rx_pkts * rng.range(60, 1400);
            let _ = write!(out, r#","rxPkts":{rx_pkts},"rxBytes":{rx_bytes}"#);
        }
        out.push('}');
    }

    fn endpoint(ip: &str, v6: bool, port: u64) -> String {
        if v6 {
            format!("[{ip}]:{port}")
        } else {
            format!("{ip}:{port}")
        }
    }

    /// A network flow record; returns it and its window end (ms).
    fn network_record(&mut self) -> (String, i64) {
        let me = self.rng.range(0, self.tailnet.nodes.len() as u64 - 1) as usize;
        let role = self.tailnet.nodes[me].role;
        let n = self.entry_count(role);
        let nodes = &self.tailnet.nodes;
        let start_ns = self.now_ms * 1_000_000 - 5_000_000_000 + self.rng.range(0, 999_999_999) as i64;
        let end_ns = start_ns + 5_000_000_000 + self.rng.range(0, 9_999_999) as i64;
        // Peers this window: a handful for a laptop, many for a busy server.
        let peer_count = (1 + n / 8).min(self.rng.range(1, 64)).max(1) as usize;
        // A laptop talks to a handful of peers in five seconds, not dozens.
        let peer_count = if role == Role::Client { peer_count.min(8) } else { peer_count };
        // Clients talk to servers; servers are talked to by clients (and other servers).
        let mut peers: Vec<usize> = Vec::with_capacity(peer_count);
        while peers.len() < peer_count {
            let p = if role == Role::Client && self.rng.chance(0.85) {
                *self.rng.pick(&working_set(me))
            } else if role == Role::Server && self.rng.chance(0.7) {
                self.rng.range(0, 179) as usize
            } else {
                self.rng.range(0, nodes.len() as u64 - 1) as usize
            };
            if p != me && !peers.contains(&p) {
                peers.push(p);
            }
        }
        let mut traffic: [String; 4] = Default::default();
        let mut used_peers = vec![false; peers.len()];
        let weights: &[(usize, u32)] = match role {
            Role::SubnetRouter => &[(0, 20), (1, 60), (2, 0), (3, 20)],
            Role::ExitNode => &[(0, 20), (1, 0), (2, 60), (3, 20)],
            _ => &[(0, 75), (1, 5), (2, 5), (3, 15)],
        };
        let exit_logged = self.rng.chance(0.3);
        for _ in 0..n {
            let kind = *self.rng.weighted(weights);
            let pi = self.rng.range(0, peers.len() as u64 - 1) as usize;
            let peer = &nodes[peers[pi]];
            let own = &nodes[me];
            let out = &mut traffic[kind];
            out.push(if out.is_empty() { '[' } else { ',' });
            match kind {
                0 => {
                    used_peers[pi] = true;
                    let v6 = self.rng.chance(0.15);
                    let proto = *self.rng.weighted(&[(6u8, 70), (17, 24), (1, 4), (58, 2)]);
                    let proto = if proto == 58 && !v6 { 1 } else { proto };
                    let (own_ip, peer_ip) = if v6 {
                        (own.v6.clone(), peer.v6.clone())
                    } else {
                        (own.v4(), peer.v4())
                    };
                    let ephemeral = self.rng.range(32768, 60999);
                    // `src` is always the reporting node's side: a connection it opened goes to the
                    // peer's service port; one it accepted comes from the peer's ephemeral port.
                    // Servers never open connections to people's devices, and call only their own
                    // upstreams.
                    let outbound = match (own.role, peer.role) {
                        (Role::Client, _) => self.rng.chance(0.95),
                        (_, Role::Client) => false,
                        (Role::Server, Role::Server) => upstreams(me).contains(&peers[pi]),
                        _ => self.rng.chance(0.5),
                    };
                    let (from, to) = if outbound { (me, peers[pi]) } else { (peers[pi], me) };
                    let service = service(&mut self.rng, &self.tailnet, from, to);
                    let (sp, dp) = match (proto, outbound) {
                        (1 | 58, _) => (0, 0),
                        (_, true) => (ephemeral, service),
                        (_, false) => (service, ephemeral),
                    };
                    let _ = write!(
                        out,
                        r#"{{"proto":{proto},"src":"{}","dst":"{}""#,
                        Self::endpoint(&own_ip, v6, sp),
                        Self::endpoint(&peer_ip, v6, dp)
                    );
                }
                1 => {
                    let lan = format!("10.{}.{}.{}", self.rng.range(0, 40), self.rng.range(0, 255), self.rng.range(1, 254));
                    let proto = if self.rng.chance(0.8) { 6 } else { 17 };
                    let service = *self.rng.pick(&[443u64, 80, 22, 53, 3306, 8443]);
                    let eph = self.rng.range(32768, 60999);
                    let (src, dst) = if role == Role::SubnetRouter {
                        (format!("{lan}:{service}"), format!("{}:{eph}", peer.v4()))
                    } else {
                        (format!("{}:{eph}", own.v4()), format!("{lan}:{service}"))
                    };
                    let _ = write!(out, r#"{{"proto":{proto},"src":"{src}","dst":"{dst}""#);
                }
                2 => {
                    if exit_logged {
                        let v6 = self.rng.chance(0.15);
                        let dst = if v6 {
                            format!("[2001:db8:{:x}::{:x}]:443", self.rng.range(1, 0xffff), self.rng.range(1, 0xffff))
                        } else {
                            format!(
                                "{}.{}.{}.{}:{}",
                                self.rng.range(1, 223),
                                self.rng.range(0, 255),
                                self.rng.range(0, 255),
                                self.rng.range(1, 254),
                                *self.rng.pick(&[443u64, 80, 53, 993])
                            )
                        };
                        let src = if v6 {
                            format!("[{}]:{}", own.v6, self.rng.range(32768, 60999))
                        } else {
                            format!("{}:{}", own.v4(), self.rng.range(32768, 60999))
                        };
                        let _ = write!(out, r#"{{"proto":6,"src":"{src}","dst":"{dst}""#);
                    } else {
                        // Anonymized: no proto, port 0, non-Tailscale addresses removed.
                        match self.rng.range(0, 3) {
                            0 => {
                                let _ = write!(out, r#"{{"src":"{}:0""#, own.v4());
                            }
                            1 => {
                                let _ = write!(out, r#"{{"dst":"{}:0""#, peer.v4());
                            }
                            _ => {
                                let _ = write!(out, r#"{{"src":"{}:0","dst":"{}:0""#, own.v4(), peer.v4());
                            }
                        }
                    }
                }
                _ => {
                    used_peers[pi] = true;
                    // Each node keeps its underlay endpoint (or DERP home) for hours.
                    let dst = peer.underlay.clone();
                    let _ = write!(out, r#"{{"src":"{}:0","dst":"{dst}""#, peer.v4());
                }
            }
            Self::counts(&mut self.rng, &mut traffic[kind]);
        }
        let nodes = &self.tailnet.nodes;
        let mut out = String::with_capacity(256 + traffic.iter().map(String::len).sum::<usize>());
        let _ = write!(
            out,
            r#"{{"nodeId":"{}","start":"{}","end":"{}""#,
            nodes[me].id,
            rfc3339_nanos(start_ns),
            rfc3339_nanos(end_ns)
        );
        if self.rng.chance(0.85) {
            out.push_str(r#","srcNode":"#);
            self.tailnet.node_json(&mut out, &nodes[me], true);
            let mut first = true;
            for (i, &p) in peers.iter().enumerate() {
                if !used_peers[i] {
                    continue;
                }
                out.push_str(if first { r#","dstNodes":["# } else { "," });
                first = false;
                let with_os = self.rng.chance(0.9);
                self.tailnet.node_json(&mut out, &nodes[p], with_os);
            }
            if !first {
                out.push(']');
            }
        }
        for (i, name) in ["virtualTraffic", "subnetTraffic", "exitTraffic", "physicalTraffic"]
            .iter()
            .enumerate()
        {
            if !traffic[i].is_empty() {
                let _ = write!(out, r#","{name}":{}]"#, traffic[i]);
            }
        }
        out.push('}');
        (out, end_ns.div_euclid(1_000_000))
    }

    fn audit_record(&mut self) -> String {
        let users = &self.tailnet.users;
        let nodes = &self.tailnet.nodes;
        let actor_user = &users[self.rng.range(0, users.len() as u64 - 1) as usize];
        let node = &nodes[self.rng.range(0, nodes.len() as u64 - 1) as usize];
        let other = &users[self.rng.range(0, users.len() as u64 - 1) as usize];
        let mut origin = *self
            .rng
            .weighted(&[("ADMIN_CONSOLE", 60), ("CONFIG_API", 25), ("IDENTITY_PROVIDER", 10), ("NODE", 5)]);
        let mut actor = format!(
            r#"{{"id":"{}","type":"USER","loginName":"{}","displayName":"{}"}}"#,
            actor_user.id, actor_user.login, actor_user.display
        );
        let json = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let node_target = |prop: Option<&str>| match prop {
            Some(p) => format!(r#"{{"id":"{}","name":"{}","type":"NODE","property":"{p}"}}"#, node.id, node.name),
            None => format!(r#"{{"id":"{}","name":"{}","type":"NODE","isEphemeral":false}}"#, node.id, node.name),
        };
        let user_target = |prop: Option<&str>| match prop {
            Some(p) => format!(r#"{{"id":"{}","name":"{}","type":"USER","property":"{p}"}}"#, other.id, other.login),
            None => format!(r#"{{"id":"{}","name":"{}","type":"USER"}}"#, other.id, other.login),
        };
        let tailnet_target = |prop: &str| format!(r#"{{"id":"example.com","name":"example.com","type":"TAILNET","property":"{prop}"}}"#);
        // Weights per thousand: routine events dominate; changes a detection cares about are rare.
        let which = *self.rng.weighted(&[
            (0u8, 350), // login
            (1, 100),   // node create
            (2, 150),   // key expiry time (automation)
            (3, 30),    // ACL tags
            (4, 10),    // allowed IPs
            (5, 30),    // node approve
            (6, 40),    // node delete
            (7, 30),    // node rename (a property not in the docs)
            (8, 5),     // user role
            (9, 40),    // user lifecycle
            (10, 10),   // invite
            (11, 10),   // auth key create
            (12, 30),   // api key revoke / expire
            (13, 10),   // policy file
            (14, 3),    // DNS config
            (15, 5),    // tailnet setting enable/disable
            (16, 60),   // OAuth access token
            (17, 10),   // failed request
            (18, 1),    // log streaming
            (19, 2),    // webhook
            (20, 10),   // share
        ]);
        let (target, action, extra): (String, &str, String) = match which {
            0 => {
                origin = "IDENTITY_PROVIDER";
                (
                    format!(r#"{{"id":"{}","name":"{}","type":"USER"}}"#, actor_user.id, actor_user.login),
                    "LOGIN",
                    String::new(),
                )
            }
            1 => {
                origin = "NODE";
                (node_target(None), "CREATE", String::new())
            }
            2 => {
                origin = "CONTROL";
                actor = r#"{"id":"","type":"AUTOMATED_WORKER","loginName":"","displayName":"Tailscale"}"#.to_owned();
                (node_target(Some("KEY_EXPIRY_TIME")), "UPDATE", String::new())
            }
            3 => (
                node_target(Some("ACL_TAGS")),
                "UPDATE",
                r#","old":["tag:web"],"new":["tag:web","tag:prod"]"#.to_owned(),
            ),
            4 => (
                node_target(Some("ALLOWED_IPS")),
                "UPDATE",
                format!(r#","old":["{}/32"],"new":["{}/32","10.20.0.0/16"]"#, node.v4(), node.v4()),
            ),
            5 => (node_target(None), "APPROVE", String::new()),
            6 => (node_target(None), "DELETE", String::new()),
            7 => (
                node_target(Some("MACHINE_NAME")),
                "UPDATE",
                format!(r#","old":"{}","new":"{}""#, node.name, node.name.replacen('-', "-new-", 1)),
            ),
            8 => {
                let new = *self.rng.weighted(&[("it-admin", 3), ("network-admin", 3), ("admin", 1), ("member", 3)]);
                (user_target(Some("USER_ROLE")), "UPDATE", format!(r#","old":"member","new":"{new}""#))
            }
            9 => {
                let action = *self.rng.pick(&["CREATE", "JOIN", "SUSPEND", "RESTORE", "DELETE"]);
                (user_target(None), action, String::new())
            }
            10 => (
                format!(r#"{{"id":"{}","name":"{}","type":"INVITE"}}"#, self.rng.alnum(12), other.login),
                "CREATE",
                String::new(),
            ),
            11 => {
                // The logged shape: capabilities as an array of strings, tags in authTags.
                let capabilities = if self.rng.chance(0.2) { r#"["EPHEMERAL"]"# } else { r#"["ONE_OFF_NODE_AUTH","EPHEMERAL"]"# };
                (
                    format!(r#"{{"id":"k{}CNTRL","name":"Auth key","type":"API_KEY"}}"#, self.rng.alnum(8)),
                    "CREATE",
                    format!(
                        r#","new":{{"expires":"2025-03-05 17:00:00.000000000 +0000 UTC","capabilities":{capabilities},"domainLevel":true,"authTags":["tag:ci"],"description":"ci"}}"#
                    ),
                )
            }
            12 => {
                let action = *self.rng.pick(&["REVOKE", "DELETE", "EXPIRED"]);
                if action == "EXPIRED" {
                    origin = "CONTROL";
                    actor = r#"{"id":"","type":"AUTOMATED_WORKER","loginName":"","displayName":"Tailscale"}"#.to_owned();
                }
                (
                    format!(r#"{{"id":"k{}CNTRL","name":"API key","type":"API_KEY"}}"#, self.rng.alnum(8)),
                    action,
                    String::new(),
                )
            }
            13 => {
                let allow_all = self.rng.chance(0.02);
                let old = policy_file(&mut self.rng, users, false);
                let new = policy_file(&mut self.rng, users, allow_all);
                (tailnet_target("ACL"), "UPDATE", format!(r#","old":{},"new":{}"#, json(&old), json(&new)))
            }
            14 => (
                tailnet_target("DNS_CONFIG"),
                "UPDATE",
                r#","old":{"nameservers":["1.1.1.1"],"searchPaths":["corp.example.com"]},"new":{"nameservers":["1.1.1.1","8.8.8.8"],"searchPaths":["corp.example.com"]}"#
                    .to_owned(),
            ),
            15 => {
                let prop = *self.rng.pick(&["FILE_SHARING", "MAGIC_DNS", "HTTPS", "NETWORK_FLOW_LOGGING", "MACHINE_APPROVAL_NEEDED"]);
                let action = if self.rng.chance(0.85) { "ENABLE" } else { "DISABLE" };
                (tailnet_target(prop), action, String::new())
            }
            16 => {
                origin = "CONFIG_API";
                // A few OAuth clients, all displayed as "OAuth client", each minting a token per call.
                let client = *self.rng.pick(&["kCi7Qx2LmCNTRL", "kTf4Wz9RpCNTRL", "kMon3Hs8VCNTRL"]);
                actor = format!(r#"{{"id":"{client}","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"}}"#);
                (
                    format!(r#"{{"id":"tskey-token-k{}CNTRL","name":"OAuth access token","type":"OAUTH_ACCESS_TOKEN"}}"#, self.rng.alnum(10)),
                    "CREATE",
                    r#","actionDetails":"scopes - all""#.to_owned(),
                )
            }
            17 => (
                format!(r#"{{"id":"{}","name":"POST /api/v2/tailnet/-/keys","type":"FAILED_REQUEST"}}"#, self.rng.hex(16)),
                "CREATE",
                r#","error":"permission denied: the requested scopes exceed the caller's""#.to_owned(),
            ),
            18 => (
                tailnet_target("LOGSTREAM_ENDPOINT"),
                "UPDATE",
                r#","old":{"provider":"splunk","logstreamType":"network","endpointURL":"https://siem.example.com/services/collector/event"},"new":{"provider":"splunk","logstreamType":"network","endpointURL":"https://tailwatch.example.com/services/collector/event"}"#
                    .to_owned(),
            ),
            19 => (
                format!(r#"{{"id":"{}","name":"https://hooks.example.com/tailscale","type":"WEBHOOK_ENDPOINT","property":"SUBSCRIBED_EVENTS"}}"#, self.rng.hex(12)),
                "UPDATE",
                r#","old":["nodeCreated"],"new":["nodeCreated","nodeDeleted","policyUpdate"]"#.to_owned(),
            ),
            _ => (
                format!(r#"{{"id":"{}","name":"{}","type":"SHARE"}}"#, self.rng.alnum(12), node.name),
                "CREATE",
                String::new(),
            ),
        };
        let unknown = if self.rng.chance(0.005) {
            r#","riskScore":{"value":3,"model":"v2"}"#
        } else {
            ""
        };
        format!(
            r#"{{"eventGroupID":"{}","origin":"{origin}","actor":{actor},"target":{target},"action":"{action}"{extra}{unknown}}}"#,
            self.rng.hex(32)
        )
    }
}

/// A HuJSON policy file of a few KiB, as the ACL audit events carry it (`allow_all` opens it up).
fn policy_file(rng: &mut Rng, users: &[User], allow_all: bool) -> String {
    let mut s = String::from("{\n  // tailnet policy, managed by GitOps\n  \"groups\": {\n");
    for g in ["eng", "ops", "sales", "security"] {
        let _ = writeln!(
            s,
            "    \"group:{g}\": [\"{}\", \"{}\"],",
            users[rng.range(0, 59) as usize].login,
            users[rng.range(0, 59) as usize].login
        );
    }
    s.push_str(
        "  },\n  \"tagOwners\": {\"tag:web\": [\"group:ops\"], \"tag:db\": [\"group:ops\"], \"tag:ci\": [\"group:eng\"]},\n  \"acls\": [\n",
    );
    if allow_all {
        s.push_str("    {\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"*:*\"]},\n");
    }
    for _ in 0..rng.range(8, 30) {
        let src = *rng.pick(&["group:eng", "group:ops", "group:security", "tag:ci", "autogroup:member"]);
        let dst = *rng.pick(&["tag:web:443", "tag:db:5432", "tag:k8s:6443", "tag:monitoring:9100", "tag:ci:22"]);
        let _ = writeln!(s, "    {{\"action\": \"accept\", \"src\": [\"{src}\"], \"dst\": [\"{dst}\"]}},");
    }
    s.push_str("  ],\n  \"ssh\": [{\"action\": \"check\", \"src\": [\"group:ops\"], \"dst\": [\"tag:web\"], \"users\": [\"root\"]}],\n}\n");
    s
}

/// One generated corpus file.
#[derive(Debug, Clone)]
pub struct CorpusFile {
    /// `network-6m`, …
    pub name: String,
    /// Log type.
    pub kind: Kind,
    /// The uncompressed HEC body.
    pub body: Vec<u8>,
    /// Records (envelopes) in it.
    pub records: usize,
    /// gzip (default level) of the body.
    pub gzip: Vec<u8>,
    /// zstd (level 3, what ingest stores raw batches with) of the body.
    pub zstd: Vec<u8>,
}

/// The sizes of the corpus: a Tailscale-sized request and the Lambda payload limit.
pub const SIZES: &[(&str, usize)] = &[("512k", 512 << 10), ("6m", 6 << 20)];

/// Builds the whole corpus: audit and network, 512 KiB and 6 MiB, raw + gzip + zstd.
pub fn build(seed: u64) -> Vec<CorpusFile> {
    let mut out = Vec::new();
    for kind in [Kind::Audit, Kind::Network] {
        for (i, (label, size)) in SIZES.iter().enumerate() {
            let mut g = Generator::new(kind, seed.wrapping_mul(31).wrapping_add(i as u64 * 2 + kind as u64));
            let (body, records) = g.body(*size);
            out.push(CorpusFile {
                name: format!("{}-{label}", kind.as_str()),
                kind,
                gzip: tailwatch_core::wire::decode::gzip(&body),
                zstd: tailwatch_core::wire::decode::zstd_compress(&body, 3),
                body,
                records,
            });
        }
    }
    out
}

/// Writes the corpus as `<dir>/<name>.hec`, `.hec.gz`, `.hec.zst`.
///
/// # Errors
/// I/O errors.
pub fn write(dir: &Path, files: &[CorpusFile]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for f in files {
        std::fs::write(dir.join(format!("{}.hec", f.name)), &f.body)?;
        std::fs::write(dir.join(format!("{}.hec.gz", f.name)), &f.gzip)?;
        std::fs::write(dir.join(format!("{}.hec.zst", f.name)), &f.zstd)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tailwatch_core::normalize::SourceContext;
    use tailwatch_core::pipeline::normalize_body;
    use tailwatch_core::time::Timestamp;

    #[test]
    fn timestamps_format_like_tailscale() {
        assert_eq!(rfc3339_nanos(1_741_108_869_871_204_398), "2025-03-04T17:21:09.871204398Z");
        assert_eq!(rfc3339_nanos(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339_nanos(951_782_400_000_000_000), "2000-02-29T00:00:00.000000000Z");
    }

    #[test]
    fn generated_bodies_are_valid_deterministic_and_fully_normalized() {
        for kind in [Kind::Audit, Kind::Network] {
            let (a, n) = Generator::new(kind, 7).body(256 << 10);
            let (b, _) = Generator::new(kind, 7).body(256 << 10);
            assert_eq!(a, b, "same seed, same bytes");
            assert!(a.len() <= 256 << 10 && a.len() > 200 << 10, "{}", a.len());
            let ctx = SourceContext {
                label: "bench",
                file: "corpus",
                parse_time: Timestamp::now(),
            };
            let out = normalize_body(&a, &ctx);
            assert!(
                out.quarantined.is_empty(),
                "{kind:?}: {:?}",
                out.quarantined.first().map(|q| &q.message)
            );
            assert_eq!(out.records(), n);
        }
    }

    #[test]
    fn network_bodies_cover_every_traffic_kind_and_ipv6() {
        let (body, _) = Generator::new(Kind::Network, 3).body(2 << 20);
        let text = String::from_utf8(body).unwrap();
        for needle in [
            "virtualTraffic",
            "subnetTraffic",
            "exitTraffic",
            "physicalTraffic",
            "[fd7a:115c:a1e0::",
            "127.3.3.40:",
            "\"dstNodes\"",
        ] {
            assert!(text.contains(needle), "{needle}");
        }
    }
}
