//! The built-in detection catalog: one file per detection, each a [`crate::rule::Rule`] with its
//! tests beside it. Adding one is a file and one line in [`ALL`]. Detections of your own live
//! outside this tree (see [`crate::rule::catalog`]).

pub mod audit;
pub mod common;
pub mod network;
pub mod policy;
#[cfg(test)]
mod session_tests;

use crate::rule::Definition;

/// Every detection, in the order `tailwatch detections list` shows them.
pub const ALL: &[&dyn Definition] = &[
    &audit::magic_dns_disabled::RULE,
    &audit::first_admin_login::RULE,
    &audit::dns_changed::RULE,
    &audit::https_disabled::RULE,
    &audit::device_approval_disabled::RULE,
    &audit::user_approval_disabled::RULE,
    &audit::tailnet_lock_disabled::RULE,
    &audit::log_streaming_tampered::RULE,
    &audit::role_escalated::RULE,
    &audit::auth_key_created::RULE,
    &audit::api_access_created::RULE,
    &audit::api_access_write_scoped::RULE,
    &audit::key_expiry_disabled::RULE,
    &audit::exit_node_approved::RULE,
    &audit::posture_weakened::RULE,
    &audit::webhook_changed::RULE,
    &audit::key_duration_extended::RULE,
    &audit::support_access::RULE,
    &audit::external_user_joined::RULE,
    &audit::repeated_failures::RULE,
    &audit::mass_deletion::RULE,
    &audit::policy_file_changed::RULE,
    &audit::funnel_enabled::RULE,
    &audit::ssh_accept_rule_added::RULE,
    &audit::node_retagged::RULE,
    &audit::tailnet_lock_trust_changed::RULE,
    &audit::scim_disabled::RULE,
    &audit::auth_provider_migrated::RULE,
    &audit::security_contact_changed::RULE,
    &audit::invite_created::RULE,
    &audit::invited_as_admin::RULE,
    &audit::node_share_created::RULE,
    &audit::posture_attribute_changed::RULE,
    &network::port_scan::RULE,
    &network::lateral_admin_port::RULE,
    &network::exit_egress_spike::RULE,
    &network::large_transfer::RULE,
    &network::new_underlay_endpoint::RULE,
];

/// Feeds `bodies` (each one batch, in order) to `specs` with `params` (a TOML table body for each
/// detection) over one in-memory state, and returns every alert that notified: what a tailnet's
/// day of records would page.
#[cfg(test)]
pub(crate) fn replay_all(specs: &[&dyn Definition], params: &str, bodies: &[&str]) -> Vec<crate::engine::Alert> {
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
        config.detections.insert(spec.meta().id.to_owned(), cfg);
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
pub(crate) fn replay(spec: &dyn Definition, params: &str, bodies: &[&str]) -> Vec<crate::engine::Alert> {
    replay_all(&[spec], params, bodies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_metadata_complete() {
        let mut ids: Vec<&str> = ALL.iter().map(|s| s.meta().id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), ALL.len(), "duplicate detection id");
        for spec in ALL {
            let m = spec.meta();
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
        let mut registered: Vec<String> = ALL
            .iter()
            .map(|s| s.meta().id.trim_start_matches("Tailscale.").to_owned())
            .collect();
        let mut documented: Vec<String> = documented.into_iter().map(str::to_owned).collect();
        registered.sort_unstable();
        documented.sort_unstable();
        assert_eq!(documented, registered, "docs/DETECTIONS.md and detections::ALL differ");
        assert!(page.starts_with(&format!("# Detection catalog\n\n{} detections", ALL.len())));
    }

    #[test]
    fn every_detection_passes_its_own_cases() {
        for spec in ALL {
            crate::engine::testing::assert_cases(*spec);
        }
    }
}
