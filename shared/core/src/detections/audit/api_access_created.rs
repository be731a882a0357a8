//! A new API access token or OAuth client: a credential that can change the whole tailnet from
//! anywhere, without a browser session or MFA.

use crate::detections::common::{auth_key_capabilities, by_actor, change_context};
use crate::engine::registry::Spec;
use crate::engine::{audit, ConfigError, Detection, Expect, Meta, Params, Severity, TestCase, Verdict};
use crate::lake::{AuditRow, LakeRow};
use crate::record::{Action, TargetType};

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.APIAccess.Created",
    name: "Tailscale API access token or OAuth client created",
    severity: Severity::Low,
    description: "An API access token (API_KEY without device capabilities), an OAuth client, or an OAuth access token was created. These credentials reach the Tailscale API directly, so a stolen or rogue one changes policy, DNS, keys and logging without an admin console login. The context lists the scopes from actionDetails. Keys that enrol devices are Tailscale.AuthKey.Created.",
    runbook: "1. Check the scopes in the alert context (action_details) and ask the actor (actor_login_name, actor_type, origin) what the credential is for.\n2. If not expected, revoke it (target_id) on the admin console Keys or Trust credentials page, and revoke the actor's sessions and keys.\n3. Search tailscale_audit for origin CONFIG_API after p_event_time to see what the new credential changed.",
    reference: "https://tailscale.com/kb/1215/oauth-clients",
    tags: &["T1098.001", "T1528"],
    ..Meta::DEFAULT
};

/// Registration.
pub const SPEC: Spec = Spec { meta: &META, build };

fn build(_params: &Params<'_>) -> Result<Box<dyn Detection>, ConfigError> {
    Ok(Box::new(ApiAccessCreated))
}

struct ApiAccessCreated;

/// What kind of credential the row creates, if it is one this detection reports.
fn credential(r: &AuditRow) -> Option<&'static str> {
    if r.action != Action::Create || r.error.is_some() {
        return None;
    }
    match r.target_type.as_ref()? {
        TargetType::OauthAccessToken => Some("OAuth access token"),
        TargetType::OauthClient => Some("OAuth client"),
        TargetType::ApiKey if auth_key_capabilities(r).is_none() => Some("API access token"),
        _ => None,
    }
}

/// Scopes from `actionDetails` (`scopes - all:read` or `scopes - devices:core, dns:read`).
fn scopes(details: Option<&str>) -> Vec<String> {
    let Some(details) = details else { return Vec::new() };
    let trimmed = details.trim_start();
    let Some(rest) = trimmed.get(..6).filter(|p| p.eq_ignore_ascii_case("scopes")).map(|_| &trimmed[6..]) else {
        return Vec::new();
    };
    rest.trim_start_matches([' ', '-', ':', '='])
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Detection for ApiAccessCreated {
    fn meta(&self) -> &Meta {
        &META
    }

    fn evaluate(&self, row: &LakeRow) -> Verdict {
        audit(row).and_then(credential).is_some().into()
    }

    fn title(&self, row: &LakeRow) -> String {
        let Some(r) = audit(row) else { return String::new() };
        let kind = credential(r).unwrap_or("API credential");
        // Access tokens are minted every hour by each OAuth client: leave the token id out so one
        // client's tokens dedup into one alert.
        let id = match (&r.target_type, r.target_id.as_deref()) {
            (Some(TargetType::OauthAccessToken), _) | (_, None) => String::new(),
            (_, Some(id)) => format!(" {id}"),
        };
        by_actor(&format!("Tailscale {kind}{id} created"), r)
    }

    fn context(&self, row: &LakeRow) -> serde_json::Value {
        let Some(r) = audit(row) else { return serde_json::Value::Null };
        let mut ctx = change_context(r);
        if let Some(m) = ctx.as_object_mut() {
            m.insert("scopes".into(), scopes(r.action_details.as_deref()).into());
            if let Some(details) = &r.action_details {
                m.insert("action_details".into(), details.clone().into());
            }
        }
        ctx
    }

    fn tests(&self) -> &'static [TestCase] {
        TESTS
    }
}

const TESTS: &[TestCase] = &[
    TestCase::new(
        "OAuth access token minted by an OAuth client",
        r#"{"eventTime":"2025-03-04T17:21:09Z","eventGroupID":"abc123def4567890abc123def4567890","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"id":"k9Wq2mTT77CNTRL","name":"API access token","type":"OAUTH_ACCESS_TOKEN"},"action":"CREATE","actionDetails":"scopes - all:read"}"#,
        Expect::Fire {
            title: "Tailscale OAuth access token created by OAuth client via CONFIG_API",
            severity: Severity::Low,
            dedup: None,
            context_keys: &["scopes", "action_details", "target_id", "actor_id", "origin"],
        },
    ),
    TestCase::new(
        "API access token created in the admin console (empty capabilities)",
        r#"{"eventTime":"2025-03-04T17:26:28Z","eventGroupID":"9f880e02981e341447958344b7b4071f","origin":"ADMIN_CONSOLE","actor":{"id":"uK7pQ2xR4CNTRL","type":"USER","loginName":"bob@example.com","displayName":"Bob Builder"},"target":{"id":"kXo4Fd11CNTRL","name":"Auth key","type":"API_KEY"},"action":"CREATE","new":{}}"#,
        Expect::Fire {
            title: "Tailscale API access token kXo4Fd11CNTRL created by bob@example.com via ADMIN_CONSOLE",
            severity: Severity::Low,
            dedup: None,
            context_keys: &["scopes", "new", "target_id", "actor_login_name"],
        },
    ),
    TestCase::new(
        "OAuth client created with several scopes",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com"},"target":{"id":"kOauthC1CNTRL","name":"ci-client","type":"OAUTH_CLIENT"},"action":"CREATE","actionDetails":"scopes - devices:core, auth_keys, policy_file"}"#,
        Expect::Fire {
            title: "Tailscale OAuth client kOauthC1CNTRL created by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::Low,
            dedup: None,
            context_keys: &["scopes", "action_details", "target_name"],
        },
    ),
    TestCase::new(
        "near miss: an auth key (its own detection)",
        r#"{"eventTime":"2025-03-04T17:26:28Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"bob@example.com"},"target":{"id":"kXo4Fd11CNTRL","type":"API_KEY"},"action":"CREATE","new":{"capabilities":{"devices":{"create":{"reusable":true}}}}}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: an API access token revoked",
        r#"{"eventTime":"2025-03-04T17:26:28Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"bob@example.com"},"target":{"id":"kXo4Fd11CNTRL","type":"API_KEY"},"action":"REVOKE"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: the creation failed",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT"},"target":{"type":"OAUTH_ACCESS_TOKEN"},"action":"CREATE","error":"invalid client secret"}"#,
        Expect::Quiet,
    ),
];

#[cfg(test)]
mod tests {
    #[test]
    fn cases() {
        crate::engine::testing::assert_cases(&super::SPEC);
    }
}
