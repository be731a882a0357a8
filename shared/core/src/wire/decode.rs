//! Body decoding: `Content-Encoding` gzip / zstd / deflate / identity, with magic-byte sniffing and
//! bounded decompression.
//!
//! Tailscale's `compressionFormat` setting may or may not set `Content-Encoding` (unconfirmed), so the
//! magic bytes win over the header. Every decompressor in the crate goes through [`decode_body`] so
//! that a compression bomb is always a typed [`DecodeError::TooLarge`], never an OOM.

use std::borrow::Cow;
use std::io::Read;

/// Size limits applied while decoding one body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted body as received on the wire (compressed), in bytes.
    pub max_body_bytes: usize,
    /// Largest accepted body after decompression, in bytes.
    pub max_decoded_bytes: usize,
    /// Largest accepted decompression ratio (decoded / compressed). Only enforced once the decoded
    /// size passes [`DecodeLimits::ratio_floor_bytes`], so small, highly repetitive batches pass.
    pub max_ratio: usize,
    /// Decoded size below which the ratio cap is not enforced.
    pub ratio_floor_bytes: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        // Tailscale reports a 512 KiB max body; 8 MiB on the wire leaves room for other senders and
        // exports. 64 MiB decoded bounds memory per request. Real JSON logs compress 5-30x; 200x is
        // far past honest data and far below a bomb (1000x+).
        Self {
            max_body_bytes: 8 << 20,
            max_decoded_bytes: 64 << 20,
            max_ratio: 200,
            ratio_floor_bytes: 1 << 20,
        }
    }
}

impl DecodeLimits {
    /// Limits for reading back a raw batch that ingest wrote: ingest already bounded its decoded
    /// size (`decoded`, 64 MiB by default) when it accepted the body, then stored it zstd-compressed,
    /// so the stored object's ratio says nothing about hostility (7 MB of one repeated character
    /// compresses past 1000:1). Only the decoded size is capped; no ratio cap.
    pub fn own_raw_batch(decoded: usize) -> Self {
        Self {
            max_body_bytes: decoded.saturating_mul(2),
            max_decoded_bytes: decoded,
            max_ratio: usize::MAX,
            ratio_floor_bytes: 0,
        }
    }
}

/// The compression a body was found to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Not compressed.
    Identity,
    /// gzip (RFC 1952), possibly multi-member.
    Gzip,
    /// zlib-wrapped deflate (RFC 1950), as HTTP `deflate` means.
    Deflate,
    /// Zstandard, possibly multi-frame.
    Zstd,
}

impl Compression {
    /// Lower-case name as used in `Content-Encoding`.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Identity => "identity",
            Compression::Gzip => "gzip",
            Compression::Deflate => "deflate",
            Compression::Zstd => "zstd",
        }
    }
}

