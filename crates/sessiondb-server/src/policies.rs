//! What the server applies to every connection beside the protocol: TLS, authentication at
//! the upgrade, the connection limit, brute-force protection, metrics and reply durability.

use std::sync::Arc;

use crate::auth::AuthConfig;
use crate::limits::{ConnectionLimiter, ProbePolicy};
use crate::metrics::Metrics;
use crate::tls::TlsAcceptor;

/// Shared by all connections of one server.
#[derive(Clone)]
pub struct ConnectionPolicies {
    /// Present when the server speaks `wss://`.
    pub tls: Option<TlsAcceptor>,
    /// Secrets and failure policy; disabled when no secret is configured.
    pub auth: Arc<AuthConfig>,
    /// `--max-connections`.
    pub limiter: ConnectionLimiter,
    /// Thresholds of the brute-force protection; `None` when it is off (`--no-probe-guard`).
    pub probe_policy: Option<ProbePolicy>,
    /// Counters the connections update.
    pub metrics: Arc<Metrics>,
    /// Holds replies until the changes they acknowledge are in the journal (on disk with
    /// `--fsync always`).
    pub durability: crate::persistence::Durability,
}
