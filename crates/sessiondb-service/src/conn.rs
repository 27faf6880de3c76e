//! What the service keeps per connection.

/// Per-connection state: authentication, and the counts the transport's policies read (failed
/// attempts, requests naming tokens or names that do not exist).
#[derive(Debug, Default)]
pub struct ConnState {
    pub(crate) authenticated: bool,
    pub(crate) auth_failures: u32,
    pub(crate) policy_close: bool,
    pub(crate) probe_misses: u64,
}

impl ConnState {
    /// A connection that authenticated at the WebSocket upgrade (docs/PROTOCOL.md §2.6).
    pub fn authenticated() -> Self {
        Self {
            authenticated: true,
            ..Self::default()
        }
    }

    /// Whether this connection has authenticated (irrelevant while authentication is off).
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// True once the connection must be closed with 1008 (too many failed `SV_AUTH`).
    pub fn must_close(&self) -> bool {
        self.policy_close
    }

    /// Running total of misses: requests whose token named no live session (100), `SH_OPEN`
    /// names that opened nothing (102), and `SH_EXISTS` tokens that do not exist. The
    /// transport's brute-force protection reads it.
    pub fn probe_misses(&self) -> u64 {
        self.probe_misses
    }
}
