//! An account that has not used the admin console for 90 days logs in: a new administrator, or an
//! old account someone else now controls.

use crate::detections::common::{by_actor, context};
use crate::engine::{ConfigError, Expect, Meta, Params, Severity, StateQuery, TestCase};
use crate::lake::AuditRow;
use crate::record::{Action, Origin, TargetType};
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.AdminConsole.FirstLogin",
    name: "Tailscale admin console login by an actor not seen in 90 days",
    severity: Severity::Low,
    description: "An actor logged in to the admin console for the first time in the look-back period (default 90 days). New administrators are expected now and then; a dormant account coming back is a classic sign of account takeover. Set learning_until to a date after deployment so the admins who log in during the first weeks are learnt instead of paged.",
    runbook: "1. Check actor_login_name against your list of Tailscale admins and ask the person.\n2. Look at what the actor did next: tailscale_audit rows with the same actor_id in the following hours.\n3. If unexpected, suspend the user in your identity provider and revoke their Tailscale sessions and keys.",
    reference: "https://tailscale.com/kb/1203/audit-logging",
    tags: &["T1078", "T1078.004"],
    dedup_minutes: 24 * 60,
    params: &[
        crate::engine::ParamDoc { name: "lookback_days", default: "90", doc: "An actor counts as new when not seen logging in for this many days" },
        crate::engine::ParamDoc {
            name: "learning_until",
            default: "0",
            doc: "Learning period: logins before this UTC date (YYYYMMDD, e.g. 20270115) are recorded but never alert, so deploying tailwatch does not page once for every existing admin. Set it to the deployment date plus two weeks; 0 = no learning period",
        },
    ],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow, Settings> = Rule {
    meta: META,
    params,
    matches: |r| {
        let console = r.target_type == Some(TargetType::AdminConsole) || r.origin == Some(Origin::AdminConsole);
        r.action == Action::Login && console && r.error.is_none()
    },
    ask: Some(|h| {
        Some(StateQuery::FirstSeen {
            key: h.actor_id.as_deref().or(h.actor_login_name.as_deref())?.to_owned(),
            within_days: h.params.lookback_days,
        })
    }),
    // The state query has already recorded the login: during learning it is only learnt.
    decide: |h| h.first_seen() && event_date(h) >= h.params.learning_until,
    title: |r| {
        by_actor(
            &format!("First Tailscale admin console login in {} days", r.params.lookback_days),
            r,
        )
    },
    dedup: Some(|r| r.actor_id.clone().or(r.actor_login_name.clone()).unwrap_or_default()),
    context: Some(|r| context(r)),
    tests: TESTS,
    ..Rule::DEFAULT
};

/// Parameters.
#[derive(Default)]
pub struct Settings {
    lookback_days: u32,
    /// YYYYMMDD; logins on earlier days only teach the state who the admins are.
    learning_until: u64,
}

fn params(params: &Params<'_>) -> Result<Settings, ConfigError> {
    Ok(Settings {
        lookback_days: u32::try_from(params.u64("lookback_days", 90)?.clamp(1, 3650)).unwrap_or(90),
        learning_until: params.u64("learning_until", 0)?,
    })
}

/// The event's UTC date as YYYYMMDD.
fn event_date(row: &AuditRow) -> u64 {
    let text = row.p.p_event_time.rfc3339();
    text.get(..10).map_or(0, |d| d.replace('-', "").parse().unwrap_or(0))
}

const LOGIN: &str = r#"{"eventTime":"2025-03-04T17:00:00Z","origin":"ADMIN_CONSOLE","actor":{"id":"u9","type":"USER","loginName":"mallory@example.com"},"target":{"type":"ADMIN_CONSOLE"},"action":"LOGIN"}"#;

const TESTS: &[TestCase] = &[
    TestCase::new(
        "never seen before",
        LOGIN,
        Expect::Fire {
            title: "First Tailscale admin console login in 90 days by mallory@example.com via ADMIN_CONSOLE",
            severity: Severity::Low,
            dedup: Some("u9"),
            context_keys: &["actor_id", "actor_login_name", "origin"],
        },
    ),
    TestCase {
        name: "near miss: logged in 10 days ago",
        setup: &[
            r#"{"eventTime":"2025-02-22T09:00:00Z","origin":"ADMIN_CONSOLE","actor":{"id":"u9","loginName":"mallory@example.com"},"target":{"type":"ADMIN_CONSOLE"},"action":"LOGIN"}"#,
        ],
        record: LOGIN,
        params: "",
        expect: Expect::Quiet,
    },
    TestCase {
        name: "last login 100 days ago counts as new",
        setup: &[
            r#"{"eventTime":"2024-11-20T09:00:00Z","origin":"ADMIN_CONSOLE","actor":{"id":"u9","loginName":"mallory@example.com"},"target":{"type":"ADMIN_CONSOLE"},"action":"LOGIN"}"#,
        ],
        record: LOGIN,
        params: "",
        expect: Expect::Fire {
            title: "First Tailscale admin console login in 90 days by mallory@example.com via ADMIN_CONSOLE",
            severity: Severity::Low,
            dedup: Some("u9"),
            context_keys: &["actor_id"],
        },
    },
    TestCase {
        name: "near miss: inside the learning period",
        setup: &[],
        record: LOGIN,
        params: "learning_until = 20250318",
        expect: Expect::Quiet,
    },
    TestCase {
        name: "after the learning period, an admin not seen during it",
        setup: &[
            r#"{"eventTime":"2025-03-01T09:00:00Z","origin":"ADMIN_CONSOLE","actor":{"id":"u1","loginName":"alice@example.com"},"target":{"type":"ADMIN_CONSOLE"},"action":"LOGIN"}"#,
        ],
        record: LOGIN,
        params: "learning_until = 20250304",
        expect: Expect::Fire {
            title: "First Tailscale admin console login in 90 days by mallory@example.com via ADMIN_CONSOLE",
            severity: Severity::Low,
            dedup: Some("u9"),
            context_keys: &["actor_id"],
        },
    },
    TestCase::new(
        "near miss: a logout",
        r#"{"eventTime":"2025-03-04T17:00:00Z","origin":"ADMIN_CONSOLE","actor":{"id":"u9"},"target":{"type":"ADMIN_CONSOLE"},"action":"LOGOUT"}"#,
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
