//! Hostile input against `tailwatch serve`: each case gets its documented status, a reason a human
//! can act on, bounded memory, and the server still serves the next request.
//!
//! Memory bound: the server's peak RSS stays under 256 MiB through every case (the decoded body is
//! capped at 64 MiB, the wire body at 8 MiB).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

fn assert_still_serving(s: &Server) {
    assert_eq!(
        s.post_bearer(&fixture("audit-stream.hec")).0,
        200,
        "the server still serves: {}",
        s.log()
    );
}

fn text(resp: &serde_json::Value) -> String {
    resp["text"].as_str().unwrap_or_default().to_owned()
}

/// One hostile request: what it is, extra headers, body, expected status, a word the answer must contain.
type HostileCase = (&'static str, Vec<(&'static str, String)>, Vec<u8>, u16, &'static str);

#[test]
fn hostile_bodies_get_precise_answers_with_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path());
    let auth = format!("Bearer {TOKEN}");
    let cases: Vec<HostileCase> = vec![
        ("100 000-deep nesting", vec![], [vec![b'['; 100_000], vec![b']'; 100_000]].concat(), 400, "nested"),
        ("a raw NUL inside a string is not JSON", vec![], b"{\"actor\":{\"id\":\"a\0b\"},\"action\":\"LOGIN\"}".to_vec(), 400, "control character"),
        ("an escaped NUL is fine; trailing NULs are quarantined", vec![], b"{\"actor\":{\"id\":\"a\\u0000b\"},\"action\":\"LOGIN\"}\0\0\0".to_vec(), 200, "Success"),
        ("invalid UTF-8 in a string", vec![], b"{\"actor\":{\"id\":\"\xff\xfe\"},\"action\":\"LOGIN\"}".to_vec(), 400, "UTF-8"),
        ("gzip header on plain JSON is forgiven", vec![("content-encoding", "gzip".into())], fixture("audit-stream.hec"), 200, "Success"),
        ("gzip header on garbage", vec![("content-encoding", "gzip".into())], b"certainly not gzip".to_vec(), 400, "gzip"),
        ("unsupported encoding", vec![("content-encoding", "br".into())], fixture("audit-stream.hec"), 415, "not supported"),
        ("truncated gzip stream", vec![], fixture("network-stream.hec.gz")[..400].to_vec(), 400, "truncated"),
        ("truncated zstd stream", vec![], fixture("audit-stream.hec.zst")[..500].to_vec(), 400, "truncated"),
        ("duplicate keys: the last wins, as in Go", vec![], br#"{"actor":{"id":"a"},"action":"LOGIN","action":"LOGOUT"}"#.to_vec(), 200, ""),
        ("number beyond u64", vec![], br#"{"nodeId":"n","virtualTraffic":[{"txBytes":18446744073709551616}]}"#.to_vec(), 400, "virtualTraffic.txBytes"),
        ("negative counter", vec![], br#"{"nodeId":"n","virtualTraffic":[{"rxPkts":-1}]}"#.to_vec(), 400, "virtualTraffic.rxPkts"),
        ("year 0 and year 9999 are outside the lake: quarantined", vec![], br#"{"eventTime":"0000-01-01T00:00:00Z","actor":{"id":"a"},"action":"LOGIN"}{"eventTime":"9999-12-31T23:59:59Z","actor":{"id":"a"},"action":"LOGIN"}"#.to_vec(), 400, "outside the lake's range"),
        ("epoch milliseconds in the envelope time", vec![], br#"{"time":1741109102025,"event":{"actor":{"id":"a"},"action":"LOGIN"}}"#.to_vec(), 200, "Success"),
        ("a 7 MB string", vec![], format!(r#"{{"actor":{{"id":"a"}},"action":"LOGIN","note":"{}"}}"#, "x".repeat(7_000_000)).into_bytes(), 200, ""),
    ];
    for (name, headers, body, status, reason) in cases {
        let mut h: Vec<(&str, &str)> = vec![("authorization", auth.as_str())];
        h.extend(headers.iter().map(|(k, v)| (*k, v.as_str())));
        let (got, resp) = s.post("/", &h, &body);
        assert_eq!(got, status, "{name}: {resp}");
        assert!(text(&resp).contains(reason), "{name}: reason should mention `{reason}`: {resp}");
    }
    // 10 000 records in one batch.
    let record = String::from_utf8(fixture("audit-stream.hec")).unwrap();
    let first = &record[..record.find("}{").unwrap() + 1];
    let (status, resp) = s.post_bearer(first.repeat(10_000).as_bytes());
    assert_eq!((status, resp["accepted"].as_u64()), (200, Some(10_000)), "{resp}");
    let hwm = vm_hwm_kib(s.pid());
    assert!(hwm < 256 * 1024, "peak RSS {hwm} KiB");
    assert_still_serving(&s);
}

#[test]
fn oversized_and_repeated_authorization_headers_are_401() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path());
    let huge = format!("Bearer {}", "a".repeat(6000));
    let (status, resp) = s.post("/", &[("authorization", huge.as_str())], &fixture("audit-stream.hec"));
    assert_eq!((status, resp["code"].as_i64()), (401, Some(3)), "{resp}");
    assert!(text(&resp).contains("too long"));
    // Two Authorization headers, both valid: ambiguous, refused.
    let mut stream = TcpStream::connect(s.url.trim_start_matches("http://")).unwrap();
    let body = fixture("audit-stream.hec");
    write!(stream, "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).unwrap();
    stream.write_all(&body).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("more than one Authorization header"), "{answer}");
    assert_eq!(raw_batches(dir.path()), 0);
    assert_still_serving(&s);
}

#[test]
fn a_slow_body_is_cut_off_by_the_server_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(dir.path(), &[("TAILWATCH_TOKEN", TOKEN)], &["--body-timeout-secs", "1"]);
    let mut stream = TcpStream::connect(s.url.trim_start_matches("http://")).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 100000\r\n\r\n{{\"time\":"
    )
    .unwrap();
    let started = Instant::now();
    // Trickle a byte now and then, as slowloris does, and never finish.
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < Duration::from_secs(8) {
        let _ = stream.write_all(b" ");
        stream.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        if let Ok(n) = stream.read(&mut buf) {
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
            break;
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?} after {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(raw_batches(dir.path()), 0);
    assert_still_serving(&s);
}

#[test]
fn unauthenticated_requests_are_refused_before_the_body_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path());
    let mut stream = TcpStream::connect(s.url.trim_start_matches("http://")).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // Announce 100 MB and send none of it: the 401 must come from the headers alone.
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\nContent-Length: 100000000\r\n\r\n"
    )
    .unwrap();
    let mut buf = [0u8; 4096];
    let n = stream.read(&mut buf).unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("Invalid token"), "{answer}");
    assert_still_serving(&s);
}
