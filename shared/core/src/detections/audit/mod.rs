//! Detections over `tailscale_audit` rows.

pub mod first_admin_login;
pub mod magic_dns_disabled;
