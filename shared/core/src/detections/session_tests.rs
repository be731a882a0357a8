//! A realistic session replayed through the whole catalog: what an OAuth-client-driven tailnet
//! pages in an hour, alert by alert.

use crate::engine::Severity;

/// An S3 export (real shapes, `eventTime` + `logged`, Go zero `deferredAt`) of two OAuth clients:
/// one mints an access token per API call, creates a one-off ephemeral `tag:ci` key for each of
/// three CI jobs, revokes them, deletes twelve ephemeral runner nodes and re-points the
/// configuration log stream from Splunk to S3 (a DELETE plus a CREATE); the other, with the same
/// display name, creates a reusable `tag:build` key.
const OAUTH_SESSION: &str = include_str!("fixtures/oauth_session.ndjson");

#[test]
fn an_oauth_client_session_pages_exactly_what_matters() {
    let alerts = super::replay_all(super::ALL, "", &[OAUTH_SESSION]);
    let got: Vec<(&str, Severity, &str, &str)> = alerts
        .iter()
        .map(|a| (a.id.as_str(), a.severity, a.title.as_str(), a.dedup.as_str()))
        .collect();
    let want: &[(&str, Severity, &str, &str)] = &[
        (
            "Tailscale.AuthKey.Created",
            Severity::Info,
            "Tailscale single-use ephemeral auth key for tag:ci created by OAuth client kQ8rT2xY4CNTRL via CONFIG_API",
            "kQ8rT2xY4CNTRL|single-use|tag:ci",
        ),
        (
            "Tailscale.LogStreaming.Tampered",
            Severity::Critical,
            "Tailscale configuration log streaming endpoint deleted by OAuth client kQ8rT2xY4CNTRL via CONFIG_API",
            "kQ8rT2xY4CNTRL|S8C425331F48BCNTRL",
        ),
        (
            "Tailscale.AuthKey.Created",
            Severity::Medium,
            "Tailscale reusable ephemeral auth key kBuildR3uCNTRL for tag:build created by OAuth client kZ3mW7pL1CNTRL via CONFIG_API",
            "kZ3mW7pL1CNTRL|kBuildR3uCNTRL",
        ),
    ];
    assert_eq!(got, want, "{got:#?}");
    let ci = &alerts[0];
    assert_eq!(ci.event_count, 1, "the other two CI keys attach later, without paging");
}
