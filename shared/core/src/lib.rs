//! # tailwatch-core
//!
//! The functional core of tailwatch, a serverless SIEM pipeline for Tailscale logs. Everything here
//! is pure logic with no AWS SDK and no async runtime: the Lambda functions and the `tailwatch` CLI
//! are thin shells that move bytes between the outside world and these functions.
//!
//! - [`wire`]: bounded decompression and framing of what Tailscale sends.
//! - [`record`]: typed Tailscale audit and network flow records (open enums, unknown fields kept).
//! - [`normalize`]: records → `tailscale_audit` / `tailscale_network` lake rows.
//! - [`lake`]: the tables, their columns (the one source of truth for DDL) and partitions.
//! - [`quarantine`]: what happens to everything that cannot become a row.
//! - [`engine`]: the detection engine (dedup, threshold, state port, alerts).
//! - [`rule`]: the detection API (Rust rules and TOML rules), the one the built-in catalog uses
//!   and the one for detections of your own.
//! - [`detections`]: the built-in detection catalog, one file per detection.
//! - [`pipeline`]: the stage functions every shell calls.
//!
//! ```
//! use tailwatch_core::normalize::SourceContext;
//! use tailwatch_core::pipeline::normalize_body;
//! use tailwatch_core::time::Timestamp;
//!
//! let body = br#"{"time":1741108869.412,"event":{"origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"MAGIC_DNS"},"action":"DISABLE"}}"#;
//! let ctx = SourceContext { label: "example", file: "inline", parse_time: Timestamp::now() };
//! let out = normalize_body(body, &ctx);
//! assert_eq!(out.audit_records, 1);
//! let tailwatch_core::lake::LakeRow::Audit(row) = &out.rows[0] else { unreachable!() };
//! assert_eq!(row.event_name, "TAILNET.DISABLE.MAGIC_DNS");
//! assert_eq!(row.p.p_event_time.to_string(), "2025-03-04 17:21:09.412");
//! ```

pub mod ddl;
pub mod detections;
pub mod engine;
pub mod lake;
pub mod normalize;
pub mod pipeline;
pub mod ports;
pub mod quarantine;
pub mod record;
pub mod rule;
pub mod time;
pub mod wire;
