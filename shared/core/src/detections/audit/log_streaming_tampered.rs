//! Log streaming or flow logging switched off or redirected: the attacker's usual step before
//! acting, because it blinds this very pipeline.

use crate::detections::common::{by_actor, change_context, property_changed};
use crate::engine::{json_value, Expect, Meta, Severity, TestCase};
use crate::lake::AuditRow;
use crate::record::{Action, TargetProperty, TargetType};
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.LogStreaming.Tampered",
    name: "Tailscale log streaming tampered with",
    severity: Severity::High,
    description: "A log streaming endpoint was changed (HIGH) or deleted (CRITICAL), or network flow logging or exit-node flow logging was disabled (CRITICAL). Someone is blinding the SIEM, or redirecting the tailnet's logs to an endpoint they control. The context shows the old and new endpoint. Fires for every origin.",
    runbook: "1. Compare old_endpoint / new_endpoint and log_type in the alert context (tailscale_audit old / new): was the stream pointed elsewhere or removed?\n2. Confirm with the actor (actor_login_name, actor_type, origin) that the change was intended; an API or OAuth origin nobody claims points to a stolen key.\n3. If not intended, restore the stream in the admin console (Logs page), revoke the actor's keys or sessions, and backfill the gap from the configuration log API (tailwatch replay) starting at p_event_time.",
    reference: "https://tailscale.com/kb/1255/log-streaming",
    tags: &["T1562.008", "T1562.001"],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow> = Rule {
    meta: META,
    matches: |r| endpoint_changed(r) || flow_logging_disabled(r),
    title: |h| {
        let r = h;
        let what = match (&r.target_property, &r.action) {
            (Some(TargetProperty::NetworkFlowLogging), _) => "Tailscale network flow logging disabled".to_owned(),
            (Some(TargetProperty::LogExitFlows), _) => "Tailscale exit node flow logging disabled".to_owned(),
            (_, action) => {
                let kind = setting(r.old.as_deref(), "logstreamType").or_else(|| setting(r.new.as_deref(), "logstreamType"));
                let verb = if *action == Action::Delete { "deleted" } else { "changed" };
                match kind {
                    Some(kind) => format!("Tailscale {kind} log streaming endpoint {verb}"),
                    None => format!("Tailscale log streaming endpoint {verb}"),
                }
            }
        };
        by_actor(&what, r)
    },
    severity: Some(|h| {
        if h.action == Action::Update {
            Severity::High
        } else {
            Severity::Critical
        }
    }),
    context: Some(|h| {
        let r = h;
        let mut ctx = change_context(r);
        if let Some(m) = ctx.as_object_mut() {
            for (key, text) in [("old_endpoint", r.old.as_deref()), ("new_endpoint", r.new.as_deref())] {
                if let Some(url) = setting(text, "endpointURL") {
                    m.insert(key.into(), url.into());
                }
            }
            if let Some(kind) = setting(r.old.as_deref(), "logstreamType").or_else(|| setting(r.new.as_deref(), "logstreamType")) {
                m.insert("log_type".into(), kind.into());
            }
        }
        ctx
    }),
    tests: TESTS,
    ..Rule::DEFAULT
};

fn is_logstream_endpoint(r: &AuditRow) -> bool {
    r.target_property == Some(TargetProperty::LogstreamEndpoint) || r.target_type == Some(TargetType::LogstreamEndpoint)
}

fn endpoint_changed(r: &AuditRow) -> bool {
    r.error.is_none() && matches!(r.action, Action::Update | Action::Delete) && is_logstream_endpoint(r)
}

fn flow_logging_disabled(r: &AuditRow) -> bool {
    property_changed(
        r,
        &[Action::Disable],
        &[TargetProperty::NetworkFlowLogging, TargetProperty::LogExitFlows],
    )
}

/// A member of the endpoint settings in `old` or `new` (`endpointURL`, `logstreamType`, …).
fn setting(text: Option<&str>, key: &str) -> Option<String> {
    json_value(text)?.get(key)?.as_str().map(str::to_owned)
}

const TESTS: &[TestCase] = &[
    TestCase::new(
        "network stream deleted through the API",
        r#"{"eventTime":"2025-03-04T17:21:09Z","eventGroupID":"f846956bdb059dc565e74ad4503580bb","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"id":"S8C425331F48BCNTRL","name":"example.com","type":"TAILNET","property":"LOGSTREAM_ENDPOINT"},"action":"DELETE","old":{"provider":"splunk","logstreamType":"network","endpointURL":"https://siem.example.com/services/collector/event"}}"#,
        Expect::Fire {
            title: "Tailscale network log streaming endpoint deleted by OAuth client k3F261FC38A07CNTRL via CONFIG_API",
            severity: Severity::Critical,
            dedup: Some("k3F261FC38A07CNTRL|S8C425331F48BCNTRL"),
            context_keys: &["old", "old_endpoint", "log_type", "origin", "actor_id"],
        },
    ),
    TestCase::new(
        "configuration stream pointed elsewhere in the admin console",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com","displayName":"Alice Admin"},"target":{"id":"S8C425331F48BCNTRL","name":"example.com","type":"TAILNET","property":"LOGSTREAM_ENDPOINT"},"action":"UPDATE","old":{"provider":"splunk","logstreamType":"configuration","endpointURL":"https://siem.example.com/services/collector/event"},"new":{"provider":"splunk","logstreamType":"configuration","endpointURL":"https://collector.attacker.example.net/services/collector/event"}}"#,
        Expect::Fire {
            title: "Tailscale configuration log streaming endpoint changed by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::High,
            dedup: Some("uodc9f3CNTRL|S8C425331F48BCNTRL"),
            context_keys: &["old", "new", "old_endpoint", "new_endpoint", "log_type"],
        },
    ),
    TestCase::new(
        "network flow logging disabled",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com"},"target":{"id":"example.com","name":"example.com","type":"TAILNET","property":"NETWORK_FLOW_LOGGING"},"action":"DISABLE"}"#,
        Expect::Fire {
            title: "Tailscale network flow logging disabled by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::Critical,
            dedup: Some("uodc9f3CNTRL|example.com"),
            context_keys: &["origin", "actor_login_name", "event_name"],
        },
    ),
    TestCase::new(
        "exit node flow logging disabled",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT","displayName":"OAuth client"},"target":{"id":"example.com","name":"example.com","type":"TAILNET","property":"LOG_EXIT_FLOWS"},"action":"DISABLE"}"#,
        Expect::Fire {
            title: "Tailscale exit node flow logging disabled by OAuth client k3F261FC38A07CNTRL via CONFIG_API",
            severity: Severity::Critical,
            dedup: Some("k3F261FC38A07CNTRL|example.com"),
            context_keys: &["origin", "actor_id"],
        },
    ),
    TestCase::new(
        "near miss: a stream created",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"LOGSTREAM_ENDPOINT"},"action":"CREATE","new":{"provider":"splunk","logstreamType":"network","endpointURL":"https://siem.example.com/services/collector/event"}}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: flow logging enabled",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"NETWORK_FLOW_LOGGING"},"action":"ENABLE"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: the deletion failed",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"CONFIG_API","actor":{"id":"k1","type":"OAUTH_CLIENT"},"target":{"type":"TAILNET","property":"LOGSTREAM_ENDPOINT"},"action":"DELETE","error":"insufficient scopes"}"#,
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
