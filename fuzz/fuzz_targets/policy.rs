//! The HuJSON policy parser and the policy comparisons the policy detections make: the input is
//! split into an old and a new policy file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tailwatch_core::detections::policy::{strip_hujson, Policy, PolicyChange};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = strip_hujson(text);
    let mid = (0..=text.len() / 2).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
    let (old, new) = text.split_at(mid);
    let change = PolicyChange { old: Policy::parse(old), new: Policy::parse(new) };
    let _ = (change.allow_all_introduced(), change.internet_introduced(), change.rule_diff());
    if let Some(p) = Policy::parse(text) {
        let _ = (p.counts(), p.allows_all(), p.grants_internet_broadly(), p.funnel_targets(), p.rule_lines(), p.sections());
    }
});
