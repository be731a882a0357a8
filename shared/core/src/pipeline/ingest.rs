//! Ingest stage: the HTTP contract of ARCHITECTURE.md §3, as one function both `tailwatch serve`
//! and the ingest Lambda call, so their behaviour is the same byte for byte.
//!
//! Order of checks (cheapest and least revealing first): auth → size → decoding → framing and
//! validation. Nothing is stored for a 401, 413 or 415. Accepted records are stored as one raw
//! batch before the 200; values that cannot become rows are quarantined with their reason. The
//! answer is Splunk HEC's, so Tailscale's Splunk destination understands it.

use serde_json::json;

use crate::normalize::{normalize_record, SourceContext};
use crate::ports::{QuarantineSink, RawStore};
use crate::quarantine::{Origin, QuarantineRow};
use crate::time::Timestamp;
use crate::wire::{decode_body, DecodeError, DecodeLimits, Frame};

pub use super::auth::{authenticate, AuthError, Tokens};

/// An HTTP answer: status and HEC JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HecResponse {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: String,
}

impl HecResponse {
    fn new(status: u16, body: serde_json::Value) -> Self {
        HecResponse {
            status,
            body: body.to_string(),
        }
    }

    /// HEC `code` of the body.
    pub fn code(&self) -> i64 {
        serde_json::from_str::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["code"].as_i64())
            .unwrap_or(-1)
    }
}

/// Where an error maps to a status and HEC code: the one place that does.
fn error_response(status: u16, code: u16, text: &str, extra: Option<(&str, serde_json::Value)>) -> HecResponse {
    let mut body = json!({ "text": text, "code": code });
    if let Some((k, v)) = extra {
        body[k] = v;
    }
    HecResponse::new(status, body)
}

impl From<&AuthError> for HecResponse {
    fn from(e: &AuthError) -> Self {
        let code = match e {
            AuthError::Missing => 2,
            AuthError::Malformed(_) => 3,
            AuthError::WrongToken => 4,
        };
        error_response(401, code, &e.to_string(), None)
    }
}

impl From<&DecodeError> for HecResponse {
    fn from(e: &DecodeError) -> Self {
        match e {
            DecodeError::BodyTooLarge { .. } | DecodeError::TooLarge { .. } => error_response(413, 6, &e.to_string(), None),
            DecodeError::UnsupportedEncoding(_) | DecodeError::TextDecoded { .. } => error_response(415, 6, &e.to_string(), None),
            _ => error_response(400, 6, &e.to_string(), None),
        }
    }
}

/// The body was larger than the limit before it was fully read (the shell's early check).
pub fn body_too_large(limit: usize) -> HecResponse {
    error_response(
        413,
        6,
        &format!("body is over the limit of {limit} bytes; send smaller batches"),
        None,
    )
}

/// Too much work in flight: a 503 Tailscale retries (HEC "server is busy").
pub fn server_busy() -> HecResponse {
    error_response(503, 9, "Server is busy: too many requests in flight, retry later", None)
}

/// Storage failed: Tailscale retries a 503 (HEC "server is busy").
pub fn storage_unavailable() -> HecResponse {
    error_response(503, 9, "Server is busy: storage is unavailable, retry later", None)
}

/// One request as the shells see it.
#[derive(Debug, Clone, Copy)]
pub struct IngestRequest<'a> {
    /// Every `Authorization` header value (more than one is refused).
    pub authorization: &'a [&'a [u8]],
    /// `Content-Encoding`, if any.
    pub content_encoding: Option<&'a str>,
    /// The body as received.
    pub body: &'a [u8],
    /// Source label (`tailscale-http`), also the raw key's `<source>`.
    pub source: &'a str,
    /// When the request arrived.
    pub received_at: Timestamp,
    /// A unique id of this request (the Lambda request id, a UUID locally): part of the raw key,
    /// so two identical bodies arriving in the same millisecond are two batches.
    pub request_id: &'a str,
}

