//! Typed Tailscale records, per Tailscale's `netlogtype` Go types and its audit-log API.
//!
//! Everything Tailscale may omit is optional (it omits every zero value), every enum is open (new
//! values parse and are kept), and unknown members are kept so normalization can carry them into
//! `unknown_fields`. One struct, [`AnyRecord`], reads both log types in a single pass; the shape
//! decides which it is ([`AnyRecord::kind`]).

pub(crate) mod macros;
mod proto;

use serde_json::value::RawValue;

pub use macros::split_field_error;
use macros::{open_enum, open_struct};
pub use proto::Proto;

use crate::time::{TimeError, Timestamp};

/// A time member as received: kept as raw JSON and read on use ([`Timestamp::read_json`]), so a
/// shape the reader rejects costs only that value (the next source in the precedence is used, and
/// the raw text is kept in `unknown_fields`), never the record.
#[derive(Debug, Clone)]
pub struct RawTime(pub Box<RawValue>);

impl RawTime {
    /// The value as received (JSON text).
    pub fn raw(&self) -> &str {
        self.0.get()
    }

    /// Reads the value in any accepted time shape.
    ///
    /// # Errors
    /// [`TimeError`] naming the value when it is no time.
    pub fn read(&self) -> Result<Timestamp, TimeError> {
        Timestamp::read_json(self.0.get())
    }

    /// The instant, when it reads and lies in the lake's range.
    pub fn in_lake_range(&self) -> Option<Timestamp> {
        self.read().ok().filter(Timestamp::in_lake_range)
    }
}

impl<'de> serde::Deserialize<'de> for RawTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <Box<RawValue> as serde::Deserialize>::deserialize(d).map(RawTime)
    }
}

impl serde::Serialize for RawTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&self.0, s)
    }
}

open_enum! {
    /// Where an audited change came from.
    Origin {
        /// The admin console (a person in a browser).
        AdminConsole = "ADMIN_CONSOLE",
        /// The public API (API key or OAuth client).
        ConfigApi = "CONFIG_API",
        /// Tailscale's control plane itself.
        Control = "CONTROL",
        /// The identity provider (SSO, SCIM).
        IdentityProvider = "IDENTITY_PROVIDER",
        /// A node acting on itself.
        Node = "NODE",
        /// Tailscale support staff.
        SupportRequest = "SUPPORT_REQUEST",
        /// Billing.
        Stripe = "STRIPE",
        /// A security notification.
        SecurityNotification = "SECURITY_NOTIFICATION",
        /// A legal notification.
        LegalNotification = "LEGAL_NOTIFICATION",
    }
}

open_enum! {
    /// Who acted.
    ActorType {
        /// A person.
        User = "USER",
        /// A node.
        Node = "NODE",
        /// Tailscale automation.
        AutomatedWorker = "AUTOMATED_WORKER",
        /// An OAuth client.
        OauthClient = "OAUTH_CLIENT",
        /// SCIM provisioning.
        Scim = "SCIM",
        /// Mullvad integration.
        Mullvad = "MULLVAD",
        /// Log streaming.
        Logstream = "LOGSTREAM",
        /// Tailscale's secret scanner.
        SecretScanner = "SECRET_SCANNER",
    }
}

open_enum! {
    /// What kind of object was acted on.
    TargetType {
        /// The tailnet (settings, policy file).
        Tailnet = "TAILNET",
        /// A user.
        User = "USER",
        /// A group.
        Group = "GROUP",
        /// A node (device).
        Node = "NODE",
        /// An API key or auth key.
        ApiKey = "API_KEY",
        /// An invite.
        Invite = "INVITE",
        /// A node share.
        Share = "SHARE",
        /// Billing.
        Billing = "BILLING",
        /// The admin console.
        AdminConsole = "ADMIN_CONSOLE",
        /// The web interface.
        WebInterface = "WEB_INTERFACE",
        /// A webhook endpoint.
        WebhookEndpoint = "WEBHOOK_ENDPOINT",
        /// A failed request.
        FailedRequest = "FAILED_REQUEST",
        /// An OAuth access token.
        OauthAccessToken = "OAUTH_ACCESS_TOKEN",
        /// An OAuth client.
        OauthClient = "OAUTH_CLIENT",
        /// A log stream endpoint.
        LogstreamEndpoint = "LOGSTREAM_ENDPOINT",
        /// A posture integration.
        PostureIntegration = "POSTURE_INTEGRATION",
    }
}

