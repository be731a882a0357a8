//! Timestamps: one reader ([`Timestamp::read_json`]) for every place a time arrives in a record,
//! written as `YYYY-MM-DD HH:MM:SS.fff` UTC, which Athena's JSON SerDes, Snowflake and DuckDB all
//! parse, and only inside the lake's range ([`LAKE_RANGE_START`] .. [`LAKE_RANGE_END`]).
//!
//! Accepted shapes (strings may also hold a number):
//! - RFC 3339 with any fraction: `2025-03-04T17:21:09.871204398Z`, `…+02:00`;
//! - space-separated, UTC: `2023-07-19 16:10:48.172000000` (Panther exports, `fields.recorded`);
//! - Go's `time.Time.String()`: `2026-07-27 12:15:48.688963096 +0000 UTC` (auth key `expires`);
//! - unix epoch numbers, the unit told by magnitude (see [`Timestamp::from_epoch_number`]).

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

/// First instant the lake holds: 2019-01-01T00:00:00Z. Tailscale's first release is from 2019, so
/// an earlier time is a misread unit or a placeholder (epoch 0, Go's zero time), not an event; it
/// is also where Athena's partition projection starts (`ddl::PROJECTION_START`), so the projection
/// stays a few years of hourly partitions rather than decades of empty ones.
pub const LAKE_RANGE_START: Timestamp = Timestamp(DateTime::from_timestamp_nanos(1_546_300_800_000_000_000));

/// First instant past the lake's range: 2100-01-01T00:00:00Z. Far enough for any key expiry, and
/// it keeps every year at four digits, the only form the lake's timestamp text and Athena's
/// `dt=yyyy-MM-dd` projection read. Inside [`LAKE_RANGE_START`]..this, the epoch units never
/// overlap (seconds < 1e11 ≤ milliseconds < 1e14 ≤ microseconds < 1e17 ≤ nanoseconds).
pub const LAKE_RANGE_END: Timestamp = Timestamp(DateTime::from_timestamp_nanos(4_102_444_800_000_000_000));

