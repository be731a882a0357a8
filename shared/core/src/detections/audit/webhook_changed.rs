//! Webhook endpoints changed: a new endpoint receives the tailnet's event stream, and a deleted or
//! re-pointed one stops the notifications responders rely on.

use crate::detections::common::{by_actor, target_label};
use crate::engine::{Expect, Meta, Severity, TestCase};
use crate::lake::AuditRow;
use crate::record::{Action, TargetProperty, TargetType};
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.Webhook.Changed",
    name: "Tailscale webhook changed",
    severity: Severity::Low,
    description: "A webhook endpoint was created, deleted, or updated (its secret rotated or its subscribed events changed). A new endpoint sends tailnet events (new nodes, users, policy changes) to a URL of the creator's choice; deleting or narrowing one silences notifications. Fires for every origin.",
    runbook: "1. Check the endpoint (target_name / target_id) and, for updates, old / new in the alert context: is the URL yours, and which events were dropped?\n2. Confirm with the actor (actor_login_name, actor_type, origin) that the change was intended.\n3. If not, delete or restore the endpoint on the admin console Webhooks page and revoke the actor's keys or sessions.",
    reference: "https://tailscale.com/kb/1213/webhooks",
    tags: &["T1562.001", "T1567"],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow> = Rule {
    meta: META,
    matches: |h| matches(h),
    title: |h| {
        let r = h;
        let change = match (&r.action, &r.target_property) {
            (Action::Create, _) => "created",
            (Action::Delete, _) => "deleted",
            (_, Some(TargetProperty::Secret)) => "secret rotated",
            (_, Some(TargetProperty::SubscribedEvents)) => "subscribed events changed",
            _ => "changed",
        };
        by_actor(&format!("Tailscale webhook {} {change}", target_label(r)), r)
    },
    tests: TESTS,
    ..Rule::DEFAULT
};

fn matches(r: &AuditRow) -> bool {
    r.target_type == Some(TargetType::WebhookEndpoint)
        && matches!(r.action, Action::Create | Action::Delete | Action::Update)
        && r.error.is_none()
}

const TESTS: &[TestCase] = &[
    TestCase::new(
        "webhook created through the API",
        r#"{"eventTime":"2025-03-04T17:21:09Z","eventGroupID":"5e4d3c2b1a0998877665544332211000","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"id":"wh1CNTRL","name":"https://hooks.example.net/tailscale","type":"WEBHOOK_ENDPOINT"},"action":"CREATE","new":{"endpointUrl":"https://hooks.example.net/tailscale","subscriptions":["nodeCreated","userCreated"]}}"#,
        Expect::Fire {
            title: "Tailscale webhook https://hooks.example.net/tailscale created by OAuth client k3F261FC38A07CNTRL via CONFIG_API",
            severity: Severity::Low,
            dedup: Some("k3F261FC38A07CNTRL|wh1CNTRL"),
            context_keys: &["new", "target_id", "target_name", "origin", "actor_id"],
        },
    ),
    TestCase::new(
        "subscribed events narrowed in the admin console",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com"},"target":{"id":"wh1CNTRL","name":"https://hooks.example.com/tailscale","type":"WEBHOOK_ENDPOINT","property":"SUBSCRIBED_EVENTS"},"action":"UPDATE","old":["nodeCreated","policyUpdate","userRoleUpdated"],"new":["nodeCreated"]}"#,
        Expect::Fire {
            title: "Tailscale webhook https://hooks.example.com/tailscale subscribed events changed by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::Low,
            dedup: Some("uodc9f3CNTRL|wh1CNTRL"),
            context_keys: &["old", "new", "event_name"],
        },
    ),
    TestCase::new(
        "secret rotated",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com"},"target":{"id":"wh1CNTRL","name":"https://hooks.example.com/tailscale","type":"WEBHOOK_ENDPOINT","property":"SECRET"},"action":"UPDATE"}"#,
        Expect::Fire {
            title: "Tailscale webhook https://hooks.example.com/tailscale secret rotated by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::Low,
            dedup: Some("uodc9f3CNTRL|wh1CNTRL"),
            context_keys: &["event_name", "target_id"],
        },
    ),
    TestCase::new(
        "webhook deleted",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com"},"target":{"id":"wh1CNTRL","name":"https://hooks.example.com/tailscale","type":"WEBHOOK_ENDPOINT"},"action":"DELETE"}"#,
        Expect::Fire {
            title: "Tailscale webhook https://hooks.example.com/tailscale deleted by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::Low,
            dedup: Some("uodc9f3CNTRL|wh1CNTRL"),
            context_keys: &["event_name"],
        },
    ),
    TestCase::new(
        "near miss: a test event sent to the webhook",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"id":"wh1CNTRL","type":"WEBHOOK_ENDPOINT"},"action":"VERIFY"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: a log stream created (another kind of endpoint)",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"LOGSTREAM_ENDPOINT"},"action":"CREATE"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: the creation failed",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"CONFIG_API","actor":{"id":"k1","type":"OAUTH_CLIENT"},"target":{"type":"WEBHOOK_ENDPOINT"},"action":"CREATE","error":"endpoint must use https"}"#,
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
