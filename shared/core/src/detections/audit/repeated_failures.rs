//! One actor's changes failing again and again: someone probing what a stolen session or key is
//! allowed to do, or automation stuck retrying something it should not.

use crate::detections::common::{actor_key, by_actor, context};
use crate::engine::{Expect, Meta, Severity, TestCase};
use crate::lake::AuditRow;
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.Admin.RepeatedFailures",
    name: "Tailscale changes failing repeatedly for one actor",
    severity: Severity::Medium,
    description: "The same actor had at least 5 audited changes fail (records with a non-empty error) within 15 minutes. Permission errors in a burst are how a stolen session or API key is probed for what it can do; automation failing in a loop is the benign explanation. Counted per actor across every origin; threshold and period are tunable.",
    runbook: "1. List the failures: tailscale_audit rows with the actor_id of the alert and a non-empty error in the 15 minutes before p_event_time; look at event_name and error (permission denied vs. validation errors).\n2. Ask the actor (actor_login_name, actor_type, origin) what they were doing; for an API or OAuth actor, find the owner of the key.\n3. If unexplained, revoke the actor's sessions and keys, and check whether any change by the same actor_id succeeded.",
    reference: "https://tailscale.com/kb/1203/audit-logging",
    tags: &["T1078", "T1069"],
    dedup_minutes: 15,
    threshold: 5,
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow> = Rule {
    meta: META,
    matches: |r| r.error.is_some(),
    title: |r| by_actor("Repeated failed Tailscale changes", r),
    dedup: Some(|h| actor_key(h)),
    context: Some(|h| {
        let r = h;
        let mut ctx = context(r);
        if let (Some(m), Some(error)) = (ctx.as_object_mut(), &r.error) {
            m.insert("error".into(), error.clone().into());
        }
        ctx
    }),
    tests: TESTS,
    ..Rule::DEFAULT
};

const FAILURES: &[&str] = &[
    r#"{"eventTime":"2025-03-04T17:01:00Z","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT","displayName":"OAuth client"},"target":{"id":"example.com","type":"TAILNET","property":"ACL"},"action":"UPDATE","error":"insufficient scopes"}"#,
    r#"{"eventTime":"2025-03-04T17:02:00Z","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT","displayName":"OAuth client"},"target":{"id":"example.com","type":"TAILNET","property":"DNS_CONFIG"},"action":"UPDATE","error":"insufficient scopes"}"#,
    r#"{"eventTime":"2025-03-04T17:03:00Z","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT","displayName":"OAuth client"},"target":{"id":"kNewKeyCNTRL","type":"API_KEY"},"action":"CREATE","error":"insufficient scopes"}"#,
    r#"{"eventTime":"2025-03-04T17:04:00Z","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT","displayName":"OAuth client"},"target":{"id":"example.com","type":"TAILNET","property":"LOGSTREAM_ENDPOINT"},"action":"DELETE","error":"insufficient scopes"}"#,
];

const FIFTH: &str = r#"{"eventTime":"2025-03-04T17:05:00Z","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"id":"uK7pQ2xR4CNTRL","name":"bob@example.com","type":"USER","property":"USER_ROLE"},"action":"UPDATE","old":"member","new":"admin","error":"insufficient scopes"}"#;

const TESTS: &[TestCase] = &[
    TestCase {
        name: "fifth failure within 15 minutes",
        setup: FAILURES,
        record: FIFTH,
        params: "",
        expect: Expect::Fire {
            title: "Repeated failed Tailscale changes by OAuth client k3F261FC38A07CNTRL via CONFIG_API",
            severity: Severity::Medium,
            dedup: Some("k3F261FC38A07CNTRL"),
            context_keys: &["error", "event_name", "actor_id", "origin"],
        },
    },
    TestCase {
        name: "near miss: only four failures",
        setup: &[FAILURES[0], FAILURES[1], FAILURES[2]],
        record: FIFTH,
        params: "",
        expect: Expect::Quiet,
    },
    TestCase {
        name: "near miss: the fifth failure is another actor's",
        setup: FAILURES,
        record: r#"{"eventTime":"2025-03-04T17:05:00Z","origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com"},"target":{"id":"example.com","type":"TAILNET","property":"ACL"},"action":"UPDATE","error":"policy file test failed"}"#,
        params: "",
        expect: Expect::Quiet,
    },
    TestCase {
        name: "near miss: the fifth change succeeded",
        setup: FAILURES,
        record: r#"{"eventTime":"2025-03-04T17:05:00Z","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT","displayName":"OAuth client"},"target":{"id":"nR0uter7x9CNTRL","type":"NODE","property":"ACL_TAGS"},"action":"UPDATE","new":["tag:ci"]}"#,
        params: "",
        expect: Expect::Quiet,
    },
];

#[cfg(test)]
mod tests {
    #[test]
    fn cases() {
        crate::engine::testing::assert_cases(&super::RULE);
    }
}
