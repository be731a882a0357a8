//! The ingest request handler (auth header + body) with in-memory ports: never panics, answers
//! only documented statuses, and stores nothing unless it answers 200.
#![no_main]

use std::sync::Mutex;

use libfuzzer_sys::fuzz_target;
use tailwatch_core::engine::state::block_on;
use tailwatch_core::pipeline::ingest::{ingest, IngestRequest, Tokens};
use tailwatch_core::ports::{PortError, QuarantineSink, RawStore};
use tailwatch_core::quarantine::QuarantineRow;
use tailwatch_core::time::Timestamp;
use tailwatch_core::wire::DecodeLimits;

#[derive(Default)]
struct Raw(Mutex<usize>);
impl RawStore for Raw {
    async fn put_raw(&self, _key: &str, _bytes: Vec<u8>) -> Result<(), PortError> {
        *self.0.lock().unwrap() += 1;
        Ok(())
    }
}
struct Quarantine;
impl QuarantineSink for Quarantine {
    async fn put_quarantine(&self, _source: &str, _rows: &[QuarantineRow]) -> Result<(), PortError> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    // First line: the Authorization header (possibly several, separated by \r); the rest: body.
    let (header, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let headers: Vec<&[u8]> = header.split(|b| *b == b'\r').filter(|h| !h.is_empty()).collect();
    let tokens = Tokens::new(["fuzz-token"]);
    let limits = DecodeLimits { max_body_bytes: 1 << 20, max_decoded_bytes: 4 << 20, max_ratio: 100, ratio_floor_bytes: 64 << 10 };
    let raw = Raw::default();
    let req = IngestRequest {
        authorization: &headers,
        content_encoding: None,
        body,
        source: "fuzz",
        received_at: Timestamp::from_unix_millis(0).unwrap(),
        request_id: "fuzz",
    };
    let (resp, report) = block_on(ingest(req, &tokens, &limits, &raw, &Quarantine));
    assert!([200, 400, 401, 413, 415, 503].contains(&resp.status), "undocumented status {}", resp.status);
    assert!(!resp.body.contains("fuzz-token"));
    let stored = *raw.0.lock().unwrap();
    assert_eq!(stored > 0, resp.status == 200 && report.accepted > 0);
});
