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
use tailwatch_core::engine::keys::{apply, KeyAnswer, KeyState, KeyUpdate};
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
DROP TABLE IF EXISTS seen;
DROP TABLE IF EXISTS sums;
DROP TABLE IF EXISTS sets;
CREATE TABLE IF NOT EXISTS key_state (id BLOB PRIMARY KEY, state BLOB NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS delivered (alert_id TEXT NOT NULL, sink TEXT NOT NULL, at_ms INTEGER NOT NULL, PRIMARY KEY (alert_id, sink));
CREATE TABLE IF NOT EXISTS processed_raw (key TEXT PRIMARY KEY, at_ms INTEGER NOT NULL);
";

/// Detection state is stored under a 16-byte digest of its key in a table without rowids, as
/// compact bytes (`KeyState::to_bytes`): the key text (detection id, node and peer: ~70 bytes,
/// stored twice, table and index) and the JSON state were most of `state.db`.
fn key_id(key: &str) -> [u8; 16] {
    let digest = blake3::hash(key.as_bytes());
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest.as_bytes()[..16]);
    id
}

/// Moves the state an earlier version kept in `keys` (text keys) into `key_state`, once.
fn migrate_keys(conn: &Connection) -> rusqlite::Result<()> {
    let old: bool = conn
        .query_row("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'keys'", [], |_| Ok(()))
        .optional()?
        .is_some();
    if !old {
        return Ok(());
    }
    let tx = conn.unchecked_transaction()?;
    {
        let mut read = tx.prepare("SELECT key, state, expires_at FROM keys")?;
        let mut write = tx.prepare("INSERT OR REPLACE INTO key_state (id, state, expires_at) VALUES (?1, ?2, ?3)")?;
        let rows = read.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))?;
        for row in rows {
            let (key, state, expires_at) = row?;
            // A state that does not decode is left behind, as `update_keys` would start it afresh.
            if let Ok(state) = KeyState::decode(&state) {
                write.execute(params![key_id(&key).as_slice(), state.to_bytes(), expires_at])?;
            }
        }
    }
    tx.execute_batch("DROP TABLE keys")?;
    tx.commit()
}

/// Alert state in a SQLite file (`<data-dir>/state.db`).
pub struct SqliteAlertState {
    conn: Mutex<Conn>,
}

