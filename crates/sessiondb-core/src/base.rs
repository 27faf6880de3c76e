//! The engine's base types, shared by commands, sessions, the journal and datasets. This module
//! imports nothing from the rest of the crate, so every other module can depend on it without an
//! import circle.

/// A session token: 1 … 2^64−1 (0 never names a session).
pub type Token = u64;

/// Expiry settings of a session (`docs/PROTOCOL.md` §9.1). `duration_secs == 0` never expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Expiry {
    /// Seconds from (re)arming to the deadline.
    pub duration_secs: u64,
    /// At the deadline: delete the session (true) or only its keys, re-arming it (false).
    pub delete_session: bool,
    /// `SH_SET` / `SH_ADD` re-arm the deadline.
    pub extend_on_set_add: bool,
    /// `SH_GET` re-arms the deadline.
    pub extend_on_get: bool,
}

/// The longest owner a session may have, in bytes of UTF-8 (`SH_NEW`'s `owner`; an owner is at
/// least one byte).
pub const MAX_OWNER_BYTES: usize = 256;
