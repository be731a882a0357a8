//! Small predicates several detections share, so each detection file reads as its rule.

use crate::engine::audit_context;
use crate::lake::AuditRow;
use crate::record::{Action, ActorType, TargetProperty, TargetType};

/// `actor via origin` for titles. People are named by login; other actors by display name *and*
/// id, because Tailscale gives every OAuth client the same display name (`OAuth client`) and only
/// `actor.id` tells two clients apart.
pub fn actor_label(row: &AuditRow) -> String {
    fn non_empty(s: &Option<String>) -> Option<&str> {
        s.as_deref().filter(|s| !s.is_empty())
    }
    let who = match (
        non_empty(&row.actor_login_name),
        non_empty(&row.actor_display_name),
        non_empty(&row.actor_id),
    ) {
        (Some(login), _, _) => login.to_owned(),
        (None, Some(name), Some(id)) if name != id => format!("{name} {id}"),
        (None, Some(name), _) => name.to_owned(),
        (None, None, Some(id)) => id.to_owned(),
        (None, None, None) => "unknown actor".to_owned(),
    };
    match &row.origin {
        Some(origin) => format!("{who} via {origin}"),
        None => who,
    }
}

/// The default dedup key of an audit alert: who acted on what, by ids only (`actor id|target id`),
/// never by display labels, so two OAuth clients never share an alert.
pub fn ids(row: &AuditRow) -> String {
    format!("{}|{}", actor_key(row), row.target_id.as_deref().unwrap_or("-"))
}

/// Whether the actor is a machine credential (an OAuth client, a node, automation) rather than a
/// person.
pub fn actor_is_machine(row: &AuditRow) -> bool {
    !matches!(row.actor_type, Some(ActorType::User) | None)
}

/// A tailnet-wide setting was turned off (by any origin: console, API, OAuth client, …).
pub fn tailnet_setting_disabled(row: &AuditRow, property: &TargetProperty) -> bool {
    row.target_type == Some(TargetType::Tailnet)
        && row.action == Action::Disable
        && row.target_property.as_ref() == Some(property)
        && row.error.is_none()
}

/// `"<what> by <actor> via <origin>"`.
pub fn by_actor(what: &str, row: &AuditRow) -> String {
    format!("{what} by {}", actor_label(row))
}

/// The standard audit context plus `old` / `new` (parsed JSON when they are JSON).
pub fn change_context(row: &AuditRow) -> serde_json::Value {
    let mut m = audit_context(row);
    if let Some(old) = crate::engine::json_value(row.old.as_deref()) {
        m.insert("old".into(), old);
    }
    if let Some(new) = crate::engine::json_value(row.new.as_deref()) {
        m.insert("new".into(), new);
    }
    serde_json::Value::Object(m)
}

/// The standard audit context as a JSON value.
pub fn context(row: &AuditRow) -> serde_json::Value {
    serde_json::Value::Object(audit_context(row))
}

/// A successful change: `action` is one of `actions` and `target.property` one of `properties`,
/// whatever the target type and origin.
pub fn property_changed(row: &AuditRow, actions: &[Action], properties: &[TargetProperty]) -> bool {
    row.error.is_none() && actions.contains(&row.action) && row.target_property.as_ref().is_some_and(|p| properties.contains(p))
}

/// A successful change of a tailnet-wide setting: TAILNET target, one of `actions`, one of
/// `properties` (by any origin).
pub fn tailnet_setting_changed(row: &AuditRow, actions: &[Action], properties: &[TargetProperty]) -> bool {
    row.target_type == Some(TargetType::Tailnet) && property_changed(row, actions, properties)
}

/// Who acted, as a stable key for per-actor dedup and thresholds: id, else login name, else
/// display name, else `unknown actor`.
pub fn actor_key(row: &AuditRow) -> String {
    [&row.actor_id, &row.actor_login_name, &row.actor_display_name]
        .into_iter()
        .find_map(|s| s.as_deref().filter(|s| !s.is_empty()))
        .unwrap_or("unknown actor")
        .to_owned()
}

/// What was acted on, for titles: target name, else target id, else `unknown target`.
pub fn target_label(row: &AuditRow) -> &str {
    row.target_name.as_deref().or(row.target_id.as_deref()).unwrap_or("unknown target")
}

