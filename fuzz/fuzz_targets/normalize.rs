//! Record parsing and normalization over arbitrary bodies: never panics, every value is a row or a
//! quarantine row, and every row serializes, reads back, and lies in the lake's time range (so its
//! partition is one Athena's projection and the backtest read).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tailwatch_core::lake::LakeRow;
use tailwatch_core::normalize::SourceContext;
use tailwatch_core::pipeline::normalize_body;
use tailwatch_core::time::{Timestamp, MAX_FUTURE_SECONDS};

/// A fixed parse time inside the lake's range, so both of its ends (2019-01-01 and a day after the
/// parse time) are reachable from the input.
fn parse_time() -> Timestamp {
    Timestamp::from_unix_millis(1_893_456_000_000).unwrap() // 2030-01-01
}

fuzz_target!(|data: &[u8]| {
    let ctx = SourceContext { label: "fuzz", file: "fuzz", parse_time: parse_time() };
    let out = normalize_body(data, &ctx);
    for row in &out.rows {
        let mut line = Vec::new();
        row.write_json_line(&mut line);
        let back = LakeRow::from_json_line(row.table(), &line).expect("a written row reads back");
        assert_eq!(&back, row);
        let t = row.standard().p_event_time;
        assert!(t.in_lake_range() && t <= ctx.parse_time.plus_seconds(MAX_FUTURE_SECONDS), "event time {t} outside the lake");
    }
    for q in &out.quarantined {
        assert!(!q.message.is_empty());
    }
});
