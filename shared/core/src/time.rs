//! Timestamps: parsed from Tailscale's RFC 3339 (nanosecond) strings and HEC unix seconds, written
//! as `YYYY-MM-DD HH:MM:SS.fff` UTC, which Athena's JSON SerDes, Snowflake and DuckDB all parse.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDateTime, TimeZone, Timelike, Utc};
use serde::{de, Deserialize, Serialize};

/// A UTC instant with millisecond precision: what the lake stores, so a row detected in memory and
/// the same row read back from the lake compare equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

fn to_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000).unwrap_or(t)
}

/// Why a time value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TimeError(String);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        Timestamp(to_millis(Utc::now()))
    }

    /// Parses RFC 3339 (`2025-03-04T17:21:09.871204398Z`), also accepting the lake's own
    /// `YYYY-MM-DD HH:MM:SS[.fff]` form (read back by backtests and the detect function).
    ///
    /// # Errors
    /// [`TimeError`] naming the text when it is neither form.
    pub fn parse(text: &str) -> Result<Self, TimeError> {
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return Ok(Timestamp(to_millis(t.with_timezone(&Utc))));
        }
        if let Ok(t) = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f") {
            return Ok(Timestamp(to_millis(Utc.from_utc_datetime(&t))));
        }
        Err(TimeError(format!(
            "expected an RFC 3339 timestamp like 2025-03-04T17:21:09.871Z, found `{}`",
            text.chars().take(40).collect::<String>()
        )))
    }

    /// From unix seconds with a fraction (the HEC envelope `time`).
    ///
    /// # Errors
    /// [`TimeError`] when the number is not finite or out of the representable range.
    pub fn from_unix_seconds(secs: f64) -> Result<Self, TimeError> {
        if !secs.is_finite() {
            return Err(TimeError(format!("expected unix seconds, found {secs}")));
        }
        let whole = secs.floor();
        // Round to milliseconds: HEC senders give milliseconds, and f64 cannot hold more here.
        let millis = ((secs - whole) * 1e3).round() as i64;
        if !(-1e13..=1e13).contains(&whole) {
            return Err(TimeError(format!("unix seconds {secs} are out of range")));
        }
        let t = Utc
            .timestamp_opt(whole as i64, 0)
            .single()
            .and_then(|t| t.checked_add_signed(chrono::Duration::milliseconds(millis)))
            .ok_or_else(|| TimeError(format!("unix seconds {secs} are out of range")))?;
        Ok(Timestamp(t))
    }

    /// True for Go's zero time (`0001-01-01T00:00:00Z`), which Tailscale sends for "unset".
    pub fn is_go_zero(&self) -> bool {
        self.0.year() == 1 && self.0.ordinal() == 1 && self.0.num_seconds_from_midnight() == 0 && self.0.nanosecond() == 0
    }

    /// From milliseconds since the epoch.
    pub fn from_unix_millis(millis: i64) -> Option<Self> {
        Utc.timestamp_millis_opt(millis).single().map(Timestamp)
    }

    /// Nanoseconds since the epoch (saturating outside ±292 years).
    pub fn unix_nanos(&self) -> i64 {
        self.0
            .timestamp_nanos_opt()
            .unwrap_or(if self.0.year() < 1970 { i64::MIN } else { i64::MAX })
    }

    /// Milliseconds since the epoch.
    pub fn unix_millis(&self) -> i64 {
        self.0.timestamp_millis()
    }

    /// The partition this instant falls in: (`YYYY-MM-DD`, `HH`).
    pub fn partition(&self) -> (String, String) {
        let d = self.0;
        (
            format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()),
            format!("{:02}", d.hour()),
        )
    }

    /// RFC 3339 with milliseconds (`2025-03-04T17:21:09.412Z`), for alert payloads.
    pub fn rfc3339(&self) -> String {
        self.0.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    /// This instant plus whole seconds (saturating).
    pub fn plus_seconds(&self, secs: i64) -> Self {
        Timestamp(self.0.checked_add_signed(chrono::Duration::seconds(secs)).unwrap_or(self.0))
    }
}

