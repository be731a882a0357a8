//! The local console: a read-only web UI on `serve`'s port, for the person who just ran
//! `make run`. Plain HTML, JS and CSS embedded with `include_str!` (no build step), over JSON
//! endpoints under `/api/` that read the data dir:
//!
//! - `GET /api/alerts?severity=&detection=` — alerts (newest first) from `alerts/*.ndjson`;
//! - `GET /api/alerts/<alertId>` — one alert with its context and runbook, and the lake rows
//!   behind it (looked up in the local lake by the `p_row_id` of the events the alert carries);
//! - `GET /api/quarantine` — quarantined values with their reasons;
//! - `GET /api/network?hours=N[&until=RFC3339]` — who talks to whom from `tailscale_network`:
//!   top talkers, edges to admin ports, exit-node use.
//!
//! Access: without credentials only from a loopback peer, to a serve listening on loopback, with a
//! loopback `Host` (a DNS-rebinding page cannot read it) and no proxy headers (a reverse proxy or
//! Tailscale Funnel connects from loopback too, and must not open the console to the internet).
//! Anyone else needs the ingest token (HTTP Basic, any user name; the browser asks for it).

mod lake;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tailwatch_core::engine::Alert;
use tailwatch_core::pipeline::ingest::Tokens;
use tailwatch_core::time::Timestamp;

pub use lake::quarantine_rows;

const INDEX_HTML: &str = include_str!("index.html");
const APP_JS: &str = include_str!("app.js");
const APP_CSS: &str = include_str!("app.css");

/// What the console needs from `serve`.
#[derive(Clone)]
pub struct Console {
    /// The data dir it reads.
    pub data_dir: PathBuf,
    /// The ingest tokens (the console's credential when it is not on loopback).
    pub tokens: Tokens,
    /// Whether serve listens on a loopback address.
    pub listen_loopback: bool,
}

/// Whether `path` is the console's (GET) rather than ingest's.
pub fn owns(path: &str) -> bool {
    path == "/" || path.starts_with("/console/") || path.starts_with("/api/")
}

fn is_loopback_host(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    matches!(name, "localhost" | "127.0.0.1" | "[::1]") || name.starts_with("127.")
}

/// Whether a request may read the console (see the module docs).
pub fn allowed(console: &Console, peer: SocketAddr, headers: &HeaderMap) -> bool {
    let proxied = headers.keys().any(|k| {
        let k = k.as_str();
        k == "x-forwarded-for" || k == "forwarded" || k == "x-real-ip" || k.starts_with("tailscale-")
    });
    let host_ok = headers.get("host").and_then(|h| h.to_str().ok()).is_some_and(is_loopback_host);
    if console.listen_loopback && peer.ip().is_loopback() && !proxied && host_ok {
        return true;
    }
    let auth: Vec<&[u8]> = headers.get_all("authorization").iter().map(|v| v.as_bytes()).collect();
    tailwatch_core::pipeline::ingest::authenticate(&auth, &console.tokens).is_ok()
}

/// The console's one place that turns results into HTTP responses.
fn respond(result: Result<(&'static str, String), (StatusCode, String)>) -> Response {
    let (status, ctype, body) = match result {
        Ok((ctype, body)) => (StatusCode::OK, ctype, body),
        Err((status, message)) => (status, "application/json", json!({ "error": message }).to_string()),
    };
    (
        status,
        [
            ("content-type", ctype),
            ("cache-control", "no-store"),
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "no-referrer"),
            (
                "content-security-policy",
                "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            ),
        ],
        body,
    )
        .into_response()
}

/// Handles a console request (the caller checked [`owns`]).
pub async fn handle(console: Console, peer: SocketAddr, headers: HeaderMap, path: String, query: Option<String>) -> Response {
    if !allowed(&console, peer, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            [(
                "www-authenticate",
                "Basic realm=\"tailwatch console (user: any, password: the ingest token)\"",
            )],
            "The console needs the ingest token when it is not opened from this machine.\n",
        )
            .into_response();
    }
    let params = parse_query(query.as_deref().unwrap_or(""));
    let result = tokio::task::spawn_blocking(move || route(&console.data_dir, &path, &params))
        .await
        .unwrap_or_else(|_| Err((StatusCode::INTERNAL_SERVER_ERROR, "console handler failed".to_owned())));
    respond(result)
}

