//! Every detection over rows normalized from arbitrary bodies: never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tailwatch_core::engine::run::evaluate;
use tailwatch_core::engine::state::block_on;
use tailwatch_core::engine::{MemoryAlertState, Registry};
use tailwatch_core::normalize::SourceContext;
use tailwatch_core::pipeline::normalize_body;
use tailwatch_core::time::Timestamp;

fuzz_target!(|data: &[u8]| {
    let ctx = SourceContext { label: "fuzz", file: "fuzz", parse_time: Timestamp::from_unix_millis(0).unwrap() };
    let out = normalize_body(data, &ctx);
    if out.rows.is_empty() {
        return;
    }
    let registry = Registry::catalog(&Default::default()).unwrap();
    let state = MemoryAlertState::default();
    let _ = block_on(evaluate(&registry, &out.rows, &state, ctx.parse_time)).unwrap();
});
