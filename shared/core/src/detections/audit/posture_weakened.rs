//! Device posture weakened: access rules that check a device's health (EDR, MDM, OS version)
//! silently stop checking, letting unmanaged machines through.

use crate::detections::common::{by_actor, property_changed};
use crate::engine::{Expect, Meta, Severity, TestCase};
use crate::lake::AuditRow;
use crate::record::{Action, TargetProperty, TargetType};
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.Posture.Weakened",
    name: "Tailscale device posture weakened",
    severity: Severity::Medium,
    description: "A device posture integration (CrowdStrike, Intune, Jamf, Kandji, …) was deleted or changed, or collection of device posture identity was disabled. Posture conditions in the policy file then evaluate on missing or stale data, so unmanaged or unhealthy devices may pass. Fires for every origin.",
    runbook: "1. Identify the integration (target_name, target_id, old / new in the alert context) and ask the actor (actor_login_name, actor_type, origin) why it changed.\n2. If not intended, restore the integration or re-enable posture identity collection on the admin console Device management page, and revoke the actor's keys or sessions.\n3. Check the policy file's postures and srcPosture conditions that relied on it, and search tailscale_audit for the same actor_id in the surrounding hour.",
    reference: "https://tailscale.com/kb/1288/device-posture",
    tags: &["T1562.001"],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow> = Rule {
    meta: META,
    matches: |r| integration_changed(r) || identity_collection_disabled(r),
    title: |h| {
        let r = h;
        let what = if identity_collection_disabled(r) {
            "Tailscale device posture identity collection disabled".to_owned()
        } else {
            let verb = if r.action == Action::Delete { "deleted" } else { "changed" };
            // The tailnet's own name is no help in telling integrations apart.
            match r.target_type {
                Some(TargetType::PostureIntegration) => match r.target_name.as_deref().or(r.target_id.as_deref()) {
                    Some(name) => format!("Tailscale posture integration {name} {verb}"),
                    None => format!("Tailscale posture integration {verb}"),
                },
                _ => format!("Tailscale posture integration {verb}"),
            }
        };
        by_actor(&what, r)
    },
    tests: TESTS,
    ..Rule::DEFAULT
};

fn integration_changed(r: &AuditRow) -> bool {
    r.error.is_none()
        && matches!(r.action, Action::Update | Action::Delete)
        && (r.target_property == Some(TargetProperty::PostureIntegration) || r.target_type == Some(TargetType::PostureIntegration))
}

fn identity_collection_disabled(r: &AuditRow) -> bool {
    property_changed(r, &[Action::Disable], &[TargetProperty::CollectPostureIdentity])
}

const TESTS: &[TestCase] = &[
    TestCase::new(
        "EDR integration deleted through the API",
        r#"{"eventTime":"2025-03-04T17:21:09Z","eventGroupID":"1a2b3c4d5e6f708192a3b4c5d6e7f801","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"id":"pcrowd1CNTRL","name":"falcon","type":"POSTURE_INTEGRATION"},"action":"DELETE","old":{"provider":"falcon","cloudId":"us-1","clientId":"a1b2c3"}}"#,
        Expect::Fire {
            title: "Tailscale posture integration falcon deleted by OAuth client k3F261FC38A07CNTRL via CONFIG_API",
            severity: Severity::Medium,
            dedup: Some("k3F261FC38A07CNTRL|pcrowd1CNTRL"),
            context_keys: &["old", "target_id", "origin", "actor_id"],
        },
    ),
    TestCase::new(
        "integration changed as a tailnet property",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com"},"target":{"id":"example.com","name":"example.com","type":"TAILNET","property":"POSTURE_INTEGRATION"},"action":"UPDATE","old":{"provider":"intune","tenantId":"t-1"},"new":{"provider":"intune","tenantId":"t-2"}}"#,
        Expect::Fire {
            title: "Tailscale posture integration changed by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::Medium,
            dedup: Some("uodc9f3CNTRL|example.com"),
            context_keys: &["old", "new", "actor_login_name"],
        },
    ),
    TestCase::new(
        "posture identity collection disabled",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com"},"target":{"id":"example.com","name":"example.com","type":"TAILNET","property":"COLLECT_POSTURE_IDENTITY"},"action":"DISABLE"}"#,
        Expect::Fire {
            title: "Tailscale device posture identity collection disabled by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::Medium,
            dedup: Some("uodc9f3CNTRL|example.com"),
            context_keys: &["event_name", "origin"],
        },
    ),
    TestCase::new(
        "near miss: an integration created",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"name":"falcon","type":"POSTURE_INTEGRATION"},"action":"CREATE","new":{"provider":"falcon"}}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: posture identity collection enabled",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"COLLECT_POSTURE_IDENTITY"},"action":"ENABLE"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: the deletion failed",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"CONFIG_API","actor":{"id":"k1","type":"OAUTH_CLIENT"},"target":{"name":"falcon","type":"POSTURE_INTEGRATION"},"action":"DELETE","error":"insufficient scopes"}"#,
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