type Routed = Result<(&'static str, String), (StatusCode, String)>;

fn route(data_dir: &Path, path: &str, params: &HashMap<String, String>) -> Routed {
    let json_ok = |v: Value| Ok(("application/json", v.to_string()));
    match path {
        "/" | "/console/" | "/console/index.html" => Ok(("text/html; charset=utf-8", INDEX_HTML.to_owned())),
        "/console/app.js" => Ok(("text/javascript; charset=utf-8", APP_JS.to_owned())),
        "/console/app.css" => Ok(("text/css; charset=utf-8", APP_CSS.to_owned())),
        "/api/alerts" => json_ok(alerts(data_dir, params)?),
        "/api/quarantine" => {
            let limit = number(params, "limit", 500)?;
            json_ok(quarantine(data_dir, limit))
        }
        "/api/network" => {
            let hours = number(params, "hours", 24)?.clamp(1, 24 * 14);
            let until = match params.get("until") {
                Some(t) => Timestamp::parse(t).map_err(|e| bad(format!("until: {e}")))?,
                None => Timestamp::now(),
            };
            json_ok(lake::network(data_dir, hours as i64, until))
        }
        p => match p.strip_prefix("/api/alerts/") {
            Some(id) if !id.is_empty() => json_ok(alert_detail(data_dir, id)?),
            _ => Err((StatusCode::NOT_FOUND, format!("no such console page: {p}"))),
        },
    }
}

fn bad(message: String) -> (StatusCode, String) {
    (StatusCode::BAD_REQUEST, message)
}

fn number(params: &HashMap<String, String>, key: &str, default: usize) -> Result<usize, (StatusCode, String)> {
    params.get(key).map_or(Ok(default), |v| {
        v.parse().map_err(|_| bad(format!("{key}: expected a whole number")))
    })
}

/// `a=1&b=x%20y` → map (percent-decoding, `+` as space).
fn parse_query(q: &str) -> HashMap<String, String> {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = |c: u8| (c as char).to_digit(16);
                    match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                        (Some(h), Some(l)) => {
                            out.push((h * 16 + l) as u8);
                            i += 2;
                        }
                        _ => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Every alert in the alerts files, one per `alertId` (the last line wins), newest first.
fn all_alerts(data_dir: &Path) -> Result<Vec<Alert>, (StatusCode, String)> {
    let alerts = tailwatch_local::read_alerts(&data_dir.join("alerts"))
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, format!("reading the alerts files: {e}")))?;
    let mut by_id: BTreeMap<String, Alert> = BTreeMap::new();
    for a in alerts {
        by_id.insert(a.alert_id.clone(), a);
    }
    let mut v: Vec<Alert> = by_id.into_values().collect();
    v.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.alert_id.cmp(&b.alert_id)));
    Ok(v)
}

fn alerts(data_dir: &Path, params: &HashMap<String, String>) -> Result<Value, (StatusCode, String)> {
    let all = all_alerts(data_dir)?;
    let mut detections: BTreeMap<&str, (String, usize)> = BTreeMap::new();
    let mut severities: BTreeMap<String, usize> = BTreeMap::new();
    for a in &all {
        detections.entry(&a.id).or_insert_with(|| (a.name.clone(), 0)).1 += 1;
        *severities.entry(a.severity.to_string()).or_default() += 1;
    }
    let severity = params.get("severity").filter(|s| !s.is_empty());
    let detection = params.get("detection").filter(|s| !s.is_empty());
    let shown: Vec<Value> = all
        .iter()
        .filter(|a| severity.is_none_or(|s| a.severity.to_string().eq_ignore_ascii_case(s)))
        .filter(|a| detection.is_none_or(|d| &a.id == d))
        .map(|a| {
            json!({
                "alertId": a.alert_id, "id": a.id, "name": a.name, "severity": a.severity.to_string(),
                "title": a.title, "createdAt": a.created_at, "firstEventTime": a.first_event_time,
                "eventCount": a.event_count, "logTypes": a.log_types,
            })
        })
        .collect();
    Ok(json!({
        "total": all.len(),
        "alerts": shown,
        "detections": detections.iter().map(|(id, (name, n))| json!({"id": id, "name": name, "count": n})).collect::<Vec<_>>(),
        "severities": severities,
    }))
}

