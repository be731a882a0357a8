//! The policy file is the tailnet's firewall: a change to it can silently open every node to every
//! other, or hand everyone the internet through an exit node.

use crate::detections::common::by_actor;
use crate::detections::policy::{is_policy_update, Counts, PolicyChange};
use crate::engine::{audit_context, Expect, Meta, Severity, TestCase};
use crate::lake::AuditRow;
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.PolicyFile.Changed",
    name: "Tailscale policy file changed",
    severity: Severity::Low,
    description: "The tailnet policy file (ACLs, grants, SSH rules, node attributes) was updated, through any origin. HIGH when the new policy lets any source reach any destination (`*` -> `*:*`, or a grant with src, dst and ip `*`) or lets everyone (`*` or autogroup:member) use exit nodes to reach autogroup:internet, or lets autogroup:member reach everything (`*:*`), or opens a tag to anyone (tagOwners `*` / autogroup:member), or auto-approves exit nodes (autoApprovers exitNode, or routes for 0.0.0.0/0 or ::/0), and the old policy did not; the title and `widenings` in the context name each. The context lists the rules added and removed and the rule counts before and after, not the whole file.",
    runbook: "1. Read rules_added / rules_removed and counts in the alert context and ask the actor (actor_login_name, origin) why; an API or OAuth origin nobody claims points to a stolen key.\n2. If the change is not intended, restore the previous policy from the old column of the tailscale_audit row (or the policy file's git history) and revoke the actor's keys or sessions.\n3. While the policy was open, look for new connections in tailscale_network (peer_node_id, dst_port) between nodes that could not talk before.",
    reference: "https://tailscale.com/kb/1018/acls",
    tags: &["T1562.004", "T1098"],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow> = Rule {
    meta: META,
    matches: |h| update(h).is_some(),
    title: |h| update(h).map(|r| by_actor(&what(&PolicyChange::of(r)), r)).unwrap_or_default(),
    severity: Some(|h| match update(h).map(PolicyChange::of) {
        Some(c) if !c.widenings().is_empty() => Severity::High,
        _ => Severity::Low,
    }),
    context: Some(|h| {
        let Some(r) = update(h) else { return serde_json::Value::Null };
        let change = PolicyChange::of(r);
        let (added, removed) = change.rule_diff();
        let mut m = audit_context(r);
        m.insert(
            "counts".into(),
            count_pairs(change.old.as_ref().map(|p| p.counts()), change.new.as_ref().map(|p| p.counts())),
        );
        m.insert("rules_added_total".into(), added.len().into());
        m.insert("rules_removed_total".into(), removed.len().into());
        m.insert("rules_added".into(), added.into_iter().take(MAX_LISTED).collect());
        m.insert("rules_removed".into(), removed.into_iter().take(MAX_LISTED).collect());
        m.insert("sections_changed".into(), change.sections_changed().into());
        m.insert("allow_all_introduced".into(), change.allow_all_introduced().into());
        m.insert("internet_introduced".into(), change.internet_introduced().into());
        m.insert("widenings".into(), change.widenings().into());
        m.insert(
            "parsed".into(),
            serde_json::json!({ "old": change.old.is_some(), "new": change.new.is_some() }),
        );
        m.into()
    }),
    tests: TESTS,
    ..Rule::DEFAULT
};

/// At most this many added / removed rules go into the context.
const MAX_LISTED: usize = 10;

fn update(row: &AuditRow) -> Option<&AuditRow> {
    Some(row).filter(|r| is_policy_update(r))
}

fn what(change: &PolicyChange) -> String {
    match change.widenings().as_slice() {
        [] => "Tailscale policy file changed".to_owned(),
        widened => format!("Tailscale policy file changed to {}", widened.join(" and ")),
    }
}

