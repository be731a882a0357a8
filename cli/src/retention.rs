//! Retention for `serve --retention-days N`: raw batches, lake and quarantine partitions older than
//! N days are deleted, and the state database is pruned, at start-up and then every hour.
//!
//! - Lake and quarantine are partitioned by event time: an `hour=HH` directory goes once the whole
//!   hour is older than the cutoff (empty `dt=` directories follow).
//! - Raw batches are named after their arrival (`<arrival ms>-<request>.ndjson.zst`): one goes when
//!   it arrived before the cutoff **and** was processed; an unprocessed batch is never deleted.
//! - State: `SqliteAlertState::prune` (per-row idempotence records and expired window keys) and the
//!   stream statistics. Processed marks are kept a day longer than the raw batches they mark, so a
//!   batch can never lose its mark while its file is still there (it would be processed again).
//! - `alerts/*.ndjson` (one small line per alert) is kept: it is the alert history the console and
//!   `status` read.

use std::path::Path;

use anyhow::Result;
use tailwatch_core::time::Timestamp;
use tailwatch_local::SqliteAlertState;

/// What one sweep removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Raw batch files deleted.
    pub raw_files: usize,
    /// Lake and quarantine hour partitions deleted.
    pub partitions: usize,
    /// Bytes freed.
    pub bytes: u64,
}

fn size(path: &Path) -> u64 {
    if path.is_dir() {
        std::fs::read_dir(path)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| size(&e.path()))
            .sum()
    } else {
        std::fs::metadata(path).map_or(0, |m| m.len())
    }
}

fn entries(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).collect();
    v.sort();
    v
}

fn name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The start of a `dt=YYYY-MM-DD` / `hour=HH` partition.
fn partition_start(dt: &str, hour: &str) -> Option<Timestamp> {
    let day = dt.strip_prefix("dt=")?;
    let hour = hour.strip_prefix("hour=")?;
    Timestamp::parse(&format!("{day}T{hour}:00:00Z")).ok()
}

/// Deletes what is older than `keep_days` under the data dir (see the module docs).
///
/// # Errors
/// A failed deletion or state database failure (what was deleted before stays deleted).
pub fn sweep(data_dir: &Path, keep_days: u32, now: Timestamp, state: &SqliteAlertState) -> Result<Swept> {
    let cutoff = now.plus_seconds(-i64::from(keep_days) * 86_400);
    let mut swept = Swept::default();
    // <root>/<table or source>/dt=…/hour=…/
    for root in ["lake", "quarantine", "raw"] {
        for table in entries(&data_dir.join(root)) {
            for dt in entries(&table) {
                for hour in entries(&dt) {
                    let Some(start) = partition_start(&name(&dt), &name(&hour)) else {
                        continue;
                    };
                    if start.plus_seconds(3600) > cutoff {
                        continue;
                    }
                    if root == "raw" {
                        for file in entries(&hour) {
                            let arrival = name(&file)
                                .split('-')
                                .next()
                                .and_then(|ms| ms.parse::<i64>().ok())
                                .and_then(Timestamp::from_unix_millis);
                            let key = file
                                .strip_prefix(data_dir)
                                .map(|k| k.to_string_lossy().replace('\\', "/"))
                                .unwrap_or_default();
                            if arrival.is_some_and(|t| t < cutoff) && state.is_processed(&key)? {
                                swept.bytes += size(&file);
                                std::fs::remove_file(&file)?;
                                swept.raw_files += 1;
                            }
                        }
                        let _ = std::fs::remove_dir(&hour); // only when empty
                    } else {
                        swept.bytes += size(&hour);
                        std::fs::remove_dir_all(&hour)?;
                        swept.partitions += 1;
                    }
                }
                let _ = std::fs::remove_dir(&dt); // only when empty
            }
        }
    }
    state.prune(keep_days)?;
    state.prune_stats(keep_days.saturating_add(1))?;
    Ok(swept)
}

/// Sweeps now and then every hour on a thread of its own (logging what went), for `serve`.
///
/// # Errors
/// When the state database cannot be opened or the thread started.
pub fn start(data_dir: &Path, keep_days: u32) -> Result<()> {
    let state = SqliteAlertState::open(&data_dir.join("state.db"))?;
    let data_dir = data_dir.to_owned();
    std::thread::Builder::new().name("retention".into()).spawn(move || loop {
        match sweep(&data_dir, keep_days, Timestamp::now(), &state) {
            Ok(s) => crate::output::info(
                "retention sweep",
                &[
                    ("keep_days", keep_days.into()),
                    ("raw_files", s.raw_files.into()),
                    ("partitions", s.partitions.into()),
                    ("bytes", s.bytes.into()),
                ],
            ),
            Err(e) => crate::output::warn("retention sweep failed; retried in an hour", &[("error", format!("{e:#}").into())]),
        }
        std::thread::sleep(std::time::Duration::from_secs(3600));
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(path: &Path, bytes: &[u8]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn old_partitions_and_processed_old_raw_batches_go_everything_else_stays() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let now = Timestamp::parse("2025-03-10T12:30:00Z").unwrap();
        let state = SqliteAlertState::open(&d.join("state.db")).unwrap();
        let old_ms = Timestamp::parse("2025-03-01T10:00:00Z").unwrap().unix_millis();
        let new_ms = Timestamp::parse("2025-03-10T11:00:00Z").unwrap().unix_millis();
        let old_lake = d.join("lake/tailscale_audit/dt=2025-03-01/hour=10/a.json.gz");
        let edge_lake = d.join("lake/tailscale_audit/dt=2025-03-03/hour=12/b.json.gz"); // ends 13:00 > cutoff 12:30
        let new_lake = d.join("lake/tailscale_network/dt=2025-03-10/hour=11/c.json.gz");
        let old_q = d.join("quarantine/tailwatch_quarantine/dt=2025-03-02/hour=00/q.json.gz");
        let old_raw = format!("raw/tailscale-http/dt=2025-03-01/hour=10/{old_ms}-r1.ndjson.zst");
        let old_unprocessed = format!("raw/tailscale-http/dt=2025-03-01/hour=10/{}-r2.ndjson.zst", old_ms + 1);
        let new_raw = format!("raw/tailscale-http/dt=2025-03-10/hour=11/{new_ms}-r3.ndjson.zst");
        for p in [&old_lake, &edge_lake, &new_lake, &old_q] {
            put(p, b"0123456789");
        }
        for k in [&old_raw, &old_unprocessed, &new_raw] {
            put(&d.join(k), b"raw");
        }
        state.mark_processed(&old_raw).unwrap();
        state.mark_processed(&new_raw).unwrap();

        let swept = sweep(d, 7, now, &state).unwrap();
        assert_eq!(
            swept,
            Swept {
                raw_files: 1,
                partitions: 2,
                bytes: 23
            }
        );
        assert!(!old_lake.exists() && !old_q.exists() && !d.join(&old_raw).exists());
        assert!(!d.join("lake/tailscale_audit/dt=2025-03-01").exists(), "empty dt= dirs go too");
        assert!(edge_lake.exists() && new_lake.exists() && d.join(&new_raw).exists());
        assert!(d.join(&old_unprocessed).exists(), "an unprocessed batch is never deleted");
        assert_eq!(sweep(d, 7, now, &state).unwrap(), Swept::default(), "a second sweep finds nothing");
    }
}
