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
