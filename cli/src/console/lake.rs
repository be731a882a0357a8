//! The console's reads of the local lake: gzip NDJSON partitions, read on demand.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tailwatch_core::lake::{NETWORK_NODE_FACTS, TABLES, TAILSCALE_NETWORK, TAILSCALE_NODES};
use tailwatch_core::time::Timestamp;

/// Remote-administration ports, as the lateral-movement detection's default (`admin_ports`).
const ADMIN_PORTS: &[(u64, &str)] = &[
    (22, "ssh"),
    (135, "msrpc"),
    (445, "smb"),
    (3389, "rdp"),
    (5900, "vnc"),
    (5985, "winrm"),
    (5986, "winrm-tls"),
];

/// At most this many network rows are read for one view, so a huge lake cannot stall serve.
const MAX_NETWORK_ROWS: usize = 1_000_000;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.to_string_lossy().ends_with(".json.gz") {
            out.push(p);
        }
    }
}

/// Each row of a gzip NDJSON file (unreadable lines are skipped: the lake is written by us, and a
/// file being replaced is read again at the next request).
fn each_row(path: &Path, mut f: impl FnMut(Value) -> bool) {
    let Ok(file) = std::fs::File::open(path) else { return };
    for line in BufReader::new(flate2::read::MultiGzDecoder::new(file)).lines() {
        let Ok(line) = line else { return };
        if let Ok(v) = serde_json::from_str::<Value>(&line) {
            if !f(v) {
                return;
            }
        }
    }
}

/// Quarantine rows (at most `limit`).
pub fn quarantine_rows(data_dir: &Path, limit: usize) -> Vec<Value> {
    let mut paths = Vec::new();
    files(&data_dir.join("quarantine"), &mut paths);
    paths.sort();
    let mut rows = Vec::new();
    for p in paths {
        each_row(&p, |v| {
            rows.push(v);
            rows.len() < limit
        });
        if rows.len() >= limit {
            break;
        }
    }
    rows
}

/// The lake rows behind an alert: each event it carries, looked up in its lake partition by
/// `p_row_id` (`source: "lake"`), or the event itself when the lake no longer has it
/// (`source: "alert"`, e.g. after retention).
pub fn rows_behind(data_dir: &Path, events: &[Value]) -> Vec<Value> {
    let mut wanted: BTreeMap<PathBuf, HashSet<String>> = BTreeMap::new();
    for e in events {
        let (Some(id), Some(lt), Some(t)) = (
            e["p_row_id"].as_str(),
            e["p_log_type"].as_str(),
            e["p_event_time"].as_str().and_then(|t| Timestamp::read_text(t).ok()),
        ) else {
            continue;
        };
        if let Some(table) = TABLES.iter().find(|t| t.log_type == lt) {
            wanted
                .entry(data_dir.join("lake").join(table.partition(&t)))
                .or_default()
                .insert(id.to_owned());
        }
    }
    let mut found: BTreeMap<String, Value> = BTreeMap::new();
    for (dir, ids) in &wanted {
        let mut paths = Vec::new();
        files(dir, &mut paths);
        for p in paths {
            each_row(&p, |v| {
                if let Some(id) = v["p_row_id"].as_str().filter(|id| ids.contains(*id)) {
                    found.insert(id.to_owned(), v.clone());
                }
                true
            });
        }
    }
    events
        .iter()
        .map(|e| {
            let id = e["p_row_id"].as_str().unwrap_or_default();
            match found.get(id) {
                Some(row) => {
                    // Network rows keep node names in tailscale_nodes, not on the row; the alert's
                    // copy of the row carries them, so show them next to the lake's columns.
                    let mut row = row.clone();
                    if let (Some(obj), Some(event)) = (row.as_object_mut(), e.as_object()) {
                        for fact in NETWORK_NODE_FACTS {
                            if let Some(v) = event.get(*fact).filter(|_| !obj.contains_key(*fact)) {
                                obj.insert((*fact).to_owned(), v.clone());
                            }
                        }
                    }
                    json!({ "source": "lake", "row": row })
                }
                None => json!({ "source": "alert", "row": e }),
            }
        })
        .collect()
}

/// The nodes of `tailscale_nodes` in the hours from `from` to `until`, by id: the row seen last.
fn nodes(data_dir: &Path, from: Timestamp, hours: i64) -> HashMap<String, Value> {
    let mut out: HashMap<String, Value> = HashMap::new();
    for h in 0..=hours {
        let mut paths = Vec::new();
        files(
            &data_dir.join("lake").join(TAILSCALE_NODES.partition(&from.plus_seconds(h * 3600))),
            &mut paths,
        );
        for p in paths {
            each_row(&p, |v| {
                if let Some(id) = v["node_id"].as_str() {
                    let newer = out.get(id).is_none_or(|old| old["last_seen"].as_str() <= v["last_seen"].as_str());
                    if newer {
                        out.insert(id.to_owned(), v);
                    }
                }
                true
            });
        }
    }
    out
}

fn label(v: &Value, name: &str, fallback: &str) -> String {
    v[name]
        .as_str()
        .filter(|s| !s.is_empty())
        .or_else(|| v[fallback].as_str())
        .unwrap_or("?")
        .to_owned()
}

#[derive(Default)]
struct Agg {
    tx: u64,
    rx: u64,
    flows: u64,
    peers: BTreeSet<String>,
    extra: String,
}

fn top(map: BTreeMap<(String, String, u64), Agg>, n: usize, shape: impl Fn(&(String, String, u64), &Agg) -> Value) -> Vec<Value> {
    let mut v: Vec<_> = map.into_iter().collect();
    v.sort_by(|a, b| (b.1.tx + b.1.rx).cmp(&(a.1.tx + a.1.rx)).then(b.1.flows.cmp(&a.1.flows)));
    v.iter().take(n).map(|(k, a)| shape(k, a)).collect()
}

