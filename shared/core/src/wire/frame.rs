//! Framing: a body is a stream of JSON values, concatenated with no separator (Tailscale's Splunk
//! and Panther destinations) or newline-separated (NDJSON: S3 exports, our own raw objects). Each
//! value is a HEC envelope `{"time","event","fields"}`, a bare record, a JSON array of either, or
//! the API / export shape `{"logs":[…]}`.
//!
//! The framer only finds value boundaries and envelope parts: values are skipped at parse speed into
//! borrowed [`RawValue`] slices, never into a DOM. A value that is not valid JSON is returned as a
//! [`BadFrame`] and framing resumes at the next line that starts a new value, so a broken line in
//! NDJSON costs only that line; in concatenated framing (no newlines) everything before the break
//! is kept and the rest is one bad frame.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::quarantine::ReasonCode;

/// One framed value: a record to parse, or a value that cannot become one.
#[derive(Debug)]
pub enum Frame<'a> {
    /// A candidate record (envelope already unwrapped).
    Record(RawRecord<'a>),
    /// A value that is not JSON or not a record container, with the reason.
    Bad(BadFrame<'a>),
}

/// A candidate Tailscale record with its envelope parts, all borrowed from the body.
#[derive(Debug, Clone)]
pub struct RawRecord<'a> {
    /// 0-based index of this record in the body (array and `logs` elements count one each).
    pub index: usize,
    /// 1-based line of the body where the enclosing top-level value starts.
    pub line: usize,
    /// The record itself (the envelope's `event`, or the bare value).
    pub record: &'a RawValue,
    /// The text to store in the raw batch: the whole HEC envelope when there is one (it carries the
    /// event time), else the record.
    pub stored: &'a str,
    /// HEC envelope `time` (unix seconds), when enveloped.
    pub hec_time: Option<&'a RawValue>,
    /// HEC envelope `fields` (`recorded` = publisher time), when enveloped.
    pub hec_fields: Option<&'a RawValue>,
}

/// A value that could not be framed into a record.
#[derive(Debug, Clone)]
pub struct BadFrame<'a> {
    /// 0-based index this value would have had as a record.
    pub index: usize,
    /// 1-based line where the value starts.
    pub line: usize,
    /// The bytes of the value as received (for JSON errors, up to where framing resumed).
    pub text: &'a [u8],
    /// Stable reason code.
    pub reason: ReasonCode,
    /// What is wrong, for a human.
    pub message: String,
}

/// Splits `body` into frames. Never panics, whatever the bytes.
pub fn frames(body: &[u8]) -> Frames<'_> {
    Frames {
        body,
        pos: 0,
        stream: None,
        line: 1,
        line_pos: 0,
        index: 0,
        pending: Vec::new(),
    }
}

type Stream<'a> = serde_json::StreamDeserializer<'a, serde_json::de::SliceRead<'a>, TopValue<'a>>;

/// Iterator over the frames of a body (see [`frames`]).
pub struct Frames<'a> {
    body: &'a [u8],
    /// Offset where `stream` started reading (or where reading resumes when there is no stream).
    pos: usize,
    stream: Option<Stream<'a>>,
    line: usize,
    line_pos: usize,
    index: usize,
    pending: Vec<Frame<'a>>,
}

impl<'a> Frames<'a> {
    fn line_at(&mut self, offset: usize) -> usize {
        if offset > self.line_pos {
            self.line += self.body[self.line_pos..offset].iter().filter(|&&b| b == b'\n').count();
            self.line_pos = offset;
        }
        self.line
    }

    fn next_index(&mut self) -> usize {
        let i = self.index;
        self.index += 1;
        i
    }

