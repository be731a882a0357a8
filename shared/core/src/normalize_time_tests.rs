//! Event times (issue 18): every shape a time arrives in, the fallback precedence and its record,
//! the lake's range, and replaying rows exported from Panther. The regression bodies are the fuzz
//! seeds in `fuzz/seeds/normalize/`, so the fuzzer starts from exactly these cases.

use super::*;
use crate::ddl::PROJECTION_START;
use crate::lake::{AuditRow, NetworkRow};
use crate::pipeline::{normalize_body, NormalizeOutcome};
use crate::quarantine::ReasonCode;

macro_rules! seed {
    ($name:literal) => {
        include_bytes!(concat!("../../../fuzz/seeds/normalize/", $name)).as_slice()
    };
}

/// Parse time of every test here: 2026-01-01T00:00:00Z (so the lake ends at 2026-01-02).
fn ctx() -> SourceContext<'static> {
    SourceContext {
        label: "test",
        file: "raw/test/object",
        parse_time: Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
    }
}

/// Normalizes a body and checks the read-back invariant on every row: it serializes, reads back
/// equal, and lands in a partition Athena's projection and the backtest enumerate.
fn run(body: &[u8]) -> NormalizeOutcome {
    let out = normalize_body(body, &ctx());
    for row in &out.rows {
        let mut line = Vec::new();
        row.write_json_line(&mut line);
        let back = LakeRow::from_json_line(row.table(), &line).expect("a written row reads back");
        assert_eq!(&back, row);
        let (dt, hour) = row.standard().p_event_time.partition();
        assert!(dt.as_str() >= PROJECTION_START && dt.len() == 10, "{dt}");
        assert!(
            Timestamp::parse(&format!("{dt}T{hour}:00:00Z")).is_ok(),
            "the backtest reads dt={dt}/hour={hour}"
        );
        assert!(row.standard().p_event_time <= ctx().parse_time.plus_seconds(86_400));
    }
    out
}

fn audit(out: &NormalizeOutcome) -> Vec<&AuditRow> {
    out.rows
        .iter()
        .filter_map(|r| if let LakeRow::Audit(a) = r { Some(a) } else { None })
        .collect()
}

fn network(out: &NormalizeOutcome) -> Vec<&NetworkRow> {
    out.rows
        .iter()
        .filter_map(|r| if let LakeRow::Network(n) = r { Some(n) } else { None })
        .collect()
}

fn unknown(row: &AuditRow) -> serde_json::Value {
    row.unknown_fields
        .as_deref()
        .map_or(serde_json::Value::Null, |u| serde_json::from_str(u).unwrap())
}

#[test]
fn epoch_milliseconds_in_the_envelope_are_milliseconds_not_year_57143() {
    let out = run(seed!("time-epoch-millis.hec"));
    assert_eq!(out.quarantined.len(), 0);
    let row = audit(&out)[0];
    assert_eq!(row.p.p_event_time.to_string(), "2025-03-04 17:25:02.025");
    assert_eq!(row.event_time_source, "time");
    assert_eq!(
        TAILSCALE_AUDIT.partition(&row.p.p_event_time),
        "tailscale_audit/dt=2025-03-04/hour=17"
    );
    assert_eq!(row.recorded_time.unwrap().to_string(), "2025-03-04 17:25:02.871");
}

#[test]
fn epoch_micro_and_nanoseconds_and_numeric_strings_read_to_the_same_instant() {
    let out = run(seed!("time-epoch-micros-nanos-strings.hec"));
    assert_eq!((out.rows.len(), out.quarantined.len()), (3, 0));
    for row in audit(&out) {
        assert_eq!(row.p.p_event_time.to_string(), "2025-03-04 17:25:02.025");
        assert_eq!(row.event_time_source, "time");
    }
}

