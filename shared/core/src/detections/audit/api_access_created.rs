//! A new read-only API credential: it cannot change the tailnet, but it reads every device, user
//! and policy, which maps the network for an intruder.

use crate::detections::common::{api_credential, by_actor, change_context};
use crate::engine::{Expect, Meta, Severity, TestCase};
use crate::lake::AuditRow;
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.APIAccess.Created",
    name: "Tailscale read-only API credential created",
    severity: Severity::Low,
    description: "An OAuth client was created whose scopes are all read-only (or not logged). Credentials with write scopes, and API access tokens (which have full access), are Tailscale.APIAccess.WriteScoped; auth keys are Tailscale.AuthKey.Created. OAuth access tokens (OAUTH_ACCESS_TOKEN), which a client mints once per API call, never fire.",
    runbook: "1. Check the scopes in the alert context and ask the actor (actor_id, actor_login_name, origin) what the client is for.\n2. If not expected, delete it (target_id) on the admin console Trust credentials page and revoke the actor's sessions and keys.\n3. Search tailscale_audit for actor_id = target_id after p_event_time to see what the client read.",
    reference: "https://tailscale.com/kb/1215/oauth-clients",
    tags: &["T1098.001", "T1528"],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow> = Rule {
    meta: META,
    matches: |r| api_credential(r).is_some_and(|c| c.write_scopes().is_empty()),
    title: |h| title(h),
    context: Some(|h| context(h)),
    tests: TESTS,
    ..Rule::DEFAULT
};

fn title(r: &AuditRow) -> String {
    let kind = api_credential(r).map_or("API credential", |c| c.kind);
    let id = r.target_id.as_deref().map(|id| format!(" {id}")).unwrap_or_default();
    by_actor(&format!("Tailscale read-only {kind}{id} created"), r)
}

fn context(r: &AuditRow) -> serde_json::Value {
    let mut ctx = change_context(r);
    if let (Some(m), Some(c)) = (ctx.as_object_mut(), api_credential(r)) {
        m.insert("scopes".into(), c.scopes.into());
        m.insert("action_details".into(), r.action_details.clone().into());
    }
    ctx
}

const TESTS: &[TestCase] = &[
    TestCase::new(
        "OAuth client created with read scopes",
        r#"{"origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com","displayName":"Alice"},"target":{"id":"kOauthR1CNTRL","name":"OAuth client","type":"OAUTH_CLIENT"},"action":"CREATE","actionDetails":"scopes - devices:core:read, dns:read","eventTime":"2026-07-26T09:00:00Z"}"#,
        Expect::Fire {
            title: "Tailscale read-only OAuth client kOauthR1CNTRL created by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::Low,
            dedup: Some("uodc9f3CNTRL|kOauthR1CNTRL"),
            context_keys: &["scopes", "action_details", "target_id", "actor_id"],
        },
    ),
    TestCase::new(
        "near miss: an OAuth access token minted for an API call (real shape)",
        r#"{"origin":"CONFIG_API","actor":{"id":"kQ8rT2xCNTRL","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"id":"tskey-token-kT1CNTRL","name":"OAuth access token","type":"OAUTH_ACCESS_TOKEN"},"action":"CREATE","actionDetails":"scopes - all:read","eventTime":"2026-07-26T12:15:48Z"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: an auth key (real shape; its own detection)",
        r#"{"origin":"CONFIG_API","actor":{"id":"kQ8rT2xCNTRL","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"id":"kA92bXcCNTRL","name":"Auth key","type":"API_KEY"},"action":"CREATE","new":{"capabilities":["ONE_OFF_NODE_AUTH","EPHEMERAL"],"authTags":["tag:ci"]},"eventTime":"2026-07-26T12:15:48Z"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: an OAuth client with a write scope (Tailscale.APIAccess.WriteScoped)",
        r#"{"origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com"},"target":{"id":"kOauthW1CNTRL","name":"OAuth client","type":"OAUTH_CLIENT"},"action":"CREATE","actionDetails":"scopes - devices:core:read, auth_keys","eventTime":"2026-07-26T09:00:00Z"}"#,
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