    fn bad(&mut self, line: usize, text: &'a [u8], reason: ReasonCode, message: String) -> Frame<'a> {
        Frame::Bad(BadFrame {
            index: self.next_index(),
            line,
            text,
            reason,
            message,
        })
    }

    /// Expands one top-level value into frames (pushed in reverse onto `pending`).
    fn expand(&mut self, value: TopValue<'a>, raw: &'a str, line: usize) {
        let mut out = Vec::new();
        match value {
            TopValue::Array(items) => {
                for item in items {
                    out.push(self.element(item, line, true));
                }
            }
            TopValue::Object(pairs) => {
                if let Some(logs) = logs_array(&pairs) {
                    for item in logs {
                        out.push(self.element(item, line, true));
                    }
                } else {
                    out.push(self.object(pairs, raw, line));
                }
            }
            TopValue::Scalar => {
                out.push(self.bad(
                    line,
                    raw.as_bytes(),
                    ReasonCode::NotAnObject,
                    format!("expected a JSON object or array, found `{}`", preview(raw)),
                ));
            }
        }
        out.reverse();
        self.pending.extend(out);
    }

    /// An element of an array or of `logs`: an envelope or a bare record.
    fn element(&mut self, item: &'a RawValue, line: usize, _nested: bool) -> Frame<'a> {
        let raw = item.get();
        match serde_json::from_str::<TopValue<'a>>(raw) {
            Ok(TopValue::Object(pairs)) => self.object(pairs, raw, line),
            Ok(TopValue::Array(_)) => self.bad(
                line,
                raw.as_bytes(),
                ReasonCode::NotAnObject,
                "nested array inside a batch array; expected records or HEC envelopes".into(),
            ),
            Ok(TopValue::Scalar) => self.bad(
                line,
                raw.as_bytes(),
                ReasonCode::NotAnObject,
                format!("expected a JSON object, found `{}`", preview(raw)),
            ),
            Err(e) => self.bad(line, raw.as_bytes(), ReasonCode::InvalidJson, e.to_string()),
        }
    }

    fn object(&mut self, pairs: Vec<(Key<'a>, &'a RawValue)>, raw: &'a str, line: usize) -> Frame<'a> {
        let get = |name: &str| pairs.iter().find(|(k, _)| k.0 == name).map(|(_, v)| *v);
        if let Some(event) = get("event") {
            let text = event.get();
            if !text.starts_with('{') {
                return self.bad(
                    line,
                    raw.as_bytes(),
                    ReasonCode::NotAnObject,
                    format!("HEC envelope `event` must be a JSON object, found `{}`", preview(text)),
                );
            }
            Frame::Record(RawRecord {
                index: self.next_index(),
                line,
                record: event,
                stored: raw,
                hec_time: get("time"),
                hec_fields: get("fields"),
            })
        } else {
            // A bare record; `raw` is the whole object. Re-borrow it as a RawValue for uniformity.
            match serde_json::from_str::<&'a RawValue>(raw) {
                Ok(record) => Frame::Record(RawRecord {
                    index: self.next_index(),
                    line,
                    record,
                    stored: raw,
                    hec_time: None,
                    hec_fields: None,
                }),
                Err(e) => self.bad(line, raw.as_bytes(), ReasonCode::InvalidJson, e.to_string()),
            }
        }
    }
}

fn logs_array<'a>(pairs: &[(Key<'a>, &'a RawValue)]) -> Option<Vec<&'a RawValue>> {
    // `{"logs":[…]}` (API / export) is a container only when it is not itself a record: a record
    // never has `logs`, but be strict so an odd record is not mistaken for a container.
    let (_, logs) = pairs.iter().find(|(k, _)| k.0 == "logs")?;
    if pairs.iter().any(|(k, _)| matches!(&*k.0, "event" | "actor" | "nodeId")) {
        return None;
    }
    serde_json::from_str::<Vec<&'a RawValue>>(logs.get()).ok()
}

fn preview(text: &str) -> String {
    let mut s: String = text.chars().take(40).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    s
}

impl<'a> Iterator for Frames<'a> {
    type Item = Frame<'a>;

    fn next(&mut self) -> Option<Frame<'a>> {
        loop {
            if let Some(frame) = self.pending.pop() {
                return Some(frame);
            }
            let body = self.body;
            let base = self.pos;
            let stream = self
                .stream
                .get_or_insert_with(|| serde_json::Deserializer::from_slice(&body[base..]).into_iter());
            let after_last = base + stream.byte_offset();
            let skip = body[after_last..].iter().take_while(|b| b.is_ascii_whitespace()).count();
            let start = after_last + skip;
            if start >= body.len() {
                self.stream = None;
                self.pos = body.len();
                return None;
            }
            match stream.next()? {
                Ok(value) => {
                    let end = base + stream.byte_offset();
                    let line = self.line_at(start);
                    // serde_json validated every string it skipped, and only strings may hold
                    // non-ASCII bytes in JSON, so this cannot fail for a value it accepted.
                    match std::str::from_utf8(&body[start..end]) {
                        Ok(raw) => self.expand(value, raw, line),
                        Err(e) => return Some(self.bad(line, &body[start..end], ReasonCode::InvalidUtf8, format!("invalid UTF-8: {e}"))),
                    }
                }
                Err(e) => {
                    let line = self.line_at(start);
                    let resume = resync(body, start);
                    self.stream = None;
                    self.pos = resume;
                    let text = trim_end(&body[start..resume]);
                    let (reason, message) = classify_json_error(&e, text);
                    return Some(self.bad(line, text, reason, message));
                }
            }
        }
    }
}

