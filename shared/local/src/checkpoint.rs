//! A test-only fault hook: `TAILWATCH_TEST_ABORT_AT=<checkpoint>:<n>` makes the process call
//! [`std::process::abort`] (no destructors, no flushing: as close to `kill -9` as a process can do
//! to itself) right after the n-th time it passes the named checkpoint, and
//! `TAILWATCH_TEST_ABORT_AT=trace` prints `checkpoint <name>` on stderr at every pass (so a test
//! learns how many passes a clean run makes). The checkpoints sit right
//! after each write of `tailwatch serve`'s sequence (see [`CHECKPOINTS`]), so a test can stop the
//! process between any two writes and check what a restart does.
//!
//! The hook exists only in builds with debug assertions (`cargo build`, `cargo test`); release and
//! `local` builds (`make run`, the shipped binary) compile [`reached`] to nothing and never read the
//! variable.

/// Every checkpoint, in the order a batch passes them (`cli/tests/kill.rs` breaks at each).
pub const CHECKPOINTS: &[&str] = &[
    // ingest (the HTTP request): rejected values, then the raw batch, then the 200
    "quarantine",
    "raw",
    // the worker, per chunk of rows: the state transaction, the alert rows in the lake, then per
    // alert the alerts file and its delivered mark
    "state_commit",
    "alert_rows",
    "alert_file",
    "mark_delivered:local-file",
    // then the batch's lake objects, its quarantine file, and the processed mark
    "lake_object",
    "processed",
    // the webhook thread, per alert: the POST, then its delivered mark
    "webhook_post",
    "mark_delivered:webhook",
];

/// Marks that the process just passed checkpoint `name`; aborts it there when
/// `TAILWATCH_TEST_ABORT_AT` names this checkpoint and this is its n-th pass. A no-op in release builds.
#[inline]
pub fn reached(name: &str) {
    #[cfg(debug_assertions)]
    hook::reached(name);
    #[cfg(not(debug_assertions))]
    let _ = name;
}

#[cfg(debug_assertions)]
mod hook {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    /// The checkpoint and pass to abort at; `n == 0` traces every pass.
    static SPEC: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static PASSES: AtomicU64 = AtomicU64::new(0);

    fn spec() -> Option<&'static (String, u64)> {
        SPEC.get_or_init(|| {
            let value = std::env::var("TAILWATCH_TEST_ABORT_AT").ok()?;
            if value == "trace" {
                return Some((String::new(), 0));
            }
            let (name, n) = value.rsplit_once(':')?;
            Some((name.to_owned(), n.parse().ok()?))
        })
        .as_ref()
    }

    pub(super) fn reached(name: &str) {
        let Some((target, n)) = spec() else { return };
        if *n == 0 {
            eprintln!("checkpoint {name}");
            return;
        }
        if target != name {
            return;
        }
        if PASSES.fetch_add(1, Ordering::SeqCst) + 1 == *n {
            eprintln!("TAILWATCH_TEST_ABORT_AT: aborting after checkpoint {name} #{n}");
            std::process::abort();
        }
    }
}
