//! The alert payload: serialized once and used everywhere — the SNS `default` message, the webhook
//! body, the local alerts file, and the `tailwatch_alerts` lake row.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::Severity;
use crate::lake::TAILWATCH_ALERTS;
use crate::ports::LakeRecord;
use crate::time::Timestamp;

/// Largest JSON size of the `events` sample in one alert (SNS messages are limited to 256 KiB).
pub const MAX_EVENTS_BYTES: usize = 64 << 10;

/// One alert notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// Detection id.
    pub id: String,
    /// Stable alert id: hash of (detection id, alert sequence number, dedup string).
    pub alert_id: String,
    /// When the alert was opened (RFC 3339).
    pub created_at: String,
    /// Severity.
    pub severity: Severity,
    /// Always `RULE`.
    #[serde(rename = "type")]
    pub alert_type: String,
    /// Title.
    pub title: String,
    /// Detection name.
    pub name: String,
    /// Why it matters.
    pub description: String,
    /// What to do.
    pub runbook: String,
    /// Reference.
    pub reference: String,
    /// ATT&CK tags.
    pub tags: Vec<String>,
    /// Dedup string.
    pub dedup: String,
    /// Matches attached when notified.
    pub event_count: u64,
    /// Log types.
    pub log_types: Vec<String>,
    /// Event time of the first match (RFC 3339).
    pub first_event_time: String,
    /// Detection context.
    pub alert_context: Value,
    /// The first few matching rows (bounded by [`MAX_EVENTS_BYTES`]).
    pub events: Vec<Value>,
}

/// SNS `Subject` limit: fewer than 100 characters.
pub const MAX_SUBJECT_CHARS: usize = 99;

/// One line (control characters become spaces) of at most [`MAX_SUBJECT_CHARS`] characters, cut on
/// a character boundary with `…` when longer.
fn bounded_line(raw: &str) -> String {
    let clean: String = raw.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if clean.chars().count() <= MAX_SUBJECT_CHARS {
        clean
    } else {
        let mut s: String = clean.chars().take(MAX_SUBJECT_CHARS - 1).collect();
        s.push('…');
        s
    }
}

/// `alertId` = stable hash of (detection id, alert sequence number, dedup string).
pub fn alert_id(rule_id: &str, seq: u64, dedup: &str) -> String {
    let mut h = blake3::Hasher::new();
    h.update(rule_id.as_bytes());
    h.update(&[0]);
    h.update(&seq.to_le_bytes());
    h.update(dedup.as_bytes());
    crate::normalize::hex128(h.finalize().as_bytes())
}

/// Keeps events while they fit in [`MAX_EVENTS_BYTES`] (always at least one, truncated if huge).
pub fn bounded_events(candidates: impl IntoIterator<Item = String>) -> Vec<Value> {
    let mut out = Vec::new();
    let mut used = 0;
    for text in candidates {
        if used + text.len() > MAX_EVENTS_BYTES {
            if out.is_empty() {
                out.push(json!({ "truncated": true, "prefix": text.chars().take(4096).collect::<String>() }));
            }
            break;
        }
        used += text.len();
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            if !out.contains(&v) {
                out.push(v);
            }
        }
    }
    out
}

impl Alert {
    /// The payload as JSON (the one serialization everything sends).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The title line: `[HIGH] title`, one line, fewer than 100 characters (SNS requires a
    /// `Subject` under 100), cut on a character boundary with `…`.
    pub fn subject(&self) -> String {
        bounded_line(&format!("[{}] {}", self.severity, self.title))
    }

    /// The SNS `Subject`: `ALARM: [HIGH] title`, fewer than 100 characters. PagerDuty's Amazon
    /// CloudWatch integration acts only on messages whose subject starts with `ALARM: ` and whose
    /// message has `NewStateValue` `ALARM` (the shape CloudWatch alarms publish), so alerts carry
    /// the same prefix; email shows it too.
    pub fn sns_subject(&self) -> String {
        bounded_line(&format!("ALARM: [{}] {}", self.severity, self.title))
    }

