//! A node allowed to route for others: an exit node sees all the internet traffic of whoever uses
//! it, and a subnet route bridges the tailnet into another network.

use std::net::IpAddr;

use crate::detections::common::{by_actor, change_context, property_changed, string_list, target_label};
use crate::engine::{Expect, Meta, Severity, TestCase};
use crate::lake::AuditRow;
use crate::record::{Action, TargetProperty, TargetType};
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.Node.ExitNodeApproved",
    name: "Tailscale exit node or subnet route approved",
    severity: Severity::Medium,
    description: "A node's approved routes (ALLOWED_IPS, EXIT_NODE or AUTO_APPROVED_ROUTES) gained 0.0.0.0/0 or ::/0, so it now serves as an exit node and can see the internet traffic of every node that uses it (MEDIUM); or it gained other subnet routes, which expose another network to the tailnet (LOW). The node's own Tailscale addresses are not routes and are ignored. Fires for every origin.",
    runbook: "1. Look at added_routes in the alert context and the node (target_name, target_id): is it a known exit node or subnet router?\n2. Ask the actor (actor_login_name, actor_type, origin) who requested the routes; check autoApprovers in the policy file if the actor is automation.\n3. If not expected, remove the routes on the admin console Machines page (Edit route settings), and search tailscale_network for traffic_kind exit or subnet through this node after p_event_time.",
    reference: "https://tailscale.com/kb/1103/exit-nodes",
    tags: &["T1090", "T1599"],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow> = Rule {
    meta: META,
    matches: |r| !added_routes(r).is_empty(),
    title: |h| {
        let r = h;
        let added = added_routes(r);
        let what = if adds_exit(&added) {
            format!("Tailscale exit node approved for {}", target_label(r))
        } else {
            format!("Tailscale subnet routes {} approved for {}", added.join(", "), target_label(r))
        };
        by_actor(&what, r)
    },
    severity: Some(|h| {
        if adds_exit(&added_routes(h)) {
            Severity::Medium
        } else {
            Severity::Low
        }
    }),
    context: Some(|h| {
        let r = h;
        let mut ctx = change_context(r);
        if let Some(m) = ctx.as_object_mut() {
            let added = added_routes(r);
            m.insert("exit_node".into(), adds_exit(&added).into());
            m.insert("added_routes".into(), added.into());
        }
        ctx
    }),
    tests: TESTS,
    ..Rule::DEFAULT
};

fn is_exit_route(route: &str) -> bool {
    matches!(route, "0.0.0.0/0" | "::/0")
}

/// A single Tailscale address (the node's own `100.x.y.z/32` or `fd7a:115c:a1e0::…/128`): not a route.
fn is_own_address(route: &str) -> bool {
    let (addr, bits) = route.split_once('/').unwrap_or((route, ""));
    match addr.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => matches!(bits, "" | "32") && v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64,
        Ok(IpAddr::V6(v6)) => matches!(bits, "" | "128") && v6.segments()[..3] == [0xfd7a, 0x115c, 0xa1e0],
        Err(_) => false,
    }
}

/// The routes a value stands for. `EXIT_NODE` may log a flag (`true`, `"true"`) rather than the
/// routes; a set flag means both exit routes.
fn routes(field: Option<&str>) -> Vec<String> {
    match crate::engine::json_value(field) {
        Some(serde_json::Value::Bool(true)) => vec!["0.0.0.0/0".to_owned(), "::/0".to_owned()],
        Some(serde_json::Value::String(s)) if s.eq_ignore_ascii_case("true") => vec!["0.0.0.0/0".to_owned(), "::/0".to_owned()],
        _ => string_list(field),
    }
}

/// Routes in `new` that were not in `old`, without the node's own addresses. Reads the approved
/// routes (`ALLOWED_IPS`), the exit-node setting (`EXIT_NODE`) and routes approved by the policy's
/// autoApprovers (`AUTO_APPROVED_ROUTES`), whichever the change logged.
fn added_routes(r: &AuditRow) -> Vec<String> {
    let properties = [
        TargetProperty::AllowedIps,
        TargetProperty::ExitNode,
        TargetProperty::AutoApprovedRoutes,
    ];
    if r.target_type != Some(TargetType::Node)
        || !property_changed(r, &[Action::Update, Action::Approve, Action::Enable, Action::Create], &properties)
    {
        return Vec::new();
    }
    let old = routes(r.old.as_deref());
    let mut added: Vec<String> = Vec::new();
    for route in routes(r.new.as_deref()) {
        if !old.contains(&route) && !is_own_address(&route) && !added.contains(&route) {
            added.push(route);
        }
    }
    added
}

fn adds_exit(added: &[String]) -> bool {
    added.iter().any(|r| is_exit_route(r))
}

