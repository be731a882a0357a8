//! Every ingest sample event in events/ goes through lambda_http's own event parsing (what the
//! runtime does with the invocation payload), the handler's request reading (`request_parts`) and
//! core's ingest with in-memory stores: the REST API events (v1 proxy) parse, their bodies arrive
//! byte-exact whatever the Content-Type and Content-Encoding, and a compressed body that a front
//! decoded as text is a 415 that stores and quarantines nothing.

use std::sync::Mutex;

use lambda_http::request::{from_str, RequestContext};
use lambda_http::RequestExt;
use tailwatch_core::pipeline::ingest::{ingest, HecResponse, IngestReport, IngestRequest, Tokens};
use tailwatch_core::ports::{PortError, QuarantineSink, RawStore};
use tailwatch_core::quarantine::QuarantineRow;
use tailwatch_core::time::Timestamp;
use tailwatch_core::wire::DecodeLimits;
use tailwatch_ingest::request_parts;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

#[derive(Default)]
struct Raw(Mutex<Vec<(String, Vec<u8>)>>);

impl RawStore for Raw {
    async fn put_raw(&self, key: &str, bytes: Vec<u8>) -> Result<(), PortError> {
        self.0.lock().unwrap().push((key.to_owned(), bytes));
        Ok(())
    }
}

#[derive(Default)]
struct Quarantine(Mutex<Vec<QuarantineRow>>);

impl QuarantineSink for Quarantine {
    async fn put_quarantine(&self, _source: &str, rows: &[QuarantineRow]) -> Result<(), PortError> {
        self.0.lock().unwrap().extend_from_slice(rows);
        Ok(())
    }
}

/// Which API the event comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Front {
    Rest,
    Http,
}

/// (event file, front, expected status, the fixture whose exact bytes the body must be, if any).
const EVENTS: &[(&str, Front, u16, Option<&str>)] = &[
    ("ingest-rest-json-identity.json", Front::Rest, 200, Some("audit-stream.hec")),
    ("ingest-rest-json-gzip.json", Front::Rest, 200, Some("network-stream.hec.gz")),
    ("ingest-rest-json-zstd.json", Front::Rest, 200, Some("audit-stream.hec.zst")),
    (
        "ingest-rest-octet-stream-gzip.json",
        Front::Rest,
        200,
        Some("network-stream.hec.gz"),
    ),
    ("ingest-rest-octet-stream-zstd.json", Front::Rest, 200, Some("audit-stream.hec.zst")),
    ("ingest-rest-text-json-identity.json", Front::Rest, 200, Some("audit-stream.hec")),
    ("ingest-rest-text-decoded-gzip.json", Front::Rest, 415, None),
    ("ingest-rest-text-decoded-zstd.json", Front::Rest, 415, None),
    ("ingest-apigw-v2-text.json", Front::Http, 200, Some("audit-stream.hec")),
];

