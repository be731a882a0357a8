//! A node shared out of the tailnet: users of another tailnet reach the machine, outside this
//! tailnet's policy and identity provider.

use crate::detections::common::{by_actor, target_label};
use crate::engine::{Expect, Meta, Severity, TestCase};
use crate::lake::AuditRow;
use crate::record::{Action, TargetProperty, TargetType};
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.NodeShare.Created",
    name: "Tailscale node share created",
    severity: Severity::Medium,
    description: "A node share was created (SHARE target or NODE_SHARE property; CREATE or INVITE). Anyone who accepts the share link, from any tailnet, can reach the shared node. Accepted shares by outside users are also Tailscale.ExternalUser.Joined.",
    runbook: "1. Identify the shared node (target_name, target_id, old/new) and ask the actor (actor_login_name, actor_id, origin) who the share is for.\n2. If not expected, revoke the share on the admin console Machines page (Share...) for that node.\n3. Search tailscale_network for connections to the node from outside this tailnet's users after p_event_time.",
    reference: "https://tailscale.com/kb/1084/sharing",
    tags: &["T1133", "T1098"],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow> = Rule {
    meta: META,
    matches: |h| matches(h),
    title: |r| by_actor(&format!("Tailscale node share of {} created", target_label(r)), r),
    tests: TESTS,
    ..Rule::DEFAULT
};

fn matches(r: &AuditRow) -> bool {
    let share = r.target_type == Some(TargetType::Share) || r.target_property == Some(TargetProperty::NodeShare);
    share && matches!(r.action, Action::Create | Action::Invite) && r.error.is_none()
}

const TESTS: &[TestCase] = &[
    TestCase::new(
        "a database node shared",
        r#"{"origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com"},"target":{"id":"nDb01CNTRL","name":"db-01.tail1a2b.ts.net","type":"NODE","property":"NODE_SHARE"},"action":"CREATE","new":{"shareLink":"https://login.tailscale.com/admin/invite/x"},"eventTime":"2026-07-26T10:00:00Z"}"#,
        Expect::Fire {
            title: "Tailscale node share of db-01.tail1a2b.ts.net created by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::Medium,
            dedup: Some("uodc9f3CNTRL|nDb01CNTRL"),
            context_keys: &["target_id", "new", "actor_id"],
        },
    ),
    TestCase::new(
        "near miss: a share accepted",
        r#"{"origin":"ADMIN_CONSOLE","actor":{"id":"uExtCNTRL","type":"USER","loginName":"eve@gmail.com"},"target":{"id":"shr1CNTRL","type":"SHARE"},"action":"ACCEPT","eventTime":"2026-07-26T10:00:00Z"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: a share revoked",
        r#"{"origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com"},"target":{"id":"shr1CNTRL","type":"SHARE"},"action":"DELETE","eventTime":"2026-07-26T10:00:00Z"}"#,
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