/// Why a body could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body as received is larger than allowed.
    #[error("body is {size} bytes, over the limit of {limit} bytes; send smaller batches")]
    BodyTooLarge {
        /// Size received.
        size: usize,
        /// Configured limit.
        limit: usize,
    },
    /// Decompression went past the absolute or ratio cap (a compression bomb, or a huge batch).
    #[error("{compression} body inflates past {limit} bytes ({reason}); refusing it as a possible compression bomb")]
    TooLarge {
        /// The compression in use.
        compression: &'static str,
        /// The cap that was hit, in decoded bytes.
        limit: usize,
        /// Which cap: `absolute cap` or `ratio cap N:1`.
        reason: String,
    },
    /// The compressed stream is corrupt or truncated.
    #[error("{compression} body is corrupt or truncated after {decoded} decoded bytes: {detail}")]
    Corrupt {
        /// The compression in use.
        compression: &'static str,
        /// Bytes decoded before the failure.
        decoded: usize,
        /// The decompressor's message.
        detail: String,
    },
    /// `Content-Encoding` names a coding this receiver does not implement.
    #[error("Content-Encoding `{0}` is not supported; use gzip, zstd, deflate or identity")]
    UnsupportedEncoding(String),
    /// `Content-Encoding` claims a compression the bytes do not have, and they are not plain JSON.
    #[error("Content-Encoding says {claimed} but the body does not start with {claimed} magic bytes")]
    EncodingMismatch {
        /// The compression the header claimed.
        claimed: &'static str,
    },
    /// A compressed body reached us already converted to text: the bytes that were not valid UTF-8
    /// (the compression's magic among them) were replaced by U+FFFD. An API Gateway HTTP API does
    /// this to bodies whose `Content-Type` is text/*, application/json, application/xml or
    /// application/javascript. The original bytes are gone, so this is refused (415), never
    /// quarantined as garbage.
    #[error(
        "{claimed} body arrived text-decoded (U+FFFD replacement characters where the compressed bytes were): \
         a proxy in front of tailwatch converted the binary body to UTF-8 text, so it cannot be decompressed. \
         Send compressed bodies with Content-Type: application/octet-stream, or put tailwatch behind a front \
         that passes binary bodies through unchanged (the stack's REST API, binary media type */*)"
    )]
    TextDecoded {
        /// The compression the header claimed or the mangled magic bytes showed.
        claimed: &'static str,
    },
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
/// U+FFFD REPLACEMENT CHARACTER in UTF-8: what a lossy text decoding leaves for each invalid byte run.
const REPLACEMENT: &[u8] = &[0xef, 0xbf, 0xbd];
/// The gzip magic after a lossy UTF-8 decoding: 0x1f survives, 0x8b becomes U+FFFD.
const GZIP_MAGIC_TEXT: &[u8] = &[0x1f, 0xef, 0xbf, 0xbd];
/// The zstd magic after a lossy UTF-8 decoding: `(`, U+FFFD, `/`, U+FFFD.
const ZSTD_MAGIC_TEXT: &[u8] = &[0x28, 0xef, 0xbf, 0xbd, 0x2f, 0xef, 0xbf, 0xbd];

/// Whether `body` is a compressed body that was decoded as UTF-8 text on the way here, and which
/// compression it had: the header claims a compression, or the body starts with a compression's
/// magic as a lossy UTF-8 decoding leaves it; and the body carries U+FFFD, has no real magic, and
/// is not JSON (a JSON body with a wrong header is still accepted).
fn text_decoded(body: &[u8], sniffed: Compression, claimed: Option<Compression>) -> Option<&'static str> {
    if sniffed != Compression::Identity || looks_like_json(body) || !body.windows(REPLACEMENT.len()).any(|w| w == REPLACEMENT) {
        return None;
    }
    match claimed {
        Some(c @ (Compression::Gzip | Compression::Zstd | Compression::Deflate)) => Some(c.as_str()),
        _ if body.starts_with(GZIP_MAGIC_TEXT) => Some(Compression::Gzip.as_str()),
        _ if body.starts_with(ZSTD_MAGIC_TEXT) => Some(Compression::Zstd.as_str()),
        _ => None,
    }
}

/// Detects the compression of `body` from its first bytes.
pub fn sniff(body: &[u8]) -> Compression {
    if body.starts_with(GZIP_MAGIC) {
        Compression::Gzip
    } else if body.starts_with(ZSTD_MAGIC) {
        Compression::Zstd
    } else if body.len() >= 2 && body[0] == 0x78 && (u16::from(body[0]) << 8 | u16::from(body[1])) % 31 == 0 {
        // zlib header: CMF 0x78 (deflate, 32K window) and FCHECK making the pair a multiple of 31.
        // `x` followed by a byte is never the start of JSON, so this cannot misfire on a record.
        Compression::Deflate
    } else {
        Compression::Identity
    }
}

fn parse_content_encoding(header: Option<&str>) -> Result<Option<Compression>, DecodeError> {
    let Some(raw) = header else { return Ok(None) };
    let name = raw.trim().to_ascii_lowercase();
    match name.as_str() {
        "" | "identity" | "none" => Ok(Some(Compression::Identity)),
        "gzip" | "x-gzip" => Ok(Some(Compression::Gzip)),
        "zstd" => Ok(Some(Compression::Zstd)),
        "deflate" => Ok(Some(Compression::Deflate)),
        _ => Err(DecodeError::UnsupportedEncoding(raw.trim().chars().take(64).collect())),
    }
}

