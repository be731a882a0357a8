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
    let mut out = NormalizeOutcome::default();
    let origin = Origin {
        label: ctx.label,
        file: ctx.file,
    };
    for frame in crate::wire::frames(body) {
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
    out
}

/// Normalizes a stored object or file: sniffs gzip / zstd, then [`normalize_body`]. A zero-byte
/// object (Tailscale's S3 export writes them for empty periods) yields nothing.
pub fn normalize_object(bytes: &[u8], limits: &DecodeLimits, ctx: &SourceContext<'_>) -> NormalizeOutcome {
    match decode_object(bytes, limits) {
        Ok(body) => normalize_body(&body, ctx),
        Err(e) => {
            let origin = Origin {
                label: ctx.label,
                file: ctx.file,
            };
            let reason = match e {
                crate::wire::DecodeError::TooLarge { .. } => ReasonCode::RecordTooLarge,
                _ => ReasonCode::InvalidJson,
            };
            NormalizeOutcome {
                quarantined: vec![QuarantineRow::new(origin, ctx.parse_time, reason, e.to_string(), None, 0, 1, bytes)],
                ..Default::default()
            }
        }
    }
}
