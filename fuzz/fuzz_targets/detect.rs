//! Every detection over rows normalized from arbitrary bodies: never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tailwatch_core::engine::run::evaluate;
use tailwatch_core::engine::state::block_on;
use tailwatch_core::engine::{MemoryAlertState, Registry};
use tailwatch_core::normalize::SourceContext;
use tailwatch_core::pipeline::normalize_body;
use tailwatch_core::time::Timestamp;

/// A fixed parse time inside the lake's range, so both of its ends (2019-01-01 and a day after the
/// parse time) are reachable from the input.
fn parse_time() -> Timestamp {
    Timestamp::from_unix_millis(1_893_456_000_000).unwrap() // 2030-01-01
}

fuzz_target!(|data: &[u8]| {
    let ctx = SourceContext { label: "fuzz", file: "fuzz", parse_time: parse_time() };
    let out = normalize_body(data, &ctx);
    if out.rows.is_empty() {
        return;
    }
    let registry = Registry::catalog(&Default::default()).unwrap();
    let state = MemoryAlertState::default();
    let _ = block_on(evaluate(&registry, &out.rows, &state, ctx.parse_time)).unwrap();
});
