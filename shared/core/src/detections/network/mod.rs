//! Detections over `tailscale_network` rows.

pub mod port_scan;
