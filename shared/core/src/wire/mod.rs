//! The wire: what arrives in a request body or an exported object, before it is a typed record.
//!
//! [`decode`] turns bytes on the wire into a bounded, decompressed body; [`frame`] splits that body
//! into one raw record per Tailscale log entry without building a DOM of the whole body.

pub mod decode;
pub mod frame;

pub use decode::{decode_body, decode_object, sniff, Compression, DecodeError, DecodeLimits};
pub use frame::{frames, BadFrame, Frame, RawRecord};
