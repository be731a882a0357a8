//! A new auth key: anyone holding a reusable, pre-authorized key can enrol machines into the
//! tailnet without a login, which makes it a favourite persistence mechanism.

use crate::detections::common::{actor_key, auth_key, by_actor, change_context, ids};
use crate::engine::{Expect, Meta, Severity, TestCase};
use crate::lake::AuditRow;
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.AuthKey.Created",
    name: "Tailscale auth key created",
    severity: Severity::Medium,
    description: "An auth key (an API_KEY whose capabilities enrol devices) was created. Real logs carry the capabilities as an array (`[\"ONE_OFF_NODE_AUTH\",\"EPHEMERAL\"]`) with the tags in `authTags`; a key without ONE_OFF_NODE_AUTH is reusable. Single-use keys are INFO and group per actor (CI pipelines mint one per job); reusable keys are MEDIUM; reusable and pre-authorized keys, which enrol any number of machines with no approval, are HIGH. Fires for every origin. API access tokens are Tailscale.APIAccess.Created.",
    runbook: "1. Look at the key in the alert context (reusable, preauthorized, ephemeral, tags, capabilities, expires) and ask the actor (actor_id, actor_login_name, origin) what it is for.\n2. If not expected, revoke the key (target_id) on the admin console Keys page and revoke the actor's sessions and keys.\n3. Review devices enrolled since p_event_time: tailscale_audit rows with target_type NODE and action CREATE, especially tagged with the key's tags.",
    reference: "https://tailscale.com/kb/1085/auth-keys",
    tags: &["T1098.001", "T1133"],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow> = Rule {
    meta: META,
    matches: |r| auth_key(r).is_some(),
    title: |h| title(h),
    severity: Some(|h| severity(h)),
    dedup: Some(|h| dedup(h)),
    context: Some(|h| context(h)),
    tests: TESTS,
    ..Rule::DEFAULT
};

fn title(r: &AuditRow) -> String {
    let Some(k) = auth_key(r) else { return String::new() };
    let mut words = vec![if k.reusable { "reusable" } else { "single-use" }];
    if k.preauthorized {
        words.push("pre-authorized");
    }
    if k.ephemeral {
        words.push("ephemeral");
    }
    let tags = if k.tags.is_empty() {
        String::new()
    } else {
        format!(" for {}", k.tags.join(","))
    };
    let id = if k.reusable {
        r.target_id.as_deref().map(|id| format!(" {id}")).unwrap_or_default()
    } else {
        String::new()
    };
    by_actor(&format!("Tailscale {} auth key{id}{tags} created", words.join(" ")), r)
}

fn severity(r: &AuditRow) -> Severity {
    match auth_key(r) {
        Some(k) if k.reusable && k.preauthorized => Severity::High,
        Some(k) if k.reusable => Severity::Medium,
        _ => Severity::Info,
    }
}

/// Reusable keys one alert each; single-use keys one alert per actor and tag set per period.
fn dedup(r: &AuditRow) -> String {
    match auth_key(r) {
        Some(k) if !k.reusable => format!("{}|single-use|{}", actor_key(r), k.tags.join(",")),
        _ => ids(r),
    }
}

fn context(r: &AuditRow) -> serde_json::Value {
    let mut ctx = change_context(r);
    if let (Some(m), Some(k)) = (ctx.as_object_mut(), auth_key(r)) {
        m.insert("reusable".into(), k.reusable.into());
        m.insert("preauthorized".into(), k.preauthorized.into());
        m.insert("ephemeral".into(), k.ephemeral.into());
        m.insert("tags".into(), k.tags.into());
        m.insert("capabilities".into(), k.capabilities.into());
    }
    ctx
}

