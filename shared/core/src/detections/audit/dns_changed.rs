//! Tailnet DNS changed: whoever sets the nameservers, split-DNS routes or search domains decides
//! where every node's name lookups go, the classic path to hijacking internal names.

use crate::detections::common::{by_actor, property_changed};
use crate::engine::{Expect, Meta, Severity, TestCase};
use crate::lake::AuditRow;
use crate::record::{Action, TargetProperty};
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.DNS.Changed",
    name: "Tailscale DNS settings changed",
    severity: Severity::Medium,
    description: "The tailnet's DNS settings changed: MagicDNS was enabled (INFO, for the record), or the DNS configuration was updated (MEDIUM): global nameservers, split-DNS routes or search domains. A rogue nameserver or split-DNS route silently redirects internal names for every node. Fires for every origin; the context shows the old and new configuration. Disabling MagicDNS is Tailscale.MagicDNS.Disabled.",
    runbook: "1. Compare old and new in the alert context (tailscale_audit columns old / new): which nameservers, split-DNS domains or search domains were added?\n2. Confirm with the actor (actor_login_name, actor_type, origin) that the change was intended, and check that any new nameserver address belongs to you.\n3. If not intended, restore the previous configuration on the admin console DNS page and revoke the actor's keys or sessions; search tailscale_audit for the same actor_id in the surrounding hour.",
    reference: "https://tailscale.com/kb/1054/dns",
    tags: &["T1584.002", "T1557"],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow> = Rule {
    meta: META,
    matches: |r| magic_dns_enabled(r) || dns_config_updated(r),
    title: |r| {
        if magic_dns_enabled(r) {
            by_actor("Tailscale MagicDNS enabled", r)
        } else {
            by_actor("Tailscale DNS configuration changed", r)
        }
    },
    severity: Some(|h| if magic_dns_enabled(h) { Severity::Info } else { Severity::Medium }),
    tests: TESTS,
    ..Rule::DEFAULT
};

fn magic_dns_enabled(r: &AuditRow) -> bool {
    property_changed(r, &[Action::Enable], &[TargetProperty::MagicDns])
}

fn dns_config_updated(r: &AuditRow) -> bool {
    property_changed(r, &[Action::Update], &[TargetProperty::DnsConfig])
}

const TESTS: &[TestCase] = &[
    TestCase::new(
        "nameservers and split DNS changed through the API",
        r#"{"eventTime":"2025-03-04T17:21:09Z","eventGroupID":"4e3d2c1b0a99887766554433221100ff","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"id":"example.com","name":"example.com","type":"TAILNET","property":"DNS_CONFIG"},"action":"UPDATE","old":{"nameservers":["1.1.1.1"],"searchPaths":["corp.example.com"]},"new":{"nameservers":["203.0.113.53"],"routes":{"corp.example.com":["203.0.113.53"]},"searchPaths":["corp.example.com"]}}"#,
        Expect::Fire {
            title: "Tailscale DNS configuration changed by OAuth client k3F261FC38A07CNTRL via CONFIG_API",
            severity: Severity::Medium,
            dedup: Some("k3F261FC38A07CNTRL|example.com"),
            context_keys: &["old", "new", "origin", "actor_id", "event_name"],
        },
    ),
    TestCase::new(
        "MagicDNS enabled in the admin console",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com","displayName":"Alice Admin"},"target":{"id":"example.com","name":"example.com","type":"TAILNET","property":"MAGIC_DNS"},"action":"ENABLE"}"#,
        Expect::Fire {
            title: "Tailscale MagicDNS enabled by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::Info,
            dedup: Some("uodc9f3CNTRL|example.com"),
            context_keys: &["origin", "actor_login_name", "event_name"],
        },
    ),
    TestCase::new(
        "near miss: MagicDNS disabled (its own detection)",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"MAGIC_DNS"},"action":"DISABLE"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: another setting updated",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"MAX_KEY_DURATION"},"action":"UPDATE","old":90,"new":60}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: the change failed",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"CONFIG_API","actor":{"id":"k1","type":"OAUTH_CLIENT"},"target":{"type":"TAILNET","property":"DNS_CONFIG"},"action":"UPDATE","new":{"nameservers":["203.0.113.53"]},"error":"insufficient scopes"}"#,
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
