//! Node key expiry turned off: the device stays in the tailnet forever without its user ever
//! re-authenticating, so a stolen or lost laptop never drops out on its own.

use crate::detections::common::{by_actor, property_changed, target_label};
use crate::engine::{Expect, Meta, Severity, TestCase};
use crate::lake::AuditRow;
use crate::record::{Action, TargetProperty, TargetType};
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.Node.KeyExpiryDisabled",
    name: "Tailscale node key expiry disabled",
    severity: Severity::Medium,
    description: "Key expiry was disabled for a node: its owner never has to re-authenticate, so a lost or compromised device keeps its access indefinitely. Audit records do not carry the node's tags, but Tailscale already disables key expiry when a node is tagged, so an explicit DISABLE is almost always for a person's device: MEDIUM. LOW for ephemeral nodes (target.isEphemeral), which leave the tailnet when they go offline. Fires for every origin.",
    runbook: "1. Identify the node (target_name, target_id) on the admin console Machines page: whose device is it, is it tagged?\n2. Ask the actor (actor_login_name, actor_id, origin) why expiry was disabled; for a user device, re-enable key expiry unless there is a documented reason.\n3. Search tailscale_audit for the same target_id for earlier changes (ACL_TAGS, ALLOWED_IPS) and for who approved the node.",
    reference: "https://tailscale.com/kb/1028/key-expiry",
    tags: &["T1098", "T1078"],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow> = Rule {
    meta: META,
    matches: |r| r.target_type == Some(TargetType::Node) && property_changed(r, &[Action::Disable], &[TargetProperty::KeyExpiry]),
    title: |r| by_actor(&format!("Tailscale key expiry disabled for {}", target_label(r)), r),
    severity: Some(|r| {
        if r.target_is_ephemeral == Some(true) {
            Severity::Low
        } else {
            Severity::Medium
        }
    }),
    tests: TESTS,
    ..Rule::DEFAULT
};

const TESTS: &[TestCase] = &[
    TestCase::new(
        "a device in the admin console",
        r#"{"eventTime":"2025-03-04T17:21:09Z","eventGroupID":"77aa88bb99cc00dd11ee22ff33aa44bb","origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com","displayName":"Alice Admin"},"target":{"id":"nBLYviWLGB21CNTRL","name":"db-01.tail1a2b.ts.net","type":"NODE","property":"KEY_EXPIRY"},"action":"DISABLE"}"#,
        Expect::Fire {
            title: "Tailscale key expiry disabled for db-01.tail1a2b.ts.net by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::Medium,
            dedup: Some("uodc9f3CNTRL|nBLYviWLGB21CNTRL"),
            context_keys: &["target_id", "target_name", "actor_login_name"],
        },
    ),
    TestCase::new(
        "an ephemeral node through the API",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"id":"nCi9CNTRL","name":"ci-runner-9.tail1a2b.ts.net","type":"NODE","property":"KEY_EXPIRY","isEphemeral":true},"action":"DISABLE"}"#,
        Expect::Fire {
            title: "Tailscale key expiry disabled for ci-runner-9.tail1a2b.ts.net by OAuth client k3F261FC38A07CNTRL via CONFIG_API",
            severity: Severity::Low,
            dedup: Some("k3F261FC38A07CNTRL|nCi9CNTRL"),
            context_keys: &["origin", "actor_id"],
        },
    ),
    TestCase::new(
        "near miss: key expiry enabled",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"name":"db-01.tail1a2b.ts.net","type":"NODE","property":"KEY_EXPIRY"},"action":"ENABLE"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: a key expired (control plane)",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"CONTROL","actor":{"id":"","type":"AUTOMATED_WORKER","displayName":"Tailscale"},"target":{"id":"nLaptop42CNTRL","name":"laptop-42.tail1a2b.ts.net","type":"NODE","property":"KEY_EXPIRY_TIME"},"action":"EXPIRED"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: the change failed",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"name":"db-01.tail1a2b.ts.net","type":"NODE","property":"KEY_EXPIRY"},"action":"DISABLE","error":"permission denied"}"#,
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
