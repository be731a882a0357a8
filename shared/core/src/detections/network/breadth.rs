//! Breadth for entity-grouped network alerts: how many distinct things one source touched in the
//! window, remembered per row between the engine's `decide` and its `dedup` / `severity` / `title`
//! / `context` calls for the same row.
//!
//! The engine hands a stateful detection the state's answer only in [`Detection::decide`]; the
//! functions that shape the alert see the row alone. A detection whose severity rises with breadth
//! (one RDP peer is not ten) therefore keeps the answer here, keyed by the row's `p_row_id`, for
//! the rest of the evaluation. The map is bounded: past [`MAX_ROWS`] it starts over, and a row
//! whose answer was dropped reads as breadth 1 (the lowest tier), never as a panic.
//!
//! [`Detection::decide`]: crate::engine::Detection::decide

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::engine::Severity;
use crate::lake::LakeRow;

/// Rows remembered at most (a batch's matches, with room to spare).
const MAX_ROWS: usize = 65_536;

/// The distinct count the state answered for each row a detection decided on.
#[derive(Debug, Default)]
pub struct Breadth {
    by_row: Mutex<HashMap<String, u64>>,
}

impl Breadth {
    /// Remembers `distinct` for `row`.
    pub fn remember(&self, row: &LakeRow, distinct: u64) {
        let mut map = self.by_row.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_ROWS {
            map.clear();
        }
        map.insert(row.standard().p_row_id.clone(), distinct);
    }

    /// The distinct count remembered for `row` (1 when none was).
    pub fn of(&self, row: &LakeRow) -> u64 {
        let map = self.by_row.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(&row.standard().p_row_id).copied().unwrap_or(1).max(1)
    }
}

/// One severity level up (CRITICAL stays).
pub fn raise(severity: Severity) -> Severity {
    match severity {
        Severity::Info => Severity::Low,
        Severity::Low => Severity::Medium,
        Severity::Medium => Severity::High,
        Severity::High | Severity::Critical => Severity::Critical,
    }
}

/// `1 peer`, `3 peers`.
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_counts_read_well() {
        assert_eq!(raise(Severity::Medium), Severity::High);
        assert_eq!(raise(Severity::Critical), Severity::Critical);
        assert_eq!(count(1, "peer"), "1 peer");
        assert_eq!(count(4, "peer"), "4 peers");
    }
}