    /// A readable text body (email).
    pub fn email_text(&self) -> String {
        let context = serde_json::to_string_pretty(&self.alert_context).unwrap_or_default();
        let first = self
            .events
            .first()
            .map(|e| serde_json::to_string_pretty(e).unwrap_or_default())
            .unwrap_or_default();
        format!(
            "{title}\n\nSeverity: {sev}\nDetection: {name} ({id})\nAlert id: {aid}\nFirst event: {first_time}\nEvents: {count}\n\n{desc}\n\nRunbook:\n{runbook}\n\nContext:\n{context}\n\nFirst event:\n{first}\n\nReference: {reference}\n",
            title = self.title,
            sev = self.severity,
            name = self.name,
            id = self.id,
            aid = self.alert_id,
            first_time = self.first_event_time,
            count = self.event_count,
            desc = self.description,
            runbook = self.runbook,
            reference = self.reference,
        )
    }

    /// The `https` variant for PagerDuty's Amazon CloudWatch integration: the JSON a CloudWatch
    /// alarm publishes to SNS, with `NewStateValue` `ALARM` (the integration drops other states) and
    /// the alert id as `AlarmName`, which the integration de-duplicates incidents on: a re-delivered
    /// alert attaches to its incident, a new alert of the same detection opens a new one. The
    /// alert's own fields ride along under `tailwatch`.
    pub fn pagerduty_json(&self) -> String {
        json!({
            "AlarmName": self.alert_id,
            "AlarmDescription": self.subject(),
            "NewStateValue": "ALARM",
            "OldStateValue": "OK",
            "NewStateReason": format!("{} ({} event(s), first at {}). {}", self.title, self.event_count, self.first_event_time, self.description).chars().take(1000).collect::<String>(),
            "StateChangeTime": self.created_at,
            "AlarmArn": format!("tailwatch:alert:{}", self.alert_id),
            "Region": "tailwatch",
            "Trigger": { "MetricName": self.id, "Namespace": "tailwatch", "Dimensions": [{ "name": "severity", "value": self.severity.as_str() }] },
            "tailwatch": {
                "alertId": self.alert_id,
                "detection": self.id,
                "severity": self.severity,
                "title": self.title,
                "dedup": self.dedup,
                "eventCount": self.event_count,
                "firstEventTime": self.first_event_time,
                "runbook": self.runbook,
                "reference": self.reference,
            },
        })
        .to_string()
    }

    /// The SNS message with `MessageStructure=json`: `default`, `email` and `https` variants.
    pub fn sns_message(&self) -> String {
        json!({ "default": self.to_json(), "email": self.email_text(), "https": self.pagerduty_json() }).to_string()
    }

    /// One readable line (terminal output).
    pub fn one_line(&self) -> String {
        format!(
            "[{}] {} ({}, {} event(s), first at {})",
            self.severity, self.title, self.id, self.event_count, self.first_event_time
        )
    }

