//! Operational records in the state database, read by `tailwatch status`: how many records each
//! stream (source × log type) delivered per minute and when its last batch and event were, and
//! which webhook deliveries gave up. Written once per processed raw batch, in the transaction that
//! marks the batch processed, so a batch processed twice (after a crash) is counted once.

use rusqlite::{params, OptionalExtension};
use tailwatch_core::ports::PortError;
use tailwatch_core::time::Timestamp;

use crate::SqliteAlertState;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS stream_stats (
    source TEXT NOT NULL, log_type TEXT NOT NULL, minute_ms INTEGER NOT NULL,
    batches INTEGER NOT NULL, records INTEGER NOT NULL, last_batch_ms INTEGER NOT NULL, last_event_ms INTEGER,
    PRIMARY KEY (source, log_type, minute_ms));
CREATE TABLE IF NOT EXISTS delivery_failures (
    alert_id TEXT NOT NULL, sink TEXT NOT NULL, at_ms INTEGER NOT NULL, error TEXT NOT NULL,
    PRIMARY KEY (alert_id, sink));
";

/// What one raw batch delivered for one log type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamCount {
    /// Where the batch came from (`tailscale-http`).
    pub source: String,
    /// `Tailscale.Audit`, `Tailscale.Network` or `Tailwatch.Quarantine`.
    pub log_type: String,
    /// Records (lake rows, or quarantined values).
    pub records: u64,
    /// The newest event time among them.
    pub last_event: Option<Timestamp>,
}

/// One stream's totals, as `tailwatch status` shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamStat {
    /// Source label.
    pub source: String,
    /// Log type.
    pub log_type: String,
    /// Batches that carried this log type (within the kept history).
    pub batches: u64,
    /// Records within the kept history.
    pub records: u64,
    /// Records processed in the last hour.
    pub records_last_hour: u64,
    /// Records processed in the last 24 hours.
    pub records_last_24h: u64,
    /// When the last batch carrying this log type was processed (unix ms).
    pub last_batch_ms: i64,
    /// The newest event time seen (unix ms).
    pub last_event_ms: Option<i64>,
}

impl SqliteAlertState {
    fn ensure_stats_schema(&self) -> Result<(), PortError> {
        self.with_tx("create stats schema", |tx| tx.execute_batch(SCHEMA))
    }

