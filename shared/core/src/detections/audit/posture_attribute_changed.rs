//! A device's posture attributes set or removed by hand: posture rules grant access on these
//! attributes, so writing `custom:compliant = true` onto a device walks it past the check.

use crate::detections::common::{actor_is_machine, by_actor, target_label};
use crate::engine::{Expect, Meta, Severity, TestCase};
use crate::lake::AuditRow;
use crate::record::{Action, ActorType, TargetType};
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.Posture.AttributeChanged",
    name: "Tailscale device posture attribute changed",
    severity: Severity::Medium,
    description: "A node's posture attributes (a NODE property whose name contains ATTRIBUTE; the exact name is inferred, not yet seen in a capture) were set or removed by a person or an OAuth client. Posture conditions in the policy grant access on these attributes, so setting one by hand can walk a device past a check. Removal is MEDIUM, setting is MEDIUM too (either can open access the policy meant to deny). Updates from posture integrations (automated actors) do not fire: they sync attributes all day.",
    runbook: "1. Look at the node (target_name, target_id) and old/new in the alert context: which attribute, which value.\n2. Ask the actor (actor_login_name, actor_id, origin) why it was set by hand; posture attributes normally come from an integration.\n3. If not expected, restore the attribute (API: device attributes) and review the policy's postures and the node's connections (tailscale_network) since p_event_time.",
    reference: "https://tailscale.com/kb/1288/device-posture",
    tags: &["T1562", "T1098"],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow> = Rule {
    meta: META,
    matches: |h| matches(h),
    title: |r| {
        let verb = if r.action == Action::Delete { "removed from" } else { "set on" };
        by_actor(&format!("Tailscale posture attribute {verb} {}", target_label(r)), r)
    },
    tests: TESTS,
    ..Rule::DEFAULT
};

fn matches(r: &AuditRow) -> bool {
    let by_hand = !actor_is_machine(r) || r.actor_type == Some(ActorType::OauthClient);
    r.error.is_none()
        && by_hand
        && r.target_type == Some(TargetType::Node)
        && matches!(r.action, Action::Update | Action::Create | Action::Delete)
        && r.target_property
            .as_ref()
            .is_some_and(|p| p.as_str().to_ascii_uppercase().contains("ATTRIBUTE"))
}

const TESTS: &[TestCase] = &[
    TestCase::new(
        "a custom attribute set through the API",
        r#"{"origin":"CONFIG_API","actor":{"id":"kQ8rT2xCNTRL","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"id":"nLaptop42CNTRL","name":"laptop-42.tail1a2b.ts.net","type":"NODE","property":"POSTURE_ATTRIBUTES"},"action":"UPDATE","old":{"custom:compliant":false},"new":{"custom:compliant":true},"eventTime":"2026-07-26T10:00:00Z"}"#,
        Expect::Fire {
            title: "Tailscale posture attribute set on laptop-42.tail1a2b.ts.net by OAuth client kQ8rT2xCNTRL via CONFIG_API",
            severity: Severity::Medium,
            dedup: Some("kQ8rT2xCNTRL|nLaptop42CNTRL"),
            context_keys: &["old", "new", "target_id"],
        },
    ),
    TestCase::new(
        "an attribute removed in the admin console",
        r#"{"origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com"},"target":{"id":"nLaptop42CNTRL","name":"laptop-42.tail1a2b.ts.net","type":"NODE","property":"POSTURE_ATTRIBUTES"},"action":"DELETE","old":{"custom:tier":"restricted"},"eventTime":"2026-07-26T10:00:00Z"}"#,
        Expect::Fire {
            title: "Tailscale posture attribute removed from laptop-42.tail1a2b.ts.net by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::Medium,
            dedup: Some("uodc9f3CNTRL|nLaptop42CNTRL"),
            context_keys: &["old"],
        },
    ),
    TestCase::new(
        "near miss: a posture integration syncing attributes",
        r#"{"origin":"CONTROL","actor":{"id":"wPost1","type":"AUTOMATED_WORKER","displayName":"Posture integration"},"target":{"id":"nLaptop42CNTRL","type":"NODE","property":"POSTURE_ATTRIBUTES"},"action":"UPDATE","new":{"falcon:ztaScore":80},"eventTime":"2026-07-26T10:00:00Z"}"#,
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
