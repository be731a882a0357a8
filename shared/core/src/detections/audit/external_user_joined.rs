//! A user from outside the organisation joined the tailnet or accepted a shared node: every
//! outsider is access your identity provider does not govern.

use crate::detections::common::{by_actor, context, login_domain};
use crate::engine::{ConfigError, Expect, Meta, ParamDoc, Params, Severity, TestCase};
use crate::lake::AuditRow;
use crate::record::{Action, TargetProperty, TargetType};
use crate::rule::Rule;

/// Metadata.
pub const META: Meta = Meta {
    id: "Tailscale.ExternalUser.Joined",
    name: "Tailscale external user joined",
    severity: Severity::Medium,
    description: "A user was created, accepted an invite or joined, or accepted a shared node, and their login domain is not one of the configured organisation domains (subdomains count as the organisation's). External users (contractors, personal accounts, invite links forwarded too far) are access your identity provider does not govern. Quiet until org_domains is set: the most common domain is deliberately not assumed.",
    runbook: "1. Check joining_user and login_domain in the alert context against your list of approved contractors and partners.\n2. Find who let them in: the invite's creator (tailscale_audit rows with target_type INVITE and the same target_id) or the node's sharer, and ask them.\n3. If not expected, remove the user (or revoke the share) on the admin console Users page and review what they reached: tailscale_network rows with peer_user or node_user equal to joining_user.",
    reference: "https://tailscale.com/kb/1271/invite-any-user",
    tags: &["T1078.004", "T1199"],
    params: &[ParamDoc {
        name: "org_domains",
        default: "[]",
        doc: "Login domains of your organisation (e.g. [\"example.com\"]); users from any other domain are external. Empty: the detection stays quiet",
    }],
    ..Meta::DEFAULT
};

/// The detection.
pub const RULE: Rule<AuditRow, ExternalUserJoined> = Rule {
    meta: META,
    params,
    matches: |h| h.params.external_join(h).is_some(),
    title: |r| {
        let Some((join, user, _)) = r.params.external_join(r) else {
            return String::new();
        };
        let how = match join {
            Join::UserCreated => "user created".to_owned(),
            Join::InviteAccepted => "invite accepted".to_owned(),
            Join::ShareAccepted => match r.target_name.as_deref().filter(|n| *n != user) {
                Some(node) => format!("node share {node} accepted"),
                None => "node share accepted".to_owned(),
            },
        };
        by_actor(&format!("Tailscale external user {user} joined ({how})"), r)
    },
    context: Some(|r| {
        let mut ctx = context(r);
        if let (Some(m), Some((join, user, domain))) = (ctx.as_object_mut(), r.params.external_join(r)) {
            let how = match join {
                Join::UserCreated => "user_created",
                Join::InviteAccepted => "invite_accepted",
                Join::ShareAccepted => "share_accepted",
            };
            m.insert("join".into(), how.into());
            m.insert("joining_user".into(), user.into());
            m.insert("login_domain".into(), domain.into());
            m.insert("org_domains".into(), r.params.org_domains.clone().into());
        }
        ctx
    }),
    inactive: |p| {
        p.org_domains.is_empty().then(|| {
            "org_domains is not set: set org_domains = [\"your-company.com\"] under [detections.\"Tailscale.ExternalUser.Joined\"] to enable it"
                .to_owned()
        })
    },
    tests: TESTS,
    ..Rule::DEFAULT
};

fn params(params: &Params<'_>) -> Result<ExternalUserJoined, ConfigError> {
    let org_domains = params
        .strings("org_domains", &[])?
        .iter()
        .map(|d| d.trim().trim_start_matches('@').trim_end_matches('.').to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .collect();
    Ok(ExternalUserJoined { org_domains })
}

/// Parameters.
#[derive(Default)]
pub struct ExternalUserJoined {
    org_domains: Vec<String>,
}

/// How the user came in.
#[derive(Clone, Copy)]
enum Join {
    UserCreated,
    InviteAccepted,
    ShareAccepted,
}

fn join_kind(r: &AuditRow) -> Option<Join> {
    if r.error.is_some() {
        return None;
    }
    let accept = matches!(r.action, Action::Accept | Action::Join);
    match (&r.target_type, &r.target_property) {
        (Some(TargetType::User), _) if matches!(r.action, Action::Create | Action::Join) => Some(Join::UserCreated),
        (Some(TargetType::Invite), _) | (_, Some(TargetProperty::TailnetInvite)) if accept => Some(Join::InviteAccepted),
        (Some(TargetType::Share), _) | (_, Some(TargetProperty::NodeShare)) if r.action == Action::Accept => Some(Join::ShareAccepted),
        _ => None,
    }
}

fn email_like(s: Option<&str>) -> Option<&str> {
    s.filter(|s| login_domain(s).is_some())
}

/// The joining user's login: the created user (target) for a user creation; the accepting actor
/// for invites and shares. Falls back to the other field when the first is not a login.
fn joining_user(r: &AuditRow, join: Join) -> Option<&str> {
    let target = email_like(r.target_name.as_deref());
    let actor = email_like(r.actor_login_name.as_deref());
    match join {
        Join::UserCreated => target.or(actor),
        Join::InviteAccepted | Join::ShareAccepted => actor.or(target),
    }
}

impl ExternalUserJoined {
    fn is_org(&self, domain: &str) -> bool {
        self.org_domains
            .iter()
            .any(|d| domain == d || domain.strip_suffix(d.as_str()).is_some_and(|sub| sub.ends_with('.')))
    }

    /// `(how, joining user, login domain)` of an external join.
    fn external_join<'r>(&self, r: &'r AuditRow) -> Option<(Join, &'r str, String)> {
        if self.org_domains.is_empty() {
            return None;
        }
        let join = join_kind(r)?;
        let user = joining_user(r, join)?;
        let domain = login_domain(user)?;
        (!self.is_org(&domain)).then_some((join, user, domain))
    }
}

