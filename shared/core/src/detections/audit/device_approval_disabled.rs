//! Device approval turned off: any device that can log in joins the tailnet at once, so a stolen
//! login or auth key becomes network access with nobody reviewing the machine.

use crate::detections::common::{by_actor, context, tailnet_setting_changed};
use crate::engine::{Expect, Meta, Severity, TestCase};
use crate::lake::AuditRow;
use crate::record::{Action, TargetProperty};
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.DeviceApproval.Disabled",
    name: "Tailscale device approval disabled",
    severity: Severity::High,
    description: "The tailnet's device approval requirement (MACHINE_APPROVAL_NEEDED, formerly device authorization, MACHINE_AUTH_NEEDED) was disabled. New devices no longer wait for an administrator before they can reach the network, so untrusted or attacker-controlled machines join unnoticed. Fires for every origin, including the API and OAuth clients (Panther's rule only sees the admin console).",
    runbook: "1. Confirm with the actor (actor_login_name, actor_type, origin) that the change was intended; an API or OAuth origin nobody claims points to a stolen key.\n2. If not intended, re-enable device approval in the admin console (Device management settings) and revoke the actor's keys or sessions.\n3. Review devices added since the change: tailscale_audit rows with target_type NODE and action CREATE or APPROVE after p_event_time.",
    reference: "https://tailscale.com/kb/1099/device-approval",
    tags: &["T1562.001", "T1133"],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow> = Rule {
    meta: META,
    matches: |r| {
        tailnet_setting_changed(
            r,
            &[Action::Disable],
            &[TargetProperty::MachineApprovalNeeded, TargetProperty::MachineAuthNeeded],
        )
    },
    title: |r| by_actor("Tailscale device approval disabled", r),
    context: Some(|h| context(h)),
    tests: TESTS,
    ..Rule::DEFAULT
};

const TESTS: &[TestCase] = &[
    TestCase::new(
        "disabled in the admin console",
        r#"{"eventTime":"2025-03-04T17:21:09Z","eventGroupID":"6dae044c7a8998599e94657b511d28f9","origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com","displayName":"Alice Admin"},"target":{"id":"example.com","name":"example.com","type":"TAILNET","property":"MACHINE_APPROVAL_NEEDED"},"action":"DISABLE"}"#,
        Expect::Fire {
            title: "Tailscale device approval disabled by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::High,
            dedup: Some("uodc9f3CNTRL|example.com"),
            context_keys: &["origin", "actor_login_name", "event_name"],
        },
    ),
    TestCase::new(
        "old property name, through the API by an OAuth client",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"id":"example.com","name":"example.com","type":"TAILNET","property":"MACHINE_AUTH_NEEDED"},"action":"DISABLE"}"#,
        Expect::Fire {
            title: "Tailscale device approval disabled by OAuth client k3F261FC38A07CNTRL via CONFIG_API",
            severity: Severity::High,
            dedup: Some("k3F261FC38A07CNTRL|example.com"),
            context_keys: &["origin", "actor_id", "event_name"],
        },
    ),
    TestCase::new(
        "near miss: device approval enabled",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"MACHINE_APPROVAL_NEEDED"},"action":"ENABLE"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: user approval disabled (its own detection)",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"USER_APPROVAL_REQUIRED"},"action":"DISABLE"}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: the change failed",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"type":"TAILNET","property":"MACHINE_APPROVAL_NEEDED"},"action":"DISABLE","error":"permission denied"}"#,
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
