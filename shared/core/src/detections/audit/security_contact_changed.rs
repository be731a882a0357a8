//! The security contact changed: Tailscale's warnings about leaked keys and suspicious activity
//! now go to someone else, which is how an intruder keeps defenders from hearing about them.

use crate::detections::common::by_actor;
use crate::engine::{Expect, Meta, Severity, TestCase};
use crate::lake::AuditRow;
use crate::record::Action;
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.SecurityContact.Changed",
    name: "Tailscale security contact changed",
    severity: Severity::Medium,
    description: "A tailnet contact property whose name contains CONTACT (e.g. SECURITY_CONTACT; the exact property name is inferred, not yet seen in a capture) was updated, created or removed. Tailscale sends security notifications (leaked auth keys found by its secret scanner, suspicious logins) to this address.",
    runbook: "1. Compare old/new in the alert context and ask the actor (actor_login_name, actor_id, origin) why the contact changed.\n2. If not expected, set the contact back on the admin console Settings > Contact preferences page and revoke the actor's sessions and keys.\n3. Search tailscale_audit for origin SECURITY_NOTIFICATION or actor_type SECRET_SCANNER after p_event_time: notices the new contact may have hidden.",
    reference: "https://tailscale.com/kb/1224/contact-preferences",
    tags: &["T1562", "T1098"],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow> = Rule {
    meta: META,
    matches: |h| matches(h),
    title: |r| by_actor("Tailscale security contact changed", r),
    tests: TESTS,
    ..Rule::DEFAULT
};

fn matches(r: &AuditRow) -> bool {
    r.error.is_none()
        && matches!(r.action, Action::Update | Action::Create | Action::Delete)
        && r.target_property
            .as_ref()
            .is_some_and(|p| p.as_str().to_ascii_uppercase().contains("CONTACT"))
}

const TESTS: &[TestCase] = &[
    TestCase::new(
        "security contact re-pointed through the API",
        r#"{"origin":"CONFIG_API","actor":{"id":"kQ8rT2xCNTRL","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"id":"example.com","name":"example.com","type":"TAILNET","property":"SECURITY_CONTACT"},"action":"UPDATE","old":"security@example.com","new":"sec-team@examp1e.com","eventTime":"2026-07-26T10:00:00Z"}"#,
        Expect::Fire {
            title: "Tailscale security contact changed by OAuth client kQ8rT2xCNTRL via CONFIG_API",
            severity: Severity::Medium,
            dedup: Some("kQ8rT2xCNTRL|example.com"),
            context_keys: &["old", "new", "actor_id"],
        },
    ),
    TestCase::new(
        "near miss: another tailnet setting updated",
        r#"{"origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com"},"target":{"id":"example.com","type":"TAILNET","property":"FILE_SHARING"},"action":"UPDATE","old":false,"new":true,"eventTime":"2026-07-26T10:00:00Z"}"#,
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
