//! SCIM provisioning turned off: people removed from the identity provider keep their Tailscale
//! access, so offboarding silently stops working.

use crate::detections::common::{by_actor, tailnet_setting_changed};
use crate::engine::{Expect, Meta, Severity, TestCase};
use crate::lake::AuditRow;
use crate::record::{Action, TargetProperty};
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.SCIM.Disabled",
    name: "Tailscale SCIM provisioning disabled",
    severity: Severity::High,
    description: "User and group provisioning from the identity provider (SCIM) was disabled or removed for the tailnet. From then on, users suspended or deleted in the identity provider stay active in Tailscale, and group changes no longer reach the policy file's groups.",
    runbook: "1. Ask the actor (actor_login_name, actor_id, origin) why SCIM was turned off; identity provider migrations do this briefly.\n2. If not intended, re-enable user & group provisioning on the admin console Settings > User management page and rotate the SCIM token.\n3. Compare Tailscale's user list with the identity provider's for users who should have been removed since p_event_time.",
    reference: "https://tailscale.com/kb/1180/sso-okta-scim",
    tags: &["T1562", "T1098"],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow> = Rule {
    meta: META,
    matches: |r| tailnet_setting_changed(r, &[Action::Disable, Action::Delete], &[TargetProperty::Scim]),
    title: |r| by_actor("Tailscale SCIM provisioning disabled", r),
    tests: TESTS,
    ..Rule::DEFAULT
};

const TESTS: &[TestCase] = &[
    TestCase::new(
        "disabled through the API",
        r#"{"origin":"CONFIG_API","actor":{"id":"kQ8rT2xCNTRL","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"id":"example.com","name":"example.com","type":"TAILNET","property":"SCIM"},"action":"DISABLE","eventTime":"2026-07-26T10:00:00Z"}"#,
        Expect::Fire {
            title: "Tailscale SCIM provisioning disabled by OAuth client kQ8rT2xCNTRL via CONFIG_API",
            severity: Severity::High,
            dedup: Some("kQ8rT2xCNTRL|example.com"),
            context_keys: &["actor_id", "origin", "event_name"],
        },
    ),
    TestCase::new(
        "near miss: SCIM enabled",
        r#"{"origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com"},"target":{"id":"example.com","type":"TAILNET","property":"SCIM"},"action":"ENABLE","eventTime":"2026-07-26T10:00:00Z"}"#,
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