    /// Marks a raw batch processed and, the first time only, adds what it delivered to the stream
    /// statistics (one transaction, so reprocessing after a crash does not count twice).
    ///
    /// # Errors
    /// A database failure.
    pub fn mark_processed_with_counts(&self, key: &str, counts: &[StreamCount]) -> Result<(), PortError> {
        self.ensure_stats_schema()?;
        let now = Timestamp::now().unix_millis();
        let minute = now - now.rem_euclid(60_000);
        self.with_tx("mark batch processed", |tx| {
            let seen = tx
                .query_row("SELECT 1 FROM processed_raw WHERE key = ?1", [key], |_| Ok(()))
                .optional()?
                .is_some();
            if !seen {
                for c in counts {
                    tx.execute(
                        "INSERT INTO stream_stats (source, log_type, minute_ms, batches, records, last_batch_ms, last_event_ms)
                         VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6)
                         ON CONFLICT (source, log_type, minute_ms) DO UPDATE SET
                           batches = batches + 1, records = records + excluded.records,
                           last_batch_ms = max(last_batch_ms, excluded.last_batch_ms),
                           last_event_ms = max(coalesce(last_event_ms, excluded.last_event_ms), coalesce(excluded.last_event_ms, last_event_ms))",
                        params![c.source, c.log_type, minute, c.records as i64, now, c.last_event.map(|t| t.unix_millis())],
                    )?;
                }
            }
            tx.execute("INSERT OR REPLACE INTO processed_raw (key, at_ms) VALUES (?1, ?2)", params![key, now])?;
            Ok(())
        })?;
        crate::checkpoint::reached("processed");
        Ok(())
    }

    /// Per stream totals, newest batch first.
    ///
    /// # Errors
    /// A database failure.
    pub fn stream_stats(&self, now: Timestamp) -> Result<Vec<StreamStat>, PortError> {
        self.ensure_stats_schema()?;
        let now = now.unix_millis();
        self.with_tx("read stream stats", |tx| {
            let mut stmt = tx.prepare(
                "SELECT source, log_type, sum(batches), sum(records),
                        sum(CASE WHEN minute_ms > ?1 - 3600000 THEN records ELSE 0 END),
                        sum(CASE WHEN minute_ms > ?1 - 86400000 THEN records ELSE 0 END),
                        max(last_batch_ms), max(last_event_ms)
                 FROM stream_stats GROUP BY source, log_type ORDER BY max(last_batch_ms) DESC, source, log_type",
            )?;
            let rows = stmt.query_map([now], |r| {
                Ok(StreamStat {
                    source: r.get(0)?,
                    log_type: r.get(1)?,
                    batches: r.get::<_, i64>(2)? as u64,
                    records: r.get::<_, i64>(3)? as u64,
                    records_last_hour: r.get::<_, i64>(4)? as u64,
                    records_last_24h: r.get::<_, i64>(5)? as u64,
                    last_batch_ms: r.get(6)?,
                    last_event_ms: r.get(7)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Records that a webhook delivery gave up (kept until it is delivered, see
    /// [`SqliteAlertState::failed_deliveries`]).
    ///
    /// # Errors
    /// A database failure.
    pub fn record_delivery_failure(&self, alert_id: &str, sink: &str, error: &str) -> Result<(), PortError> {
        self.ensure_stats_schema()?;
        let now = Timestamp::now().unix_millis();
        self.with_tx("record delivery failure", |tx| {
            tx.execute(
                "INSERT OR REPLACE INTO delivery_failures (alert_id, sink, at_ms, error) VALUES (?1, ?2, ?3, ?4)",
                params![alert_id, sink, now, error],
            )
            .map(|_| ())
        })
    }

    /// Webhook deliveries that gave up and were not delivered since, per sink.
    ///
    /// # Errors
    /// A database failure.
    pub fn failed_deliveries(&self) -> Result<Vec<(String, u64)>, PortError> {
        self.ensure_stats_schema()?;
        self.with_tx("read delivery failures", |tx| {
            let mut stmt = tx.prepare(
                "SELECT f.sink, count(*) FROM delivery_failures f
                 WHERE NOT EXISTS (SELECT 1 FROM delivered d WHERE d.alert_id = f.alert_id AND d.sink = f.sink)
                 GROUP BY f.sink ORDER BY f.sink",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
            rows.collect()
        })
    }

    /// Raw batch keys marked processed.
    ///
    /// # Errors
    /// A database failure.
    pub fn processed_keys(&self) -> Result<std::collections::HashSet<String>, PortError> {
        self.with_tx("read processed batches", |tx| {
            let mut stmt = tx.prepare("SELECT key FROM processed_raw")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// Forgets statistics, delivery failures and processed marks older than `keep_days` (the raw
    /// batches they refer to are deleted by retention at the same age).
    ///
    /// # Errors
    /// A database failure.
    pub fn prune_stats(&self, keep_days: u32) -> Result<(), PortError> {
        self.ensure_stats_schema()?;
        let cutoff = Timestamp::now().unix_millis() - i64::from(keep_days) * 86_400_000;
        self.with_tx("prune stats", |tx| {
            tx.execute("DELETE FROM stream_stats WHERE minute_ms < ?1", [cutoff])?;
            tx.execute("DELETE FROM delivery_failures WHERE at_ms < ?1", [cutoff])?;
            tx.execute("DELETE FROM processed_raw WHERE at_ms < ?1", [cutoff])?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(log_type: &str, records: u64, event_ms: i64) -> StreamCount {
        StreamCount {
            source: "tailscale-http".into(),
            log_type: log_type.into(),
            records,
            last_event: Timestamp::from_unix_millis(event_ms),
        }
    }

    #[test]
    fn a_batch_is_counted_once_however_often_it_is_marked() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteAlertState::open(&dir.path().join("state.db")).unwrap();
        let batch = [count("Tailscale.Audit", 15, 1_741_000_000_000)];
        s.mark_processed_with_counts("raw/a", &batch).unwrap();
        s.mark_processed_with_counts("raw/a", &batch).unwrap();
        s.mark_processed_with_counts("raw/b", &[count("Tailscale.Audit", 5, 1_741_000_500_000)])
            .unwrap();
        let stats = s.stream_stats(Timestamp::now()).unwrap();
        assert_eq!(stats.len(), 1);
        assert_eq!(stats[0].batches, 2);
        assert_eq!(stats[0].records, 20);
        assert_eq!(stats[0].records_last_hour, 20);
        assert_eq!(stats[0].last_event_ms, Some(1_741_000_500_000));
        assert!(s.is_processed("raw/a").unwrap());
    }

    #[test]
    fn a_failed_delivery_stops_counting_once_delivered() {
        use tailwatch_core::engine::state::{block_on, AlertState};
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteAlertState::open(&dir.path().join("state.db")).unwrap();
        s.record_delivery_failure("a1", "webhook", "connection refused").unwrap();
        s.record_delivery_failure("a2", "webhook", "connection refused").unwrap();
        assert_eq!(s.failed_deliveries().unwrap(), vec![("webhook".to_owned(), 2)]);
        block_on(s.mark_delivered("a1", "webhook")).unwrap();
        assert_eq!(s.failed_deliveries().unwrap(), vec![("webhook".to_owned(), 1)]);
    }
}