/// How far past its parse time an event may be: Athena's projection ends at `NOW+1DAYS`
/// (`ddl::PROJECTION_END`), so a row further ahead would sit in a partition no query reads.
/// Tailscale stamps events with its control plane's clock; a day covers any skew between it and us.
pub const MAX_FUTURE_SECONDS: i64 = 86_400;

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

    /// Reads a time from the JSON text of a value, whichever shape it arrives in: a string in any
    /// form the [module docs](self) list, a number of epoch seconds, milli-, micro- or nanoseconds.
    /// The range is not checked here: see [`Timestamp::in_lake_range`].
    ///
    /// # Errors
    /// [`TimeError`] naming the value when it is none of those.
    pub fn read_json(json: &str) -> Result<Self, TimeError> {
        let json = json.trim();
        if json.starts_with('"') {
            let text: std::borrow::Cow<'_, str> =
                serde_json::from_str(json).map_err(|_| TimeError(format!("not a JSON string: {}", preview(json))))?;
            return Timestamp::read_text(&text);
        }
        if json.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
            return Timestamp::from_epoch_number(json);
        }
        Err(TimeError(format!(
            "expected a time (RFC 3339 text or unix epoch number), found {}",
            preview(json)
        )))
    }

    /// Reads a time from text: a date-time in any accepted form, or an epoch number as text.
    ///
    /// # Errors
    /// [`TimeError`] naming the text when it is no accepted form.
    pub fn read_text(text: &str) -> Result<Self, TimeError> {
        let text = text.trim();
        if text.parse::<f64>().is_ok() {
            return Timestamp::from_epoch_number(text);
        }
        if let Ok(t) = Timestamp::parse(text) {
            return Ok(t);
        }
        // Go's `time.Time.String()`: `2006-01-02 15:04:05.999999999 -0700 MST`, perhaps followed by
        // a monotonic clock reading (` m=+0.001`). The zone abbreviation is redundant with the offset.
        let go = text.split(" m=").next().unwrap_or(text);
        let mut parts = go.rsplitn(2, ' ');
        if let (Some(zone), Some(rest)) = (parts.next(), parts.next()) {
            if zone.bytes().all(|b| b.is_ascii_alphabetic()) {
                if let Ok(t) = DateTime::parse_from_str(rest, "%Y-%m-%d %H:%M:%S%.f %z") {
                    return Ok(Timestamp(to_millis(t.with_timezone(&Utc))));
                }
            }
        }
        if let Ok(t) = DateTime::parse_from_str(go, "%Y-%m-%d %H:%M:%S%.f %z") {
            return Ok(Timestamp(to_millis(t.with_timezone(&Utc))));
        }
        if let Ok(t) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
            return Ok(Timestamp(to_millis(Utc.from_utc_datetime(&t))));
        }
        Err(TimeError(format!(
            "expected a time like 2025-03-04T17:21:09.871Z, 2025-03-04 17:21:09.871 or unix seconds, found {}",
            preview(text)
        )))
    }

    /// Reads an epoch number (JSON number or numeric text), telling its unit by magnitude:
    /// |n| < 1e11 is seconds (up to year 5138), < 1e14 milliseconds, < 1e17 microseconds,
    /// < 1e20 nanoseconds; larger is an error. For times in the lake's range the units cannot be
    /// confused: seconds there are 1.5e9..4.1e9, milliseconds 1.5e12..4.1e12, and so on. Integers
    /// are read exactly; numbers with a fraction or exponent through `f64`, to the millisecond.
    ///
    /// # Errors
    /// [`TimeError`] when the text is not a finite number or is too large for any unit.
    pub fn from_epoch_number(text: &str) -> Result<Self, TimeError> {
        let bad = || {
            TimeError(format!(
                "expected unix epoch seconds (e.g. 1741108869.412), found {}",
                preview(text)
            ))
        };
        let units: [(f64, i128, &str); 4] = [
            (1e11, 1_000_000_000, "seconds"),
            (1e14, 1_000_000, "milliseconds"),
            (1e17, 1_000, "microseconds"),
            (1e20, 1, "nanoseconds"),
        ];
        let too_large = || {
            TimeError(format!(
                "epoch number {} is too large for seconds, milli-, micro- or nanoseconds",
                preview(text)
            ))
        };
        let nanos: i128 = if let Ok(n) = text.parse::<i128>() {
            let (_, per, _) = units
                .iter()
                .find(|(limit, _, _)| (n.unsigned_abs() as f64) < *limit)
                .ok_or_else(too_large)?;
            n * per
        } else {
            let v: f64 = text.parse().map_err(|_| bad())?;
            if !v.is_finite() {
                return Err(bad());
            }
            let (_, per, _) = units.iter().find(|(limit, _, _)| v.abs() < *limit).ok_or_else(too_large)?;
            // Round to milliseconds: senders give milliseconds, and f64 holds no more at this size.
            let millis = (v * (*per as f64) / 1e6).round();
            millis as i128 * 1_000_000
        };
        let secs = i64::try_from(nanos.div_euclid(1_000_000_000)).map_err(|_| too_large())?;
        let sub = nanos.rem_euclid(1_000_000_000) as u32;
        Utc.timestamp_opt(secs, sub)
            .single()
            .map(|t| Timestamp(to_millis(t)))
            .ok_or_else(too_large)
    }

    /// Whether the lake can hold this instant: inside [`LAKE_RANGE_START`]..[`LAKE_RANGE_END`].
    pub fn in_lake_range(&self) -> bool {
        LAKE_RANGE_START <= *self && *self < LAKE_RANGE_END
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

fn preview(text: &str) -> String {
    let mut s: String = text.chars().take(40).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    format!("`{s}`")
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

    /// 2023-07-19 16:10:48.172 UTC, the instant most shapes below spell.
    const MS: i64 = 1_689_783_048_172;

    fn read(json: &str) -> i64 {
        Timestamp::read_json(json).unwrap_or_else(|e| panic!("{json}: {e}")).unix_millis()
    }

    #[test]
    fn every_shape_reads_to_the_same_instant() {
        for json in [
            r#""2023-07-19T16:10:48.172Z""#,
            r#""2023-07-19T16:10:48.172000000Z""#,
            r#""2023-07-19T16:10:48.1729Z""#,
            r#""2023-07-19T18:10:48.172+02:00""#,
            r#""2023-07-19 16:10:48.172000000""#,
            r#""2023-07-19 16:10:48.172""#,
            r#""2023-07-19T16:10:48.172""#,
            r#""2023-07-19 16:10:48.172000000 +0000 UTC""#,
            r#""2023-07-19 09:10:48.172 -0700 PDT""#,
            r#""2023-07-19 16:10:48.172000001 +0000 UTC m=+0.000123""#,
            "1689783048.172",
            r#""1689783048.172""#,
            "1689783048172",
            r#""1689783048172""#,
            "1689783048172000",
            "1689783048172000000",
            r#""1689783048172999999""#,
            "1.689783048172e9",
            " 1689783048172 ",
        ] {
            assert_eq!(read(json), MS, "{json}");
        }
        assert_eq!(read("1689783048"), MS - 172, "whole seconds");
        assert_eq!(read(r#""2023-07-19 16:10:48""#), MS - 172);
    }

    #[test]
    fn the_epoch_unit_is_told_by_magnitude_at_documented_bounds() {
        // Just under each bound reads in the smaller unit, the bound itself in the next.
        assert_eq!(read("99999999999"), 99_999_999_999_000, "seconds below 1e11");
        assert_eq!(read("100000000000"), 100_000_000_000, "milliseconds from 1e11");
        assert_eq!(read("99999999999999"), 99_999_999_999_999);
        assert_eq!(read("100000000000000"), 100_000_000_000, "microseconds from 1e14");
        assert_eq!(read("100000000000000000"), 100_000_000_000, "nanoseconds from 1e17");
        assert_eq!(read("18446744073709551615"), 18_446_744_073_709, "u64::MAX nanoseconds");
        let err = Timestamp::read_json("100000000000000000000").unwrap_err().to_string();
        assert!(err.contains("too large") && err.contains("100000000000000000000"), "{err}");
        // Every unit maps the lake's bounds onto the lake's bounds.
        for scale in [1i128, 1_000, 1_000_000, 1_000_000_000] {
            for bound in [LAKE_RANGE_START, LAKE_RANGE_END] {
                let n = (bound.unix_millis() / 1000) as i128 * scale;
                assert_eq!(read(&n.to_string()), bound.unix_millis(), "{n}");
            }
        }
    }

    #[test]
    fn the_lake_range_is_2019_to_2100() {
        assert_eq!(LAKE_RANGE_START.rfc3339(), "2019-01-01T00:00:00.000Z");
        assert_eq!(LAKE_RANGE_END.rfc3339(), "2100-01-01T00:00:00.000Z");
        let at = |json: &str| Timestamp::read_json(json).unwrap().in_lake_range();
        assert!(at(r#""2019-01-01T00:00:00Z""#));
        assert!(!at(r#""2018-12-31T23:59:59.999Z""#));
        assert!(at(r#""2099-12-31T23:59:59.999Z""#));
        assert!(!at(r#""2100-01-01T00:00:00Z""#));
        assert!(!at("0"), "epoch 0");
        assert!(!at(r#""0001-01-01T00:00:00Z""#), "Go's zero time");
        // Milliseconds read as seconds were the 57143-07-21 partition: never in range now, and
        // read by magnitude they land where they belong.
        assert!(!Timestamp::from_unix_seconds(1_741_109_102_025.0).unwrap().in_lake_range());
        assert_eq!(Timestamp::read_json("1741109102025").unwrap().rfc3339(), "2025-03-04T17:25:02.025Z");
    }

    #[test]
    fn auth_key_expiry_in_go_form_reads() {
        let t = Timestamp::read_json(r#""2026-07-27 12:15:48.688963096 +0000 UTC""#).unwrap();
        assert_eq!(t.rfc3339(), "2026-07-27T12:15:48.688Z");
    }

    #[test]
    fn non_times_are_clear_errors_naming_the_value() {
        for json in [
            r#""yesterday""#,
            "true",
            "{}",
            "[1]",
            "null",
            r#""""#,
            r#""NaN""#,
            r#""inf""#,
            "-",
            r#""2023-13-01 00:00:00""#,
        ] {
            let err = Timestamp::read_json(json).unwrap_err().to_string();
            assert!(err.contains('`'), "{json}: {err}");
        }
        assert!(Timestamp::read_json(r#""yesterday""#)
            .unwrap_err()
            .to_string()
            .contains("`yesterday`"));
    }

    proptest::proptest! {
        /// Whatever number or text arrives, the reader never panics, and every instant it yields
        /// inside the lake's range is written in a form that reads back to the same instant.
        #[test]
        fn any_value_reads_without_panic_and_in_range_instants_round_trip(
            int in proptest::prelude::any::<i64>(),
            float in proptest::prelude::any::<f64>(),
            text in "[0-9 :.TZ+-]{0,40}",
        ) {
            for json in [int.to_string(), format!("{float:?}"), format!("\"{int}\""), serde_json::to_string(&text).unwrap()] {
                if let Ok(t) = Timestamp::read_json(&json) {
                    if t.in_lake_range() {
                        let written = serde_json::to_string(&t).unwrap();
                        let back: Timestamp = serde_json::from_str(&written).unwrap();
                        proptest::prop_assert_eq!(back, t, "{}", json);
                    }
                }
            }
        }
    }

    #[test]
    fn garbage_is_a_clear_error() {
        assert!(Timestamp::parse("not-a-time").unwrap_err().to_string().contains("`not-a-time`"));
        assert!(Timestamp::from_unix_seconds(f64::NAN).is_err());
        assert!(Timestamp::from_unix_seconds(1e300).is_err());
    }
}