fn read(path: &str) -> Vec<u8> {
    std::fs::read(format!("{ROOT}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn run(body: &[u8], authorization: &[&[u8]], encoding: Option<&str>) -> (HecResponse, IngestReport, Raw, Quarantine) {
    let (raw, quarantine) = (Raw::default(), Quarantine::default());
    let request = IngestRequest {
        authorization,
        content_encoding: encoding,
        body,
        source: "tailscale-http",
        received_at: Timestamp::parse("2025-03-04T17:21:09.412Z").unwrap(),
        request_id: "event-test",
    };
    let tokens = Tokens::new(["example-token"]);
    let (resp, report) = ingest(request, &tokens, &DecodeLimits::default(), &raw, &quarantine).await;
    (resp, report, raw, quarantine)
}

#[test]
fn every_ingest_event_in_events_is_covered() {
    let mut files: Vec<String> = std::fs::read_dir(format!("{ROOT}/events"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("ingest-") && n.ends_with(".json"))
        .collect();
    files.sort();
    let mut covered: Vec<String> = EVENTS.iter().map(|(f, ..)| (*f).to_owned()).collect();
    covered.sort();
    assert_eq!(files, covered);
}

#[tokio::test]
async fn each_event_parses_and_ingests_with_its_exact_bytes() {
    for &(file, front, status, fixture) in EVENTS {
        let text = String::from_utf8(read(&format!("events/{file}"))).unwrap();
        let req = from_str(&text).unwrap_or_else(|e| panic!("{file}: lambda_http does not parse it: {e}"));
        match (front, req.request_context_ref()) {
            (Front::Rest, Some(RequestContext::ApiGatewayV1(_))) | (Front::Http, Some(RequestContext::ApiGatewayV2(_))) => {}
            (_, other) => panic!("{file}: parsed as {other:?}, expected {front:?}"),
        }
        assert_eq!(req.method(), lambda_http::http::Method::POST, "{file}");
        let parts = request_parts(&req);
        // One Authorization value although REST events carry it in headers and multiValueHeaders.
        assert_eq!(parts.authorization.len(), 1, "{file}");
        if let Some(fixture) = fixture {
            assert!(
                parts.body == read(&format!("tests/fixtures/tailscale/{fixture}")).as_slice(),
                "{file}: the body is not the exact bytes of {fixture}"
            );
        }
        let (resp, report, raw, quarantine) = run(parts.body, &parts.authorization, parts.content_encoding).await;
        assert_eq!(resp.status, status, "{file}: {}", resp.body);
        if status == 200 {
            assert!(report.accepted > 0 && report.quarantined == 0, "{file}: {report:?}");
            assert_eq!(raw.0.lock().unwrap().len(), 1, "{file}: one raw batch");
            // The same answer as the fixture posted directly.
            let fixture_bytes = read(&format!("tests/fixtures/tailscale/{}", fixture.unwrap()));
            let (direct, ..) = run(&fixture_bytes, &parts.authorization, parts.content_encoding).await;
            assert_eq!(resp, direct, "{file}");
        } else {
            assert_eq!(resp.code(), 6, "{file}");
            assert!(
                resp.body.contains("application/octet-stream"),
                "{file}: says what to change: {}",
                resp.body
            );
            assert!(raw.0.lock().unwrap().is_empty(), "{file}: nothing stored");
            assert!(quarantine.0.lock().unwrap().is_empty(), "{file}: garbage is not quarantined");
        }
    }
}

fn event_json(file: &str) -> serde_json::Value {
    serde_json::from_slice(&read(&format!("events/{file}"))).unwrap()
}

fn parse(event: &serde_json::Value) -> lambda_http::Request {
    from_str(&event.to_string()).expect("lambda_http parses the event")
}

#[tokio::test]
async fn duplicate_authorization_headers_are_refused_in_either_api_shape() {
    let body = read("tests/fixtures/tailscale/audit-stream.hec");
    // REST API (v1): repeated headers arrive in multiValueHeaders, and `headers` holds the last
    // one. lambda_http lets `headers` replace the multi-value list, so the handler sees one value:
    // on AWS a repeated Authorization is judged by its last value (locally, `serve` sees both and
    // answers 401 code 3). This pins that difference: it fails if lambda_http ever passes both.
    let mut rest = event_json("ingest-rest-json-identity.json");
    let good = rest["headers"]["Authorization"].clone();
    rest["multiValueHeaders"]["Authorization"] = serde_json::json!(["Bearer wrong", good]);
    let req = parse(&rest);
    let parts = request_parts(&req);
    assert_eq!(
        parts.authorization,
        [good.as_str().unwrap().as_bytes()],
        "only the last value reaches the handler"
    );
    rest["headers"]["Authorization"] = serde_json::json!("Bearer wrong");
    let req = parse(&rest);
    let parts = request_parts(&req);
    let (resp, _, raw, _) = run(parts.body, &parts.authorization, parts.content_encoding).await;
    assert_eq!((resp.status, resp.code()), (401, 4), "the last value decides: {}", resp.body);
    assert!(raw.0.lock().unwrap().is_empty());
    // HTTP API (v2): repeated headers arrive joined with commas in one value.
    let mut http = event_json("ingest-apigw-v2-text.json");
    let auth = http["headers"]["authorization"].as_str().unwrap().to_owned();
    http["headers"]["authorization"] = serde_json::json!(format!("{auth},{auth}"));
    let req = parse(&http);
    let parts = request_parts(&req);
    let (resp, _, raw, _) = run(parts.body, &parts.authorization, parts.content_encoding).await;
    assert_eq!(resp.status, 401, "a comma-joined pair is never a valid credential: {}", resp.body);
    assert!(raw.0.lock().unwrap().is_empty());
    let (ok, ..) = run(&body, &[auth.as_bytes()], None).await;
    assert_eq!(ok.status, 200, "the single value is accepted");
}

/// Lambda's limit on a synchronous invocation's request payload (the whole event JSON), 6 MB.
/// API Gateway's own payload limit (10 MB) is never the binding one.
const LAMBDA_SYNC_PAYLOAD: usize = 6 * 1024 * 1024;

#[tokio::test]
async fn the_real_body_ceiling_is_lambdas_6_mb_event_after_base64() {
    // The stack's REST API sends every body base64-encoded (binary media type */*): 4 bytes of
    // event per 3 of body, plus the headers and request context.
    let template = event_json("ingest-rest-json-identity.json");
    let event_size = |body_len: usize| {
        let mut e = template.clone();
        e["body"] = serde_json::json!("");
        e.to_string().len() + body_len.div_ceil(3) * 4
    };
    let ceiling = (0..LAMBDA_SYNC_PAYLOAD)
        .rev()
        .step_by(1024)
        .find(|n| event_size(*n) <= LAMBDA_SYNC_PAYLOAD)
        .unwrap();
    assert!(
        (4_700_000..4_720_000).contains(&ceiling),
        "largest body that reaches the function: {ceiling} bytes"
    );
    // A body just under the ceiling arrives whole through the real event type and is accepted.
    let record = read("tests/fixtures/tailscale/audit-stream.hec");
    let body: Vec<u8> = record.iter().copied().cycle().take(ceiling - ceiling % record.len()).collect();
    let mut e = template.clone();
    e["body"] = serde_json::json!(base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &body));
    let text = e.to_string();
    assert!(text.len() <= LAMBDA_SYNC_PAYLOAD, "{}", text.len());
    let req = from_str(&text).unwrap();
    let parts = request_parts(&req);
    assert!(parts.body == body.as_slice(), "decoded byte-exact");
    let (resp, report, ..) = run(parts.body, &parts.authorization, parts.content_encoding).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(report.accepted, body.len() / record.len() * 15);
    // One more base64 block of body over the ceiling makes an event Lambda refuses (API Gateway
    // answers 413/5xx without invoking the function): the function's own cap (MAX_BODY_MIB, 6)
    // is never reached on AWS.
    assert!(event_size(ceiling + 1024) > LAMBDA_SYNC_PAYLOAD);
}
