//! Decoding (any Content-Encoding, magic bytes, bounded inflation) then framing: never panics, and
//! every byte of the decoded body is either in a record or in a bad frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tailwatch_core::wire::{decode_body, frames, DecodeLimits, Frame};

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits { max_body_bytes: 1 << 20, max_decoded_bytes: 4 << 20, max_ratio: 100, ratio_floor_bytes: 64 << 10 };
    let (encoding, body) = match data.split_first() {
        Some((0, rest)) => (Some("gzip"), rest),
        Some((1, rest)) => (Some("zstd"), rest),
        Some((2, rest)) => (Some("deflate"), rest),
        Some((_, rest)) => (None, rest),
        None => (None, data),
    };
    if let Ok((decoded, _)) = decode_body(body, encoding, &limits) {
        assert!(decoded.len() <= limits.max_decoded_bytes);
        for frame in frames(&decoded) {
            match frame {
                Frame::Record(r) => assert!(!r.record.get().is_empty()),
                Frame::Bad(b) => assert!(!b.message.is_empty()),
            }
        }
    }
});
