//! Node key expiry turned off: the device stays in the tailnet forever without its user ever
//! re-authenticating, so a stolen or lost laptop never drops out on its own.

use crate::detections::common::{by_actor, context, property_changed, target_label};
use crate::engine::registry::Spec;
use crate::engine::{audit, json_value, ConfigError, Detection, Expect, Meta, Params, Severity, TestCase, Verdict};
use crate::lake::{AuditRow, LakeRow};
use crate::record::{Action, TargetProperty, TargetType};

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.Node.KeyExpiryDisabled",
    name: "Tailscale node key expiry disabled",
    severity: Severity::Low,
    description: "Key expiry was disabled for a node. Tagged servers commonly run without expiry (LOW); for a user's device it means the owner never has to re-authenticate, so a lost or compromised device keeps its access indefinitely (MEDIUM). The audit record rarely says whether the node is tagged: tags are read from the record when present (target.tags, or tags in old/new), and a node with unknown tags is treated as an untagged user device. Fires for every origin.",
    runbook: "1. Identify the node (target_name, target_id) and whether it is a tagged server or a person's device (node_tags in the alert context; the admin console Machines page).\n2. Ask the actor (actor_login_name, origin) why expiry was disabled; for a user device, re-enable key expiry unless there is a documented reason.\n3. Search tailscale_audit for the same target_id for earlier changes (ACL_TAGS, ALLOWED_IPS) and for who approved the node.",
    reference: "https://tailscale.com/kb/1028/key-expiry",
    tags: &["T1098", "T1078"],
    ..Meta::DEFAULT
};

/// Registration.
pub const SPEC: Spec = Spec { meta: &META, build };

fn build(_params: &Params<'_>) -> Result<Box<dyn Detection>, ConfigError> {
    Ok(Box::new(KeyExpiryDisabled))
}

struct KeyExpiryDisabled;

fn matches(r: &AuditRow) -> bool {
    r.target_type == Some(TargetType::Node) && property_changed(r, &[Action::Disable], &[TargetProperty::KeyExpiry])
}

/// The node's tags when the record carries them: `target.tags` (kept in unknown_fields), or a
/// `tags` array in `new` / `old`. Empty when unknown.
fn node_tags(r: &AuditRow) -> Vec<String> {
    let from = |v: Option<serde_json::Value>, pointer: &str| -> Vec<String> {
        v.as_ref()
            .and_then(|v| v.pointer(pointer))
            .and_then(serde_json::Value::as_array)
            .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    [
        from(json_value(r.unknown_fields.as_deref()), "/target.tags"),
        from(json_value(r.new.as_deref()), "/tags"),
        from(json_value(r.old.as_deref()), "/tags"),
    ]
    .into_iter()
    .find(|t| !t.is_empty())
    .unwrap_or_default()
}

impl Detection for KeyExpiryDisabled {
    fn meta(&self) -> &Meta {
        &META
    }

    fn evaluate(&self, row: &LakeRow) -> Verdict {
        audit(row).is_some_and(matches).into()
    }

    fn title(&self, row: &LakeRow) -> String {
        audit(row)
            .map(|r| by_actor(&format!("Tailscale key expiry disabled for {}", target_label(r)), r))
            .unwrap_or_default()
    }

    fn severity(&self, row: &LakeRow) -> Severity {
        if audit(row).is_some_and(|r| !node_tags(r).is_empty()) {
            Severity::Low
        } else {
            Severity::Medium
        }
    }

    fn context(&self, row: &LakeRow) -> serde_json::Value {
        let Some(r) = audit(row) else { return serde_json::Value::Null };
        let mut ctx = context(r);
        if let Some(m) = ctx.as_object_mut() {
            let tags = node_tags(r);
            m.insert("node_tagged".into(), (!tags.is_empty()).into());
            m.insert("node_tags".into(), tags.into());
        }
        ctx
    }

    fn tests(&self) -> &'static [TestCase] {
        TESTS
    }
}

const TESTS: &[TestCase] = &[
    TestCase::new(
        "user device (tags unknown) in the admin console",
        r#"{"eventTime":"2025-03-04T17:21:09Z","eventGroupID":"77aa88bb99cc00dd11ee22ff33aa44bb","origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com","displayName":"Alice Admin"},"target":{"id":"nBLYviWLGB21CNTRL","name":"db-01.tail1a2b.ts.net","type":"NODE","property":"KEY_EXPIRY"},"action":"DISABLE"}"#,
        Expect::Fire {
            title: "Tailscale key expiry disabled for db-01.tail1a2b.ts.net by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::Medium,
            dedup: None,
            context_keys: &["node_tagged", "node_tags", "target_id", "target_name", "actor_login_name"],
        },
    ),
    TestCase::new(
        "tagged server through the API",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"id":"nR0uter7x9CNTRL","name":"router-1.tail1a2b.ts.net","type":"NODE","property":"KEY_EXPIRY","tags":["tag:router"]},"action":"DISABLE"}"#,
        Expect::Fire {
            title: "Tailscale key expiry disabled for router-1.tail1a2b.ts.net by OAuth client via CONFIG_API",
            severity: Severity::Low,
            dedup: None,
            context_keys: &["node_tagged", "node_tags", "origin"],
        },
    ),
    TestCase::new(
        "near miss: key expiry enabled",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"name":"db-01.tail1a2b.ts.net","type":"NODE","property":"KEY_EXPIRY"},"action":"ENABLE"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: a key expired (control plane)",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"CONTROL","actor":{"id":"","type":"AUTOMATED_WORKER","displayName":"Tailscale"},"target":{"id":"nLaptop42CNTRL","name":"laptop-42.tail1a2b.ts.net","type":"NODE","property":"KEY_EXPIRY_TIME"},"action":"EXPIRED"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: the change failed",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"name":"db-01.tail1a2b.ts.net","type":"NODE","property":"KEY_EXPIRY"},"action":"DISABLE","error":"permission denied"}"#,
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
