//! The detection catalog: one file per detection, tests beside it. Adding one is a file and one
//! line in [`ALL`].

pub mod audit;
pub mod common;
pub mod network;
pub mod policy;
pub mod rule;
#[cfg(test)]
mod session_tests;

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
    audit::node_retagged::SPEC,
    audit::tailnet_lock_trust_changed::SPEC,
    audit::scim_disabled::SPEC,
    audit::auth_provider_migrated::SPEC,
    audit::security_contact_changed::SPEC,
    audit::invite_created::SPEC,
    audit::invited_as_admin::SPEC,
    audit::node_share_created::SPEC,
    audit::posture_attribute_changed::SPEC,
    network::port_scan::SPEC,
    network::lateral_admin_port::SPEC,
    network::exit_egress_spike::SPEC,
    network::large_transfer::SPEC,
    network::new_underlay_endpoint::SPEC,
];

/// Feeds `bodies` (each one batch, in order) to `specs` with `params` (a TOML table body for each
/// detection) over one in-memory state, and returns every alert that notified: what a tailnet's
/// day of records would page.
#[cfg(test)]
pub(crate) fn replay_all(specs: &[Spec], params: &str, bodies: &[&str]) -> Vec<crate::engine::Alert> {
    use crate::engine::config::DetectionConfig;
    use crate::engine::state::block_on;
    use crate::engine::{MemoryAlertState, Registry, TuningConfig};
    use crate::normalize::SourceContext;
    use crate::time::Timestamp;

    let mut config = TuningConfig::default();
    for spec in specs {
        let cfg = DetectionConfig {
            enabled: Some(true),
            params: params.parse().expect("params are TOML"),
            ..Default::default()
        };
        config.detections.insert(spec.meta.id.to_owned(), cfg);
    }
    let registry = Registry::build(specs, &config).expect("registry builds");
    let state = MemoryAlertState::default();
    let ctx = SourceContext {
        label: "test",
        file: "test",
        parse_time: Timestamp::parse("2026-07-26T18:00:00Z").expect("time"),
    };
    let mut alerts = Vec::new();
    for body in bodies {
        let out = crate::pipeline::normalize_body(body.as_bytes(), &ctx);
        assert!(
            out.quarantined.is_empty(),
            "quarantined: {:?}",
            out.quarantined.first().map(|q| &q.message)
        );
        let (batch, _) = block_on(crate::engine::run::evaluate(&registry, &out.rows, &state, ctx.parse_time)).expect("evaluates");
        alerts.extend(batch);
    }
    alerts
}

/// [`replay_all`] for one detection.
#[cfg(test)]
pub(crate) fn replay(spec: &Spec, params: &str, bodies: &[&str]) -> Vec<crate::engine::Alert> {
    replay_all(std::slice::from_ref(spec), params, bodies)
}

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
    fn the_catalog_page_names_every_detection_and_nothing_else() {
        let page = include_str!("../../../../docs/DETECTIONS.md");
        let documented: Vec<&str> = page
            .lines()
            .filter_map(|l| l.strip_prefix("| `Tailscale.")?.split('`').next())
            .collect();
        let mut registered: Vec<String> = ALL.iter().map(|s| s.meta.id.trim_start_matches("Tailscale.").to_owned()).collect();
        let mut documented: Vec<String> = documented.into_iter().map(str::to_owned).collect();
        registered.sort_unstable();
        documented.sort_unstable();
        assert_eq!(documented, registered, "docs/DETECTIONS.md and detections::ALL differ");
        assert!(page.starts_with(&format!("# Detection catalog\n\n{} detections", ALL.len())));
    }

    #[test]
    fn every_detection_passes_its_own_cases() {
        for spec in ALL {
            crate::engine::testing::assert_cases(spec);
        }
    }
}
