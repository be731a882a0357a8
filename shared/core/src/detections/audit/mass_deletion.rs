//! One actor deleting or suspending many users and devices in minutes: sabotage, or an attacker
//! locking defenders out.

use crate::detections::common::{actor_key, by_actor, context};
use crate::engine::{Expect, Meta, Severity, TestCase};
use crate::lake::AuditRow;
use crate::record::{Action, TargetType};
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.MassDeletion",
    name: "Tailscale mass deletion of users or devices",
    severity: Severity::High,
    description: "The same actor deleted or suspended at least 10 users or devices (nodes) within 10 minutes. Offboarding scripts do this on purpose; an intruder does it to cause an outage or to remove the administrators who could stop them. Counted per actor (actor.id) across every origin; ephemeral nodes (target.isEphemeral) are not counted, because they are removed by design. Threshold and period are tunable.",
    runbook: "1. List what was removed: tailscale_audit rows with the actor_id of the alert, action DELETE or SUSPEND and target_type USER or NODE in the 10 minutes before p_event_time (target_name).\n2. Ask the actor (actor_login_name, actor_type, origin) or the owner of the API key whether this was a planned offboarding or clean-up.\n3. If not, revoke the actor's sessions and keys at once, restore suspended users on the admin console Users page, and re-enrol deleted devices.",
    reference: "https://tailscale.com/kb/1203/audit-logging",
    tags: &["T1531", "T1485"],
    dedup_minutes: 10,
    threshold: 10,
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow> = Rule {
    meta: META,
    matches: |h| matches(h),
    title: |r| by_actor("Mass deletion of Tailscale users and devices", r),
    dedup: Some(|h| actor_key(h)),
    context: Some(|h| {
        let r = h;
        let mut ctx = context(r);
        if let Some(m) = ctx.as_object_mut() {
            m.insert("action".into(), r.action.as_str().into());
            if let Some(t) = &r.target_type {
                m.insert("target_type".into(), t.as_str().into());
            }
        }
        ctx
    }),
    tests: TESTS,
    ..Rule::DEFAULT
};

/// Ephemeral nodes (CI runners, containers) are deleted by design when they go offline or finish
/// a job, often dozens at a time: they are not counted.
fn matches(r: &AuditRow) -> bool {
    matches!(r.action, Action::Delete | Action::Suspend)
        && matches!(r.target_type, Some(TargetType::User | TargetType::Node))
        && r.target_is_ephemeral != Some(true)
        && r.error.is_none()
}

const DELETIONS: &[&str] = &[
    r#"{"eventTime":"2025-03-04T17:00:10Z","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT","displayName":"OAuth client"},"target":{"id":"n01CNTRL","name":"laptop-01.tail1a2b.ts.net","type":"NODE"},"action":"DELETE"}"#,
    r#"{"eventTime":"2025-03-04T17:00:20Z","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT","displayName":"OAuth client"},"target":{"id":"n02CNTRL","name":"laptop-02.tail1a2b.ts.net","type":"NODE"},"action":"DELETE"}"#,
    r#"{"eventTime":"2025-03-04T17:00:30Z","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT","displayName":"OAuth client"},"target":{"id":"n03CNTRL","name":"db-01.tail1a2b.ts.net","type":"NODE"},"action":"DELETE"}"#,
    r#"{"eventTime":"2025-03-04T17:00:40Z","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT","displayName":"OAuth client"},"target":{"id":"u01CNTRL","name":"alice@example.com","type":"USER"},"action":"SUSPEND"}"#,
    r#"{"eventTime":"2025-03-04T17:00:50Z","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT","displayName":"OAuth client"},"target":{"id":"u02CNTRL","name":"bob@example.com","type":"USER"},"action":"SUSPEND"}"#,
    r#"{"eventTime":"2025-03-04T17:01:00Z","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT","displayName":"OAuth client"},"target":{"id":"u03CNTRL","name":"carol@example.com","type":"USER"},"action":"DELETE"}"#,
    r#"{"eventTime":"2025-03-04T17:01:10Z","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT","displayName":"OAuth client"},"target":{"id":"n04CNTRL","name":"router-1.tail1a2b.ts.net","type":"NODE"},"action":"DELETE"}"#,
    r#"{"eventTime":"2025-03-04T17:01:20Z","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT","displayName":"OAuth client"},"target":{"id":"n05CNTRL","name":"router-2.tail1a2b.ts.net","type":"NODE"},"action":"DELETE"}"#,
    r#"{"eventTime":"2025-03-04T17:01:30Z","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT","displayName":"OAuth client"},"target":{"id":"u04CNTRL","name":"dan@example.com","type":"USER"},"action":"SUSPEND"}"#,
];

const TENTH: &str = r#"{"eventTime":"2025-03-04T17:01:40Z","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"id":"n06CNTRL","name":"signer-1.tail1a2b.ts.net","type":"NODE"},"action":"DELETE"}"#;

const TESTS: &[TestCase] = &[
    TestCase {
        name: "tenth deletion within 10 minutes",
        setup: DELETIONS,
        record: TENTH,
        params: "",
        expect: Expect::Fire {
            title: "Mass deletion of Tailscale users and devices by OAuth client k3F261FC38A07CNTRL via CONFIG_API",
            severity: Severity::High,
            dedup: Some("k3F261FC38A07CNTRL"),
            context_keys: &["action", "target_type", "target_name", "actor_id", "origin"],
        },
    },
    TestCase {
        name: "near miss: only nine deletions",
        setup: &[
            DELETIONS[0],
            DELETIONS[1],
            DELETIONS[2],
            DELETIONS[3],
            DELETIONS[4],
            DELETIONS[5],
            DELETIONS[6],
            DELETIONS[7],
        ],
        record: TENTH,
        params: "",
        expect: Expect::Quiet,
    },
    TestCase {
        name: "near miss: the tenth is another actor's",
        setup: DELETIONS,
        record: r#"{"eventTime":"2025-03-04T17:01:40Z","origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com"},"target":{"id":"n06CNTRL","type":"NODE"},"action":"DELETE"}"#,
        params: "",
        expect: Expect::Quiet,
    },
    TestCase {
        name: "near miss: the tenth deletes an API key, not a user or device",
        setup: DELETIONS,
        record: r#"{"eventTime":"2025-03-04T17:01:40Z","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT"},"target":{"id":"kXo4Fd11CNTRL","type":"API_KEY"},"action":"DELETE"}"#,
        params: "",
        expect: Expect::Quiet,
    },
    TestCase {
        name: "near miss: the tenth is an ephemeral CI node going away",
        setup: DELETIONS,
        record: r#"{"eventTime":"2025-03-04T17:01:40Z","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"id":"nCi7CNTRL","name":"ci-runner-7.tail1a2b.ts.net","type":"NODE","isEphemeral":true},"action":"DELETE"}"#,
        params: "",
        expect: Expect::Quiet,
    },
    TestCase {
        name: "near miss: the tenth deletion failed",
        setup: DELETIONS,
        record: r#"{"eventTime":"2025-03-04T17:01:40Z","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT"},"target":{"id":"n06CNTRL","type":"NODE"},"action":"DELETE","error":"node not found"}"#,
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
