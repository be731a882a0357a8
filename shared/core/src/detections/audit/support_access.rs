//! Tailscale staff acted on the tailnet: legitimate only when someone here opened a support
//! request, and worth knowing about either way.

use crate::detections::common::{actor_key, by_actor};
use crate::engine::{Expect, Meta, Severity, TestCase};
use crate::lake::AuditRow;
use crate::record::Origin;
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.SupportAccess",
    name: "Tailscale support acted on the tailnet",
    severity: Severity::Medium,
    description: "A change came from origin SUPPORT_REQUEST: Tailscale staff acted on the tailnet, normally while handling a support ticket someone here opened. Matches from the same support actor within the dedup period group into one alert (one support session), so the first change is in the title and the rest are counted.",
    runbook: "1. Check that someone on your team opened a support request that explains the action (event_name, target_name in the alert context).\n2. Review every change in the session: tailscale_audit rows with origin SUPPORT_REQUEST and the same actor_id around p_event_time.\n3. If nobody asked for support, contact Tailscale security and review and revert the changes.",
    reference: "https://tailscale.com/kb/1203/audit-logging",
    tags: &["T1199", "T1078"],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow> = Rule {
    meta: META,
    matches: |r| r.origin == Some(Origin::SupportRequest) && r.error.is_none(),
    title: |h| {
        let r = h;
        let on = r
            .target_name
            .as_deref()
            .or(r.target_id.as_deref())
            .map(|t| format!(" on {t}"))
            .unwrap_or_default();
        by_actor(&format!("Tailscale support action {}{on}", r.event_name), r)
    },
    dedup: Some(|h| actor_key(h)),
    tests: TESTS,
    ..Rule::DEFAULT
};

const TESTS: &[TestCase] = &[
    TestCase::new(
        "support staff changed a setting",
        r#"{"eventTime":"2025-03-04T17:21:09Z","eventGroupID":"7a6b5c4d3e2f10ffeeddccbbaa998877","origin":"SUPPORT_REQUEST","actor":{"id":"uSupp0rtCNTRL","type":"USER","loginName":"support@tailscale.com","displayName":"Tailscale Support"},"target":{"id":"example.com","name":"example.com","type":"TAILNET","property":"HTTPS"},"action":"ENABLE"}"#,
        Expect::Fire {
            title: "Tailscale support action TAILNET.ENABLE.HTTPS on example.com by support@tailscale.com via SUPPORT_REQUEST",
            severity: Severity::Medium,
            dedup: Some("uSupp0rtCNTRL"),
            context_keys: &["origin", "actor_id", "actor_login_name", "event_name", "target_name"],
        },
    ),
    TestCase::new(
        "support staff deleted a node, no login name",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"SUPPORT_REQUEST","actor":{"id":"uSupp0rt2CNTRL","type":"USER","displayName":"Tailscale Support"},"target":{"id":"nLaptop42CNTRL","name":"laptop-42.tail1a2b.ts.net","type":"NODE"},"action":"DELETE"}"#,
        Expect::Fire {
            title:
                "Tailscale support action NODE.DELETE on laptop-42.tail1a2b.ts.net by Tailscale Support uSupp0rt2CNTRL via SUPPORT_REQUEST",
            severity: Severity::Medium,
            dedup: Some("uSupp0rt2CNTRL"),
            context_keys: &["origin", "event_name", "target_id"],
        },
    ),
    TestCase::new(
        "near miss: the same change made by an admin",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"HTTPS"},"action":"ENABLE"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: a failed support action",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"SUPPORT_REQUEST","actor":{"id":"uSupp0rtCNTRL","loginName":"support@tailscale.com"},"target":{"type":"TAILNET","property":"HTTPS"},"action":"ENABLE","error":"not permitted"}"#,
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