struct Conn {
    conn: Connection,
    /// A batch's transaction is open ([`AlertState::begin_batch`]): port calls join it instead of
    /// committing (and syncing) one transaction each.
    in_batch: bool,
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
        migrate_keys(&conn).map_err(|e| err("move detection state to key_state", e))?;
        Ok(SqliteAlertState {
            conn: Mutex::new(Conn { conn, in_batch: false }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Conn> {
        self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` in a transaction of its own, or inside the open batch transaction (a savepoint,
    /// so a failed call leaves the batch's earlier work as it was).
    pub(crate) fn with_tx<T>(&self, operation: &str, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, PortError> {
        let mut guard = self.lock();
        if guard.in_batch {
            let sp = guard.conn.savepoint().map_err(|e| err(operation, e))?;
            let out = f(&sp).map_err(|e| err(operation, e))?;
            sp.commit().map_err(|e| err(operation, e))?;
            return Ok(out);
        }
        let tx = guard
            .conn
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
        let now = Timestamp::now().unix_millis();
        let cutoff = now - i64::from(keep_days) * 86_400_000;
        self.with_tx("prune state", |tx| {
            tx.execute("DELETE FROM matched_rows WHERE recorded_ms < ?1", [cutoff])?;
            tx.execute("DELETE FROM key_state WHERE expires_at < ?1", [now / 1000])?;
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

    async fn update_keys(&self, updates: &[KeyUpdate]) -> Result<Vec<KeyAnswer>, PortError> {
        self.with_tx("update detection state", |tx| {
            let mut read = tx.prepare_cached("SELECT state FROM key_state WHERE id = ?1")?;
            let mut write = tx.prepare_cached("INSERT OR REPLACE INTO key_state (id, state, expires_at) VALUES (?1, ?2, ?3)")?;
            let mut answers = Vec::with_capacity(updates.len());
            for u in updates {
                let id = key_id(&u.key);
                let stored: Option<Vec<u8>> = read.query_row([id.as_slice()], |r| r.get(0)).optional()?;
                // A state this version cannot read (written by another version) starts afresh.
                let prev = stored.and_then(|bytes| KeyState::from_bytes(&bytes));
                let (next, answer) = apply(prev, &u.op);
                if let Some(next) = next {
                    write.execute(params![id.as_slice(), next.to_bytes(), next.expires_at_secs(&u.op)])?;
                }
                answers.push(answer);
            }
            Ok(answers)
        })
    }

    fn begin_batch(&self) -> Result<(), PortError> {
        let mut guard = self.lock();
        if !guard.in_batch {
            guard.conn.execute_batch("BEGIN IMMEDIATE").map_err(|e| err("begin batch", e))?;
            guard.in_batch = true;
        }
        Ok(())
    }

    fn end_batch(&self, commit: bool) -> Result<(), PortError> {
        let mut guard = self.lock();
        if guard.in_batch {
            guard.in_batch = false;
            let sql = if commit { "COMMIT" } else { "ROLLBACK" };
            guard.conn.execute_batch(sql).map_err(|e| err("end batch", e))?;
            if commit {
                crate::checkpoint::reached("state_commit");
            }
        }
        Ok(())
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
        })?;
        crate::checkpoint::reached(&format!("mark_delivered:{sink}"));
        Ok(())
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
    fn a_batch_is_one_transaction_and_a_failed_batch_leaves_nothing() {
        use tailwatch_core::engine::keys::{KeyOp, KeyUpdate};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let s = SqliteAlertState::open(&path).unwrap();
        let seen = |id: u64| KeyUpdate {
            key: "seen-k".into(),
            op: KeyOp::Seen {
                within_ms: 60_000,
                earliest_ms: 0,
                earliest_id: id,
                latest_ms: 0,
            },
        };
        s.begin_batch().unwrap();
        assert_eq!(block_on(s.update_keys(&[seen(1)])).unwrap(), vec![KeyAnswer::FirstSeen(true)]);
        assert!(!block_on(s.record_match(input("a", 0, 1))).unwrap().duplicate);
        s.end_batch(false).unwrap();
        assert_eq!(
            block_on(s.update_keys(&[seen(2)])).unwrap(),
            vec![KeyAnswer::FirstSeen(true)],
            "the rolled-back batch left no sighting"
        );
        assert!(
            !block_on(s.record_match(input("a", 0, 1))).unwrap().duplicate,
            "nor a recorded match"
        );
        s.begin_batch().unwrap();
        block_on(s.record_match(input("b", 1, 1))).unwrap();
        s.end_batch(true).unwrap();
        drop(s);
        let reopened = SqliteAlertState::open(&path).unwrap();
        assert!(
            block_on(reopened.record_match(input("b", 1, 1))).unwrap().duplicate,
            "the committed batch is durable"
        );
    }

    #[test]
    fn expired_keys_are_pruned() {
        use tailwatch_core::engine::keys::{KeyOp, KeyUpdate};
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteAlertState::open(&dir.path().join("s.db")).unwrap();
        let seen = |key: &str, at: i64| KeyUpdate {
            key: key.into(),
            op: KeyOp::Seen {
                within_ms: 60_000,
                earliest_ms: at,
                earliest_id: 1,
                latest_ms: at,
            },
        };
        let now = Timestamp::now().unix_millis();
        block_on(s.update_keys(&[seen("old", 0), seen("fresh", now)])).unwrap();
        s.prune(7).unwrap();
        let keys: Vec<Vec<u8>> = {
            let guard = s.lock();
            let mut stmt = guard.conn.prepare("SELECT id FROM key_state").unwrap();
            stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
        };
        assert_eq!(keys, vec![key_id("fresh").to_vec()]);
    }

    #[test]
    fn state_an_earlier_version_kept_under_text_keys_is_moved_and_still_answers() {
        use tailwatch_core::engine::keys::{KeyAnswer, KeyOp, KeyUpdate};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let seen = |at: i64| KeyUpdate {
            key: "seen\u{1f}R\u{1f}user@example.com".into(),
            op: KeyOp::Seen {
                within_ms: 86_400_000,
                earliest_ms: at,
                earliest_id: 1,
                latest_ms: at,
            },
        };
        {
            // The earlier layout, holding one first-seen key.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("CREATE TABLE keys (key TEXT PRIMARY KEY, state TEXT NOT NULL, expires_at INTEGER NOT NULL)")
                .unwrap();
            let (state, _) = tailwatch_core::engine::keys::apply(None, &seen(1_000).op);
            conn.execute(
                "INSERT INTO keys VALUES (?1, ?2, ?3)",
                params![seen(0).key, state.unwrap().encode(), i64::MAX],
            )
            .unwrap();
        }
        let s = SqliteAlertState::open(&path).unwrap();
        assert_eq!(
            block_on(s.update_keys(&[seen(2_000)])).unwrap(),
            vec![KeyAnswer::FirstSeen(false)],
            "the key seen before the upgrade is still seen"
        );
        let old: Option<i64> = s
            .lock()
            .conn
            .query_row("SELECT 1 FROM sqlite_master WHERE name = 'keys'", [], |r| r.get(0))
            .optional()
            .unwrap();
        assert_eq!(old, None, "the old table is gone");
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