open_enum! {
    /// What was done.
    Action {
        /// Logged in.
        Login = "LOGIN",
        /// Logged out.
        Logout = "LOGOUT",
        /// Created.
        Create = "CREATE",
        /// Updated.
        Update = "UPDATE",
        /// Deleted.
        Delete = "DELETE",
        /// Cancelled.
        Cancel = "CANCEL",
        /// Revoked.
        Revoke = "REVOKE",
        /// Approved.
        Approve = "APPROVE",
        /// Suspended.
        Suspend = "SUSPEND",
        /// Restored.
        Restore = "RESTORE",
        /// Enabled.
        Enable = "ENABLE",
        /// Disabled.
        Disable = "DISABLE",
        /// Accepted.
        Accept = "ACCEPT",
        /// Expired.
        Expired = "EXPIRED",
        /// SCIM user push.
        PushUser = "PUSH_USER",
        /// SCIM group push.
        PushGroup = "PUSH_GROUP",
        /// Verified.
        Verify = "VERIFY",
        /// Joined a waitlist.
        JoinWaitlist = "JOIN_WAITLIST",
        /// Invited.
        Invite = "INVITE",
        /// Joined.
        Join = "JOIN",
        /// Left.
        Leave = "LEAVE",
        /// Re-sent.
        Resend = "RESEND",
        /// Migrated identity provider.
        MigrateAuthProvider = "MIGRATE_AUTH_PROVIDER",
    }
}

open_enum! {
    /// Which property of the target changed (absent when none did).
    TargetProperty {
        /// MagicDNS on/off.
        MagicDns = "MAGIC_DNS",
        /// Nameservers, split DNS, search domains.
        DnsConfig = "DNS_CONFIG",
        /// HTTPS certificates.
        Https = "HTTPS",
        /// Device approval.
        MachineApprovalNeeded = "MACHINE_APPROVAL_NEEDED",
        /// Device authorization.
        MachineAuthNeeded = "MACHINE_AUTH_NEEDED",
        /// User approval.
        UserApprovalRequired = "USER_APPROVAL_REQUIRED",
        /// Tailnet lock.
        Tka = "TKA",
        /// Tailnet lock (alternate name).
        TailnetLock = "TAILNET_LOCK",
        /// The policy file (HuJSON text).
        Acl = "ACL",
        /// A node's tags.
        AclTags = "ACL_TAGS",
        /// Subnet routes and exit node.
        AllowedIps = "ALLOWED_IPS",
        /// Auto-approved routes.
        AutoApprovedRoutes = "AUTO_APPROVED_ROUTES",
        /// Exit node.
        ExitNode = "EXIT_NODE",
        /// Node key expiry on/off.
        KeyExpiry = "KEY_EXPIRY",
        /// Node key expiry time.
        KeyExpiryTime = "KEY_EXPIRY_TIME",
        /// Maximum key duration.
        MaxKeyDuration = "MAX_KEY_DURATION",
        /// A user's role.
        UserRole = "USER_ROLE",
        /// Network flow logging.
        NetworkFlowLogging = "NETWORK_FLOW_LOGGING",
        /// Logging of exit-node flows.
        LogExitFlows = "LOG_EXIT_FLOWS",
        /// A log streaming endpoint.
        LogstreamEndpoint = "LOGSTREAM_ENDPOINT",
        /// A posture integration.
        PostureIntegration = "POSTURE_INTEGRATION",
        /// Collection of posture identity.
        CollectPostureIdentity = "COLLECT_POSTURE_IDENTITY",
        /// Posture identity.
        PostureIdentity = "POSTURE_IDENTITY",
        /// Taildrop file sharing.
        FileSharing = "FILE_SHARING",
        /// SCIM.
        Scim = "SCIM",
        /// A webhook secret.
        Secret = "SECRET",
        /// A webhook's subscribed events.
        SubscribedEvents = "SUBSCRIBED_EVENTS",
        /// Tailnet invites.
        TailnetInvite = "TAILNET_INVITE",
        /// Node sharing.
        NodeShare = "NODE_SHARE",
    }
}

open_struct! {
    /// Who performed an audited action.
    Actor {
        /// Stable id.
        id: String => "id",
        /// Kind of actor.
        actor_type: ActorType => "type",
        /// Login name (may be empty for automation).
        login_name: String => "loginName",
        /// Display name.
        display_name: String => "displayName",
        /// Tags, for tagged nodes.
        tags: Vec<String> => "tags",
    }
}