fn alert_detail(data_dir: &Path, alert_id: &str) -> Result<Value, (StatusCode, String)> {
    let alert = all_alerts(data_dir)?
        .into_iter()
        .find(|a| a.alert_id == alert_id)
        .ok_or_else(|| (StatusCode::NOT_FOUND, format!("no alert {alert_id}")))?;
    let rows = lake::rows_behind(data_dir, &alert.events);
    Ok(json!({ "alert": alert, "rows": rows }))
}

fn quarantine(data_dir: &Path, limit: usize) -> Value {
    let mut rows = quarantine_rows(data_dir, usize::MAX);
    rows.sort_by(|a, b| b["p_parse_time"].as_str().cmp(&a["p_parse_time"].as_str()));
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for r in &rows {
        *reasons.entry(r["reason"].as_str().unwrap_or("unknown").to_owned()).or_default() += 1;
    }
    let total = rows.len();
    let shown: Vec<Value> = rows
        .into_iter()
        .take(limit)
        .map(|mut r| {
            // The UI shows a prefix; the whole original is in the quarantine file.
            if let Some(Value::String(o)) = r.get_mut("original") {
                if o.len() > 4096 {
                    let mut cut = 4096;
                    while !o.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    o.truncate(cut);
                    o.push('…');
                }
            }
            r
        })
        .collect();
    json!({ "total": total, "reasons": reasons, "rows": shown })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn console(loopback: bool) -> Console {
        Console {
            data_dir: PathBuf::new(),
            tokens: Tokens::new(["secret-token".to_owned()]),
            listen_loopback: loopback,
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_a_direct_loopback_visit_needs_no_token() {
        let local: SocketAddr = "127.0.0.1:5555".parse().unwrap();
        let remote: SocketAddr = "100.64.0.7:5555".parse().unwrap();
        let host = [("host", "127.0.0.1:8088")];
        assert!(allowed(&console(true), local, &headers(&host)));
        assert!(allowed(&console(true), local, &headers(&[("host", "localhost:8088")])));
        assert!(!allowed(&console(true), remote, &headers(&host)), "a remote peer");
        assert!(!allowed(&console(false), local, &headers(&host)), "serve listens elsewhere");
        assert!(
            !allowed(
                &console(true),
                local,
                &headers(&[("host", "127.0.0.1:8088"), ("x-forwarded-for", "203.0.113.9")])
            ),
            "through a reverse proxy"
        );
        assert!(
            !allowed(&console(true), local, &headers(&[("host", "evil.example:8088")])),
            "a DNS-rebinding page"
        );
        // user:secret-token
        let basic = "Basic dXNlcjpzZWNyZXQtdG9rZW4=";
        assert!(allowed(
            &console(false),
            remote,
            &headers(&[("host", "x"), ("authorization", basic)])
        ));
        assert!(!allowed(
            &console(false),
            remote,
            &headers(&[("authorization", "Basic dXNlcjp3cm9uZw==")])
        ));
    }

    #[test]
    fn query_strings_decode() {
        let q = parse_query("severity=HIGH&detection=Tailscale.Network.Lateral%20Admin&x=a+b&bad=%zz&end=%4");
        assert_eq!(q["severity"], "HIGH");
        assert_eq!(q["detection"], "Tailscale.Network.Lateral Admin");
        assert_eq!(q["x"], "a b");
        assert_eq!(q["bad"], "%zz");
        assert_eq!(q["end"], "%4");
    }
}