/// Counts of one ingest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Records accepted and stored.
    pub accepted: usize,
    /// Values quarantined.
    pub quarantined: usize,
    /// Raw object key written, if any.
    pub raw_key: Option<String>,
}

/// Where the raw batch of a request goes:
/// `raw/<source>/dt=YYYY-MM-DD/hour=HH/<arrival ms>-<request id>.ndjson.zst`, partitioned by
/// arrival time. Names sort by arrival and are unique per request.
pub fn raw_key(source: &str, received_at: Timestamp, request_id: &str) -> String {
    let (dt, hour) = received_at.partition();
    let safe = |s: &str| -> String {
        s.chars()
            .take(64)
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!(
        "raw/{}/dt={dt}/hour={hour}/{:013}-{}.ndjson.zst",
        safe(source),
        received_at.unix_millis().max(0),
        safe(request_id)
    )
}

/// Handles one ingest request: authenticates, decodes, frames and validates, stores accepted
/// records as one raw batch and bad values in quarantine, and answers.
///
/// A 200 is only returned after the raw batch is durably stored; a storage failure is a 503 that
/// Tailscale retries (nothing half-written is visible: stores write atomically).
pub async fn ingest<R: RawStore, Q: QuarantineSink>(
    req: IngestRequest<'_>,
    tokens: &Tokens,
    limits: &DecodeLimits,
    raw: &R,
    quarantine: &Q,
) -> (HecResponse, IngestReport) {
    if let Err(e) = authenticate(req.authorization, tokens) {
        return ((&e).into(), IngestReport::default());
    }
    let body = match decode_body(req.body, req.content_encoding, limits) {
        Ok((body, _)) => body,
        Err(e) => return ((&e).into(), IngestReport::default()),
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return (error_response(400, 5, "No data", None), IngestReport::default());
    }

    let key = raw_key(req.source, req.received_at, req.request_id);
    let ctx = SourceContext {
        label: req.source,
        file: &key,
        parse_time: req.received_at,
    };
    let origin = Origin {
        label: req.source,
        file: &key,
    };
    let mut ndjson = Vec::with_capacity(body.len() + 64);
    let mut rows = Vec::new();
    let mut bad: Vec<QuarantineRow> = Vec::new();
    let mut accepted = 0usize;
    for frame in crate::wire::frames(&body) {
        match frame {
            Frame::Record(record) => {
                rows.clear();
                match normalize_record(&record, &ctx, &mut rows) {
                    Ok(_) => {
                        accepted += 1;
                        // A newline byte inside a valid JSON value can only be whitespace.
                        ndjson.extend(record.stored.bytes().map(|b| if b == b'\n' || b == b'\r' { b' ' } else { b }));
                        ndjson.push(b'\n');
                    }
                    Err(r) => bad.push(QuarantineRow::new(
                        origin,
                        req.received_at,
                        r.reason,
                        r.message,
                        r.field,
                        record.index,
                        record.line,
                        record.stored.as_bytes(),
                    )),
                }
            }
            Frame::Bad(b) => bad.push(QuarantineRow::new(
                origin,
                req.received_at,
                b.reason,
                b.message,
                None,
                b.index,
                b.line,
                b.text,
            )),
        }
    }

    if !bad.is_empty() && quarantine.put_quarantine(&key, &bad).await.is_err() {
        return (storage_unavailable(), IngestReport::default());
    }
    let report = IngestReport {
        accepted,
        quarantined: bad.len(),
        raw_key: (accepted > 0).then(|| key.clone()),
    };
    if accepted == 0 {
        let first = &bad[0];
        let text = format!(
            "Invalid data format: value {} (line {}): {}",
            first.value_index, first.line, first.message
        );
        return (
            error_response(400, 6, &text, Some(("invalid-event-number", json!(first.value_index)))),
            report,
        );
    }
    if raw.put_raw(&key, crate::wire::decode::zstd_compress(&ndjson, 3)).await.is_err() {
        return (storage_unavailable(), IngestReport { raw_key: None, ..report });
    }
    let mut body = json!({ "text": "Success", "code": 0, "accepted": accepted, "quarantined": bad.len() });
    if let Some(first) = bad.first() {
        body["first_quarantined"] =
            json!({ "index": first.value_index, "line": first.line, "reason": first.reason, "message": first.message });
    }
    (HecResponse::new(200, body), report)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::engine::state::block_on;
    use crate::ports::PortError;

    #[derive(Default)]
    struct Raw {
        fail: bool,
        stored: Mutex<Vec<(String, Vec<u8>)>>,
    }
    impl RawStore for Raw {
        async fn put_raw(&self, key: &str, bytes: Vec<u8>) -> Result<(), PortError> {
            if self.fail {
                return Err(PortError::retryable("put raw", "storage down"));
            }
            self.stored.lock().unwrap().push((key.to_owned(), bytes));
            Ok(())
        }
    }
    #[derive(Default)]
    struct Quarantine {
        fail: bool,
        rows: Mutex<Vec<QuarantineRow>>,
    }
    impl QuarantineSink for Quarantine {
        async fn put_quarantine(&self, _source: &str, rows: &[QuarantineRow]) -> Result<(), PortError> {
            if self.fail {
                return Err(PortError::retryable("put quarantine", "storage down"));
            }
            self.rows.lock().unwrap().extend_from_slice(rows);
            Ok(())
        }
    }

    const AUDIT: &[u8] = include_bytes!("../../../../tests/fixtures/tailscale/audit-stream.hec");
    const MIXED: &[u8] = include_bytes!("../../../../tests/fixtures/tailscale/bad/mixed-good-and-bad.ndjson");

    fn request<'a>(auth: &'a [&'a [u8]], body: &'a [u8]) -> IngestRequest<'a> {
        IngestRequest {
            authorization: auth,
            content_encoding: None,
            body,
            source: "tailscale-http",
            received_at: Timestamp::parse("2026-01-02T03:04:05Z").unwrap(),
            request_id: "req-1",
        }
    }

    fn run(raw: &Raw, q: &Quarantine, body: &[u8]) -> (HecResponse, IngestReport) {
        let tokens = Tokens::new(["t0k"]);
        block_on(ingest(request(&[b"Bearer t0k"], body), &tokens, &DecodeLimits::default(), raw, q))
    }

    #[test]
    fn accepted_records_are_stored_as_one_zstd_ndjson_batch_before_the_200() {
        let (raw, q) = (Raw::default(), Quarantine::default());
        let (resp, report) = run(&raw, &q, AUDIT);
        assert_eq!((resp.status, resp.code()), (200, 0));
        assert_eq!(report.accepted, 15);
        let stored = raw.stored.lock().unwrap();
        assert_eq!(
            stored[0].0,
            "raw/tailscale-http/dt=2026-01-02/hour=03/1767323045000-req-1.ndjson.zst"
        );
        let ndjson = crate::wire::decode_object(&stored[0].1, &DecodeLimits::default()).unwrap();
        let lines: Vec<&[u8]> = ndjson.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 15);
        assert!(
            lines[0].starts_with(br#"{"time":1741108869.412,"event":"#),
            "the whole envelope, as received"
        );
    }

    #[test]
    fn storage_down_is_a_503_code_9_and_nothing_half_written() {
        let (raw, q) = (
            Raw {
                fail: true,
                ..Raw::default()
            },
            Quarantine::default(),
        );
        let (resp, report) = run(&raw, &q, AUDIT);
        assert_eq!((resp.status, resp.code()), (503, 9));
        assert_eq!(report.raw_key, None);
        let (raw, q) = (
            Raw::default(),
            Quarantine {
                fail: true,
                ..Quarantine::default()
            },
        );
        let (resp, _) = run(&raw, &q, MIXED);
        assert_eq!(
            (resp.status, resp.code()),
            (503, 9),
            "bad records that cannot be quarantined are not silently dropped"
        );
        assert!(
            raw.stored.lock().unwrap().is_empty(),
            "and the good ones are not stored without them: Tailscale retries the whole batch"
        );
    }

    #[test]
    fn partial_batches_accept_the_good_and_quarantine_the_bad() {
        let (raw, q) = (Raw::default(), Quarantine::default());
        let (resp, report) = run(&raw, &q, MIXED);
        assert_eq!((resp.status, report.accepted, report.quarantined), (200, 2, 1));
        let body: serde_json::Value = serde_json::from_str(&resp.body).unwrap();
        assert_eq!(body["first_quarantined"]["reason"], "invalid_json");
        assert_eq!(q.rows.lock().unwrap()[0].line, 2);
    }

    /// What `cli/tests/hostile.rs` and `tests/aws/tests/pipeline.rs` expect of years 0 and 9999.
    #[test]
    fn times_outside_the_lake_are_quarantined_at_ingest_and_the_rest_stored() {
        let year_0 = br#"{"eventTime":"0000-01-01T00:00:00Z","actor":{"id":"a"},"action":"LOGIN"}"#.as_slice();
        let year_9999 = br#"{"eventTime":"9999-12-31T23:59:59Z","actor":{"id":"a"},"action":"LOGIN"}"#.as_slice();
        let millis = br#"{"time":1741109102025,"event":{"actor":{"id":"a"},"action":"LOGIN"}}"#.as_slice();
        let (raw, q) = (Raw::default(), Quarantine::default());
        let (resp, report) = run(&raw, &q, &[year_0, year_9999].concat());
        assert_eq!((resp.status, resp.code(), report.accepted), (400, 6, 0));
        assert!(resp.body.contains("outside the lake's range"), "{}", resp.body);
        assert!(raw.stored.lock().unwrap().is_empty());
        let (raw, q) = (Raw::default(), Quarantine::default());
        let (resp, report) = run(&raw, &q, &[year_0, year_9999, millis].concat());
        assert_eq!((resp.status, report.accepted, report.quarantined), (200, 1, 2));
        let body: serde_json::Value = serde_json::from_str(&resp.body).unwrap();
        assert_eq!(body["first_quarantined"]["reason"], "time_out_of_range");
        assert!(resp.body.contains("Success"));
        let rows = q.rows.lock().unwrap();
        assert!(rows.iter().all(|r| r.reason == crate::quarantine::ReasonCode::TimeOutOfRange));
        assert!(rows[1].message.contains("9999-12-31T23:59:59Z") && rows[1].original.contains("9999"));
    }

    #[test]
    fn a_text_decoded_compressed_body_is_a_415_that_says_what_to_change_and_stores_nothing() {
        const NETWORK_GZ: &[u8] = include_bytes!("../../../../tests/fixtures/tailscale/network-stream.hec.gz");
        let mangled = String::from_utf8_lossy(NETWORK_GZ).into_owned().into_bytes();
        let tokens = Tokens::new(["t0k"]);
        for encoding in [Some("gzip"), None] {
            let (raw, q) = (Raw::default(), Quarantine::default());
            let req = IngestRequest {
                content_encoding: encoding,
                ..request(&[b"Bearer t0k"], &mangled)
            };
            let (resp, report) = block_on(ingest(req, &tokens, &DecodeLimits::default(), &raw, &q));
            assert_eq!((resp.status, resp.code()), (415, 6), "{encoding:?}");
            assert!(resp.body.contains("application/octet-stream"), "{}", resp.body);
            assert_eq!(report, IngestReport::default());
            assert!(raw.stored.lock().unwrap().is_empty(), "nothing stored");
            assert!(q.rows.lock().unwrap().is_empty(), "garbage is not quarantined");
        }
    }

    #[test]
    fn auth_failures_store_nothing() {
        let (raw, q) = (Raw::default(), Quarantine::default());
        let tokens = Tokens::new(["t0k"]);
        let (resp, _) = block_on(ingest(request(&[], MIXED), &tokens, &DecodeLimits::default(), &raw, &q));
        assert_eq!((resp.status, resp.code()), (401, 2));
        assert!(raw.stored.lock().unwrap().is_empty() && q.rows.lock().unwrap().is_empty());
    }
}
