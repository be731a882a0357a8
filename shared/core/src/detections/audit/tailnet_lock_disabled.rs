//! Tailnet lock turned off: the control plane alone can again add nodes and keys to the tailnet,
//! removing the one defence against a compromised coordination server or admin account.

use crate::detections::common::{by_actor, context, tailnet_setting_changed};
use crate::engine::{Expect, Meta, Severity, TestCase};
use crate::lake::AuditRow;
use crate::record::{Action, TargetProperty};
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.TailnetLock.Disabled",
    name: "Tailscale tailnet lock disabled",
    severity: Severity::Critical,
    description: "Tailnet lock (TKA, also reported as TAILNET_LOCK) was disabled or deleted. With it, new nodes need a signature from a trusted signing node; without it, whoever controls the admin console, an API key or the control plane can add nodes that every peer trusts. Disabling it needs a disablement secret, so this is rare and deliberate. Fires for every origin.",
    runbook: "1. Confirm with the actor (actor_login_name, actor_type, origin) and the holders of the disablement secrets that the change was planned; treat an unclaimed change as a compromise.\n2. Review nodes added or re-keyed after p_event_time: tailscale_audit rows with target_type NODE (CREATE, APPROVE, UPDATE) and the same event_group_id.\n3. Re-initialise tailnet lock with trusted signing nodes (tailscale lock init) and rotate the disablement secrets.",
    reference: "https://tailscale.com/kb/1226/tailnet-lock",
    tags: &["T1562.001", "T1553"],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow> = Rule {
    meta: META,
    matches: |r| {
        tailnet_setting_changed(
            r,
            &[Action::Disable, Action::Delete],
            &[TargetProperty::Tka, TargetProperty::TailnetLock],
        )
    },
    title: |r| {
        let what = if r.action == Action::Delete { "deleted" } else { "disabled" };
        by_actor(&format!("Tailscale tailnet lock {what}"), r)
    },
    context: Some(|h| context(h)),
    tests: TESTS,
    ..Rule::DEFAULT
};

const TESTS: &[TestCase] = &[
    TestCase::new(
        "disabled in the admin console",
        r#"{"eventTime":"2025-03-04T17:21:09Z","eventGroupID":"a1b2c3d4e5f60718293a4b5c6d7e8f90","origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com","displayName":"Alice Admin"},"target":{"id":"example.com","name":"example.com","type":"TAILNET","property":"TKA"},"action":"DISABLE"}"#,
        Expect::Fire {
            title: "Tailscale tailnet lock disabled by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::Critical,
            dedup: Some("uodc9f3CNTRL|example.com"),
            context_keys: &["origin", "actor_login_name", "event_name", "event_group_id"],
        },
    ),
    TestCase::new(
        "deleted from a node, alternate property name",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"NODE","actor":{"id":"nSigner1CNTRL","type":"NODE","loginName":"","displayName":"signer-1.tail1a2b.ts.net","tags":["tag:signer"]},"target":{"id":"example.com","name":"example.com","type":"TAILNET","property":"TAILNET_LOCK"},"action":"DELETE"}"#,
        Expect::Fire {
            title: "Tailscale tailnet lock deleted by signer-1.tail1a2b.ts.net nSigner1CNTRL via NODE",
            severity: Severity::Critical,
            dedup: Some("nSigner1CNTRL|example.com"),
            context_keys: &["origin", "actor_id", "actor_type"],
        },
    ),
    TestCase::new(
        "near miss: tailnet lock enabled",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"TKA"},"action":"ENABLE"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: another setting deleted",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"LOGSTREAM_ENDPOINT"},"action":"DELETE"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: the change failed",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"TKA"},"action":"DISABLE","error":"invalid disablement secret"}"#,
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
