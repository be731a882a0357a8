//! User approval turned off: anyone who can sign in with the tailnet's identity provider becomes
//! a working user at once, with nobody reviewing who they are.

use crate::detections::common::{by_actor, context, tailnet_setting_disabled};
use crate::engine::{Expect, Meta, Severity, TestCase};
use crate::lake::AuditRow;
use crate::record::TargetProperty;
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.UserApproval.Disabled",
    name: "Tailscale user approval disabled",
    severity: Severity::High,
    description: "The tailnet's user approval requirement (USER_APPROVAL_REQUIRED) was disabled. New users who sign in are no longer held in a pending state until an administrator approves them, so a compromised identity-provider account or a too-broad domain sign-up gets network access immediately. Fires for every origin.",
    runbook: "1. Confirm with the actor (actor_login_name, actor_type, origin) that the change was intended; an API or OAuth origin nobody claims points to a stolen key.\n2. If not intended, re-enable user approval in the admin console (User management settings) and revoke the actor's keys or sessions.\n3. Review users who joined since the change: tailscale_audit rows with target_type USER and action CREATE after p_event_time, and their login domains (target_name).",
    reference: "https://tailscale.com/kb/1239/user-approval",
    tags: &["T1562.001", "T1136"],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow> = Rule {
    meta: META,
    matches: |r| tailnet_setting_disabled(r, &TargetProperty::UserApprovalRequired),
    title: |r| by_actor("Tailscale user approval disabled", r),
    context: Some(|h| context(h)),
    tests: TESTS,
    ..Rule::DEFAULT
};

const TESTS: &[TestCase] = &[
    TestCase::new(
        "disabled in the admin console",
        r#"{"eventTime":"2025-03-04T17:21:09Z","eventGroupID":"2c1f0e9d8c7b6a594837261504f3e2d1","origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com","displayName":"Alice Admin"},"target":{"id":"example.com","name":"example.com","type":"TAILNET","property":"USER_APPROVAL_REQUIRED"},"action":"DISABLE"}"#,
        Expect::Fire {
            title: "Tailscale user approval disabled by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::High,
            dedup: Some("uodc9f3CNTRL|example.com"),
            context_keys: &["origin", "actor_login_name", "event_name"],
        },
    ),
    TestCase::new(
        "disabled through the API by an OAuth client",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"id":"example.com","name":"example.com","type":"TAILNET","property":"USER_APPROVAL_REQUIRED"},"action":"DISABLE"}"#,
        Expect::Fire {
            title: "Tailscale user approval disabled by OAuth client k3F261FC38A07CNTRL via CONFIG_API",
            severity: Severity::High,
            dedup: Some("k3F261FC38A07CNTRL|example.com"),
            context_keys: &["origin", "actor_id"],
        },
    ),
    TestCase::new(
        "near miss: user approval enabled",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"USER_APPROVAL_REQUIRED"},"action":"ENABLE"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: device approval disabled (its own detection)",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"MACHINE_APPROVAL_NEEDED"},"action":"DISABLE"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: the change failed",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"USER_APPROVAL_REQUIRED"},"action":"DISABLE","error":"permission denied"}"#,
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