/// `old` / `new` as a list of strings: a JSON array's strings, or a JSON string split on commas and
/// whitespace (`""` is the empty list). Anything else is the empty list.
pub fn string_list(text: Option<&str>) -> Vec<String> {
    match crate::engine::json_value(text) {
        Some(serde_json::Value::Array(items)) => items.iter().filter_map(|v| v.as_str()).map(str::to_owned).collect(),
        Some(serde_json::Value::String(s)) => s
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// The lower-cased domain of an email-like login (`alice@Example.com` → `example.com`; GitHub
/// logins such as `octocat@github` give `github`).
pub fn login_domain(login: &str) -> Option<String> {
    match login.rsplit_once('@') {
        Some((user, domain)) if !user.is_empty() && !domain.is_empty() => Some(domain.to_ascii_lowercase()),
        _ => None,
    }
}

/// What an auth key can do, read from an API_KEY CREATE.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthKey {
    /// Enrols any number of devices.
    pub reusable: bool,
    /// Devices join without approval.
    pub preauthorized: bool,
    /// Devices are removed when they go offline.
    pub ephemeral: bool,
    /// Tags the enrolled devices get.
    pub tags: Vec<String>,
    /// The logged capability members, unknown ones kept (empty for the request shape).
    pub capabilities: Vec<String>,
}

/// Capability members that only node-auth keys carry. Only `ONE_OFF_NODE_AUTH` and `EPHEMERAL`
/// have been seen in a capture; the others are read by name so a pre-approved or reusable member
/// is recognised whatever its exact spelling.
fn is_node_auth_member(m: &str) -> bool {
    let m = m.to_ascii_uppercase();
    m.contains("NODE_AUTH") || m == "EPHEMERAL" || m.contains("PREAUTH") || m.contains("PRE_AUTH") || m.contains("PREAPPROV")
}

/// For a successful API_KEY CREATE that enrols devices, what the key can do; `None` for API access
/// tokens and everything else.
///
/// Real logs carry `new.capabilities` as an array of strings (`["ONE_OFF_NODE_AUTH","EPHEMERAL"]`)
/// next to `new.authTags`; a key without `ONE_OFF_NODE_AUTH` is reusable. The API's create-key
/// request shape (`capabilities.devices.create.{reusable,ephemeral,preauthorized,tags}`) is read
/// too. An `API_KEY` named `Auth key` is an auth key even when its capabilities are missing.
pub fn auth_key(row: &AuditRow) -> Option<AuthKey> {
    if row.target_type != Some(TargetType::ApiKey) || row.action != Action::Create || row.error.is_some() {
        return None;
    }
    let new = crate::engine::json_value(row.new.as_deref()).unwrap_or_default();
    let strings = |v: Option<&serde_json::Value>| -> Vec<String> {
        v.and_then(serde_json::Value::as_array)
            .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    if let Some(create) = new.pointer("/capabilities/devices/create").and_then(serde_json::Value::as_object) {
        let flag = |k: &str| create.get(k).and_then(serde_json::Value::as_bool).unwrap_or(false);
        return Some(AuthKey {
            reusable: flag("reusable"),
            preauthorized: flag("preauthorized"),
            ephemeral: flag("ephemeral"),
            tags: strings(create.get("tags")),
            capabilities: Vec::new(),
        });
    }
    let capabilities = strings(new.get("capabilities"));
    let named_auth_key = row.target_name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case("auth key"));
    if !named_auth_key && !capabilities.iter().any(|c| is_node_auth_member(c)) {
        return None;
    }
    let has = |needle: &[&str]| {
        capabilities
            .iter()
            .any(|c| needle.iter().any(|n| c.to_ascii_uppercase().contains(n)))
    };
    Some(AuthKey {
        reusable: !has(&["ONE_OFF"]),
        preauthorized: has(&["PREAUTH", "PRE_AUTH", "PREAPPROV"]),
        ephemeral: has(&["EPHEMERAL"]),
        tags: strings(new.get("authTags")),
        capabilities,
    })
}

/// A credential that reaches the Tailscale API, created by a successful CREATE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiCredential {
    /// `API access token` or `OAuth client`.
    pub kind: &'static str,
    /// Scopes from `actionDetails` (`scopes - all`, `scopes - devices:core, dns:read`); an API
    /// access token without listed scopes has full access and reads as `["all"]`.
    pub scopes: Vec<String>,
}

