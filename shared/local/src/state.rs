//! Alert state in SQLite: the local implementation of core's alert-state port.
//!
//! Why SQLite (rusqlite, bundled): it is durable across restarts, it serializes writers across
//! threads *and* processes (`BEGIN IMMEDIATE`), so `tailwatch serve` and a `tailwatch backtest`
//! against the same data dir cannot race, and a responder can open `state.db` with the `sqlite3`
//! shell to see why an alert did or did not fire. Each port call is one immediate transaction that
//! reads and writes the key: the same atomicity DynamoDB's conditional writes give the AWS path.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use tailwatch_core::engine::state::{apply_match, AlertState, DedupState, MatchInput, MatchOutcome};
use tailwatch_core::ports::PortError;
use tailwatch_core::time::Timestamp;

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS dedup (
    rule_id TEXT NOT NULL, dedup TEXT NOT NULL, seq INTEGER NOT NULL, window_start_ms INTEGER NOT NULL,
    count INTEGER NOT NULL, notified INTEGER NOT NULL, created_at_ms INTEGER NOT NULL, first_event TEXT NOT NULL,
    PRIMARY KEY (rule_id, dedup));
CREATE TABLE IF NOT EXISTS matched_rows (
    rule_id TEXT NOT NULL, row_id TEXT NOT NULL, seq INTEGER NOT NULL, event_count INTEGER NOT NULL, notify INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL, first_event_time_ms INTEGER NOT NULL, first_event TEXT NOT NULL, recorded_ms INTEGER NOT NULL,
    PRIMARY KEY (rule_id, row_id));
CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, last_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sums (key TEXT NOT NULL, window_ms INTEGER NOT NULL, total INTEGER NOT NULL, PRIMARY KEY (key, window_ms));
CREATE TABLE IF NOT EXISTS sets (key TEXT NOT NULL, window_ms INTEGER NOT NULL, member TEXT NOT NULL, PRIMARY KEY (key, window_ms, member));
CREATE TABLE IF NOT EXISTS delivered (alert_id TEXT NOT NULL, sink TEXT NOT NULL, at_ms INTEGER NOT NULL, PRIMARY KEY (alert_id, sink));
CREATE TABLE IF NOT EXISTS processed_raw (key TEXT PRIMARY KEY, at_ms INTEGER NOT NULL);
";

/// Alert state in a SQLite file (`<data-dir>/state.db`).
pub struct SqliteAlertState {
    conn: Mutex<Connection>,
}

fn err(operation: &str, e: impl std::fmt::Display) -> PortError {
    // SQLITE_BUSY after the timeout is the only transient failure a local file has.
    let message = e.to_string();
    if message.contains("locked") || message.contains("busy") {
        PortError::retryable(operation, message)
    } else {
        PortError::permanent(operation, message)
    }
}

impl SqliteAlertState {
    /// Opens (creating if needed) the state database.
    ///
    /// # Errors
    /// When the file cannot be opened or the schema created.
    pub fn open(path: &Path) -> Result<Self, PortError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| err("create state dir", e))?;
        }
        let conn = Connection::open(path).map_err(|e| err(&format!("open {}", path.display()), e))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| err("set busy timeout", e))?;
        conn.execute_batch(SCHEMA).map_err(|e| err("create schema", e))?;
        Ok(SqliteAlertState { conn: Mutex::new(conn) })
    }

    fn with_tx<T>(&self, operation: &str, f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>) -> Result<T, PortError> {
        let mut conn = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| err(operation, e))?;
        let out = f(&tx).map_err(|e| err(operation, e))?;
        tx.commit().map_err(|e| err(operation, e))?;
        Ok(out)
    }

    /// Whether a raw batch was fully processed (local mode's restart recovery).
    ///
    /// # Errors
    /// A database failure.
    pub fn is_processed(&self, key: &str) -> Result<bool, PortError> {
        self.with_tx("read processed batches", |tx| {
            tx.query_row("SELECT 1 FROM processed_raw WHERE key = ?1", [key], |_| Ok(()))
                .optional()
                .map(|r| r.is_some())
        })
    }

    /// Marks a raw batch as fully processed.
    ///
    /// # Errors
    /// A database failure.
    pub fn mark_processed(&self, key: &str) -> Result<(), PortError> {
        let now = Timestamp::now().unix_millis();
        self.with_tx("mark batch processed", |tx| {
            tx.execute(
                "INSERT OR REPLACE INTO processed_raw (key, at_ms) VALUES (?1, ?2)",
                params![key, now],
            )
            .map(|_| ())
        })
    }

    /// Deletes per-row idempotence records and window counters older than `keep_days`.
    ///
    /// # Errors
    /// A database failure.
    pub fn prune(&self, keep_days: u32) -> Result<(), PortError> {
        let cutoff = Timestamp::now().unix_millis() - i64::from(keep_days) * 86_400_000;
        self.with_tx("prune state", |tx| {
            tx.execute("DELETE FROM matched_rows WHERE recorded_ms < ?1", [cutoff])?;
            tx.execute("DELETE FROM sums WHERE window_ms < ?1", [cutoff])?;
            tx.execute("DELETE FROM sets WHERE window_ms < ?1", [cutoff])?;
            Ok(())
        })
    }
}