/// The lake form of a timestamp in years 0–9999 (every real one), written digit by digit: this is
/// on the hot path of every row serialized (each row carries three or four timestamps), and going
/// through `write!` with padded integer formatting cost about a tenth of normalization.
fn lake_form(d: &DateTime<Utc>) -> Option<[u8; 23]> {
    let year = u32::try_from(d.year()).ok().filter(|y| *y <= 9999)?;
    let mut b = *b"0000-00-00 00:00:00.000";
    let mut put = |at: usize, width: usize, mut v: u32| {
        for i in (at..at + width).rev() {
            b[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, d.month());
    put(8, 2, d.day());
    put(11, 2, d.hour());
    put(14, 2, d.minute());
    put(17, 2, d.second());
    put(20, 3, d.nanosecond() / 1_000_000 % 1000);
    Some(b)
}

impl fmt::Display for Timestamp {
    /// `YYYY-MM-DD HH:MM:SS.fff`, the lake's timestamp form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if let Some(b) = lake_form(&d) {
            // Only ASCII digits and separators were written.
            return f.write_str(std::str::from_utf8(&b).map_err(|_| fmt::Error)?);
        }
        write_lake_form(f, &d)
    }
}

/// The lake form through `write!`: every year chrono represents (the fast path covers 0000–9999).
fn write_lake_form<W: fmt::Write, D: Datelike + Timelike>(w: &mut W, d: &D) -> fmt::Result {
    write!(
        w,
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        d.year(),
        d.month(),
        d.day(),
        d.hour(),
        d.minute(),
        d.second(),
        d.nanosecond() / 1_000_000 % 1000
    )
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match lake_form(&self.0).as_ref().and_then(|b| std::str::from_utf8(b).ok()) {
            Some(text) => s.serialize_str(text),
            None => s.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an RFC 3339 timestamp string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Timestamp::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nanosecond_rfc3339_and_writes_lake_form() {
        let t = Timestamp::parse("2025-03-04T17:21:09.871204398Z").unwrap();
        assert_eq!(t.to_string(), "2025-03-04 17:21:09.871");
        assert_eq!(t.partition(), ("2025-03-04".into(), "17".into()));
        assert_eq!(Timestamp::parse(&t.to_string()).unwrap().unix_millis(), t.unix_millis());
    }

    #[test]
    fn hec_seconds_keep_milliseconds() {
        let t = Timestamp::from_unix_seconds(1741108869.412).unwrap();
        assert_eq!(t.to_string(), "2025-03-04 17:21:09.412");
        assert_eq!(t.rfc3339(), "2025-03-04T17:21:09.412Z");
    }

    #[test]
    fn go_zero_time_is_recognized() {
        assert!(Timestamp::parse("0001-01-01T00:00:00Z").unwrap().is_go_zero());
        assert!(!Timestamp::parse("0001-01-01T00:00:01Z").unwrap().is_go_zero());
    }

    #[test]
    fn extreme_years_parse_and_format() {
        assert_eq!(
            Timestamp::parse("9999-12-31T23:59:59.999Z").unwrap().to_string(),
            "9999-12-31 23:59:59.999"
        );
        assert_eq!(
            Timestamp::parse("0000-01-01T00:00:00Z").unwrap().to_string(),
            "0000-01-01 00:00:00.000"
        );
    }

    #[test]
    fn the_fast_lake_form_writes_what_the_general_formatting_writes() {
        // Every year from 0 to 9999 and beyond both ends, with assorted times of day and millis.
        let general = |t: &Timestamp| {
            let mut text = String::new();
            write_lake_form(&mut text, &t.0).unwrap();
            text
        };
        let mut ms: i64 = -62_198_755_200_000; // 0000-01-01
        let step: i64 = 31_556_952_000 - 3_723_457; // about a year, drifting through days, hours and millis
        let mut n = 0;
        while ms < 253_433_923_200_000 {
            for t in [ms, ms + 999, ms - 1] {
                let ts = Timestamp::from_unix_millis(t).unwrap();
                assert_eq!(ts.to_string(), general(&ts), "{t}");
                assert_eq!(serde_json::to_string(&ts).unwrap(), format!("\"{}\"", general(&ts)));
                n += 1;
            }
            ms += step;
        }
        assert!(n > 30_000);
        for t in [
            -62_198_755_200_001,
            -62_135_596_800_000 * 2,
            253_402_300_800_000,
            253_402_300_800_000 * 3,
        ] {
            let ts = Timestamp::from_unix_millis(t).unwrap();
            assert_eq!(ts.to_string(), general(&ts), "out of 0-9999: {t}");
            assert_eq!(serde_json::to_string(&ts).unwrap(), format!("\"{}\"", general(&ts)));
        }
    }

    #[test]
    fn garbage_is_a_clear_error() {
        assert!(Timestamp::parse("not-a-time").unwrap_err().to_string().contains("`not-a-time`"));
        assert!(Timestamp::from_unix_seconds(f64::NAN).is_err());
        assert!(Timestamp::from_unix_seconds(1e300).is_err());
    }
}
