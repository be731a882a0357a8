//! Detections over `tailscale_audit` rows.

pub mod api_access_created;
pub mod api_access_write_scoped;
pub mod auth_key_created;
pub mod device_approval_disabled;
pub mod dns_changed;
pub mod exit_node_approved;
pub mod external_user_joined;
pub mod first_admin_login;
pub mod funnel_enabled;
pub mod https_disabled;
pub mod key_duration_extended;
pub mod key_expiry_disabled;
pub mod log_streaming_tampered;
pub mod magic_dns_disabled;
pub mod mass_deletion;
pub mod policy_file_changed;
pub mod posture_weakened;
pub mod repeated_failures;
pub mod role_escalated;
pub mod ssh_accept_rule_added;
pub mod support_access;
pub mod tailnet_lock_disabled;
pub mod user_approval_disabled;
pub mod webhook_changed;
