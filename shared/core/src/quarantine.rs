//! Quarantine: every value that cannot become a lake row is kept here with a precise reason, never
//! dropped. Quarantine rows are themselves a lake table (`tailwatch_quarantine`), so a responder can
//! query what was rejected and why, and re-drive it after a fix.

use serde::Serialize;

use crate::time::Timestamp;

/// Stable, snake_case reason codes (also the metric dimension for rejected records).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReasonCode {
    /// Not valid JSON, or truncated.
    InvalidJson,
    /// Bytes that are not UTF-8 inside a JSON value.
    InvalidUtf8,
    /// Nesting deeper than the parser allows.
    TooDeep,
    /// A JSON value that is not an object (a string, a number, a nested array).
    NotAnObject,
    /// Valid JSON that is neither an audit nor a network flow record.
    UnrecognizedRecord,
    /// A known field with the wrong type or an impossible value.
    InvalidField,
    /// A record too large for the lake (e.g. over Firehose's per-record limit).
    RecordTooLarge,
    /// Every time the record carries reads, but none lies in the lake's range (2019-01-01 ..
    /// 2100-01-01, and no more than a day after parse time): a row there would be unreadable.
    TimeOutOfRange,
    /// A whole object could not be read for good (missing, access denied, over the size read):
    /// the normalize function quarantines it instead of retrying forever.
    ObjectUnreadable,
}

impl ReasonCode {
    /// The snake_case code.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::InvalidJson => "invalid_json",
            ReasonCode::InvalidUtf8 => "invalid_utf8",
            ReasonCode::TooDeep => "too_deep",
            ReasonCode::NotAnObject => "not_an_object",
            ReasonCode::UnrecognizedRecord => "unrecognized_record",
            ReasonCode::InvalidField => "invalid_field",
            ReasonCode::RecordTooLarge => "record_too_large",
            ReasonCode::TimeOutOfRange => "time_out_of_range",
            ReasonCode::ObjectUnreadable => "object_unreadable",
        }
    }
}

impl std::fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Longest original text kept in a quarantine row; the raw batch keeps the rest.
pub const MAX_ORIGINAL_BYTES: usize = 256 << 10;

/// One rejected value: a row of `tailwatch_quarantine`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QuarantineRow {
    /// Always `Tailwatch.Quarantine`.
    pub p_log_type: &'static str,
    /// Content hash of the rejected bytes and their position.
    pub p_row_id: String,
    /// When the value was rejected (also its partition time).
    pub p_event_time: Timestamp,
    /// When the value was rejected.
    pub p_parse_time: Timestamp,
    /// The source label (which stream or export).
    pub p_source_label: String,
    /// The raw object, file or request the value came from.
    pub p_source_file: String,
    /// Stable reason code.
    pub reason: ReasonCode,
    /// What is wrong, naming the field and what was expected.
    pub message: String,
    /// The field at fault, when one is (dotted path, e.g. `event.nodeId`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// 0-based index of the value in its body.
    pub value_index: u64,
    /// 1-based line where the value starts.
    pub line: u64,
    /// The original bytes (lossy UTF-8), at most [`MAX_ORIGINAL_BYTES`].
    pub original: String,
    /// Size of the original value in bytes.
    pub original_bytes: u64,
    /// Whether `original` was cut at [`MAX_ORIGINAL_BYTES`].
    pub original_truncated: bool,
}

/// Where a rejected value came from.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// Source label.
    pub label: &'a str,
    /// Source file / object key.
    pub file: &'a str,
}

impl QuarantineRow {
    /// Builds a quarantine row for `original` rejected for `reason`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        origin: Origin<'_>,
        now: Timestamp,
        reason: ReasonCode,
        message: String,
        field: Option<String>,
        index: usize,
        line: usize,
        original: &[u8],
    ) -> Self {
        let cut = original.len().min(MAX_ORIGINAL_BYTES);
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"quarantine\0");
        hasher.update(origin.file.as_bytes());
        hasher.update(&(index as u64).to_le_bytes());
        hasher.update(original);
        QuarantineRow {
            p_log_type: "Tailwatch.Quarantine",
            p_row_id: crate::normalize::hex128(hasher.finalize().as_bytes()),
            p_event_time: now,
            p_parse_time: now,
            p_source_label: origin.label.to_owned(),
            p_source_file: origin.file.to_owned(),
            reason,
            message,
            field,
            value_index: index as u64,
            line: line as u64,
            original: String::from_utf8_lossy(&original[..cut]).into_owned(),
            original_bytes: original.len() as u64,
            original_truncated: cut < original.len(),
        }
    }
}
