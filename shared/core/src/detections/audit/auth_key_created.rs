//! A new auth key: anyone holding a reusable, pre-authorized key can enrol machines into the
//! tailnet without a login, which makes it a favourite persistence mechanism.

use crate::detections::common::{auth_key_capabilities, by_actor, change_context};
use crate::engine::registry::Spec;
use crate::engine::{audit, ConfigError, Detection, Expect, Meta, Params, Severity, TestCase, Verdict};
use crate::lake::{AuditRow, LakeRow};

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.AuthKey.Created",
    name: "Tailscale auth key created",
    severity: Severity::Medium,
    description: "An API_KEY was created whose capabilities create devices (an auth key). Single-use keys are INFO; reusable keys are MEDIUM; reusable and pre-authorized keys, which enrol any number of machines with no approval, are HIGH. Fires for every origin. Keys without device capabilities are Tailscale.APIAccess.Created.",
    runbook: "1. Look at the key's capabilities in the alert context (reusable, preauthorized, ephemeral, tags) and ask the actor (actor_login_name, origin) what it is for.\n2. If not expected, revoke the key (target_id) on the admin console Keys page and revoke the actor's sessions and keys.\n3. Review devices enrolled since p_event_time: tailscale_audit rows with target_type NODE and action CREATE, especially tagged with the key's tags.",
    reference: "https://tailscale.com/kb/1085/auth-keys",
    tags: &["T1098.001", "T1133"],
    ..Meta::DEFAULT
};

/// Registration.
pub const SPEC: Spec = Spec { meta: &META, build };

fn build(_params: &Params<'_>) -> Result<Box<dyn Detection>, ConfigError> {
    Ok(Box::new(AuthKeyCreated))
}

struct AuthKeyCreated;

/// What the key can do.
struct KeyCaps {
    reusable: bool,
    preauthorized: bool,
    ephemeral: bool,
    tags: Vec<String>,
}

fn caps(r: &AuditRow) -> Option<KeyCaps> {
    if r.error.is_some() {
        return None;
    }
    let c = auth_key_capabilities(r)?;
    let flag = |k: &str| c.get(k).and_then(serde_json::Value::as_bool).unwrap_or(false);
    let tags = c
        .get("tags")
        .and_then(serde_json::Value::as_array)
        .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    Some(KeyCaps {
        reusable: flag("reusable"),
        preauthorized: flag("preauthorized"),
        ephemeral: flag("ephemeral"),
        tags,
    })
}

impl KeyCaps {
    fn describe(&self) -> String {
        let mut words = vec![if self.reusable { "reusable" } else { "single-use" }];
        if self.preauthorized {
            words.push("pre-authorized");
        }
        if self.ephemeral {
            words.push("ephemeral");
        }
        words.join(" ")
    }
}

impl Detection for AuthKeyCreated {
    fn meta(&self) -> &Meta {
        &META
    }

    fn evaluate(&self, row: &LakeRow) -> Verdict {
        audit(row).and_then(caps).is_some().into()
    }

    fn title(&self, row: &LakeRow) -> String {
        let Some(r) = audit(row) else { return String::new() };
        let kind = caps(r).map(|c| c.describe()).unwrap_or_default();
        let id = r.target_id.as_deref().map(|id| format!(" {id}")).unwrap_or_default();
        by_actor(&format!("Tailscale {kind} auth key{id} created"), r)
    }

    fn severity(&self, row: &LakeRow) -> Severity {
        match audit(row).and_then(caps) {
            Some(c) if c.reusable && c.preauthorized => Severity::High,
            Some(c) if c.reusable => Severity::Medium,
            _ => Severity::Info,
        }
    }

    fn context(&self, row: &LakeRow) -> serde_json::Value {
        let Some(r) = audit(row) else { return serde_json::Value::Null };
        let mut ctx = change_context(r);
        if let (Some(m), Some(c)) = (ctx.as_object_mut(), caps(r)) {
            m.insert("reusable".into(), c.reusable.into());
            m.insert("preauthorized".into(), c.preauthorized.into());
            m.insert("ephemeral".into(), c.ephemeral.into());
            m.insert("tags".into(), c.tags.into());
        }
        ctx
    }