const TESTS: &[TestCase] = &[
    TestCase::new(
        "exit node and a subnet approved through the API",
        r#"{"eventTime":"2025-03-04T17:21:09Z","eventGroupID":"0f9e8d7c6b5a49382716050403020100","origin":"CONFIG_API","actor":{"id":"k3F261FC38A07CNTRL","type":"OAUTH_CLIENT","loginName":"","displayName":"OAuth client"},"target":{"id":"nR0uter7x9CNTRL","name":"router-1.tail1a2b.ts.net","type":"NODE","property":"ALLOWED_IPS"},"action":"UPDATE","old":["100.88.1.7/32","fd7a:115c:a1e0::1a01:107/128"],"new":["100.88.1.7/32","fd7a:115c:a1e0::1a01:107/128","10.20.0.0/16","0.0.0.0/0","::/0"]}"#,
        Expect::Fire {
            title: "Tailscale exit node approved for router-1.tail1a2b.ts.net by OAuth client k3F261FC38A07CNTRL via CONFIG_API",
            severity: Severity::Medium,
            dedup: Some("k3F261FC38A07CNTRL|nR0uter7x9CNTRL"),
            context_keys: &["added_routes", "exit_node", "old", "new", "target_id", "origin"],
        },
    ),
    TestCase::new(
        "a new subnet route in the admin console (first routes: own addresses ignored)",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com","displayName":"Alice Admin"},"target":{"id":"nR0uter7x9CNTRL","name":"router-1.tail1a2b.ts.net","type":"NODE","property":"ALLOWED_IPS"},"action":"UPDATE","old":"","new":["100.88.1.7/32","fd7a:115c:a1e0::1a01:107/128","192.168.10.0/24"]}"#,
        Expect::Fire {
            title: "Tailscale subnet routes 192.168.10.0/24 approved for router-1.tail1a2b.ts.net by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::Low,
            dedup: Some("uodc9f3CNTRL|nR0uter7x9CNTRL"),
            context_keys: &["added_routes", "exit_node", "new", "actor_login_name"],
        },
    ),
    TestCase::new(
        "exit node switched on (EXIT_NODE flag)",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","type":"USER","loginName":"alice@example.com"},"target":{"id":"nEx1tCNTRL","name":"exit-fra.tail1a2b.ts.net","type":"NODE","property":"EXIT_NODE"},"action":"UPDATE","old":false,"new":true}"#,
        Expect::Fire {
            title: "Tailscale exit node approved for exit-fra.tail1a2b.ts.net by alice@example.com via ADMIN_CONSOLE",
            severity: Severity::Medium,
            dedup: Some("uodc9f3CNTRL|nEx1tCNTRL"),
            context_keys: &["added_routes", "exit_node"],
        },
    ),
    TestCase::new(
        "exit routes auto-approved by the policy (AUTO_APPROVED_ROUTES)",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"CONTROL","actor":{"id":"nEx2tCNTRL","type":"NODE","displayName":"exit-2"},"target":{"id":"nEx2tCNTRL","name":"exit-2.tail1a2b.ts.net","type":"NODE","property":"AUTO_APPROVED_ROUTES"},"action":"UPDATE","old":[],"new":["0.0.0.0/0","::/0"]}"#,
        Expect::Fire {
            title: "Tailscale exit node approved for exit-2.tail1a2b.ts.net by exit-2 nEx2tCNTRL via CONTROL",
            severity: Severity::Medium,
            dedup: Some("nEx2tCNTRL|nEx2tCNTRL"),
            context_keys: &["added_routes"],
        },
    ),
    TestCase::new(
        "near miss: exit node switched off",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"name":"exit-fra.tail1a2b.ts.net","type":"NODE","property":"EXIT_NODE"},"action":"UPDATE","old":true,"new":false}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: exit routes removed",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"name":"router-1.tail1a2b.ts.net","type":"NODE","property":"ALLOWED_IPS"},"action":"UPDATE","old":["100.88.1.7/32","0.0.0.0/0","::/0"],"new":["100.88.1.7/32"]}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: tags changed on the node",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"loginName":"alice@example.com"},"target":{"name":"db-01.tail1a2b.ts.net","type":"NODE","property":"ACL_TAGS"},"action":"UPDATE","old":"","new":["tag:db","tag:prod"]}"#,
        Expect::Quiet,
    ),
    TestCase::new(
        "near miss: the change failed",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"CONFIG_API","actor":{"id":"k1","type":"OAUTH_CLIENT"},"target":{"name":"router-1.tail1a2b.ts.net","type":"NODE","property":"ALLOWED_IPS"},"action":"UPDATE","old":[],"new":["0.0.0.0/0","::/0"],"error":"route not advertised"}"#,
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