impl AlertState for SqliteAlertState {
    async fn record_match(&self, m: MatchInput<'_>) -> Result<MatchOutcome, PortError> {
        self.with_tx("record match", |tx| {
            let previous = tx
                .query_row(
                    "SELECT seq, event_count, notify, created_at_ms, first_event_time_ms, first_event FROM matched_rows WHERE rule_id = ?1 AND row_id = ?2",
                    params![m.rule_id, m.row_id],
                    |r| {
                        Ok(MatchOutcome {
                            seq: r.get::<_, i64>(0)? as u64,
                            event_count: r.get::<_, i64>(1)? as u64,
                            notify: r.get(2)?,
                            created_at: Timestamp::from_unix_millis(r.get(3)?).unwrap_or(m.now),
                            first_event_time: Timestamp::from_unix_millis(r.get(4)?).unwrap_or(m.event_time),
                            first_event: r.get(5)?,
                            duplicate: true,
                        })
                    },
                )
                .optional()?;
            if let Some(previous) = previous {
                return Ok(previous);
            }
            let state = tx
                .query_row(
                    "SELECT seq, window_start_ms, count, notified, created_at_ms, first_event FROM dedup WHERE rule_id = ?1 AND dedup = ?2",
                    params![m.rule_id, m.dedup],
                    |r| {
                        Ok(DedupState {
                            seq: r.get::<_, i64>(0)? as u64,
                            window_start_ms: r.get(1)?,
                            count: r.get::<_, i64>(2)? as u64,
                            notified: r.get(3)?,
                            created_at_ms: r.get(4)?,
                            first_event: r.get(5)?,
                        })
                    },
                )
                .optional()?;
            let (next, outcome) = apply_match(state.as_ref(), &m);
            tx.execute(
                "INSERT OR REPLACE INTO dedup (rule_id, dedup, seq, window_start_ms, count, notified, created_at_ms, first_event) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![m.rule_id, m.dedup, next.seq as i64, next.window_start_ms, next.count as i64, next.notified, next.created_at_ms, next.first_event],
            )?;
            tx.execute(
                "INSERT INTO matched_rows (rule_id, row_id, seq, event_count, notify, created_at_ms, first_event_time_ms, first_event, recorded_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    m.rule_id,
                    m.row_id,
                    outcome.seq as i64,
                    outcome.event_count as i64,
                    outcome.notify,
                    outcome.created_at.unix_millis(),
                    outcome.first_event_time.unix_millis(),
                    outcome.first_event,
                    m.now.unix_millis()
                ],
            )?;
            Ok(outcome)
        })
    }

    async fn first_seen(&self, key: &str, at: Timestamp, within_secs: i64) -> Result<bool, PortError> {
        let t = at.unix_millis();
        let window = within_secs.saturating_mul(1000);
        self.with_tx("first seen", |tx| {
            let last: Option<i64> = tx
                .query_row("SELECT last_ms FROM seen WHERE key = ?1", [key], |r| r.get(0))
                .optional()?;
            let first = last.is_none_or(|l| (t - l).abs() > window);
            tx.execute(
                "INSERT INTO seen (key, last_ms) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET last_ms = max(last_ms, excluded.last_ms)",
                params![key, t],
            )?;
            Ok(first)
        })
    }

    async fn add_to_window(&self, key: &str, window_start_ms: i64, amount: u64) -> Result<u64, PortError> {
        // SQLite integers are i64: saturate there (2^63 bytes in an hour is not a real tailnet).
        let amount = i64::try_from(amount).unwrap_or(i64::MAX);
        self.with_tx("sum over window", |tx| {
            tx.query_row(
                "INSERT INTO sums (key, window_ms, total) VALUES (?1, ?2, ?3) ON CONFLICT(key, window_ms) DO UPDATE SET total = min(total + excluded.total, 9223372036854775807) RETURNING total",
                params![key, window_start_ms, amount],
                |r| r.get::<_, i64>(0),
            )
            .map(|t| t.max(0) as u64)
        })
    }

    async fn add_distinct(&self, key: &str, window_start_ms: i64, members: &[String]) -> Result<u64, PortError> {
        self.with_tx("distinct count", |tx| {
            let mut insert = tx.prepare_cached("INSERT OR IGNORE INTO sets (key, window_ms, member) VALUES (?1, ?2, ?3)")?;
            for m in members {
                insert.execute(params![key, window_start_ms, m])?;
            }
            tx.query_row(
                "SELECT count(*) FROM sets WHERE key = ?1 AND window_ms = ?2",
                params![key, window_start_ms],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
        })
    }

    async fn is_delivered(&self, alert_id: &str, sink: &str) -> Result<bool, PortError> {
        self.with_tx("read delivered", |tx| {
            tx.query_row(
                "SELECT 1 FROM delivered WHERE alert_id = ?1 AND sink = ?2",
                [alert_id, sink],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
        })
    }

    async fn mark_delivered(&self, alert_id: &str, sink: &str) -> Result<(), PortError> {
        let now = Timestamp::now().unix_millis();
        self.with_tx("mark delivered", |tx| {
            tx.execute(
                "INSERT OR IGNORE INTO delivered (alert_id, sink, at_ms) VALUES (?1, ?2, ?3)",
                params![alert_id, sink, now],
            )
            .map(|_| ())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tailwatch_core::engine::state::block_on;

    fn input<'a>(row: &'a str, minute: i64, threshold: u32) -> MatchInput<'a> {
        let t = Timestamp::from_unix_millis(1_741_108_800_000 + minute * 60_000).unwrap();
        MatchInput {
            rule_id: "R",
            dedup: "d",
            row_id: row,
            matches: 1,
            event_time: t,
            period_secs: 3600,
            threshold,
            now: t,
            event_json: "{\"a\":1}",
        }
    }

    #[test]
    fn dedup_threshold_and_state_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let s = SqliteAlertState::open(&path).unwrap();
            assert!(!block_on(s.record_match(input("a", 0, 2))).unwrap().notify);
            block_on(s.mark_delivered("alert-1", "file")).unwrap();
            s.mark_processed("raw/x").unwrap();
        }
        let s = SqliteAlertState::open(&path).unwrap();
        let second = block_on(s.record_match(input("b", 5, 2))).unwrap();
        assert!(second.notify, "the count from before the restart is kept");
        assert_eq!((second.seq, second.event_count), (1, 2));
        assert!(!block_on(s.record_match(input("c", 6, 2))).unwrap().notify, "notified once");
        let next = block_on(s.record_match(input("d", 61, 2))).unwrap();
        assert_eq!(
            (next.seq, next.event_count, next.notify),
            (2, 1, false),
            "a new window after the period"
        );
        assert!(block_on(s.is_delivered("alert-1", "file")).unwrap());
        assert!(!block_on(s.is_delivered("alert-1", "webhook")).unwrap());
        assert!(s.is_processed("raw/x").unwrap() && !s.is_processed("raw/y").unwrap());
        let dup = block_on(s.record_match(input("b", 5, 2))).unwrap();
        assert!(dup.duplicate && dup.notify, "re-recording the notifying row re-produces the alert");
    }

    #[test]
    fn two_writers_racing_on_one_key_page_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        SqliteAlertState::open(&path).unwrap();
        let notifications: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|w| {
                    let path = path.clone();
                    scope.spawn(move || {
                        // Separate connections, as separate processes would have.
                        let s = SqliteAlertState::open(&path).unwrap();
                        (0..50)
                            .filter(|i| block_on(s.record_match(input(&format!("w{w}-{i}"), 0, 1))).unwrap().notify)
                            .count()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(notifications, 1);
        let s = SqliteAlertState::open(&path).unwrap();
        let last = block_on(s.record_match(input("final", 1, 1))).unwrap();
        assert_eq!(last.event_count, 201, "every match counted exactly once");
    }

    #[test]
    fn helpers_persist() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteAlertState::open(&dir.path().join("s.db")).unwrap();
        assert_eq!(block_on(s.add_to_window("k", 0, 10)).unwrap(), 10);
        assert_eq!(block_on(s.add_to_window("k", 0, u64::MAX)).unwrap(), i64::MAX as u64);
        assert_eq!(block_on(s.add_distinct("k", 0, &["a".into(), "b".into(), "a".into()])).unwrap(), 2);
        let t = Timestamp::from_unix_millis(0).unwrap();
        assert!(block_on(s.first_seen("u", t, 60)).unwrap());
        assert!(!block_on(s.first_seen("u", t.plus_seconds(30), 60)).unwrap());
        assert!(block_on(s.first_seen("u", t.plus_seconds(200), 60)).unwrap());
    }
}

#[cfg(test)]
mod conformance {
    #[test]
    fn sqlite_state_conforms() {
        let dir = tempfile::tempdir().unwrap();
        let state = super::SqliteAlertState::open(&dir.path().join("state.db")).unwrap();
        tailwatch_core::engine::state::block_on(tailwatch_core::engine::conformance::run(&state, "sqlite"));
    }
}