/// Who talks to whom in the `hours` before `until`.
pub fn network(data_dir: &Path, hours: i64, until: Timestamp) -> Value {
    let from = until.plus_seconds(-hours * 3600);
    let root = data_dir.join("lake/tailscale_network");
    let mut talkers: BTreeMap<(String, String, u64), Agg> = BTreeMap::new();
    let mut edges: BTreeMap<(String, String, u64), Agg> = BTreeMap::new();
    let mut admin: BTreeMap<(String, String, u64), Agg> = BTreeMap::new();
    let mut exits: BTreeMap<(String, String, u64), Agg> = BTreeMap::new();
    let mut rows = 0usize;
    let mut truncated = false;
    // Names, users and tags live in tailscale_nodes (one row per node per lake object).
    let nodes = nodes(data_dir, from, hours);
    let none = Value::Null;
    let node_of = |id: Option<&str>| id.and_then(|id| nodes.get(id)).unwrap_or(&none);
    for h in 0..=hours {
        let t = from.plus_seconds(h * 3600);
        let mut paths = Vec::new();
        files(&data_dir.join("lake").join(TAILSCALE_NETWORK.partition(&t)), &mut paths);
        for p in paths {
            each_row(&p, |v| {
                let Some(time) = v["p_event_time"].as_str().and_then(|t| Timestamp::read_text(t).ok()) else {
                    return true;
                };
                if time < from || time > until {
                    return true;
                }
                rows += 1;
                if rows > MAX_NETWORK_ROWS {
                    truncated = true;
                    return false;
                }
                let node_facts = node_of(v["node_id"].as_str());
                let peer_facts = node_of(v["peer_node_id"].as_str());
                let node = node_facts["node_name"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .map_or_else(|| label(&v, "node_name", "node_id"), str::to_owned);
                let peer = peer_facts["node_name"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .map_or_else(|| label(&v, "peer_node_name", "dst_ip"), str::to_owned);
                let (tx, rx) = (v["tx_bytes"].as_u64().unwrap_or(0), v["rx_bytes"].as_u64().unwrap_or(0));
                let kind = v["traffic_kind"].as_str().unwrap_or("");
                let port = v["dst_port"].as_u64().unwrap_or(0);
                let add = |a: &mut Agg, peer: &str| {
                    a.tx += tx;
                    a.rx += rx;
                    a.flows += 1;
                    if a.peers.len() < 1000 {
                        a.peers.insert(peer.to_owned());
                    }
                };
                if kind != "physical" {
                    let t = talkers.entry((node.clone(), String::new(), 0)).or_default();
                    add(t, &peer);
                    if t.extra.is_empty() {
                        // Who is behind the node: its user, else its tags (tagged nodes have no user).
                        let tags: Vec<&str> = node_facts["node_tags"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                            .collect();
                        t.extra = match node_facts["node_user"].as_str().filter(|u| !u.is_empty()) {
                            Some(user) => user.to_owned(),
                            None if !tags.is_empty() => tags.join(","),
                            None => node_facts["node_os"].as_str().unwrap_or("").to_owned(),
                        };
                    }
                }
                match kind {
                    "virtual" | "subnet" => {
                        add(edges.entry((node.clone(), peer.clone(), 0)).or_default(), &peer);
                        if let Some((_, service)) = ADMIN_PORTS.iter().find(|(p, _)| *p == port) {
                            let a = admin.entry((node.clone(), peer.clone(), port)).or_default();
                            add(a, &peer);
                            a.extra = (*service).to_owned();
                        }
                    }
                    "exit" => add(
                        exits.entry((node.clone(), String::new(), 0)).or_default(),
                        v["dst_ip"].as_str().unwrap_or("?"),
                    ),
                    _ => {}
                }
                !truncated
            });
        }
    }
    let newest = newest_partition_end(&root);
    json!({
        "from": from.rfc3339(),
        "until": until.rfc3339(),
        "rows": rows.min(MAX_NETWORK_ROWS),
        "truncated": truncated,
        "newest_data_until": newest.map(|t| t.rfc3339()),
        "top_talkers": top(talkers, 15, |k, a| json!({"node": k.0, "who": a.extra, "tx_bytes": a.tx, "rx_bytes": a.rx, "flows": a.flows, "peers": a.peers.len()})),
        "edges": top(edges, 25, |k, a| json!({"src": k.0, "dst": k.1, "tx_bytes": a.tx, "rx_bytes": a.rx, "flows": a.flows})),
        "admin_edges": top(admin, 50, |k, a| json!({"src": k.0, "dst": k.1, "port": k.2, "service": a.extra, "tx_bytes": a.tx, "rx_bytes": a.rx, "flows": a.flows})),
        "exit_nodes": top(exits, 25, |k, a| json!({"node": k.0, "tx_bytes": a.tx, "rx_bytes": a.rx, "flows": a.flows, "destinations": a.peers.len()})),
    })
}

/// The end of the newest `dt=/hour=` partition under a table, if any.
fn newest_partition_end(table: &Path) -> Option<Timestamp> {
    let last = |dir: &Path, prefix: &str| -> Option<String> {
        std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(prefix))
            .max()
    };
    let dt = last(table, "dt=")?;
    let hour = last(&table.join(&dt), "hour=")?;
    Timestamp::parse(&format!("{}T{}:00:00Z", &dt[3..], &hour[5..]))
        .ok()
        .map(|t| t.plus_seconds(3600))
}
