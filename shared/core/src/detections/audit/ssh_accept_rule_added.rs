//! A Tailscale SSH `accept` rule for root or any non-root user hands out shell access with no
//! re-authentication: a quiet way to open servers to new people.

use crate::detections::common::by_actor;
use crate::detections::policy::{canonical, is_accept, is_policy_update, rule_line, strings, PolicyChange, Section};
use crate::engine::{audit_context, Expect, Meta, Severity, TestCase};
use crate::lake::AuditRow;
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.SSH.AcceptRuleAdded",
    name: "Tailscale SSH accept rule for root or non-root users added",
    severity: Severity::Medium,
    description: "A policy file update added an `ssh` rule with action `accept` (not `check`, which re-asks for the user's identity) whose users include `root` or `autogroup:nonroot`. Anyone matching the rule's src gets a shell on the dst nodes with only their Tailscale identity.",
    runbook: "1. Read ssh_rules_added in the alert context (src, dst, users) and confirm with the actor (actor_login_name, origin) that this access was intended.\n2. If not, change the rule back to `check` or remove it (the old column of the tailscale_audit row has the previous policy).\n3. Look for SSH sessions since the change: tailscale_network rows with dst_port 22 to the rule's dst nodes (peer_node_name, node_user).",
    reference: "https://tailscale.com/kb/1193/tailscale-ssh",
    tags: &["T1021.004", "T1098"],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow> = Rule {
    meta: META,
    matches: |r| !added(r).is_empty(),
    title: |r| by_actor("Tailscale SSH accept rule added", r),
    context: Some(|h| {
        let r = h;
        let mut m = audit_context(r);
        m.insert("ssh_rules_added".into(), added(r).into_iter().take(10).collect());
        m.into()
    }),
    tests: TESTS,
    ..Rule::DEFAULT
};

/// The new policy's accept rules for root / non-root users that the old policy did not have
/// verbatim, as one-line strings.
fn added(row: &AuditRow) -> Vec<String> {
    if !is_policy_update(row) {
        return Vec::new();
    }
    let change = PolicyChange::of(row);
    let Some(new) = &change.new else { return Vec::new() };
    let old: Vec<String> = change
        .old
        .as_ref()
        .map(|p| p.rules(Section::Ssh).into_iter().map(canonical).collect())
        .unwrap_or_default();
    new.rules(Section::Ssh)
        .into_iter()
        .filter(|r| is_accept(r) && strings(r, &["users"]).iter().any(|u| *u == "root" || *u == "autogroup:nonroot"))
        .filter(|r| !old.contains(&canonical(r)))
        .map(|r| rule_line(Section::Ssh, r))
        .collect()
}

const TESTS: &[TestCase] = &[
    TestCase::new(
        "check rule turned into accept for root",
        r#"{"eventTime":"2025-03-04T17:33:00Z","origin":"ADMIN_CONSOLE","actor":{"id":"u1","type":"USER","loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"ACL"},"action":"UPDATE","old":"{\"ssh\": [{\"action\": \"check\", \"src\": [\"group:eng\"], \"dst\": [\"tag:prod\"], \"users\": [\"root\"]}]}","new":"{\"ssh\": [\n  // no more re-auth\n  {\"action\": \"accept\", \"src\": [\"group:eng\"], \"dst\": [\"tag:prod\"], \"users\": [\"root\"],},\n]}"}"#,
        Expect::Fire {
            title: "Tailscale SSH accept rule added by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::Medium,
            dedup: Some("u1|-"),
            context_keys: &["ssh_rules_added", "actor_login_name", "origin"],
        },
    ),
    TestCase::new(
        "accept for every non-root user, through the API",
        r#"{"eventTime":"2025-03-04T17:33:00Z","origin":"CONFIG_API","actor":{"id":"k1","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"type":"TAILNET","property":"ACL"},"action":"UPDATE","old":"{\"acls\": []}","new":"{\"acls\": [], \"ssh\": [{\"action\": \"accept\", \"src\": [\"autogroup:member\"], \"dst\": [\"tag:prod\"], \"users\": [\"autogroup:nonroot\"]}]}"}"#,
        Expect::Fire {
            title: "Tailscale SSH accept rule added by OAuth client k1 via CONFIG_API",
            severity: Severity::Medium,
            dedup: Some("k1|-"),
            context_keys: &["ssh_rules_added"],
        },
    ),
    TestCase::new(
        "near miss: a check rule for root",
        r#"{"eventTime":"2025-03-04T17:33:00Z","origin":"ADMIN_CONSOLE","actor":{"id":"u1","loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"ACL"},"action":"UPDATE","old":"{}","new":"{\"ssh\": [{\"action\": \"check\", \"src\": [\"group:eng\"], \"dst\": [\"tag:prod\"], \"users\": [\"root\"]}]}"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: the accept rule was already there",
        r#"{"eventTime":"2025-03-04T17:33:00Z","origin":"ADMIN_CONSOLE","actor":{"id":"u1","loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"ACL"},"action":"UPDATE","old":"{\"ssh\": [{\"action\": \"accept\", \"src\": [\"autogroup:member\"], \"dst\": [\"autogroup:self\"], \"users\": [\"autogroup:nonroot\"]}]}","new":"{\"ssh\": [{\"users\": [\"autogroup:nonroot\"], \"dst\": [\"autogroup:self\"], \"src\": [\"autogroup:member\"], \"action\": \"accept\"}], \"groups\": {\"group:eng\": [\"bob@example.com\"]}}"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: accept for a named non-root account",
        r#"{"eventTime":"2025-03-04T17:33:00Z","origin":"ADMIN_CONSOLE","actor":{"id":"u1","loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"ACL"},"action":"UPDATE","old":"{}","new":"{\"ssh\": [{\"action\": \"accept\", \"src\": [\"group:eng\"], \"dst\": [\"tag:ci\"], \"users\": [\"deploy\"]}]}"}"#,
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
