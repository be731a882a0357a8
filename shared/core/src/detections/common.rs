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
