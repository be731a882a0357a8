//! The detection catalog: one file per detection, tests beside it. Adding one is a file and one
//! line in [`ALL`].

pub mod audit;
pub mod common;
pub mod network;
pub mod policy;
pub mod rule;

use crate::engine::registry::Spec;

/// Every detection, in the order `tailwatch detections list` shows them.
pub const ALL: &[Spec] = &[
    audit::magic_dns_disabled::SPEC,
    audit::first_admin_login::SPEC,
    audit::dns_changed::SPEC,
    audit::https_disabled::SPEC,
    audit::device_approval_disabled::SPEC,
    audit::user_approval_disabled::SPEC,
    audit::tailnet_lock_disabled::SPEC,
    audit::log_streaming_tampered::SPEC,
    audit::role_escalated::SPEC,
    audit::auth_key_created::SPEC,
    audit::api_access_created::SPEC,
    audit::api_access_write_scoped::SPEC,
    audit::key_expiry_disabled::SPEC,
    audit::exit_node_approved::SPEC,
    audit::posture_weakened::SPEC,
    audit::webhook_changed::SPEC,
    audit::key_duration_extended::SPEC,
    audit::support_access::SPEC,
    audit::external_user_joined::SPEC,
    audit::repeated_failures::SPEC,
    audit::mass_deletion::SPEC,
    audit::policy_file_changed::SPEC,
    audit::funnel_enabled::SPEC,
    audit::ssh_accept_rule_added::SPEC,
    network::port_scan::SPEC,
    network::lateral_admin_port::SPEC,
    network::exit_egress_spike::SPEC,
    network::large_transfer::SPEC,
    network::new_underlay_endpoint::SPEC,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_metadata_complete() {
        let mut ids: Vec<&str> = ALL.iter().map(|s| s.meta.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), ALL.len(), "duplicate detection id");
        for spec in ALL {
            let m = spec.meta;
            assert!(m.id.starts_with("Tailscale."), "{}", m.id);
            assert!(!m.name.is_empty() && !m.description.is_empty(), "{}: name and description", m.id);
            assert!(
                m.runbook.lines().filter(|l| !l.trim().is_empty()).count() >= 2,
                "{}: runbook needs steps",
                m.id
            );
            assert!(!m.tags.is_empty(), "{}: ATT&CK tags", m.id);
            assert!(m.reference.starts_with("https://"), "{}: reference", m.id);
        }
    }

    #[test]
    fn every_detection_passes_its_own_cases() {
        for spec in ALL {
            crate::engine::testing::assert_cases(spec);
        }
    }
}
