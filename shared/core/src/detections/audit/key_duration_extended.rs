//! The tailnet's maximum node key duration raised: every device goes longer between
//! re-authentications, so stolen devices and keys stay useful for longer.

use crate::detections::common::{by_actor, change_context, tailnet_setting_changed};
use crate::engine::{json_value, Expect, Meta, Severity, TestCase};
use crate::lake::AuditRow;
use crate::record::{Action, TargetProperty};
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.KeyDuration.Extended",
    name: "Tailscale maximum key duration extended",
    severity: Severity::Low,
    description: "The tailnet's maximum node key duration (MAX_KEY_DURATION) was raised. Nodes re-authenticate less often, so a lost device or copied node key keeps working longer. old and new are read as days when they are plain numbers, or as durations (`4320h0m0s`, `90d`, `2w`); when either cannot be read the detection stays quiet rather than guess. Fires for every origin.",
    runbook: "1. Compare old_days and new_days in the alert context (tailscale_audit old / new).\n2. Confirm with the actor (actor_login_name, actor_type, origin) that the change was intended and matches your policy.\n3. If not, set the key duration back on the admin console Device management page and revoke the actor's keys or sessions.",
    reference: "https://tailscale.com/kb/1028/key-expiry",
    tags: &["T1098", "T1562.001"],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow> = Rule {
    meta: META,
    matches: |h| extension(h).is_some(),
    title: |h| {
        let r = h;
        let (old, new) = extension(r).unwrap_or_default();
        by_actor(
            &format!(
                "Tailscale maximum key duration extended from {} to {} days",
                days_label(old),
                days_label(new)
            ),
            r,
        )
    },
    context: Some(|h| {
        let r = h;
        let mut ctx = change_context(r);
        if let (Some(m), Some((old, new))) = (ctx.as_object_mut(), extension(r)) {
            m.insert("old_days".into(), old.into());
            m.insert("new_days".into(), new.into());
        }
        ctx
    }),
    tests: TESTS,
    ..Rule::DEFAULT
};

/// Seconds per unit of a duration text; `None` for units this code does not know.
fn unit_seconds(unit: &str) -> Option<f64> {
    Some(match unit {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
        "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
        "d" | "day" | "days" => 86_400.0,
        "w" | "week" | "weeks" => 604_800.0,
        _ => return None,
    })
}

/// A duration text in seconds: a bare number is days; otherwise number+unit groups (`4320h0m0s`,
/// `90d`, `2 weeks`).
fn parse_text(text: &str) -> Option<f64> {
    let text = text.trim().to_ascii_lowercase();
    if let Ok(days) = text.parse::<f64>() {
        return Some(days * 86_400.0);
    }
    let mut total = 0.0;
    let mut rest = text.as_str();
    let mut groups = 0;
    while !rest.is_empty() {
        rest = rest.trim_start();
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let number: f64 = rest[..num_len].parse().ok()?;
        rest = rest[num_len..].trim_start();
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.' || c.is_whitespace())
            .unwrap_or(rest.len());
        total += number * unit_seconds(&rest[..unit_len])?;
        rest = rest[unit_len..].trim_start();
        groups += 1;
    }
    (groups > 0).then_some(total)
}

/// `old` / `new` in seconds: a JSON number of days, or a JSON string as in [`parse_text`].
fn seconds(text: Option<&str>) -> Option<f64> {
    match json_value(text)? {
        serde_json::Value::Number(n) => n.as_f64().map(|days| days * 86_400.0),
        serde_json::Value::String(s) => parse_text(&s),
        _ => None,
    }
    .filter(|s| s.is_finite() && *s >= 0.0)
}

/// `(old, new)` in days when the row extends the duration.
fn extension(r: &AuditRow) -> Option<(f64, f64)> {
    if !tailnet_setting_changed(r, &[Action::Update], &[TargetProperty::MaxKeyDuration]) {
        return None;
    }
    let (old, new) = (seconds(r.old.as_deref())?, seconds(r.new.as_deref())?);
    (new > old).then_some((old / 86_400.0, new / 86_400.0))
}

fn days_label(days: f64) -> String {
    if days.fract() == 0.0 {
        format!("{days:.0}")
    } else {
        format!("{days:.2}")
    }
}

const TESTS: &[TestCase] = &[
    TestCase::new(
        "days as numbers, in the admin console",
        r#"{"eventTime":"2025-03-04T17:21:09Z","eventGroupID":"6f5e4d3c2b1a09f8e7d6c5b4a3928170","origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com","displayName":"Alice Admin"},"target":{"id":"example.com","name":"example.com","type":"TAILNET","property":"MAX_KEY_DURATION"},"action":"UPDATE","old":90,"new":180}"#,
        Expect::Fire {
            title: "Tailscale maximum key duration extended from 90 to 180 days by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::Low,
            dedup: Some("uodc9f3CNTRL|example.com"),
            context_keys: &["old_days", "new_days", "old", "new", "actor_login_name"],
        },
    ),
    TestCase::new(
        "Go durations as strings, through the API",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"id":"example.com","name":"example.com","type":"TAILNET","property":"MAX_KEY_DURATION"},"action":"UPDATE","old":"720h0m0s","new":"4320h0m0s"}"#,
        Expect::Fire {
            title: "Tailscale maximum key duration extended from 30 to 180 days by OAuth client k3F261FC38A07CNTRL via CONFIG_API",
            severity: Severity::Low,
            dedup: Some("k3F261FC38A07CNTRL|example.com"),
            context_keys: &["old_days", "new_days", "origin"],
        },
    ),
    TestCase::new(
        "day strings",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"MAX_KEY_DURATION"},"action":"UPDATE","old":"7","new":"2w"}"#,
        Expect::Fire {
            title: "Tailscale maximum key duration extended from 7 to 14 days by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::Low,
            dedup: Some("alice@example.com|-"),
            context_keys: &["old_days", "new_days"],
        },
    ),
    TestCase::new(
        "near miss: duration shortened",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"MAX_KEY_DURATION"},"action":"UPDATE","old":180,"new":90}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: a value that is not a duration",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"MAX_KEY_DURATION"},"action":"UPDATE","old":"90d","new":"forever"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: the change failed",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"MAX_KEY_DURATION"},"action":"UPDATE","old":90,"new":180,"error":"value out of range"}"#,
        Expect::Quiet,
    ),
];

#[cfg(test)]
mod tests {
    #[test]
    fn cases() {
        crate::engine::testing::assert_cases(&super::RULE);
    }
}