/// Where framing resumes after a broken value: the next line that starts with `{` or `[`. Lines of
/// a pretty-printed value are indented, so a broken pretty-printed object is one bad frame, not one
/// per line.
fn resync(body: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < body.len() {
        match body[i..].iter().position(|&b| b == b'\n') {
            Some(nl) => {
                let next = i + nl + 1;
                if matches!(body.get(next), Some(b'{' | b'[')) {
                    return next;
                }
                i = next;
            }
            None => return body.len(),
        }
    }
    body.len()
}

fn trim_end(text: &[u8]) -> &[u8] {
    let end = text.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(0, |p| p + 1);
    &text[..end]
}

fn classify_json_error(e: &serde_json::Error, text: &[u8]) -> (ReasonCode, String) {
    let msg = e.to_string();
    if msg.starts_with("recursion limit exceeded") {
        (
            ReasonCode::TooDeep,
            format!("JSON nested deeper than 128 levels ({msg}); Tailscale records are at most a few levels deep"),
        )
    } else if std::str::from_utf8(text).is_err() && (msg.contains("unicode") || msg.contains("UTF-8")) {
        (ReasonCode::InvalidUtf8, format!("invalid UTF-8 ({msg})"))
    } else if e.is_eof() {
        (ReasonCode::InvalidJson, format!("JSON value is truncated ({msg})"))
    } else {
        (ReasonCode::InvalidJson, format!("not valid JSON ({msg})"))
    }
}

/// An object key, borrowed when it has no escapes.
#[derive(Debug)]
pub(crate) struct Key<'a>(pub(crate) Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// A top-level value, one level deep: object members or array elements as raw slices.
enum TopValue<'a> {
    Object(Vec<(Key<'a>, &'a RawValue)>),
    Array(Vec<&'a RawValue>),
    Scalar,
}

