//! Record parsing and normalization over arbitrary bodies: never panics, every value is a row or a
//! quarantine row, and every row serializes and reads back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tailwatch_core::lake::LakeRow;
use tailwatch_core::normalize::SourceContext;
use tailwatch_core::pipeline::normalize_body;
use tailwatch_core::time::Timestamp;

fuzz_target!(|data: &[u8]| {
    let ctx = SourceContext { label: "fuzz", file: "fuzz", parse_time: Timestamp::from_unix_millis(0).unwrap() };
    let out = normalize_body(data, &ctx);
    for row in &out.rows {
        let mut line = Vec::new();
        row.write_json_line(&mut line);
        let back = LakeRow::from_json_line(row.table(), &line).expect("a written row reads back");
        assert_eq!(&back, row);
    }
    for q in &out.quarantined {
        assert!(!q.message.is_empty());
    }
});