const TESTS: &[TestCase] = &[
    TestCase::new(
        "real shape: one-off ephemeral tagged key minted by an OAuth client",
        r#"{"eventGroupID":"5c1a0d3e9b7f4a2c8e6d1f0a3b5c7d9e","origin":"CONFIG_API","actor":{"id":"kQ8rT2xCNTRL","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"id":"kA92bXcCNTRL","name":"Auth key","type":"API_KEY"},"action":"CREATE","new":{"expires":"2026-07-27 12:15:48.688963096 +0000 UTC","capabilities":["ONE_OFF_NODE_AUTH","EPHEMERAL"],"domainLevel":true,"authTags":["tag:ci"],"description":"ci job 8812"},"eventTime":"2026-07-26T12:15:48.701Z","type":"CONFIG","logged":"2026-07-26T12:15:49.2Z"}"#,
        Expect::Fire {
            title: "Tailscale single-use ephemeral auth key for tag:ci created by OAuth client kQ8rT2xCNTRL via CONFIG_API",
            severity: Severity::Info,
            dedup: Some("kQ8rT2xCNTRL|single-use|tag:ci"),
            context_keys: &["reusable", "ephemeral", "tags", "capabilities", "new", "target_id", "actor_id"],
        },
    ),
    TestCase::new(
        "real shape: reusable key (no ONE_OFF_NODE_AUTH) from the admin console",
        r#"{"origin":"ADMIN_CONSOLE","actor":{"id":"uK7pQ2xR4CNTRL","type":"USER","loginName":"bob@example.com","displayName":"Bob Builder"},"target":{"id":"kR3u5eCNTRL","name":"Auth key","type":"API_KEY"},"action":"CREATE","new":{"expires":"2026-10-24 09:00:00.000000000 +0000 UTC","capabilities":["EPHEMERAL"],"domainLevel":true,"authTags":["tag:build"]},"eventTime":"2026-07-26T09:00:00Z"}"#,
        Expect::Fire {
            title: "Tailscale reusable ephemeral auth key kR3u5eCNTRL for tag:build created by bob@example.com via ADMIN_CONSOLE",
            severity: Severity::Medium,
            dedup: Some("uK7pQ2xR4CNTRL|kR3u5eCNTRL"),
            context_keys: &["reusable", "preauthorized", "tags"],
        },
    ),
    TestCase::new(
        "real shape, pre-approved member (name not yet confirmed) on a reusable key",
        r#"{"origin":"CONFIG_API","actor":{"id":"kQ8rT2xCNTRL","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"id":"kP4pprCNTRL","name":"Auth key","type":"API_KEY"},"action":"CREATE","new":{"capabilities":["PREAUTHORIZED_NODE_AUTH"],"authTags":["tag:prod"]},"eventTime":"2026-07-26T09:00:00Z"}"#,
        Expect::Fire {
            title:
                "Tailscale reusable pre-authorized auth key kP4pprCNTRL for tag:prod created by OAuth client kQ8rT2xCNTRL via CONFIG_API",
            severity: Severity::High,
            dedup: Some("kQ8rT2xCNTRL|kP4pprCNTRL"),
            context_keys: &["capabilities", "preauthorized"],
        },
    ),
    TestCase::new(
        "API request shape (capabilities.devices.create) is accepted too",
        r#"{"eventTime":"2025-03-04T17:26:28Z","origin":"ADMIN_CONSOLE","actor":{"id":"uK7pQ2xR4CNTRL","type":"USER","loginName":"bob@example.com"},"target":{"id":"kXo4Fd11CNTRL","name":"Auth key","type":"API_KEY"},"action":"CREATE","new":{"capabilities":{"devices":{"create":{"reusable":true,"preauthorized":true,"tags":["tag:ci"]}}}}}"#,
        Expect::Fire {
            title: "Tailscale reusable pre-authorized auth key kXo4Fd11CNTRL for tag:ci created by bob@example.com via ADMIN_CONSOLE",
            severity: Severity::High,
            dedup: Some("uK7pQ2xR4CNTRL|kXo4Fd11CNTRL"),
            context_keys: &["reusable", "preauthorized"],
        },
    ),
    TestCase::new(
        "near miss: an OAuth access token minted for an API call",
        r#"{"origin":"CONFIG_API","actor":{"id":"kQ8rT2xCNTRL","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"id":"tskey-token-kT1CNTRL","name":"OAuth access token","type":"OAUTH_ACCESS_TOKEN"},"action":"CREATE","actionDetails":"scopes - all","eventTime":"2026-07-26T12:15:48Z"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: an API access token (API_KEY, no node-auth capabilities)",
        r#"{"origin":"ADMIN_CONSOLE","actor":{"id":"uK7pQ2xR4CNTRL","type":"USER","loginName":"bob@example.com"},"target":{"id":"kApiT0kCNTRL","name":"API access token","type":"API_KEY"},"action":"CREATE","new":{"expires":"2026-10-24 09:00:00.000000000 +0000 UTC","capabilities":[],"description":"terraform"},"eventTime":"2026-07-26T09:00:00Z"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: an auth key revoked (no new)",
        r#"{"origin":"CONFIG_API","actor":{"id":"kQ8rT2xCNTRL","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"id":"kA92bXcCNTRL","name":"Auth key","type":"API_KEY"},"action":"REVOKE","eventTime":"2026-07-26T12:30:00Z"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: the creation failed",
        r#"{"origin":"CONFIG_API","actor":{"id":"kQ8rT2xCNTRL","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"name":"Auth key","type":"API_KEY"},"action":"CREATE","new":{"capabilities":["EPHEMERAL"],"authTags":["tag:prod"]},"error":"tag:prod not owned by client","eventTime":"2026-07-26T12:30:00Z"}"#,
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