    /// The `tailwatch_alerts` lake row.
    pub fn lake_record(&self, source_file: &str) -> LakeRecord {
        let created = Timestamp::parse(&self.created_at).unwrap_or_else(|_| Timestamp::now());
        let first = Timestamp::parse(&self.first_event_time).unwrap_or(created);
        let row = json!({
            "p_log_type": TAILWATCH_ALERTS.log_type,
            "p_row_id": self.alert_id,
            "p_event_time": first,
            "p_parse_time": created,
            "p_source_label": "tailwatch",
            "p_source_file": source_file,
            "id": self.id,
            "alert_id": self.alert_id,
            "created_at": created,
            "severity": self.severity,
            "title": self.title,
            "name": self.name,
            "dedup": self.dedup,
            "event_count": self.event_count,
            "log_types": self.log_types,
            "first_event_time": first,
            "alert_context": self.alert_context,
            "alert": self,
        });
        LakeRecord::from_serialize(&TAILWATCH_ALERTS, first, &row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert() -> Alert {
        Alert {
            id: "Tailscale.MagicDNS.Disabled".into(),
            alert_id: alert_id("Tailscale.MagicDNS.Disabled", 1, "d"),
            created_at: "2025-03-04T17:21:10.000Z".into(),
            severity: Severity::High,
            alert_type: "RULE".into(),
            title: "Tailscale MagicDNS disabled by alice@example.com via ADMIN_CONSOLE".into(),
            name: "MagicDNS disabled".into(),
            description: "desc".into(),
            runbook: "1. look".into(),
            reference: "https://tailscale.com".into(),
            tags: vec!["T1562".into()],
            dedup: "d".into(),
            event_count: 1,
            log_types: vec!["Tailscale.Audit".into()],
            first_event_time: "2025-03-04T17:21:09.412Z".into(),
            alert_context: json!({"origin": "ADMIN_CONSOLE"}),
            events: vec![json!({"event_name": "TAILNET.DISABLE.MAGIC_DNS"})],
        }
    }

    #[test]
    fn payload_uses_the_documented_field_names() {
        let v: Value = serde_json::from_str(&alert().to_json()).unwrap();
        for key in [
            "id",
            "alertId",
            "createdAt",
            "severity",
            "type",
            "title",
            "name",
            "description",
            "runbook",
            "reference",
            "tags",
            "dedup",
            "eventCount",
            "logTypes",
            "firstEventTime",
            "alertContext",
            "events",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["type"], "RULE");
        assert_eq!(v["severity"], "HIGH");
    }

    #[test]
    fn alert_ids_are_stable_and_distinct_per_sequence() {
        assert_eq!(alert_id("R", 1, "d"), alert_id("R", 1, "d"));
        assert_ne!(alert_id("R", 1, "d"), alert_id("R", 2, "d"));
        assert_ne!(alert_id("R", 1, "d"), alert_id("S", 1, "d"));
    }

    #[test]
    fn subject_is_under_100_characters_single_line_and_cut_on_a_character_boundary() {
        let mut a = alert();
        assert_eq!(
            a.subject(),
            "[HIGH] Tailscale MagicDNS disabled by alice@example.com via ADMIN_CONSOLE"
        );
        assert_eq!(
            a.sns_subject(),
            "ALARM: [HIGH] Tailscale MagicDNS disabled by alice@example.com via ADMIN_CONSOLE"
        );
        a.title = format!("line\nbreak {}", "x".repeat(300));
        for s in [a.subject(), a.sns_subject()] {
            assert_eq!(s.chars().count(), 99, "SNS requires fewer than 100");
            assert!(!s.contains('\n') && s.ends_with('…'));
        }
        // Multi-byte characters are never split: the cut counts characters, not bytes.
        a.title = "é€😀".repeat(60);
        for s in [a.subject(), a.sns_subject()] {
            assert!(s.chars().count() <= 99);
            assert!(s.trim_end_matches('…').ends_with(['é', '€', '😀']));
        }
        // Exactly at the limit: kept whole.
        a.title = "y".repeat(99 - "[HIGH] ".len());
        assert_eq!(a.subject().chars().count(), 99);
        assert!(!a.subject().ends_with('…'));
    }

    #[test]
    fn sns_message_has_three_variants_and_pagerduty_is_alarm_shaped() {
        let a = alert();
        let m: Value = serde_json::from_str(&a.sns_message()).unwrap();
        let default: Alert = serde_json::from_str(m["default"].as_str().unwrap()).unwrap();
        assert_eq!(default, a);
        assert!(m["email"].as_str().unwrap().contains("Runbook:\n1. look"));
        let pd: Value = serde_json::from_str(m["https"].as_str().unwrap()).unwrap();
        // What PagerDuty's Amazon CloudWatch integration acts on: subject `ALARM: …` and
        // NewStateValue ALARM; AlarmName (the incident key) is the alert id.
        assert!(a.sns_subject().starts_with("ALARM: "));
        assert_eq!(pd["NewStateValue"], "ALARM");
        assert_eq!(pd["AlarmName"], a.alert_id);
        assert_eq!(pd["AlarmDescription"], a.subject());
        assert_eq!(pd["StateChangeTime"], a.created_at);
        assert_eq!(pd["tailwatch"]["detection"], "Tailscale.MagicDNS.Disabled");
        assert_eq!(pd["tailwatch"]["severity"], "HIGH");
    }

    #[test]
    fn lake_row_has_only_declared_columns() {
        let rec = alert().lake_record("lake/x.json.gz");
        let v: Value = serde_json::from_slice(&rec.json).unwrap();
        for k in v.as_object().unwrap().keys() {
            assert!(TAILWATCH_ALERTS.all_columns().any(|c| c.name == k), "{k}");
        }
        assert_eq!(rec.table.name, "tailwatch_alerts");
        assert_eq!(v["p_event_time"], "2025-03-04 17:21:09.412");
    }

    #[test]
    fn events_are_bounded() {
        let big = format!("{{\"x\":\"{}\"}}", "a".repeat(MAX_EVENTS_BYTES));
        let ev = bounded_events(vec!["{\"a\":1}".to_owned(), big.clone(), "{\"a\":1}".to_owned()]);
        assert_eq!(ev, vec![json!({"a":1})]);
        let ev = bounded_events(vec![big]);
        assert_eq!(ev[0]["truncated"], true);
    }
}
