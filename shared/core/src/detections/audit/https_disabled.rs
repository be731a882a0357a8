//! HTTPS certificates turned off: tailnet services fall back to plain HTTP or self-signed
//! certificates, and users learn to click through certificate warnings.

use crate::detections::common::{by_actor, context, tailnet_setting_disabled};
use crate::engine::{Expect, Meta, Severity, TestCase};
use crate::lake::AuditRow;
use crate::record::TargetProperty;
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.HTTPS.Disabled",
    name: "Tailscale HTTPS certificates disabled",
    severity: Severity::High,
    description: "HTTPS certificates were disabled for the tailnet. Nodes can no longer obtain Let's Encrypt certificates for their ts.net names, so services drop to HTTP or untrusted certificates, which makes interception easier. Fires for every origin, including the API and OAuth clients (Panther's rule only sees the admin console).",
    runbook: "1. Confirm with the actor (actor_login_name, actor_type, origin) that the change was intended; an API or OAuth origin nobody claims points to a stolen key.\n2. If not intended, re-enable HTTPS in the admin console (DNS page) and revoke the actor's keys or sessions.\n3. Search tailscale_audit for the same actor_id and event_group_id in the surrounding hour for other changes.",
    reference: "https://tailscale.com/kb/1153/enabling-https",
    tags: &["T1562.001", "T1557"],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow> = Rule {
    meta: META,
    matches: |r| tailnet_setting_disabled(r, &TargetProperty::Https),
    title: |r| by_actor("Tailscale HTTPS certificates disabled", r),
    context: Some(|h| context(h)),
    tests: TESTS,
    ..Rule::DEFAULT
};

const TESTS: &[TestCase] = &[
    TestCase::new(
        "disabled in the admin console",
        r#"{"eventTime":"2025-03-04T17:21:09Z","eventGroupID":"1770eb26fb58fbf67fd8fbfcc2056e66","origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com","displayName":"Alice Admin"},"target":{"id":"example.com","name":"example.com","type":"TAILNET","property":"HTTPS"},"action":"DISABLE"}"#,
        Expect::Fire {
            title: "Tailscale HTTPS certificates disabled by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::High,
            dedup: Some("uodc9f3CNTRL|example.com"),
            context_keys: &["origin", "actor_login_name", "event_name", "event_group_id"],
        },
    ),
    TestCase::new(
        "disabled through the API by an OAuth client",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"id":"example.com","name":"example.com","type":"TAILNET","property":"HTTPS"},"action":"DISABLE"}"#,
        Expect::Fire {
            title: "Tailscale HTTPS certificates disabled by OAuth client k3F261FC38A07CNTRL via CONFIG_API",
            severity: Severity::High,
            dedup: Some("k3F261FC38A07CNTRL|example.com"),
            context_keys: &["origin", "actor_id", "actor_type"],
        },
    ),
    TestCase::new(
        "near miss: HTTPS enabled",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"HTTPS"},"action":"ENABLE"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: MagicDNS disabled (its own detection)",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"MAGIC_DNS"},"action":"DISABLE"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: the change failed",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"HTTPS"},"action":"DISABLE","error":"permission denied"}"#,
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