impl ApiCredential {
    /// Scopes that change the tailnet: everything not ending in `:read`.
    pub fn write_scopes(&self) -> Vec<&str> {
        self.scopes.iter().map(String::as_str).filter(|s| !s.ends_with(":read")).collect()
    }
}

/// For the creation of an API access token or an OAuth client, what it is and its scopes. OAuth
/// *access tokens* (`OAUTH_ACCESS_TOKEN`) are not credentials anyone hands out: a client mints one
/// per API call, so they are `None`.
pub fn api_credential(row: &AuditRow) -> Option<ApiCredential> {
    if row.action != Action::Create || row.error.is_some() {
        return None;
    }
    let named = |n: &str| row.target_name.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(n));
    let kind = match row.target_type.as_ref()? {
        TargetType::OauthClient => "OAuth client",
        TargetType::ApiKey if named("OAuth client") => "OAuth client",
        TargetType::ApiKey if auth_key(row).is_none() => "API access token",
        _ => return None,
    };
    let mut scopes = scopes(row.action_details.as_deref());
    if scopes.is_empty() && kind == "API access token" {
        scopes.push("all".to_owned());
    }
    Some(ApiCredential { kind, scopes })
}

/// Scopes from `actionDetails` (`scopes - all:read` or `scopes - devices:core, dns:read`).
pub fn scopes(details: Option<&str>) -> Vec<String> {
    let Some(details) = details else { return Vec::new() };
    let trimmed = details.trim_start();
    let Some(rest) = trimmed.get(..6).filter(|p| p.eq_ignore_ascii_case("scopes")).map(|_| &trimmed[6..]) else {
        return Vec::new();
    };
    rest.trim_start_matches([' ', '-', ':', '='])
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Strings in `new` that are not in `old`, and strings in `old` that are not in `new` (both read
/// with [`string_list`]).
pub fn list_diff(row: &AuditRow) -> (Vec<String>, Vec<String>) {
    let old = string_list(row.old.as_deref());
    let new = string_list(row.new.as_deref());
    let added = new.iter().filter(|t| !old.contains(t)).cloned().collect();
    let removed = old.iter().filter(|t| !new.contains(t)).cloned().collect();
    (added, removed)
}

/// An invitation to join the tailnet created (INVITE target, `TAILNET_INVITE` property, or the
/// INVITE action on a user), successfully.
pub fn invite_created(row: &AuditRow) -> bool {
    let invite_target = row.target_type == Some(TargetType::Invite) || row.target_property == Some(TargetProperty::TailnetInvite);
    row.error.is_none()
        && ((invite_target && matches!(row.action, Action::Create | Action::Invite | Action::Resend))
            || (row.target_type == Some(TargetType::User) && row.action == Action::Invite))
}

/// The role an invite grants, lower-case with `-` (`IT admin` → `it-admin`): `new` as a string or
/// its `role` member, else a `role: …` / `role - …` in `actionDetails`. `member` when none is logged.
pub fn invite_role(row: &AuditRow) -> String {
    let from_new = match crate::engine::json_value(row.new.as_deref()) {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Object(m)) => m.get("role").and_then(|v| v.as_str()).map(str::to_owned),
        _ => None,
    };
    let from_details = || {
        let d = row.action_details.as_deref()?;
        let at = d.to_ascii_lowercase().find("role")?;
        let rest = d[at + 4..].trim_start_matches([' ', ':', '-', '=']);
        rest.split([',', ';']).next().map(str::to_owned)
    };
    from_new
        .or_else(from_details)
        .map(|r| r.trim().to_ascii_lowercase().replace([' ', '_'], "-"))
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "member".to_owned())
}

/// Roles that administer the tailnet.
pub fn is_admin_role(role: &str) -> bool {
    matches!(role, "owner" | "admin" | "it-admin" | "network-admin" | "billing-admin")
}
