//! A node moved into other tags: it takes on everything the policy grants those tags, so a laptop
//! retagged `tag:prod` reaches production as if it were a server.

use crate::detections::common::{by_actor, change_context, list_diff, property_changed, string_list, target_label};
use crate::engine::{Expect, Meta, Severity, TestCase};
use crate::lake::AuditRow;
use crate::record::{Action, TargetProperty, TargetType};
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.Node.Retagged",
    name: "Tailscale node given new tags",
    severity: Severity::Medium,
    description: "A node's ACL tags gained at least one tag (NODE UPDATE ACL_TAGS; old/new are tag arrays). The node now has every permission the policy grants those tags. HIGH when the node had no tags before (a person's device turned into a tagged node: it stops belonging to its user and its key stops expiring) or a new tag names production (contains `prod`); MEDIUM otherwise. Removing tags does not fire.",
    runbook: "1. Look at added_tags / removed_tags and the node (target_name, target_id): is it a server that was meant to carry these tags?\n2. Ask the actor (actor_login_name, actor_id, origin) who requested it; check tagOwners in the policy file for who may apply the tags.\n3. If not expected, set the tags back on the admin console Machines page (Edit ACL tags) and search tailscale_network for the node's connections since p_event_time.",
    reference: "https://tailscale.com/kb/1068/tags",
    tags: &["T1098", "T1078"],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow> = Rule {
    meta: META,
    matches: |r| retag(r) && !list_diff(r).0.is_empty(),
    title: |h| title(h),
    severity: Some(|h| severity(h)),
    context: Some(|h| context(h)),
    tests: TESTS,
    ..Rule::DEFAULT
};

fn retag(r: &AuditRow) -> bool {
    r.target_type == Some(TargetType::Node) && property_changed(r, &[Action::Update], &[TargetProperty::AclTags])
}

fn title(r: &AuditRow) -> String {
    let (added, _) = list_diff(r);
    by_actor(&format!("Tailscale node {} given tags {}", target_label(r), added.join(",")), r)
}

fn severity(r: &AuditRow) -> Severity {
    let was_untagged = string_list(r.old.as_deref()).is_empty();
    if was_untagged || list_diff(r).0.iter().any(|t| t.to_ascii_lowercase().contains("prod")) {
        Severity::High
    } else {
        Severity::Medium
    }
}

fn context(r: &AuditRow) -> serde_json::Value {
    let mut ctx = change_context(r);
    let (added, removed) = list_diff(r);
    if let Some(m) = ctx.as_object_mut() {
        m.insert("added_tags".into(), added.into());
        m.insert("removed_tags".into(), removed.into());
    }
    ctx
}

const TESTS: &[TestCase] = &[
    TestCase::new(
        "real shape: moved from tag:dev into tag:prod",
        r#"{"eventGroupID":"a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5","origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com","displayName":"Alice Admin"},"target":{"id":"nLaptop42CNTRL","name":"laptop-42.tail1a2b.ts.net","type":"NODE","property":"ACL_TAGS"},"action":"UPDATE","old":["tag:dev"],"new":["tag:prod"],"eventTime":"2026-07-26T10:00:00Z"}"#,
        Expect::Fire {
            title: "Tailscale node laptop-42.tail1a2b.ts.net given tags tag:prod by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::High,
            dedup: Some("uodc9f3CNTRL|nLaptop42CNTRL"),
            context_keys: &["added_tags", "removed_tags", "old", "new", "target_id"],
        },
    ),
    TestCase::new(
        "a tagged server given one more tag through the API",
        r#"{"origin":"CONFIG_API","actor":{"id":"kQ8rT2xCNTRL","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"id":"nWeb01aaCNTRL","name":"web-01.tail1a2b.ts.net","type":"NODE","property":"ACL_TAGS"},"action":"UPDATE","old":["tag:web"],"new":["tag:web","tag:monitoring"],"eventTime":"2026-07-26T10:00:00Z"}"#,
        Expect::Fire {
            title: "Tailscale node web-01.tail1a2b.ts.net given tags tag:monitoring by OAuth client kQ8rT2xCNTRL via CONFIG_API",
            severity: Severity::Medium,
            dedup: Some("kQ8rT2xCNTRL|nWeb01aaCNTRL"),
            context_keys: &["added_tags", "removed_tags"],
        },
    ),
    TestCase::new(
        "a person's device given its first tag (the sample stream's db-01, old \"\")",
        r#"{"origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com"},"target":{"id":"nBLYviWLGB21CNTRL","name":"db-01.tail1a2b.ts.net","type":"NODE","isEphemeral":false,"property":"ACL_TAGS"},"action":"UPDATE","old":"","new":["tag:db"],"eventTime":"2026-07-26T10:00:00Z"}"#,
        Expect::Fire {
            title: "Tailscale node db-01.tail1a2b.ts.net given tags tag:db by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::High,
            dedup: Some("uodc9f3CNTRL|nBLYviWLGB21CNTRL"),
            context_keys: &["added_tags"],
        },
    ),
    TestCase::new(
        "near miss: a tag removed",
        r#"{"origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com"},"target":{"id":"nWeb01aaCNTRL","name":"web-01.tail1a2b.ts.net","type":"NODE","property":"ACL_TAGS"},"action":"UPDATE","old":["tag:web","tag:prod"],"new":["tag:web"],"eventTime":"2026-07-26T10:00:00Z"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: the retag failed",
        r#"{"origin":"CONFIG_API","actor":{"id":"kQ8rT2xCNTRL","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"id":"nLaptop42CNTRL","type":"NODE","property":"ACL_TAGS"},"action":"UPDATE","old":["tag:dev"],"new":["tag:prod"],"error":"tag:prod not owned by client","eventTime":"2026-07-26T10:00:00Z"}"#,
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
