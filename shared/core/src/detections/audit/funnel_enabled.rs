//! Funnel publishes tailnet services on the public internet: a new `funnel` node attribute turns a
//! private service into an internet-facing one.

use crate::detections::common::by_actor;
use crate::detections::policy::{is_policy_update, PolicyChange};
use crate::engine::{audit_context, Expect, Meta, Severity, TestCase};
use crate::lake::AuditRow;
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.Funnel.Enabled",
    name: "Tailscale Funnel enabled in the policy file",
    severity: Severity::High,
    description: "A policy file update gave a target (tag, user, group, autogroup) the `funnel` node attribute it did not have before. Nodes matching the target can then expose local services to anyone on the internet, bypassing the tailnet's access rules.",
    runbook: "1. Read funnel_targets_added in the alert context and ask the actor (actor_login_name, origin) which service is meant to be public and why.\n2. If not intended, remove the funnel attribute from nodeAttrs (restore the old column of the tailscale_audit row) and run `tailscale funnel status` on the matching nodes.\n3. Check tailscale_audit for the same actor_id and event_group_id for other changes made at the same time.",
    reference: "https://tailscale.com/kb/1223/funnel",
    tags: &["T1133", "T1562.004"],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow> = Rule {
    meta: META,
    matches: |r| !gained(r).is_empty(),
    title: |r| by_actor(&format!("Tailscale Funnel enabled for {}", target_list(&gained(r))), r),
    context: Some(|h| {
        let r = h;
        let mut m = audit_context(r);
        m.insert("funnel_targets_added".into(), gained(r).into());
        let all: Vec<String> = PolicyChange::of(r)
            .new
            .map(|p| p.funnel_targets().into_iter().collect())
            .unwrap_or_default();
        m.insert("funnel_targets".into(), all.into());
        m.into()
    }),
    tests: TESTS,
    ..Rule::DEFAULT
};

/// Targets that gained `funnel` (old policy unreadable or absent: every funnel target is new).
fn gained(row: &AuditRow) -> Vec<String> {
    if !is_policy_update(row) {
        return Vec::new();
    }
    let change = PolicyChange::of(row);
    let Some(new) = &change.new else { return Vec::new() };
    let old = change.old.as_ref().map(|p| p.funnel_targets()).unwrap_or_default();
    new.funnel_targets().into_iter().filter(|t| !old.contains(t)).collect()
}

fn target_list(targets: &[String]) -> String {
    match targets {
        [] => String::new(),
        [one] => one.clone(),
        [first, second] => format!("{first}, {second}"),
        [first, second, rest @ ..] => format!("{first}, {second} and {} more", rest.len()),
    }
}

const TESTS: &[TestCase] = &[
    TestCase::new(
        "funnel granted to a tag",
        r#"{"eventTime":"2025-03-04T17:31:00Z","origin":"ADMIN_CONSOLE","actor":{"id":"u1","type":"USER","loginName":"alice@example.com"},"target":{"id":"example.com","type":"TAILNET","property":"ACL"},"action":"UPDATE","old":"{\"acls\": [{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"tag:web:443\"]}]}","new":"{\"acls\": [{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"tag:web:443\"]}],\n // public demo\n \"nodeAttrs\": [{\"target\": [\"tag:web\"], \"attr\": [\"funnel\",],},],}"}"#,
        Expect::Fire {
            title: "Tailscale Funnel enabled for tag:web by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::High,
            dedup: Some("u1|example.com"),
            context_keys: &["funnel_targets_added", "funnel_targets", "actor_login_name", "origin"],
        },
    ),
    TestCase::new(
        "funnel extended from one tag to every member, through the API",
        r#"{"eventTime":"2025-03-04T17:31:00Z","origin":"CONFIG_API","actor":{"id":"k1","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"type":"TAILNET","property":"ACL"},"action":"UPDATE","old":"{\"nodeAttrs\": [{\"target\": [\"tag:web\"], \"attr\": [\"funnel\"]}]}","new":"{\"nodeAttrs\": [{\"target\": [\"tag:web\", \"autogroup:member\"], \"attr\": [\"funnel\"]}]}"}"#,
        Expect::Fire {
            title: "Tailscale Funnel enabled for autogroup:member by OAuth client k1 via CONFIG_API",
            severity: Severity::High,
            dedup: Some("k1|-"),
            context_keys: &["funnel_targets_added"],
        },
    ),
    TestCase::new(
        "near miss: funnel was already granted, the entry only reordered",
        r#"{"eventTime":"2025-03-04T17:31:00Z","origin":"ADMIN_CONSOLE","actor":{"id":"u1","loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"ACL"},"action":"UPDATE","old":"{\"nodeAttrs\": [{\"target\": [\"tag:web\"], \"attr\": [\"funnel\"]}]}","new":"{\"nodeAttrs\": [{\"attr\": [\"mullvad\", \"funnel\"], \"target\": [\"tag:web\"]}]}"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: another node attribute",
        r#"{"eventTime":"2025-03-04T17:31:00Z","origin":"ADMIN_CONSOLE","actor":{"id":"u1","loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"ACL"},"action":"UPDATE","old":"{}","new":"{\"nodeAttrs\": [{\"target\": [\"autogroup:member\"], \"attr\": [\"mullvad\"]}]}"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: the update failed",
        r#"{"eventTime":"2025-03-04T17:31:00Z","origin":"ADMIN_CONSOLE","actor":{"id":"u1","loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"ACL"},"action":"UPDATE","old":"{}","new":"{\"nodeAttrs\": [{\"target\": [\"tag:web\"], \"attr\": [\"funnel\"]}]}","error":"invalid policy"}"#,
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