/// Decodes one request body.
///
/// The magic bytes decide the compression; the header only matters when it names something the bytes
/// contradict and the bytes are not JSON either (then the body is garbage and we say so).
///
/// # Errors
/// [`DecodeError`] when the body is over a limit, corrupt, or uses an unsupported coding.
pub fn decode_body<'a>(
    body: &'a [u8],
    content_encoding: Option<&str>,
    limits: &DecodeLimits,
) -> Result<(Cow<'a, [u8]>, Compression), DecodeError> {
    if body.len() > limits.max_body_bytes {
        return Err(DecodeError::BodyTooLarge {
            size: body.len(),
            limit: limits.max_body_bytes,
        });
    }
    let claimed = parse_content_encoding(content_encoding)?;
    let sniffed = sniff(body);
    if let Some(claimed) = text_decoded(body, sniffed, claimed) {
        return Err(DecodeError::TextDecoded { claimed });
    }
    if let Some(claimed) = claimed {
        if claimed != Compression::Identity && sniffed == Compression::Identity && !looks_like_json(body) && !body.is_empty() {
            return Err(DecodeError::EncodingMismatch { claimed: claimed.as_str() });
        }
    }
    let decoded = match sniffed {
        Compression::Identity => {
            if body.len() > limits.max_decoded_bytes {
                return Err(DecodeError::TooLarge {
                    compression: "identity",
                    limit: limits.max_decoded_bytes,
                    reason: "absolute cap".into(),
                });
            }
            Cow::Borrowed(body)
        }
        Compression::Gzip => Cow::Owned(bounded_read(flate2::read::MultiGzDecoder::new(body), body.len(), sniffed, limits)?),
        Compression::Deflate => Cow::Owned(bounded_read(flate2::read::ZlibDecoder::new(body), body.len(), sniffed, limits)?),
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(body).map_err(|e| DecodeError::Corrupt {
                compression: "zstd",
                decoded: 0,
                detail: e.to_string(),
            })?;
            Cow::Owned(bounded_read(decoder, body.len(), sniffed, limits)?)
        }
    };
    Ok((decoded, sniffed))
}

/// Decompresses a whole file or object (S3 export objects, raw batches) with the same caps.
///
/// # Errors
/// As [`decode_body`], without the wire-size check.
pub fn decode_object<'a>(bytes: &'a [u8], limits: &DecodeLimits) -> Result<Cow<'a, [u8]>, DecodeError> {
    let limits = DecodeLimits {
        max_body_bytes: usize::MAX,
        ..*limits
    };
    decode_body(bytes, None, &limits).map(|(body, _)| body)
}

fn looks_like_json(body: &[u8]) -> bool {
    matches!(body.iter().find(|b| !b.is_ascii_whitespace()), Some(b'{' | b'['))
}

fn bounded_read<R: Read>(
    mut reader: R,
    compressed_len: usize,
    compression: Compression,
    limits: &DecodeLimits,
) -> Result<Vec<u8>, DecodeError> {
    let ratio_cap = compressed_len.saturating_mul(limits.max_ratio).max(limits.ratio_floor_bytes);
    let (limit, reason) = if ratio_cap < limits.max_decoded_bytes {
        (ratio_cap, format!("ratio cap {}:1", limits.max_ratio))
    } else {
        (limits.max_decoded_bytes, "absolute cap".to_owned())
    };
    let mut out = Vec::with_capacity(compressed_len.saturating_mul(8).min(limit).min(16 << 20));
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(DecodeError::Corrupt {
                    compression: compression.as_str(),
                    decoded: out.len(),
                    detail: e.to_string(),
                });
            }
        };
        if out.len() + n > limit {
            return Err(DecodeError::TooLarge {
                compression: compression.as_str(),
                limit,
                reason,
            });
        }
        out.extend_from_slice(&chunk[..n]);
    }
    Ok(out)
}

