//! Someone invited straight into an admin role: the invite link alone makes its holder an
//! administrator, skipping the promotion a role change would log.

use crate::detections::common::{by_actor, change_context, invite_created, invite_role, is_admin_role, target_label};
use crate::engine::{Expect, Meta, Severity, TestCase};
use crate::lake::AuditRow;
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.User.InvitedAsAdmin",
    name: "Tailscale user invited as an admin",
    severity: Severity::High,
    description: "An invite was created with an administrative role (owner, admin, it-admin, network-admin, billing-admin), read from new (a string or its role member) or actionDetails. HIGH; CRITICAL for owner; MEDIUM for billing-admin. Whoever accepts the invite is an administrator at once, so this is Tailscale.User.RoleEscalated without the role change.",
    runbook: "1. Check the invitee (target_name) and role in the alert context and confirm with the actor (actor_login_name, actor_id, origin) and the invitee's manager.\n2. If not expected, revoke the invite on the admin console Users page (Invites) and revoke the actor's sessions and keys.\n3. If it was already accepted, set the user's role back and review what they changed (tailscale_audit with actor_id = the new user).",
    reference: "https://tailscale.com/kb/1138/user-roles",
    tags: &["T1136", "T1098.003"],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow> = Rule {
    meta: META,
    matches: |r| invite_created(r) && is_admin_role(&invite_role(r)),
    title: |r| {
        by_actor(
            &format!("Tailscale invite for {} as {} created", target_label(r), invite_role(r)),
            r,
        )
    },
    severity: Some(|r| match invite_role(r).as_str() {
        "owner" => Severity::Critical,
        "billing-admin" => Severity::Medium,
        _ => Severity::High,
    }),
    context: Some(|h| context(h)),
    tests: TESTS,
    ..Rule::DEFAULT
};

fn context(r: &AuditRow) -> serde_json::Value {
    let mut ctx = change_context(r);
    if let Some(m) = ctx.as_object_mut() {
        m.insert("role".into(), invite_role(r).into());
    }
    ctx
}

const TESTS: &[TestCase] = &[
    TestCase::new(
        "invited as admin through the API",
        r#"{"origin":"CONFIG_API","actor":{"id":"kQ8rT2xCNTRL","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"id":"inv8CNTRL","name":"mallory@examp1e.com","type":"INVITE"},"action":"CREATE","new":{"role":"admin"},"eventTime":"2026-07-26T10:00:00Z"}"#,
        Expect::Fire {
            title: "Tailscale invite for mallory@examp1e.com as admin created by OAuth client kQ8rT2xCNTRL via CONFIG_API",
            severity: Severity::High,
            dedup: Some("kQ8rT2xCNTRL|inv8CNTRL"),
            context_keys: &["role", "new", "actor_id"],
        },
    ),
    TestCase::new(
        "invited as owner, role in actionDetails",
        r#"{"origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com"},"target":{"id":"inv9CNTRL","name":"eve@example.com","type":"USER"},"action":"INVITE","actionDetails":"role: Owner","eventTime":"2026-07-26T10:00:00Z"}"#,
        Expect::Fire {
            title: "Tailscale invite for eve@example.com as owner created by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::Critical,
            dedup: Some("uodc9f3CNTRL|inv9CNTRL"),
            context_keys: &["role"],
        },
    ),
    TestCase::new(
        "near miss: invited as a member",
        r#"{"origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com"},"target":{"id":"inv7Hq2CNTRL","name":"frank@example.com","type":"INVITE"},"action":"CREATE","new":{"role":"member"},"eventTime":"2026-07-26T10:00:00Z"}"#,
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