impl<'de> Deserialize<'de> for TopValue<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TopValue<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopValue<'de>, A::Error> {
                let mut pairs = Vec::with_capacity(4);
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    pairs.push((key, map.next_value::<&'de RawValue>()?));
                }
                Ok(TopValue::Object(pairs))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TopValue<'de>, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<&'de RawValue>()? {
                    items.push(item);
                }
                Ok(TopValue::Array(items))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<TopValue<'de>, E> {
                Ok(TopValue::Scalar)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<TopValue<'de>, E> {
                Ok(TopValue::Scalar)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<TopValue<'de>, E> {
                Ok(TopValue::Scalar)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<TopValue<'de>, E> {
                Ok(TopValue::Scalar)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<TopValue<'de>, E> {
                Ok(TopValue::Scalar)
            }
            fn visit_unit<E: de::Error>(self) -> Result<TopValue<'de>, E> {
                Ok(TopValue::Scalar)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(body: &[u8]) -> (Vec<String>, Vec<(usize, ReasonCode, String)>) {
        let mut good = Vec::new();
        let mut bad = Vec::new();
        for f in frames(body) {
            match f {
                Frame::Record(r) => good.push(r.record.get().to_owned()),
                Frame::Bad(b) => bad.push((b.line, b.reason, String::from_utf8_lossy(b.text).into_owned())),
            }
        }
        (good, bad)
    }

    #[test]
    fn concatenated_hec_envelopes_with_no_separator() {
        let body = br#"{"time":1,"event":{"a":1},"fields":{"recorded":"x"}}{"time":2,"event":{"a":2}}"#;
        let recs: Vec<_> = frames(body).collect();
        assert_eq!(recs.len(), 2);
        let Frame::Record(r) = &recs[1] else { panic!() };
        assert_eq!(r.record.get(), r#"{"a":2}"#);
        assert_eq!(r.hec_time.map(|t| t.get()), Some("2"));
        assert_eq!(r.stored, r#"{"time":2,"event":{"a":2}}"#);
        assert_eq!(r.index, 1);
    }

    #[test]
    fn ndjson_bare_records() {
        let (good, bad) = split(b"{\"a\":1}\n{\"a\":2}\r\n\n{\"a\":3}\n");
        assert_eq!(good, vec![r#"{"a":1}"#, r#"{"a":2}"#, r#"{"a":3}"#]);
        assert!(bad.is_empty());
    }

    #[test]
    fn arrays_of_records_and_of_envelopes() {
        let (good, bad) = split(br#"[{"a":1},{"event":{"a":2},"time":3}] [{"a":4}]"#);
        assert_eq!(good, vec![r#"{"a":1}"#, r#"{"a":2}"#, r#"{"a":4}"#]);
        assert!(bad.is_empty());
    }

    #[test]
    fn api_logs_wrapper_is_unwrapped() {
        let (good, _) = split(br#"{"version":"1.1","tailnetId":"example.com","logs":[{"a":1},{"a":2}]}"#);
        assert_eq!(good, vec![r#"{"a":1}"#, r#"{"a":2}"#]);
    }

    #[test]
    fn a_broken_ndjson_line_costs_only_that_line() {
        let (good, bad) = split(b"{\"a\":1}\n{\"broken\": \n{\"a\":3}\n");
        assert_eq!(good, vec![r#"{"a":1}"#, r#"{"a":3}"#]);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].0, 2);
        assert_eq!(bad[0].1, ReasonCode::InvalidJson);
        assert_eq!(bad[0].2, "{\"broken\":");
    }

    #[test]
    fn concatenated_framing_keeps_everything_before_the_break() {
        let (good, bad) = split(br#"{"a":1}{"a":2}{"a":3,"#);
        assert_eq!(good, vec![r#"{"a":1}"#, r#"{"a":2}"#]);
        assert_eq!(bad.len(), 1);
        assert!(bad[0].2.starts_with(r#"{"a":3"#));
    }

    #[test]
    fn a_broken_pretty_printed_value_is_one_bad_frame() {
        let (good, bad) = split(b"{\n  \"a\": 1,\n  \"b\": [1,\n}\n{\"a\":2}\n");
        assert_eq!(good, vec![r#"{"a":2}"#]);
        assert_eq!(bad.len(), 1);
    }

    #[test]
    fn scalars_and_non_object_events_are_bad_frames() {
        let (good, bad) = split(br#""hello" 42 {"event":"text"} [[1]]"#);
        assert!(good.is_empty());
        assert_eq!(bad.iter().map(|b| b.1).collect::<Vec<_>>(), vec![ReasonCode::NotAnObject; 4]);
    }

    #[test]
    fn empty_and_whitespace_bodies_have_no_frames() {
        assert_eq!(frames(b"").count(), 0);
        assert_eq!(frames(b" \n\t\r\n").count(), 0);
    }

    #[test]
    fn invalid_utf8_inside_a_string_is_a_bad_frame_and_the_next_line_survives() {
        let (good, bad) = split(b"{\"a\":\"\xff\xfe\"}\n{\"a\":2}\n");
        assert_eq!(good, vec![r#"{"a":2}"#]);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].1, ReasonCode::InvalidUtf8, "{:?}", bad[0]);
    }

    #[test]
    fn pathological_nesting_does_not_crash() {
        let deep = include_bytes!("../../../../tests/fixtures/tailscale/bad/deep-nesting.json");
        let (good, bad) = split(deep);
        assert!(good.is_empty());
        assert_eq!(bad.len(), 1);
        let mut obj = "{\"a\":".repeat(100_000).into_bytes();
        obj.extend(std::iter::repeat_n(b'}', 100_000));
        let (good, bad) = split(&obj);
        assert!(good.is_empty());
        assert_eq!(bad.len(), 1);
    }

    #[test]
    fn line_numbers_follow_the_body() {
        let lines: Vec<usize> = frames(b"{\"a\":1}\n\n{\"a\":2}\n{\"a\":3}")
            .map(|f| match f {
                Frame::Record(r) => r.line,
                Frame::Bad(b) => b.line,
            })
            .collect();
        assert_eq!(lines, vec![1, 3, 4]);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn framing_never_panics_on_arbitrary_bytes(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let n = frames(&body).count();
            proptest::prop_assert!(n <= body.len() + 1);
        }

        #[test]
        fn framing_never_panics_on_json_like_bytes(body in "[\\[\\]{}\":,a-c0-9 \n\\\\]{0,256}") {
            for f in frames(body.as_bytes()) {
                if let Frame::Bad(b) = f {
                    proptest::prop_assert!(!b.message.is_empty());
                }
            }
        }
    }
}
