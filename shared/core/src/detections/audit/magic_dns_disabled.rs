//! MagicDNS turned off: every node falls back to whatever DNS the network hands it, which an
//! attacker on that network controls.

use crate::detections::common::{by_actor, context, tailnet_setting_disabled};
use crate::engine::{Expect, Meta, Severity, TestCase};
use crate::lake::AuditRow;
use crate::record::TargetProperty;
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.MagicDNS.Disabled",
    name: "Tailscale MagicDNS disabled",
    severity: Severity::High,
    description: "MagicDNS was disabled for the tailnet. Nodes stop resolving tailnet names through 100.100.100.100 and use the local network's resolver, which makes DNS spoofing of internal names possible. Fires for every origin, including the API and OAuth clients (Panther's rule only sees the admin console).",
    runbook: "1. Confirm with the actor (actor_login_name, origin) that the change was intended; an API or OAuth origin nobody claims points to a stolen key.\n2. If not intended, re-enable MagicDNS in the admin console (DNS page) and revoke the actor's keys or sessions.\n3. Search tailscale_audit for the same actor_id and event_group_id in the surrounding hour for other changes.",
    reference: "https://tailscale.com/kb/1081/magicdns",
    tags: &["T1562.001", "T1584.002"],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow> = Rule {
    meta: META,
    matches: |r| tailnet_setting_disabled(r, &TargetProperty::MagicDns),
    title: |r| by_actor("Tailscale MagicDNS disabled", r),
    context: Some(|h| context(h)),
    tests: TESTS,
    ..Rule::DEFAULT
};

const TESTS: &[TestCase] = &[
    TestCase::new(
        "disabled in the admin console",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"id":"u1","type":"USER","loginName":"alice@example.com"},"target":{"id":"example.com","name":"example.com","type":"TAILNET","property":"MAGIC_DNS"},"action":"DISABLE"}"#,
        Expect::Fire {
            title: "Tailscale MagicDNS disabled by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::High,
            dedup: Some("u1|example.com"),
            context_keys: &["origin", "actor_login_name", "event_name"],
        },
    ),
    TestCase::new(
        "disabled through the API by an OAuth client",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"CONFIG_API","actor":{"id":"k1","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"type":"TAILNET","property":"MAGIC_DNS"},"action":"DISABLE"}"#,
        Expect::Fire {
            title: "Tailscale MagicDNS disabled by OAuth client k1 via CONFIG_API",
            severity: Severity::High,
            dedup: Some("k1|-"),
            context_keys: &["origin", "actor_id"],
        },
    ),
    TestCase::new(
        "near miss: MagicDNS enabled",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"MAGIC_DNS"},"action":"ENABLE"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: another setting disabled",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"FILE_SHARING"},"action":"DISABLE"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: the change failed",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"MAGIC_DNS"},"action":"DISABLE","error":"permission denied"}"#,
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
