//! A user given a more powerful admin role: the quickest way for an intruder with one admin
//! session to make their foothold permanent.

use crate::detections::common::{by_actor, change_context, target_label};
use crate::engine::{Expect, Meta, Severity, TestCase};
use crate::lake::AuditRow;
use crate::record::{Action, TargetProperty, TargetType};
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.User.RoleEscalated",
    name: "Tailscale user role escalated",
    severity: Severity::High,
    description: "A user's role was raised to an administrative role (owner, admin, it-admin, network-admin or billing-admin) that ranks above their old one. Role order: member < auditor < billing-admin < it-admin = network-admin < admin < owner. MEDIUM for billing-admin, HIGH for the other admin roles, CRITICAL for owner. old/new may be a string, an array or an object with `role`; an absent old role counts as member. Unknown roles do not fire. Fires for every origin, including SCIM and the API.",
    runbook: "1. Confirm the promotion (target_name, old_role → new_role in the alert context) with the actor (actor_login_name, origin) and the promoted user's manager.\n2. If not intended, set the role back on the admin console Users page and revoke the actor's and the target's sessions and keys.\n3. Search tailscale_audit for target_id as actor_id after p_event_time to see what the promoted user did with the new role.",
    reference: "https://tailscale.com/kb/1138/user-roles",
    tags: &["T1098.003", "T1078.004"],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow> = Rule {
    meta: META,
    matches: |h| escalation(h).is_some(),
    title: |h| {
        let r = h;
        let (old, new) = escalation(r).unwrap_or_default();
        by_actor(&format!("Tailscale user {} promoted from {old} to {new}", target_label(r)), r)
    },
    severity: Some(|h| match escalation(h) {
        Some((_, new)) if new == "owner" => Severity::Critical,
        Some((_, new)) if new == "billing-admin" => Severity::Medium,
        _ => Severity::High,
    }),
    context: Some(|h| {
        let r = h;
        let mut ctx = change_context(r);
        if let (Some(m), Some((old, new))) = (ctx.as_object_mut(), escalation(r)) {
            m.insert("old_role".into(), old.into());
            m.insert("new_role".into(), new.into());
        }
        ctx
    }),
    tests: TESTS,
    ..Rule::DEFAULT
};

/// Canonical role name (`IT admin`, `it_admin`, `IT-Admin` → `it-admin`).
fn canonical(role: &str) -> String {
    role.trim().to_ascii_lowercase().replace([' ', '_'], "-")
}

/// Rank of a known role; `None` for roles this code does not know. A billing admin manages
/// invoices only, so it ranks below the IT and network admins, who can change users, devices and
/// the policy file.
fn rank(role: &str) -> Option<u8> {
    match role {
        "member" => Some(0),
        "auditor" => Some(1),
        "billing-admin" => Some(2),
        "it-admin" | "network-admin" => Some(3),
        "admin" => Some(4),
        "owner" => Some(5),
        _ => None,
    }
}

/// A role from `old` / `new`: a JSON string, the first string of an array, or an object's `role`
/// member. Absent or empty means the user had no role yet: `member`.
fn role(field: Option<&str>) -> Option<String> {
    let role = match crate::engine::json_value(field) {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s,
        Some(serde_json::Value::Array(a)) => a.iter().find_map(|v| v.as_str())?.to_owned(),
        Some(serde_json::Value::Object(m)) => m.get("role").and_then(|v| v.as_str())?.to_owned(),
        Some(_) => return None,
    };
    Some(if role.trim().is_empty() {
        "member".to_owned()
    } else {
        canonical(&role)
    })
}

/// Roles whose grant this detection reports.
fn is_admin_role(role: &str) -> bool {
    matches!(role, "owner" | "admin" | "it-admin" | "network-admin" | "billing-admin")
}

/// `(old, new)` canonical roles of an escalation, if the row is one.
fn escalation(r: &AuditRow) -> Option<(String, String)> {
    if r.target_type != Some(TargetType::User)
        || r.action != Action::Update
        || r.target_property != Some(TargetProperty::UserRole)
        || r.error.is_some()
    {
        return None;
    }
    let old = role(r.old.as_deref())?;
    let new = role(r.new.as_deref())?;
    (is_admin_role(&new) && rank(&new)? > rank(&old)?).then_some((old, new))
}

