//! The detection catalog: one file per detection, tests beside it. Adding one is a file and one
//! line in [`ALL`].

pub mod audit;
pub mod common;
pub mod network;

use crate::engine::registry::Spec;

/// Every detection, in the order `tailwatch detections list` shows them.
pub const ALL: &[Spec] = &[
    audit::magic_dns_disabled::SPEC,
    audit::first_admin_login::SPEC,
    network::port_scan::SPEC,
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