/// `{"acls": "1 -> 2", …}`; `?` for a side that did not parse.
fn count_pairs(old: Option<Counts>, new: Option<Counts>) -> serde_json::Value {
    let show = |c: Option<Counts>, i: usize| c.map_or_else(|| "?".to_owned(), |c| c.named()[i].1.to_string());
    Counts::default()
        .named()
        .iter()
        .enumerate()
        .map(|(i, (name, _))| ((*name).to_owned(), format!("{} -> {}", show(old, i), show(new, i)).into()))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

const TESTS: &[TestCase] = &[
    TestCase::new(
        "opened to any -> any (the sample stream's change)",
        r#"{"eventTime":"2025-03-04T17:25:02Z","eventGroupID":"e1","origin":"ADMIN_CONSOLE","actor":{"id":"u1","type":"USER","loginName":"alice@example.com"},"target":{"id":"example.com","name":"example.com","type":"TAILNET","property":"ACL"},"action":"UPDATE","old":"{\n  \"acls\": [\n    {\"action\": \"accept\", \"src\": [\"group:eng\"], \"dst\": [\"tag:prod:22\"]}\n  ]\n}\n","new":"{\n  \"acls\": [\n    {\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"*:*\"]}\n  ]\n}\n"}"#,
        Expect::Fire {
            title: "Tailscale policy file changed to allow all traffic by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::High,
            dedup: Some("u1|example.com"),
            context_keys: &["counts", "rules_added", "rules_removed", "allow_all_introduced", "actor_login_name"],
        },
    ),
    TestCase::new(
        "allow-all grant through the API, HuJSON with comments and trailing commas",
        r#"{"eventTime":"2025-03-04T17:25:02Z","origin":"CONFIG_API","actor":{"id":"k1","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"type":"TAILNET","property":"ACL"},"action":"UPDATE","old":"{\"grants\": [{\"src\": [\"group:eng\"], \"dst\": [\"tag:prod\"], \"ip\": [\"22\"]}]}","new":"// temporary\n{\n  \"grants\": [\n    /* debug */ {\"src\": [\"*\"], \"dst\": [\"*\"], \"ip\": [\"*\"],},\n  ],\n}\n"}"#,
        Expect::Fire {
            title: "Tailscale policy file changed to allow all traffic by OAuth client k1 via CONFIG_API",
            severity: Severity::High,
            dedup: Some("k1|-"),
            context_keys: &["counts", "rules_added", "origin"],
        },
    ),
    TestCase::new(
        "every member may use exit nodes to the internet",
        r#"{"eventTime":"2025-03-04T17:25:02Z","origin":"ADMIN_CONSOLE","actor":{"id":"u1","loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"ACL"},"action":"UPDATE","old":"{\"acls\": []}","new":"{\"acls\": [{\"action\": \"accept\", \"src\": [\"autogroup:member\"], \"dst\": [\"autogroup:internet:*\"]}]}"}"#,
        Expect::Fire {
            title: "Tailscale policy file changed to give everyone internet access by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::High,
            dedup: Some("u1|-"),
            context_keys: &["internet_introduced", "rules_added"],
        },
    ),
    TestCase::new(
        "every member to everything, a tag anyone may apply, exit nodes auto-approved",
        r#"{"eventTime":"2025-03-04T17:25:02Z","origin":"CONFIG_API","actor":{"id":"kQ8rT2xCNTRL","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"id":"example.com","type":"TAILNET","property":"ACL"},"action":"UPDATE","old":"{\"acls\": [{\"action\": \"accept\", \"src\": [\"group:eng\"], \"dst\": [\"tag:prod:22\"]}], \"tagOwners\": {\"tag:prod\": [\"group:ops\"]}}","new":"{\"acls\": [{\"action\": \"accept\", \"src\": [\"autogroup:member\"], \"dst\": [\"*:*\"]}], \"tagOwners\": {\"tag:prod\": [\"autogroup:member\"]}, \"autoApprovers\": {\"routes\": {\"0.0.0.0/0\": [\"group:eng\"]}}}"}"#,
        Expect::Fire {
            title: "Tailscale policy file changed to let every member reach everything and let anyone apply tag:prod and auto-approve exit nodes by OAuth client kQ8rT2xCNTRL via CONFIG_API",
            severity: Severity::High,
            dedup: Some("kQ8rT2xCNTRL|example.com"),
            context_keys: &["widenings", "rules_added", "sections_changed"],
        },
    ),
    TestCase::new(
        "near miss for HIGH: an ordinary rule added is LOW",
        r#"{"eventTime":"2025-03-04T17:25:02Z","origin":"ADMIN_CONSOLE","actor":{"id":"u1","loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"ACL"},"action":"UPDATE","old":"{\"acls\": [{\"action\": \"accept\", \"src\": [\"group:eng\"], \"dst\": [\"tag:prod:22\"]}]}","new":"{\"acls\": [{\"action\": \"accept\", \"src\": [\"group:eng\"], \"dst\": [\"tag:prod:22\", \"tag:prod:443\"]}], // web too\n \"tagOwners\": {\"tag:prod\": [\"group:eng\"]}}"}"#,
        Expect::Fire {
            title: "Tailscale policy file changed by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::Low,
            dedup: Some("u1|-"),
            context_keys: &["counts", "rules_added", "rules_removed", "sections_changed"],
        },
    ),
    TestCase::new(
        "near miss for HIGH: allow-all was already there",
        r#"{"eventTime":"2025-03-04T17:25:02Z","origin":"ADMIN_CONSOLE","actor":{"id":"u1","loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"ACL"},"action":"UPDATE","old":"{\"acls\": [{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"*:*\"]}]}","new":"{\"acls\": [{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"*:*\"]}], \"hosts\": {\"nas\": \"100.77.3.9\"}}"}"#,
        Expect::Fire {
            title: "Tailscale policy file changed by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::Low,
            dedup: Some("u1|-"),
            context_keys: &["counts", "sections_changed"],
        },
    ),
    TestCase::new(
        "near miss: the update failed",
        r#"{"eventTime":"2025-03-04T17:25:02Z","origin":"ADMIN_CONSOLE","actor":{"id":"u1","loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"ACL"},"action":"UPDATE","old":"{\"acls\": []}","new":"{\"acls\": [{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"*:*\"]}]}","error":"policy file has errors"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: a node's tags changed",
        r#"{"eventTime":"2025-03-04T17:25:02Z","origin":"ADMIN_CONSOLE","actor":{"id":"u1","loginName":"alice@example.com"},"target":{"id":"n1","type":"NODE","property":"ACL_TAGS"},"action":"UPDATE","old":"","new":["tag:prod"]}"#,
        Expect::Quiet,
    ),
];

#[cfg(test)]
mod tests {
    use crate::engine::Params;
    use crate::normalize::SourceContext;
    use crate::time::Timestamp;

    #[test]
    fn cases() {
        crate::engine::testing::assert_cases(&super::RULE);
    }

    #[test]
    fn context_says_what_changed() {
        let ctx = SourceContext {
            label: "test",
            file: "test",
            parse_time: Timestamp::parse("2025-03-04T18:00:00Z").unwrap(),
        };
        let rows = crate::pipeline::normalize_body(super::TESTS[0].record.as_bytes(), &ctx).rows;
        let det = crate::rule::Definition::build(&super::RULE, &Params::new(super::META.id, None)).unwrap();
        let c = det.context(&rows[0], None);
        assert_eq!(c["rules_added"], serde_json::json!(["acls: accept * -> *:*"]));
        assert_eq!(c["rules_removed"], serde_json::json!(["acls: accept group:eng -> tag:prod:22"]));
        assert_eq!(c["counts"]["acls"], "1 -> 1");
        assert_eq!(c["counts"]["ssh"], "0 -> 0");
        assert_eq!(c["sections_changed"], serde_json::json!(["acls"]));
        assert_eq!(
            (c["allow_all_introduced"].as_bool(), c["internet_introduced"].as_bool()),
            (Some(true), Some(false))
        );
        assert!(
            c.get("new").is_none() && c.get("old").is_none(),
            "the whole file stays out of the context"
        );
    }
}
