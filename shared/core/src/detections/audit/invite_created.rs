//! An invitation to join the tailnet: whoever holds the link joins as a member, and invite links
//! get forwarded.

use crate::detections::common::{by_actor, change_context, invite_created, invite_role, is_admin_role, target_label};
use crate::engine::{Expect, Meta, Severity, TestCase};
use crate::lake::AuditRow;
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.Invite.Created",
    name: "Tailscale user invited",
    severity: Severity::Low,
    description: "Someone was invited to join the tailnet (INVITE target, TAILNET_INVITE property, or USER INVITE) with a non-admin role. Invites to admin roles are Tailscale.User.InvitedAsAdmin; accepted invites from outside the organisation are Tailscale.ExternalUser.Joined.",
    runbook: "1. Check the invitee (target_name) and role in the alert context with the actor (actor_login_name, actor_id, origin).\n2. If not expected, revoke the invite on the admin console Users page (Invites) before it is accepted.\n3. If it was already accepted, suspend the user and review their devices (tailscale_audit, target_type NODE, action CREATE).",
    reference: "https://tailscale.com/kb/1371/invite-users",
    tags: &["T1136", "T1098"],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow> = Rule {
    meta: META,
    matches: |r| invite_created(r) && !is_admin_role(&invite_role(r)),
    title: |r| by_actor(&format!("Tailscale invite for {} created", target_label(r)), r),
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
        "a member invited by email",
        r#"{"origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com"},"target":{"id":"inv7Hq2CNTRL","name":"frank@example.com","type":"INVITE"},"action":"CREATE","new":{"role":"member","email":"frank@example.com"},"eventTime":"2026-07-26T10:00:00Z"}"#,
        Expect::Fire {
            title: "Tailscale invite for frank@example.com created by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::Low,
            dedup: Some("uodc9f3CNTRL|inv7Hq2CNTRL"),
            context_keys: &["role", "new", "target_name"],
        },
    ),
    TestCase::new(
        "near miss: an invite to the admin role (its own detection)",
        r#"{"origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com"},"target":{"id":"inv8CNTRL","name":"mallory@examp1e.com","type":"INVITE"},"action":"CREATE","new":{"role":"admin"},"eventTime":"2026-07-26T10:00:00Z"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: an invite accepted",
        r#"{"origin":"ADMIN_CONSOLE","actor":{"id":"uFr4nkCNTRL","type":"USER","loginName":"frank@example.com"},"target":{"id":"inv7Hq2CNTRL","type":"INVITE"},"action":"ACCEPT","eventTime":"2026-07-26T10:00:00Z"}"#,
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