open_struct! {
    /// What an audited action was performed on.
    Target {
        /// Stable id.
        id: String => "id",
        /// Name.
        name: String => "name",
        /// Kind of target.
        target_type: TargetType => "type",
        /// Whether the target node is ephemeral.
        is_ephemeral: bool => "isEphemeral",
        /// The property that changed.
        property: TargetProperty => "property",
    }
}

open_struct! {
    /// A node as described in a flow record (`srcNode`, `dstNodes`; clients ≥ 1.92).
    Node {
        /// Stable node id.
        node_id: String => "nodeId",
        /// MagicDNS name.
        name: String => "name",
        /// Tailscale addresses.
        addresses: Vec<String> => "addresses",
        /// Operating system.
        os: String => "os",
        /// Owning user (untagged nodes).
        user: String => "user",
        /// Tags (tagged nodes).
        tags: Vec<String> => "tags",
    }
}

open_struct! {
    /// Counts for one connection in one window. `src` is the reporting node's side.
    ConnectionCounts {
        /// IANA protocol number or name.
        proto: Proto => "proto",
        /// Source `ip:port` (`[v6]:port`).
        src: String => "src",
        /// Destination `ip:port`.
        dst: String => "dst",
        /// Packets sent by the reporting node.
        tx_pkts: u64 => "txPkts",
        /// Bytes sent by the reporting node.
        tx_bytes: u64 => "txBytes",
        /// Packets received.
        rx_pkts: u64 => "rxPkts",
        /// Bytes received.
        rx_bytes: u64 => "rxBytes",
    }
}

open_struct! {
    /// Any Tailscale log record: the union of audit and network flow members, read in one pass.
    AnyRecord {
        // Audit members.
        /// Groups the events of one operation.
        event_group_id: String => "eventGroupID",
        /// Where the change came from.
        origin: Origin => "origin",
        /// Who acted.
        actor: Actor => "actor",
        /// What was acted on.
        target: Target => "target",
        /// What was done.
        action: Action => "action",
        /// Value before (any JSON).
        old: Box<RawValue> => "old",
        /// Value after (any JSON).
        new: Box<RawValue> => "new",
        /// Free-text details.
        action_details: String => "actionDetails",
        /// Set when the change failed.
        error: String => "error",
        /// Event time (API and export only).
        event_time: RawTime => "eventTime",
        /// `CONFIG` in API responses.
        record_type: String => "type",
        /// When a rate-limited event was deferred (Go zero time otherwise).
        deferred_at: RawTime => "deferredAt",
        // Shared.
        /// When Tailscale logged it (API and export).
        logged: RawTime => "logged",
        // Network members.
        /// Reporting node.
        node_id: String => "nodeId",
        /// Window start (node clock).
        start: RawTime => "start",
        /// Window end (node clock).
        end: RawTime => "end",
        /// The reporting node.
        src_node: Node => "srcNode",
        /// Every other node seen in the record.
        dst_nodes: Vec<Node> => "dstNodes",
        /// Node to node over Tailscale IPs.
        virtual_traffic: Vec<ConnectionCounts> => "virtualTraffic",
        /// Through a subnet router.
        subnet_traffic: Vec<ConnectionCounts> => "subnetTraffic",
        /// Through an exit node.
        exit_traffic: Vec<ConnectionCounts> => "exitTraffic",
        /// The WireGuard underlay.
        physical_traffic: Vec<ConnectionCounts> => "physicalTraffic",
    }
}

/// Which log type a record is, decided by its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// Configuration audit (`actor` + `action`).
    Audit,
    /// Network flow (`nodeId` + any `*Traffic` member).
    Network,
}

impl AnyRecord {
    /// Classifies by shape: network flow = `nodeId` + any `*Traffic` key; audit = `actor` + `action`.
    /// `None` means neither: the record is quarantined as unrecognized.
    pub fn kind(&self) -> Option<RecordKind> {
        let has_traffic = self.virtual_traffic.is_some()
            || self.subnet_traffic.is_some()
            || self.exit_traffic.is_some()
            || self.physical_traffic.is_some();
        if self.node_id.is_some() && has_traffic {
            Some(RecordKind::Network)
        } else if self.actor.is_some() && self.action.is_some() {
            Some(RecordKind::Audit)
        } else {
            None
        }
    }
}
