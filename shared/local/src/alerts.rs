//! Local alert sink: every alert is appended to `<data-dir>/alerts/YYYY-MM-DD.ndjson` (one alert
//! payload per line, fsynced) and printed as one readable line (in colour on a terminal).

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tailwatch_core::engine::{Alert, Severity};
use tailwatch_core::ports::{AlertSink, PortError};

/// Where printed alerts go.
pub enum Console {
    /// Not printed.
    Quiet,
    /// Printed to stdout, coloured by severity when `color`.
    Stdout {
        /// Use ANSI colours.
        color: bool,
    },
}

/// The alerts file plus the console.
pub struct FileAlertSink {
    dir: PathBuf,
    console: Console,
    /// The day file last appended to and the alert ids it holds (read from the file the first time).
    known: Mutex<Option<(PathBuf, HashSet<String>)>>,
}

impl FileAlertSink {
    /// A sink writing under `<data-dir>/alerts`.
    pub fn new(data_dir: &Path, console: Console) -> Self {
        FileAlertSink {
            dir: data_dir.join("alerts"),
            console,
            known: Mutex::new(None),
        }
    }

    /// The alerts directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one alert line and prints it, unless its day file already holds that alert id: the
    /// process stopped after appending it and before its delivered mark, and the retry re-delivers
    /// it (found by `cli/tests/kill.rs`); the alert is then neither appended nor printed again.
    ///
    /// # Errors
    /// The I/O error.
    pub fn write(&self, alert: &Alert) -> std::io::Result<()> {
        let mut known = self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        std::fs::create_dir_all(&self.dir)?;
        let day = alert.created_at.get(..10).unwrap_or("unknown");
        let path = self.dir.join(format!("{day}.ndjson"));
        if known.as_ref().is_none_or(|(p, _)| *p != path) {
            *known = Some((path.clone(), alert_ids_in(&path)?));
        }
        let Some((_, ids)) = known.as_mut() else { unreachable!() };
        if ids.contains(&alert.alert_id) {
            return Ok(());
        }
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
        let mut line = alert.to_json().into_bytes();
        line.push(b'\n');
        f.write_all(&line)?;
        f.sync_data()?;
        ids.insert(alert.alert_id.clone());
        if let Console::Stdout { color } = self.console {
            println!("{}", render(alert, color));
        }
        Ok(())
    }
}

/// The alert ids in an alerts file (none when it does not exist).
fn alert_ids_in(path: &Path) -> std::io::Result<HashSet<String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashSet::new()),
        Err(e) => return Err(e),
    };
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get("alertId").and_then(|id| id.as_str()).map(str::to_owned))
        .collect())
}

/// One readable line, coloured by severity.
pub fn render(alert: &Alert, color: bool) -> String {
    let line = format!("ALERT {}", alert.one_line());
    if !color {
        return line;
    }
    let code = match alert.severity {
        Severity::Critical => "1;31",
        Severity::High => "31",
        Severity::Medium => "33",
        Severity::Low => "36",
        Severity::Info => "2",
    };
    format!("\x1b[{code}m{line}\x1b[0m")
}

impl AlertSink for FileAlertSink {
    fn name(&self) -> &str {
        "local-file"
    }

    async fn deliver(&self, alert: &Alert) -> Result<(), PortError> {
        self.write(alert).map_err(|e| PortError::retryable("append alert", e.to_string()))?;
        crate::checkpoint::reached("alert_file");
        Ok(())
    }
}

/// Reads every alert in an alerts directory (tests, `tailwatch` tools).
///
/// # Errors
/// Unreadable files or lines that are not alerts.
pub fn read_alerts(dir: &Path) -> std::io::Result<Vec<Alert>> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(out) };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ndjson"))
        .collect();
    files.sort();
    for f in files {
        for line in std::fs::read_to_string(&f)?.lines().filter(|l| !l.trim().is_empty()) {
            out.push(
                serde_json::from_str(line)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", f.display())))?,
            );
        }
    }
    Ok(out)
}