const ORG: &str = "org_domains = [\"example.com\"]";

const TESTS: &[TestCase] = &[
    TestCase {
        name: "personal account created by the identity provider",
        setup: &[],
        record: r#"{"eventTime":"2025-03-04T17:21:09Z","eventGroupID":"8b7a6c5d4e3f20110099887766554433","origin":"IDENTITY_PROVIDER","actor":{"id":"scim1","type":"SCIM","displayName":"SCIM"},"target":{"id":"uEveCNTRL","name":"eve@gmail.com","type":"USER"},"action":"CREATE"}"#,
        params: ORG,
        expect: Expect::Fire {
            title: "Tailscale external user eve@gmail.com joined (user created) by SCIM scim1 via IDENTITY_PROVIDER",
            severity: Severity::Medium,
            dedup: Some("scim1|uEveCNTRL"),
            context_keys: &["joining_user", "login_domain", "org_domains", "join", "target_id"],
        },
    },
    TestCase {
        name: "invite link accepted by an outsider",
        setup: &[],
        record: r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"id":"uMal1CNTRL","type":"USER","loginName":"mallory@contractor.example.net","displayName":"Mallory"},"target":{"id":"inv42CNTRL","name":"Invite","type":"INVITE"},"action":"ACCEPT"}"#,
        params: ORG,
        expect: Expect::Fire {
            title: "Tailscale external user mallory@contractor.example.net joined (invite accepted) by mallory@contractor.example.net via ADMIN_CONSOLE",
            severity: Severity::Medium,
            dedup: Some("uMal1CNTRL|inv42CNTRL"),
            context_keys: &["joining_user", "login_domain", "actor_login_name"],
        },
    },
    TestCase {
        name: "shared node accepted by a GitHub account",
        setup: &[],
        record: r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"id":"uOcto1CNTRL","type":"USER","loginName":"octocat@github","displayName":"Octocat"},"target":{"id":"nBLYviWLGB21CNTRL","name":"db-01.tail1a2b.ts.net","type":"SHARE","property":"NODE_SHARE"},"action":"ACCEPT"}"#,
        params: ORG,
        expect: Expect::Fire {
            title: "Tailscale external user octocat@github joined (node share db-01.tail1a2b.ts.net accepted) by octocat@github via ADMIN_CONSOLE",
            severity: Severity::Medium,
            dedup: Some("uOcto1CNTRL|nBLYviWLGB21CNTRL"),
            context_keys: &["joining_user", "login_domain", "target_name"],
        },
    },
    TestCase {
        name: "near miss: a colleague from the organisation",
        setup: &[],
        record: r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"IDENTITY_PROVIDER","actor":{"id":"scim1","type":"SCIM"},"target":{"id":"uBobCNTRL","name":"bob@Example.com","type":"USER"},"action":"CREATE"}"#,
        params: ORG,
        expect: Expect::Quiet,
    },
    TestCase {
        name: "near miss: a subdomain of the organisation",
        setup: &[],
        record: r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"id":"uDanCNTRL","type":"USER","loginName":"dan@eng.example.com"},"target":{"id":"inv43CNTRL","type":"INVITE"},"action":"ACCEPT"}"#,
        params: ORG,
        expect: Expect::Quiet,
    },
    TestCase {
        name: "near miss: an external user removed",
        setup: &[],
        record: r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"ADMIN_CONSOLE","actor":{"id":"uodc9f3CNTRL","loginName":"alice@example.com"},"target":{"id":"uEveCNTRL","name":"eve@gmail.com","type":"USER"},"action":"DELETE"}"#,
        params: ORG,
        expect: Expect::Quiet,
    },
    TestCase {
        name: "near miss: the creation failed",
        setup: &[],
        record: r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"IDENTITY_PROVIDER","actor":{"id":"scim1","type":"SCIM"},"target":{"name":"eve@gmail.com","type":"USER"},"action":"CREATE","error":"user limit reached"}"#,
        params: ORG,
        expect: Expect::Quiet,
    },
    TestCase::new(
        "quiet without org_domains (inactive)",
        r#"{"eventTime":"2025-03-04T17:21:09Z","origin":"IDENTITY_PROVIDER","actor":{"id":"scim1","type":"SCIM"},"target":{"name":"eve@gmail.com","type":"USER"},"action":"CREATE"}"#,
        Expect::Quiet,
    ),
];

#[cfg(test)]
mod tests {
    use crate::engine::Params;
    use crate::rule::Definition;

    #[test]
    fn cases() {
        crate::engine::testing::assert_cases(&super::RULE);
    }

    #[test]
    fn says_why_it_is_quiet() {
        let detection = super::RULE.build(&Params::new(super::META.id, None)).expect("builds");
        assert!(detection.inactive_reason().is_some_and(|r| r.contains("org_domains")));
        let table: toml::Table = super::ORG.parse().expect("toml");
        let detection = super::RULE.build(&Params::new(super::META.id, Some(&table))).expect("builds");
        assert!(detection.inactive_reason().is_none());
    }
}
