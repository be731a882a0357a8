//! How the command talks to people and machines: colour (`--color auto|always|never`, `NO_COLOR`)
//! and structured logs with a timestamp and a level (`--log-format text|json`) on stderr.
//!
//! Conventions for every subcommand: results on stdout (`--json` where offered: one JSON document),
//! logs and errors on stderr; exit 0 when all is well, 1 for a runtime error (or, for `status`, an
//! unhealthy stream), 2 for a usage error (clap's own code).

use std::io::Write;
use std::sync::OnceLock;

use serde_json::{Map, Value};
use tailwatch_core::time::Timestamp;

/// `--color`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorChoice {
    /// Colour on a terminal, unless `NO_COLOR` is set to a non-empty value.
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// `--log-format`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `2025-03-04T17:21:09.412Z INFO  message key=value …`
    #[default]
    Text,
    /// One JSON object per line: `{"ts":…,"level":…,"msg":…, fields…}`.
    Json,
}

static COLOR: OnceLock<ColorChoice> = OnceLock::new();
static LOG_FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Sets the colour choice for the process (first call wins).
pub fn set_color(choice: ColorChoice) {
    let _ = COLOR.set(choice);
}

/// Sets the log format for the process (first call wins).
pub fn set_log_format(format: LogFormat) {
    let _ = LOG_FORMAT.set(format);
}

/// Whether to colour output on a stream, from `--color`, `NO_COLOR` (<https://no-color.org>) and
/// whether the stream is a terminal.
pub fn use_color(choice: ColorChoice, no_color: Option<&str>, is_terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => no_color.is_none_or(str::is_empty) && is_terminal,
    }
}

/// Whether stdout gets colour.
pub fn color_stdout() -> bool {
    use_color(
        COLOR.get().copied().unwrap_or_default(),
        std::env::var("NO_COLOR").ok().as_deref(),
        std::io::IsTerminal::is_terminal(&std::io::stdout()),
    )
}

/// A log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Normal operation.
    Info,
    /// Something to look at; nothing lost.
    Warn,
    /// Data loss or operator action needed.
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

/// One log line in the process's format.
pub fn format_line(format: LogFormat, ts: &Timestamp, level: Level, msg: &str, fields: &[(&str, Value)]) -> String {
    match format {
        LogFormat::Json => {
            let mut obj = Map::new();
            obj.insert("ts".into(), ts.rfc3339().into());
            obj.insert("level".into(), level.as_str().into());
            obj.insert("msg".into(), msg.into());
            for (k, v) in fields {
                obj.insert((*k).to_owned(), v.clone());
            }
            Value::Object(obj).to_string()
        }
        LogFormat::Text => {
            let mut line = format!("{} {:<5} {msg}", ts.rfc3339(), level.as_str());
            for (k, v) in fields {
                match v {
                    Value::String(s) if !s.is_empty() && !s.contains([' ', '"', '=']) => line.push_str(&format!(" {k}={s}")),
                    other => line.push_str(&format!(" {k}={other}")),
                }
            }
            line
        }
    }
}

/// Writes one log line to stderr.
pub fn log(level: Level, msg: &str, fields: &[(&str, Value)]) {
    let line = format_line(LOG_FORMAT.get().copied().unwrap_or_default(), &Timestamp::now(), level, msg, fields);
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// [`log`] at `INFO`.
pub fn info(msg: &str, fields: &[(&str, Value)]) {
    log(Level::Info, msg, fields);
}

/// [`log`] at `WARN`.
pub fn warn(msg: &str, fields: &[(&str, Value)]) {
    log(Level::Warn, msg, fields);
}

/// [`log`] at `ERROR`.
pub fn error(msg: &str, fields: &[(&str, Value)]) {
    log(Level::Error, msg, fields);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn no_color_wins_only_in_auto() {
        assert!(use_color(ColorChoice::Auto, None, true));
        assert!(!use_color(ColorChoice::Auto, Some("1"), true));
        assert!(use_color(ColorChoice::Auto, Some(""), true), "an empty NO_COLOR is unset");
        assert!(!use_color(ColorChoice::Auto, None, false));
        assert!(use_color(ColorChoice::Always, Some("1"), false));
        assert!(!use_color(ColorChoice::Never, None, true));
    }

    #[test]
    fn log_lines_carry_time_level_and_fields() {
        let ts = Timestamp::parse("2025-03-04T17:21:09.412Z").unwrap();
        let fields = [("status", json!(200)), ("path", json!("/x")), ("why", json!("a b"))];
        assert_eq!(
            format_line(LogFormat::Text, &ts, Level::Warn, "request", &fields),
            r#"2025-03-04T17:21:09.412Z WARN  request status=200 path=/x why="a b""#
        );
        let v: Value = serde_json::from_str(&format_line(LogFormat::Json, &ts, Level::Info, "request", &fields)).unwrap();
        assert_eq!(
            v,
            json!({"ts": "2025-03-04T17:21:09.412Z", "level": "INFO", "msg": "request", "status": 200, "path": "/x", "why": "a b"})
        );
    }
}