    fn tests(&self) -> &'static [TestCase] {
        TESTS
    }
}

const TESTS: &[TestCase] = &[
    TestCase::new(
        "reusable pre-authorized tagged key",
        r#"{"eventTime":"2025-03-04T17:26:28Z","eventGroupID":"9f880e02981e341447958344b7b4071f","origin":"ADMIN_CONSOLE","actor":{"id":"uK7pQ2xR4CNTRL","type":"USER","loginName":"bob@example.com","displayName":"Bob Builder"},"target":{"id":"kXo4Fd11CNTRL","name":"Auth key","type":"API_KEY"},"action":"CREATE","new":{"capabilities":{"devices":{"create":{"reusable":true,"ephemeral":false,"preauthorized":true,"tags":["tag:ci"]}}}}}"#,
        Expect::Fire {
            title: "Tailscale reusable pre-authorized auth key kXo4Fd11CNTRL created by bob@example.com via ADMIN_CONSOLE",
            severity: Severity::High,
            dedup: None,
            context_keys: &["reusable", "preauthorized", "ephemeral", "tags", "new", "target_id"],
        },
    ),
    TestCase::new(
        "reusable ephemeral key through the API",
        r#"{"eventTime":"2025-03-04T17:26:28Z","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"id":"kR3u5eCNTRL","name":"Auth key","type":"API_KEY"},"action":"CREATE","new":{"capabilities":{"devices":{"create":{"reusable":true,"ephemeral":true,"tags":["tag:ci"]}}}}}"#,
        Expect::Fire {
            title: "Tailscale reusable ephemeral auth key kR3u5eCNTRL created by OAuth client via CONFIG_API",
            severity: Severity::Medium,
            dedup: None,
            context_keys: &["reusable", "preauthorized", "tags", "origin"],
        },
    ),
    TestCase::new(
        "single-use key (zero values omitted)",
        r#"{"eventTime":"2025-03-04T17:26:28Z","origin":"ADMIN_CONSOLE","actor":{"id":"uK7pQ2xR4CNTRL","type":"USER","loginName":"bob@example.com"},"target":{"id":"kS1ngleCNTRL","name":"Auth key","type":"API_KEY"},"action":"CREATE","new":{"capabilities":{"devices":{"create":{}}}}}"#,
        Expect::Fire {
            title: "Tailscale single-use auth key kS1ngleCNTRL created by bob@example.com via ADMIN_CONSOLE",
            severity: Severity::Info,
            dedup: None,
            context_keys: &["reusable", "preauthorized"],
        },
    ),
    TestCase::new(
        "near miss: an API access token (no device capabilities)",
        r#"{"eventTime":"2025-03-04T17:26:28Z","origin":"ADMIN_CONSOLE","actor":{"id":"uK7pQ2xR4CNTRL","type":"USER","loginName":"bob@example.com"},"target":{"id":"kXo4Fd11CNTRL","name":"Auth key","type":"API_KEY"},"action":"CREATE","new":{}}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: an auth key revoked",
        r#"{"eventTime":"2025-03-04T17:26:28Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"bob@example.com"},"target":{"id":"kXo4Fd11CNTRL","type":"API_KEY"},"action":"REVOKE","old":{"capabilities":{"devices":{"create":{"reusable":true,"preauthorized":true}}}}}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: the creation failed",
        r#"{"eventTime":"2025-03-04T17:26:28Z","origin":"CONFIG_API","actor":{"id":"k1","type":"OAUTH_CLIENT"},"target":{"type":"API_KEY"},"action":"CREATE","new":{"capabilities":{"devices":{"create":{"reusable":true,"preauthorized":true}}}},"error":"tag:ci not owned by client"}"#,
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