/// Compresses bytes with gzip (used by lake writers and tests).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 4 + 64), flate2::Compression::default());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

/// Compresses bytes with zstd at the given level (raw batches use level 3).
pub fn zstd_compress(bytes: &[u8], level: i32) -> Vec<u8> {
    zstd::bulk::compress(bytes, level).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUDIT: &[u8] = include_bytes!("../../../../tests/fixtures/tailscale/audit-stream.hec");
    const AUDIT_ZST: &[u8] = include_bytes!("../../../../tests/fixtures/tailscale/audit-stream.hec.zst");
    const NETWORK: &[u8] = include_bytes!("../../../../tests/fixtures/tailscale/network-stream.hec");
    const NETWORK_GZ: &[u8] = include_bytes!("../../../../tests/fixtures/tailscale/network-stream.hec.gz");

    #[test]
    fn zstd_fixture_decodes_to_the_plain_body_with_or_without_header() {
        for header in [Some("zstd"), None, Some("ZSTD "), Some("identity")] {
            let (body, c) = decode_body(AUDIT_ZST, header, &DecodeLimits::default()).unwrap();
            assert_eq!(c, Compression::Zstd);
            assert_eq!(&*body, AUDIT);
        }
    }

    #[test]
    fn gzip_fixture_decodes_to_the_plain_body_with_or_without_header() {
        for header in [Some("gzip"), None, Some("x-gzip")] {
            let (body, c) = decode_body(NETWORK_GZ, header, &DecodeLimits::default()).unwrap();
            assert_eq!(c, Compression::Gzip);
            assert_eq!(&*body, NETWORK);
        }
    }

    #[test]
    fn deflate_round_trips() {
        use std::io::Write;
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(NETWORK).unwrap();
        let z = e.finish().unwrap();
        let (body, c) = decode_body(&z, Some("deflate"), &DecodeLimits::default()).unwrap();
        assert_eq!(c, Compression::Deflate);
        assert_eq!(&*body, NETWORK);
    }

    #[test]
    fn identity_is_borrowed_not_copied() {
        let (body, c) = decode_body(AUDIT, None, &DecodeLimits::default()).unwrap();
        assert_eq!(c, Compression::Identity);
        assert!(matches!(body, Cow::Borrowed(_)));
    }

    #[test]
    fn gzip_bomb_hits_the_ratio_cap_with_bounded_memory() {
        // 256 MiB of zeros compresses to ~250 KiB; the ratio cap stops it at 200 x compressed size.
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..256 {
            std::io::Write::write_all(&mut e, &zeros).unwrap();
        }
        let bomb = e.finish().unwrap();
        let err = decode_body(&bomb, Some("gzip"), &DecodeLimits::default()).unwrap_err();
        match err {
            DecodeError::TooLarge {
                compression,
                limit,
                reason,
            } => {
                assert_eq!(compression, "gzip");
                assert!(limit <= 64 << 20, "limit {limit}");
                assert!(reason.starts_with("ratio cap") || reason == "absolute cap", "{reason}");
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    #[test]
    fn zstd_bomb_hits_the_absolute_cap() {
        let zeros = vec![b'a'; 80 << 20];
        let bomb = zstd_compress(&zeros, 19);
        let limits = DecodeLimits {
            max_ratio: 1_000_000,
            ..DecodeLimits::default()
        };
        let err = decode_body(&bomb, None, &limits).unwrap_err();
        assert!(matches!(err, DecodeError::TooLarge { compression: "zstd", reason, .. } if reason == "absolute cap"));
    }

    #[test]
    fn small_highly_compressible_batch_passes_under_the_ratio_floor() {
        let body = vec![b' '; 500_000];
        let compressed = gzip(&body);
        let (decoded, _) = decode_body(&compressed, None, &DecodeLimits::default()).unwrap();
        assert_eq!(decoded.len(), 500_000);
    }

    #[test]
    fn truncated_streams_are_corrupt_not_partial() {
        let gz = gzip(NETWORK);
        let err = decode_body(&gz[..gz.len() / 2], Some("gzip"), &DecodeLimits::default()).unwrap_err();
        assert!(matches!(err, DecodeError::Corrupt { compression: "gzip", .. }), "{err:?}");
        let err = decode_body(&AUDIT_ZST[..AUDIT_ZST.len() / 2], Some("zstd"), &DecodeLimits::default()).unwrap_err();
        assert!(matches!(err, DecodeError::Corrupt { compression: "zstd", .. }), "{err:?}");
    }

    #[test]
    fn body_over_the_wire_limit_is_rejected_before_decoding() {
        let limits = DecodeLimits {
            max_body_bytes: 100,
            ..DecodeLimits::default()
        };
        assert_eq!(
            decode_body(AUDIT, None, &limits).unwrap_err(),
            DecodeError::BodyTooLarge {
                size: AUDIT.len(),
                limit: 100
            }
        );
    }

    #[test]
    fn header_mismatch_on_json_is_forgiven_but_on_garbage_is_an_error() {
        let (body, c) = decode_body(AUDIT, Some("gzip"), &DecodeLimits::default()).unwrap();
        assert_eq!((c, body.len()), (Compression::Identity, AUDIT.len()));
        let err = decode_body(b"hello there", Some("gzip"), &DecodeLimits::default()).unwrap_err();
        assert_eq!(err, DecodeError::EncodingMismatch { claimed: "gzip" });
        assert!(err.to_string().contains("gzip"));
    }

    /// What a proxy that decodes a binary body as UTF-8 text hands on (`String::from_utf8_lossy`).
    fn text_decoded_copy(bytes: &[u8]) -> Vec<u8> {
        String::from_utf8_lossy(bytes).into_owned().into_bytes()
    }

    #[test]
    fn text_decoded_compressed_bodies_are_refused_with_what_to_change() {
        let gz = text_decoded_copy(NETWORK_GZ);
        let zst = text_decoded_copy(AUDIT_ZST);
        assert!(gz.starts_with(GZIP_MAGIC_TEXT) && zst.starts_with(ZSTD_MAGIC_TEXT));
        for (body, header, claimed) in [
            (&gz, Some("gzip"), "gzip"),
            (&gz, None, "gzip"),
            (&gz, Some("identity"), "gzip"),
            (&zst, Some("zstd"), "zstd"),
            (&zst, None, "zstd"),
            (&zst, Some("gzip"), "gzip"),
        ] {
            let err = decode_body(body, header, &DecodeLimits::default()).unwrap_err();
            assert_eq!(err, DecodeError::TextDecoded { claimed }, "{header:?}");
            let text = err.to_string();
            assert!(text.contains("U+FFFD") && text.contains("application/octet-stream"), "{text}");
        }
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut e, NETWORK).unwrap();
        let deflate = text_decoded_copy(&e.finish().unwrap());
        assert_eq!(
            decode_body(&deflate, Some("deflate"), &DecodeLimits::default()).unwrap_err(),
            DecodeError::TextDecoded { claimed: "deflate" }
        );
    }

    #[test]
    fn replacement_characters_in_json_or_plain_garbage_are_not_taken_for_text_decoding() {
        // A JSON body may carry U+FFFD in a string; with a wrong header it is still accepted.
        let json = "{\"event\":\"caf\u{fffd}\"}".as_bytes();
        assert_eq!(
            decode_body(json, Some("gzip"), &DecodeLimits::default()).unwrap().1,
            Compression::Identity
        );
        // Garbage without a compression header or mangled magic stays what it was.
        let garbage = "hello \u{fffd} there".as_bytes();
        assert!(decode_body(garbage, None, &DecodeLimits::default()).is_ok());
        // Real compressed bytes are never mistaken for text-decoded ones.
        assert!(decode_body(NETWORK_GZ, Some("gzip"), &DecodeLimits::default()).is_ok());
    }

    #[test]
    fn unsupported_encoding_is_named() {
        let err = decode_body(AUDIT, Some("br"), &DecodeLimits::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Content-Encoding `br` is not supported; use gzip, zstd, deflate or identity"
        );
    }
}
