//! The tailnet moved to another identity provider: whoever controls the new provider controls
//! every login, including the admins'.

use crate::detections::common::by_actor;
use crate::engine::{json_string, Expect, Meta, Severity, TestCase};
use crate::lake::AuditRow;
use crate::record::Action;
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.AuthProvider.Migrated",
    name: "Tailscale identity provider migrated",
    severity: Severity::High,
    description: "The tailnet's identity provider was migrated (action MIGRATE_AUTH_PROVIDER). Every user now logs in through the new provider; an attacker who points the tailnet at a provider they control can become any user.",
    runbook: "1. Look at old/new in the alert context (providers or domains) and confirm the migration with the actor (actor_login_name, actor_id) and the identity team.\n2. If not planned, contact Tailscale support at once to revert, and revoke the actor's sessions and keys.\n3. Review admin console logins (tailscale_audit, action LOGIN) after p_event_time for unfamiliar identities.",
    reference: "https://tailscale.com/kb/1013/sso-providers",
    tags: &["T1556", "T1484.002"],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow> = Rule {
    meta: META,
    matches: |r| r.action == Action::MigrateAuthProvider && r.error.is_none(),
    title: |h| title(h),
    tests: TESTS,
    ..Rule::DEFAULT
};

fn title(r: &AuditRow) -> String {
    let what = match (json_string(r.old.as_deref()), json_string(r.new.as_deref())) {
        (Some(old), Some(new)) => format!("Tailscale identity provider migrated from {old} to {new}"),
        _ => "Tailscale identity provider migrated".to_owned(),
    };
    by_actor(&what, r)
}

const TESTS: &[TestCase] = &[
    TestCase::new(
        "migrated from Google to an OIDC provider",
        r#"{"origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com"},"target":{"id":"example.com","name":"example.com","type":"TAILNET"},"action":"MIGRATE_AUTH_PROVIDER","old":"google","new":"oidc:https://idp.example.net","eventTime":"2026-07-26T10:00:00Z"}"#,
        Expect::Fire {
            title:
                "Tailscale identity provider migrated from google to oidc:https://idp.example.net by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::High,
            dedup: Some("uodc9f3CNTRL|example.com"),
            context_keys: &["old", "new", "actor_id"],
        },
    ),
    TestCase::new(
        "near miss: the migration failed",
        r#"{"origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com"},"target":{"id":"example.com","type":"TAILNET"},"action":"MIGRATE_AUTH_PROVIDER","error":"domain not verified","eventTime":"2026-07-26T10:00:00Z"}"#,
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
