//! A new API credential that can change the tailnet: policy, keys, DNS and logging, from anywhere,
//! without a browser session or MFA.

use crate::detections::common::{api_credential, by_actor, change_context};
use crate::engine::{Expect, Meta, Severity, TestCase};
use crate::lake::AuditRow;
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.APIAccess.WriteScoped",
    name: "Tailscale API credential with write access created",
    severity: Severity::Medium,
    description: "An API access token (full access) or an OAuth client with at least one write scope (a scope not ending in `:read`) was created. HIGH when the scopes include `all` (an API access token, or a client that can do anything), MEDIUM otherwise. Scopes come from actionDetails. OAuth access tokens, minted once per API call, never fire.",
    runbook: "1. Check write_scopes in the alert context and ask the actor (actor_id, actor_login_name, origin) what the credential is for and who holds its secret.\n2. If not expected, revoke it (target_id) on the admin console Keys or Trust credentials page and revoke the actor's sessions and keys.\n3. Search tailscale_audit for actor_id = target_id after p_event_time to see what the credential changed.",
    reference: "https://tailscale.com/kb/1215/oauth-clients",
    tags: &["T1098.001", "T1528"],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow> = Rule {
    meta: META,
    matches: |r| api_credential(r).is_some_and(|c| !c.write_scopes().is_empty()),
    title: |h| title(h),
    severity: Some(|r| {
        if api_credential(r).is_some_and(|c| c.write_scopes().contains(&"all")) {
            Severity::High
        } else {
            Severity::Medium
        }
    }),
    context: Some(|h| context(h)),
    tests: TESTS,
    ..Rule::DEFAULT
};

fn title(r: &AuditRow) -> String {
    let Some(c) = api_credential(r) else { return String::new() };
    let id = r.target_id.as_deref().map(|id| format!(" {id}")).unwrap_or_default();
    by_actor(
        &format!("Tailscale {}{id} with write scopes {} created", c.kind, c.write_scopes().join(",")),
        r,
    )
}

fn context(r: &AuditRow) -> serde_json::Value {
    let mut ctx = change_context(r);
    if let (Some(m), Some(c)) = (ctx.as_object_mut(), api_credential(r)) {
        m.insert("write_scopes".into(), c.write_scopes().into());
        m.insert("scopes".into(), c.scopes.into());
    }
    ctx
}

const TESTS: &[TestCase] = &[
    TestCase::new(
        "API access token (real shape: API_KEY without node-auth capabilities)",
        r#"{"origin":"ADMIN_CONSOLE","actor":{"id":"uK7pQ2xR4CNTRL","type":"USER","loginName":"bob@example.com","displayName":"Bob Builder"},"target":{"id":"kApiT0kCNTRL","name":"API access token","type":"API_KEY"},"action":"CREATE","new":{"expires":"2026-10-24 09:00:00.000000000 +0000 UTC","capabilities":[],"description":"terraform"},"eventTime":"2026-07-26T09:00:00Z"}"#,
        Expect::Fire {
            title: "Tailscale API access token kApiT0kCNTRL with write scopes all created by bob@example.com via ADMIN_CONSOLE",
            severity: Severity::High,
            dedup: Some("uK7pQ2xR4CNTRL|kApiT0kCNTRL"),
            context_keys: &["write_scopes", "scopes", "target_id", "new"],
        },
    ),
    TestCase::new(
        "OAuth client created with auth_keys and policy_file scopes",
        r#"{"origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com"},"target":{"id":"kOauthW1CNTRL","name":"OAuth client","type":"OAUTH_CLIENT"},"action":"CREATE","actionDetails":"scopes - devices:core:read, auth_keys, policy_file","eventTime":"2026-07-26T09:00:00Z"}"#,
        Expect::Fire {
            title: "Tailscale OAuth client kOauthW1CNTRL with write scopes auth_keys,policy_file created by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::Medium,
            dedup: Some("uodc9f3CNTRL|kOauthW1CNTRL"),
            context_keys: &["write_scopes", "scopes"],
        },
    ),
    TestCase::new(
        "near miss: an OAuth access token with scope all (minted per API call)",
        r#"{"origin":"CONFIG_API","actor":{"id":"kQ8rT2xCNTRL","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"id":"tskey-token-kT1CNTRL","name":"OAuth access token","type":"OAUTH_ACCESS_TOKEN"},"action":"CREATE","actionDetails":"scopes - all","eventTime":"2026-07-26T12:15:48Z"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: a read-only OAuth client",
        r#"{"origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com"},"target":{"id":"kOauthR1CNTRL","name":"OAuth client","type":"OAUTH_CLIENT"},"action":"CREATE","actionDetails":"scopes - all:read","eventTime":"2026-07-26T09:00:00Z"}"#,
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