const TESTS: &[TestCase] = &[
    TestCase::new(
        "member promoted to admin in the admin console",
        r#"{"eventTime":"2025-03-04T17:21:09Z","eventGroupID":"3fe2a1c0d9b84e77a0f1c2d3e4b5a697","origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com","displayName":"Alice Admin"},"target":{"id":"uK7pQ2xR4CNTRL","name":"bob@example.com","type":"USER","property":"USER_ROLE"},"action":"UPDATE","old":"member","new":"admin"}"#,
        Expect::Fire {
            title: "Tailscale user bob@example.com promoted from member to admin by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::High,
            dedup: Some("uodc9f3CNTRL|uK7pQ2xR4CNTRL"),
            context_keys: &["old_role", "new_role", "old", "new", "target_name", "actor_login_name"],
        },
    ),
    TestCase::new(
        "admin made owner through the API",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"id":"uK7pQ2xR4CNTRL","name":"bob@example.com","type":"USER","property":"USER_ROLE"},"action":"UPDATE","old":"admin","new":"owner"}"#,
        Expect::Fire {
            title: "Tailscale user bob@example.com promoted from admin to owner by OAuth client k3F261FC38A07CNTRL via CONFIG_API",
            severity: Severity::Critical,
            dedup: Some("k3F261FC38A07CNTRL|uK7pQ2xR4CNTRL"),
            context_keys: &["old_role", "new_role", "origin", "actor_id"],
        },
    ),
    TestCase::new(
        "auditor made IT admin by SCIM (role spelled with a space)",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"IDENTITY_PROVIDER","actor":{"id":"scim1","type":"SCIM","displayName":"SCIM"},"target":{"id":"uC4r0lCNTRL","name":"carol@example.com","type":"USER","property":"USER_ROLE"},"action":"UPDATE","old":"auditor","new":"IT admin"}"#,
        Expect::Fire {
            title: "Tailscale user carol@example.com promoted from auditor to it-admin by SCIM scim1 via IDENTITY_PROVIDER",
            severity: Severity::High,
            dedup: Some("scim1|uC4r0lCNTRL"),
            context_keys: &["old_role", "new_role"],
        },
    ),
    TestCase::new(
        "billing admin made network admin, roles as arrays",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com"},"target":{"id":"uD4veCNTRL","name":"dave@example.com","type":"USER","property":"USER_ROLE"},"action":"UPDATE","old":["billing-admin"],"new":{"role":"network-admin"}}"#,
        Expect::Fire {
            title: "Tailscale user dave@example.com promoted from billing-admin to network-admin by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::High,
            dedup: Some("uodc9f3CNTRL|uD4veCNTRL"),
            context_keys: &["old_role", "new_role"],
        },
    ),
    TestCase::new(
        "member made billing admin: MEDIUM",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com"},"target":{"id":"uD4veCNTRL","name":"dave@example.com","type":"USER","property":"USER_ROLE"},"action":"UPDATE","old":"member","new":"billing-admin"}"#,
        Expect::Fire {
            title: "Tailscale user dave@example.com promoted from member to billing-admin by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::Medium,
            dedup: Some("uodc9f3CNTRL|uD4veCNTRL"),
            context_keys: &["old_role", "new_role"],
        },
    ),
    TestCase::new(
        "near miss: network admin made billing admin (a demotion)",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"name":"bob@example.com","type":"USER","property":"USER_ROLE"},"action":"UPDATE","old":"network-admin","new":"billing-admin"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: admin demoted to member",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"name":"bob@example.com","type":"USER","property":"USER_ROLE"},"action":"UPDATE","old":"admin","new":"member"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: sideways between admin tiers",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"name":"bob@example.com","type":"USER","property":"USER_ROLE"},"action":"UPDATE","old":"network-admin","new":"it-admin"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: member made auditor (not an admin role)",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"name":"bob@example.com","type":"USER","property":"USER_ROLE"},"action":"UPDATE","old":"member","new":"auditor"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: unknown old role",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"name":"bob@example.com","type":"USER","property":"USER_ROLE"},"action":"UPDATE","old":"wizard","new":"admin"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: the change failed",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"name":"bob@example.com","type":"USER","property":"USER_ROLE"},"action":"UPDATE","old":"member","new":"owner","error":"only owners can add owners"}"#,
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
