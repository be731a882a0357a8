//! Tailnet Lock's trusted signing keys changed: whoever holds a newly trusted key can sign any node
//! into the tailnet, which is exactly what the lock exists to prevent.

use crate::detections::common::{by_actor, change_context, list_diff, tailnet_setting_changed};
use crate::engine::{Expect, Meta, Severity, TestCase};
use crate::lake::AuditRow;
use crate::record::{Action, TargetProperty};
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.TailnetLock.TrustChanged",
    name: "Tailscale tailnet lock signing keys changed",
    severity: Severity::High,
    description: "The tailnet lock (TKA / TAILNET_LOCK) changed other than being enabled, disabled or deleted (those are Tailscale.TailnetLock.Disabled): trusted signing keys added or removed, or the lock's settings updated. HIGH when keys were added or the change is not a plain removal (a new trusted key signs nodes in without the existing signers); MEDIUM when keys were only removed (a legitimate signer may have been locked out). old/new key lists are compared when logged as arrays.",
    runbook: "1. Look at added_keys / removed_keys and old/new in the alert context, and compare with `tailscale lock status` on a signing node.\n2. Ask the actor (actor_login_name, actor_id, origin) and the other signing-key holders whether the change was agreed.\n3. If not, remove the untrusted key with `tailscale lock remove` from a trusted signer, and review nodes signed since p_event_time (`tailscale lock log`).",
    reference: "https://tailscale.com/kb/1226/tailnet-lock",
    tags: &["T1098", "T1556"],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow> = Rule {
    meta: META,
    matches: |r| {
        !matches!(r.action, Action::Enable | Action::Disable | Action::Delete)
            && tailnet_setting_changed(
                r,
                std::slice::from_ref(&r.action),
                &[TargetProperty::Tka, TargetProperty::TailnetLock],
            )
    },
    title: |h| title(h),
    severity: Some(|r| {
        let (added, removed) = list_diff(r);
        if added.is_empty() && !removed.is_empty() {
            Severity::Medium
        } else {
            Severity::High
        }
    }),
    context: Some(|h| context(h)),
    tests: TESTS,
    ..Rule::DEFAULT
};

fn title(r: &AuditRow) -> String {
    let (added, removed) = list_diff(r);
    let what = if added.is_empty() && removed.is_empty() {
        format!("Tailscale tailnet lock changed ({})", r.action)
    } else {
        format!(
            "Tailscale tailnet lock signing keys changed ({} added, {} removed)",
            added.len(),
            removed.len()
        )
    };
    by_actor(&what, r)
}

fn context(r: &AuditRow) -> serde_json::Value {
    let mut ctx = change_context(r);
    let (added, removed) = list_diff(r);
    if let Some(m) = ctx.as_object_mut() {
        m.insert("added_keys".into(), added.into());
        m.insert("removed_keys".into(), removed.into());
    }
    ctx
}

const TESTS: &[TestCase] = &[
    TestCase::new(
        "a signing key added",
        r#"{"origin":"NODE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com"},"target":{"id":"example.com","name":"example.com","type":"TAILNET","property":"TKA"},"action":"UPDATE","old":["tlpub:1a2b3c"],"new":["tlpub:1a2b3c","tlpub:9f8e7d"],"eventTime":"2026-07-26T10:00:00Z"}"#,
        Expect::Fire {
            title: "Tailscale tailnet lock signing keys changed (1 added, 0 removed) by alice@example.com via NODE",
            severity: Severity::High,
            dedup: Some("uodc9f3CNTRL|example.com"),
            context_keys: &["added_keys", "removed_keys", "old", "new"],
        },
    ),
    TestCase::new(
        "a signing key removed",
        r#"{"origin":"NODE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com"},"target":{"id":"example.com","type":"TAILNET","property":"TAILNET_LOCK"},"action":"UPDATE","old":["tlpub:1a2b3c","tlpub:9f8e7d"],"new":["tlpub:1a2b3c"],"eventTime":"2026-07-26T10:00:00Z"}"#,
        Expect::Fire {
            title: "Tailscale tailnet lock signing keys changed (0 added, 1 removed) by alice@example.com via NODE",
            severity: Severity::Medium,
            dedup: Some("uodc9f3CNTRL|example.com"),
            context_keys: &["removed_keys"],
        },
    ),
    TestCase::new(
        "near miss: the lock enabled",
        r#"{"origin":"NODE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com"},"target":{"id":"example.com","type":"TAILNET","property":"TKA"},"action":"ENABLE","eventTime":"2026-07-26T10:00:00Z"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: the lock disabled (its own detection)",
        r#"{"origin":"NODE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com"},"target":{"id":"example.com","type":"TAILNET","property":"TKA"},"action":"DISABLE","eventTime":"2026-07-26T10:00:00Z"}"#,
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
