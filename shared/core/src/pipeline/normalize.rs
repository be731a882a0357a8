//! Normalize stage: a body or stored object → lake rows + quarantine rows + per-record accounting.

use std::collections::BTreeMap;

use crate::lake::LakeRow;
use crate::normalize::{normalize_record, SourceContext};
use crate::quarantine::{Origin, QuarantineRow, ReasonCode};
use crate::record::RecordKind;
use crate::wire::{decode_object, DecodeLimits, Frame};

/// What normalizing one body produced.
#[derive(Debug, Default)]
pub struct NormalizeOutcome {
    /// Lake rows, in body order.
    pub rows: Vec<LakeRow>,
    /// Rejected values.
    pub quarantined: Vec<QuarantineRow>,
    /// Audit records read.
    pub audit_records: usize,
    /// Network flow records read.
    pub network_records: usize,
}

impl NormalizeOutcome {
    /// Records that became rows.
    pub fn records(&self) -> usize {
        self.audit_records + self.network_records
    }

    /// Quarantined values per reason code.
    pub fn quarantine_reasons(&self) -> BTreeMap<ReasonCode, usize> {
        let mut map = BTreeMap::new();
        for q in &self.quarantined {
            *map.entry(q.reason).or_insert(0) += 1;
        }
        map
    }

    /// Adds another outcome's results to this one.
    pub fn merge(&mut self, other: NormalizeOutcome) {
        self.rows.extend(other.rows);
        self.quarantined.extend(other.quarantined);
        self.audit_records += other.audit_records;
        self.network_records += other.network_records;
    }
}

/// Normalizes an already-decoded body (any framing).
pub fn normalize_body(body: &[u8], ctx: &SourceContext<'_>) -> NormalizeOutcome {
    normalize_chunks(body, ctx, usize::MAX).next().unwrap_or_default()
}

/// Rows per chunk the deployed functions and the local pipeline normalize, write and detect on at a
/// time. A network record can become up to a few thousand rows, each a few KB in memory with its
/// serialized form; 4096 rows keep one chunk to a few tens of MB whatever the object's size.
pub const CHUNK_ROWS: usize = 4096;

/// Normalizes a decoded body about `max_rows` rows at a time, so memory is bounded by the chunk, not
/// by the body: a 6 MiB network body is ~45 000 rows. A chunk ends after the record that reaches
/// `max_rows` (a record's rows stay together). The first chunk is always yielded, even when empty;
/// each chunk carries the quarantine rows and record counts of the values it read.
pub fn normalize_chunks<'a>(body: &'a [u8], ctx: &'a SourceContext<'a>, max_rows: usize) -> NormalizeChunks<'a> {
    NormalizeChunks {
        frames: crate::wire::frames(body),
        ctx,
        max_rows: max_rows.max(1),
        started: false,
        done: false,
    }
}

/// Iterator of [`normalize_chunks`].
pub struct NormalizeChunks<'a> {
    frames: crate::wire::frame::Frames<'a>,
    ctx: &'a SourceContext<'a>,
    max_rows: usize,
    started: bool,
    done: bool,
}

impl Iterator for NormalizeChunks<'_> {
    type Item = NormalizeOutcome;

    fn next(&mut self) -> Option<NormalizeOutcome> {
        if self.done {
            return None;
        }
        let ctx = self.ctx;
        let origin = Origin {
            label: ctx.label,
            file: ctx.file,
        };
        let mut out = NormalizeOutcome::default();
        let mut read_any = false;
        while out.rows.len() < self.max_rows {
            let Some(frame) = self.frames.next() else {
                self.done = true;
                break;
            };
            read_any = true;
            match frame {
                Frame::Record(raw) => match normalize_record(&raw, ctx, &mut out.rows) {
                    Ok(RecordKind::Audit) => out.audit_records += 1,
                    Ok(RecordKind::Network) => out.network_records += 1,
                    Err(rejection) => out.quarantined.push(QuarantineRow::new(
                        origin,
                        ctx.parse_time,
                        rejection.reason,
                        rejection.message,
                        rejection.field,
                        raw.index,
                        raw.line,
                        raw.stored.as_bytes(),
                    )),
                },
                Frame::Bad(bad) => out.quarantined.push(QuarantineRow::new(
                    origin,
                    ctx.parse_time,
                    bad.reason,
                    bad.message,
                    None,
                    bad.index,
                    bad.line,
                    bad.text,
                )),
            }
        }
        if read_any || !self.started {
            self.started = true;
            Some(out)
        } else {
            None
        }
    }
}

/// The outcome for an object that could not be decoded at all: one quarantine row holding it.
pub fn undecodable(error: &crate::wire::DecodeError, bytes: &[u8], ctx: &SourceContext<'_>) -> NormalizeOutcome {
    let origin = Origin {
        label: ctx.label,
        file: ctx.file,
    };
    let reason = match error {
        crate::wire::DecodeError::TooLarge { .. } => ReasonCode::RecordTooLarge,
        _ => ReasonCode::InvalidJson,
    };
    NormalizeOutcome {
        quarantined: vec![QuarantineRow::new(
            origin,
            ctx.parse_time,
            reason,
            error.to_string(),
            None,
            0,
            1,
            bytes,
        )],
        ..Default::default()
    }
}

/// Normalizes a stored object or file: sniffs gzip / zstd, then [`normalize_body`]. A zero-byte
/// object (Tailscale's S3 export writes them for empty periods) yields nothing.
pub fn normalize_object(bytes: &[u8], limits: &DecodeLimits, ctx: &SourceContext<'_>) -> NormalizeOutcome {
    match decode_object(bytes, limits) {
        Ok(body) => normalize_body(&body, ctx),
        Err(e) => undecodable(&e, bytes, ctx),
    }
}