#[test]
fn panther_export_rows_read_their_datetime_strings_and_drop_p_fields() {
    let out = run(seed!("time-panther-export.ndjson"));
    assert_eq!((out.rows.len(), out.quarantined.len()), (2, 0), "{:?}", out.quarantined);
    let rows = audit(&out);
    // `time` as a space-separated string, and `fields.recorded` in the same form.
    assert_eq!(rows[0].p.p_event_time.to_string(), "2023-07-19 16:10:48.172");
    assert_eq!(rows[0].recorded_time.unwrap().to_string(), "2023-07-19 16:10:48.385");
    // `time` as a float of seconds.
    assert_eq!(rows[1].p.p_event_time.to_string(), "2023-06-27 22:58:14.915");
    assert_eq!(rows[1].recorded_time.unwrap().to_string(), "2023-06-27 22:58:15.824");
    for row in rows {
        assert_eq!(row.event_time_source, "time");
        assert_eq!(row.event_name, "TAILNET.DISABLE.MAGIC_DNS");
        assert_eq!(row.unknown_fields, None, "Panther's p_* fields are not the record's");
        assert_eq!(row.p.p_log_type, "Tailscale.Audit");
        assert_eq!(row.p.p_source_label, "test");
    }
    // A bare record carrying Panther's p_* members (flattened exports): dropped there too.
    let body = br#"{"p_log_type":"Tailscale.Audit","p_row_id":"x","eventTime":"2023-07-19 16:10:48.172000000","actor":{"id":"a"},"action":"LOGIN","extra":1}"#;
    let out = run(body);
    assert_eq!(audit(&out)[0].unknown_fields.as_deref(), Some(r#"{"extra":1}"#));
    assert_eq!(audit(&out)[0].event_time_source, "eventTime");
}

#[test]
fn go_string_form_reads_in_event_time() {
    let out = run(seed!("time-go-string-form.ndjson"));
    assert_eq!(out.quarantined.len(), 0);
    let row = audit(&out)[0];
    assert_eq!(row.p.p_event_time.to_string(), "2025-07-20 12:15:48.688");
    assert_eq!(row.event_time_source, "eventTime");
    assert_eq!(row.recorded_time.unwrap().to_string(), "2025-07-20 12:15:49.001");
    // The auth key's `expires` (inside `new`) is the same Go form: the reader detections use.
    let new: serde_json::Value = serde_json::from_str(row.new.as_deref().unwrap()).unwrap();
    let expires = Timestamp::read_json(&new["expires"].to_string()).unwrap();
    assert_eq!(expires.to_string(), "2025-07-27 12:15:48.688");
}

#[test]
fn each_unusable_source_falls_back_to_the_next_and_the_row_says_which_was_used() {
    let out = run(seed!("time-fallbacks.ndjson"));
    assert_eq!((out.rows.len(), out.quarantined.len()), (3, 0), "{:?}", out.quarantined);
    let rows = audit(&out);
    // eventTime garbage, envelope time garbage: fields.recorded; both raw values kept.
    assert_eq!(rows[0].p.p_event_time.to_string(), "2025-03-04 17:21:09.871");
    assert_eq!(rows[0].event_time_source, "fields.recorded");
    assert_eq!(unknown(rows[0])["eventTime"], "not a time");
    assert_eq!(unknown(rows[0])["time"], "yesterday");
    // eventTime is Go's zero time (outside the lake): logged.
    assert_eq!(rows[1].p.p_event_time.to_string(), "2025-03-04 17:21:10.000");
    assert_eq!(rows[1].event_time_source, "logged");
    assert_eq!(unknown(rows[1])["eventTime"], "0001-01-01T00:00:00Z");
    // A flow record with no envelope: start; `end` unreadable, kept raw, window_end absent.
    let flow = network(&out)[0];
    assert_eq!(flow.p.p_event_time.to_string(), "2025-03-04 17:40:00.123");
    assert_eq!(flow.event_time_source, "start");
    assert_eq!(flow.window_end, None);
    assert!(flow.unknown_fields.as_deref().unwrap().contains(r#""end":{"bad":1}"#));
    // No time anywhere: the parse time, said so.
    let out = run(br#"{"actor":{"id":"a"},"action":"LOGIN"}"#);
    assert_eq!(audit(&out)[0].event_time_source, "parse_time");
    assert_eq!(audit(&out)[0].p.p_event_time, ctx().parse_time);
}

#[test]
fn the_documented_precedence_is_event_time_then_time_then_recorded_then_logged() {
    let t = |s: u32| format!(r#""2025-03-04T17:00:{s:02}Z""#);
    let body = |event_time: &str, time: &str, recorded: &str, logged: &str| {
        format!(
            r#"{{"time":{time},"event":{{"eventTime":{event_time},"logged":{logged},"actor":{{"id":"a"}},"action":"LOGIN"}},"fields":{{"recorded":{recorded}}}}}"#
        )
    };
    let bad = r#""bad""#;
    for (b, source, second) in [
        (body(&t(1), &t(2), &t(3), &t(4)), "eventTime", 1),
        (body(bad, &t(2), &t(3), &t(4)), "time", 2),
        (body(bad, bad, &t(3), &t(4)), "fields.recorded", 3),
        (body(bad, bad, bad, &t(4)), "logged", 4),
    ] {
        let out = run(b.as_bytes());
        let row = audit(&out)[0];
        assert_eq!(row.event_time_source, source, "{b}");
        assert_eq!(row.p.p_event_time.to_string(), format!("2025-03-04 17:00:{second:02}.000"));
    }
}

#[test]
fn times_outside_the_lake_are_quarantined_with_the_reason_and_raw_value() {
    let out = run(seed!("time-out-of-range.ndjson"));
    assert_eq!(out.rows.len(), 0, "no row outside 2019-01-01 .. parse time + 1 day");
    let got: Vec<(ReasonCode, Option<&str>, &str)> = out
        .quarantined
        .iter()
        .map(|q| (q.reason, q.field.as_deref(), q.message.as_str()))
        .collect();
    let expect: [(ReasonCode, &str, &[&str]); 6] = [
        (
            ReasonCode::TimeOutOfRange,
            "time",
            &["253402300800", "reads as 1978-01-11T21:31:40.800Z"],
        ),
        (
            ReasonCode::TimeOutOfRange,
            "eventTime",
            &["1999-12-31T23:59:59Z", "outside the lake's range"],
        ),
        (
            ReasonCode::TimeOutOfRange,
            "time",
            &["`time` = 0", "`fields.recorded` = \"0001-01-01 00:00:00 +0000 UTC\""],
        ),
        (
            ReasonCode::TimeOutOfRange,
            "eventTime",
            &["2099-06-01T00:00:00Z", "after parse time"],
        ),
        (
            ReasonCode::TimeOutOfRange,
            "time",
            &["9999-12-31T23:59:59Z", "`start` = \"2101-01-01T00:00:00Z\""],
        ),
        (ReasonCode::InvalidField, "time", &["100000000000000000000", "too large"]),
    ];
    assert_eq!(got.len(), expect.len());
    for ((reason, field, message), (want_reason, want_field, words)) in got.iter().zip(expect) {
        assert_eq!((*reason, *field), (want_reason, Some(want_field)), "{message}");
        assert!(message.starts_with("no usable event time: "), "{message}");
        for w in words {
            assert!(message.contains(w), "`{w}` missing from: {message}");
        }
    }
    assert_eq!(out.quarantined[0].reason.as_str(), "time_out_of_range");
    assert!(out.quarantined[0].original.contains("253402300800"), "the raw record is kept");
    // A day after parse time is the last instant written; a millisecond more is not.
    let at = |t: &str| run(format!(r#"{{"eventTime":"{t}","actor":{{"id":"a"}},"action":"LOGIN"}}"#).as_bytes());
    assert_eq!(at("2026-01-02T00:00:00Z").rows.len(), 1);
    assert_eq!(at("2026-01-02T00:00:00.001Z").quarantined[0].reason, ReasonCode::TimeOutOfRange);
    assert_eq!(at("2019-01-01T00:00:00Z").rows.len(), 1);
    assert_eq!(at("2018-12-31T23:59:59.999Z").quarantined[0].reason, ReasonCode::TimeOutOfRange);
}

#[test]
fn out_of_range_secondary_times_are_kept_raw_not_written_as_columns() {
    let body = br#"{"eventTime":"2025-03-04T17:21:09Z","logged":"1970-01-01T00:00:00Z","deferredAt":"3000-01-01T00:00:00Z","actor":{"id":"a"},"action":"LOGIN"}"#;
    let out = run(body);
    let row = audit(&out)[0];
    assert_eq!((row.recorded_time, row.deferred_at), (None, None));
    assert_eq!(unknown(row)["logged"], "1970-01-01T00:00:00Z");
    assert_eq!(unknown(row)["deferredAt"], "3000-01-01T00:00:00Z");
    // Go's zero deferredAt means "not deferred": dropped, as before.
    let out = run(br#"{"eventTime":"2025-03-04T17:21:09Z","deferredAt":"0001-01-01T00:00:00Z","actor":{"id":"a"},"action":"LOGIN"}"#);
    assert_eq!((audit(&out)[0].deferred_at, audit(&out)[0].unknown_fields.as_deref()), (None, None));
}

/// Panther's own Tailscale rule tests (panther-labs/panther-analysis, `rules/tailscale_rules/*.yml`)
/// replayed as the rows Panther exports: the HEC envelope with `event`, `time` (a string, or a
/// float in the custom schema), `fields.recorded` and Panther's `p_*` fields. Records follow the
/// shape of those test logs (ids and names are ours).
///
/// | Panther rule (expected)                                       | tailwatch detection                 |
/// |---------------------------------------------------------------|-------------------------------------|
/// | Tailscale.Magic.DNS.Disabled: "Magic DNS Disabled" (true)     | Tailscale.MagicDNS.Disabled fires   |
/// | Tailscale.HTTPS.Disabled: "HTTPS Disabled" (true)             | Tailscale.HTTPS.Disabled fires      |
/// | Tailscale.Machine.Approval.Requirements.Disabled (true)       | Tailscale.DeviceApproval.Disabled   |
/// | all three: "Other Event", API key CREATE with `new: {}` (false)| none of those three fires           |
///
/// Where the catalogs differ on purpose: Panther's rules require `origin` ADMIN_CONSOLE, tailwatch's
/// fire for every origin (a stolen API key disabling HTTPS matters more, not less), so the same
/// event from CONFIG_API fires here and would not in Panther.
#[test]
fn panther_exported_rows_fire_what_panthers_rule_tests_expect() {
    use crate::engine::state::block_on;
    use crate::engine::{MemoryAlertState, Registry};

    let export = |event: &str, time: &str, recorded: &str| {
        format!(
            r#"{{"event":{event},"fields":{{"recorded":"{recorded}"}},"p_any_actor_ids":["uodc9f3CNTRL"],"p_any_emails":["homer@example.io"],"p_event_time":"2023-07-19 16:10:48.172000","p_log_type":"Tailscale.Audit","p_parse_time":"2023-07-19 16:13:56.849092","p_row_id":"5e197fb53834e39eeab7feb9198d04","p_schema_version":0,"p_source_id":"5d65e24a-7ebb-403b-803c-51396e03d201","p_source_label":"Tailscale Audit and Network Logs","p_udm":{{}},"time":{time}}}"#
        )
    };
    let disable = |property: &str, origin: &str| {
        format!(
            r#"{{"action":"DISABLE","actor":{{"displayName":"Homer","id":"uodc9f3CNTRL","loginName":"homer@example.io","type":"USER"}},"eventGroupID":"1770eb26fb58fbf67fd8fbfcc2056e66","origin":"{origin}","target":{{"id":"example.io","name":"example.io","property":"{property}","type":"TAILNET"}}}}"#
        )
    };
    let api_key = r#"{"action":"CREATE","actor":{"displayName":"Homer","id":"uodc9f3CNTRL","loginName":"homer@example.io","type":"USER"},"eventGroupID":"9f880e02981e341447958344b7b4071f","new":{},"origin":"ADMIN_CONSOLE","target":{"id":"k6r3fm3CNTRL","name":"API key","type":"API_KEY"}}"#;
    let watched = [
        "Tailscale.MagicDNS.Disabled",
        "Tailscale.HTTPS.Disabled",
        "Tailscale.DeviceApproval.Disabled",
    ];
    let cases: Vec<(&str, String, &[&str])> = vec![
        (
            "Magic DNS Disabled",
            export(
                &disable("MAGIC_DNS", "ADMIN_CONSOLE"),
                r#""2023-07-19 16:10:38.365000000""#,
                "2023-07-19 16:10:38.825360311",
            ),
            &["Tailscale.MagicDNS.Disabled"],
        ),
        (
            "HTTPS Disabled",
            export(
                &disable("HTTPS", "ADMIN_CONSOLE"),
                r#""2023-07-19 16:10:48.172000000""#,
                "2023-07-19 16:10:48.385283827",
            ),
            &["Tailscale.HTTPS.Disabled"],
        ),
        (
            "Machine Approval Requirements Disabled (custom schema, float time)",
            export(
                &disable("MACHINE_APPROVAL_NEEDED", "ADMIN_CONSOLE"),
                "1687906694.915",
                "2023-06-27 22:58:15.824694387",
            ),
            &["Tailscale.DeviceApproval.Disabled"],
        ),
        (
            "Other Event",
            export(api_key, r#""2023-07-19 16:11:41.601000000""#, "2023-07-19 16:11:41.778839718"),
            &[],
        ),
        (
            "HTTPS disabled through the API: Panther false (admin console only), tailwatch fires",
            export(
                &disable("HTTPS", "CONFIG_API"),
                r#""2023-07-19 16:12:00.000000000""#,
                "2023-07-19 16:12:00.100000000",
            ),
            &["Tailscale.HTTPS.Disabled"],
        ),
    ];
    let registry = Registry::catalog(&Default::default()).unwrap();
    for (name, body, expect) in cases {
        let out = run(body.as_bytes());
        assert_eq!((out.rows.len(), out.quarantined.len()), (1, 0), "{name}: {:?}", out.quarantined);
        let row = audit(&out)[0];
        assert_eq!(row.event_time_source, "time", "{name}");
        assert_eq!(row.unknown_fields, None, "{name}: p_* fields are not kept");
        let state = MemoryAlertState::default();
        let (alerts, _) = block_on(crate::engine::run::evaluate(&registry, &out.rows, &state, ctx().parse_time)).unwrap();
        let fired: Vec<&str> = alerts.iter().map(|a| a.id.as_str()).filter(|id| watched.contains(id)).collect();
        assert_eq!(fired, expect, "{name}");
    }
}
