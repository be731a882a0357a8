//! Your own detections, compiled into the CLI and the detect function without editing tailwatch:
//! the build reads them from directories named by environment variables (set by `make run`,
//! `make build`, `make deploy` from `RUST_DETECTIONS=…` and `RULES=…`).
//!
//! - `TAILWATCH_RUST_DETECTIONS=DIR`: each `DIR/*.rs` is one detection file exporting
//!   `pub const RULE: Rule<…>` (the same shape as the built-in files, written against
//!   `tailwatch_core::rule::prelude`). `TAILWATCH_RUST_DETECTIONS=DIR cargo test -p tailwatch-user`
//!   runs their unit tests.
//! - `TAILWATCH_RULES=DIR`: each `DIR/*.toml` rule is embedded for the detect function (the CLI
//!   reads TOML rules at run time instead, from `[rules] paths` or `--path`).
//!
//! Unset, both lists are empty.

include!(concat!(env!("OUT_DIR"), "/user.rs"));
