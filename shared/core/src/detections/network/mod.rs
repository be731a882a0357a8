//! Detections over `tailscale_network` rows.

pub mod exit_egress_spike;
pub mod large_transfer;
pub mod lateral_admin_port;
pub mod new_underlay_endpoint;
pub mod port_scan;
