//! Small predicates several detections share, so each detection file reads as its rule.

use crate::engine::{actor_label, audit_context};
use crate::lake::AuditRow;
use crate::record::{Action, TargetProperty, TargetType};

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
    row.actor_id
        .as_deref()
        .or(row.actor_login_name.as_deref())
        .or(row.actor_display_name.as_deref())
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

/// For an API_KEY CREATE: the key's device-creation capabilities (`new.capabilities.devices.create`),
/// present only when the key is an auth key that enrolls devices.
pub fn auth_key_capabilities(row: &AuditRow) -> Option<serde_json::Map<String, serde_json::Value>> {
    if row.target_type != Some(TargetType::ApiKey) || row.action != Action::Create {
        return None;
    }
    match crate::engine::json_value(row.new.as_deref())?.pointer("/capabilities/devices/create")? {
        serde_json::Value::Object(m) => Some(m.clone()),
        _ => None,
    }
}
