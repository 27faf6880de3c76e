//! Typed arguments and results of the commands.

use serde_json::{Map, Value};

/// Expiry settings of a new session (docs/PROTOCOL.md §9.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Expiry {
    /// Seconds from (re)arming to the deadline; 0 means the session never expires.
    pub duration: u64,
    /// At the deadline, delete the session itself rather than only its keys.
    pub delete_session: bool,
    /// `sh_set` and `sh_add` re-arm the deadline.
    pub extend_on_set_add: bool,
    /// `sh_get` re-arms the deadline.
    pub extend_on_get: bool,
}

impl Expiry {
    /// Expires after `duration` seconds, deleting only the keys (all flags false).
    pub fn after(duration: u64) -> Expiry {
        Expiry {
            duration,
            ..Expiry::default()
        }
    }

    /// Sets `deleteSession`.
    pub fn delete_session(mut self, yes: bool) -> Expiry {
        self.delete_session = yes;
        self
    }

    /// Sets `extendOnSetAdd`.
    pub fn extend_on_set_add(mut self, yes: bool) -> Expiry {
        self.extend_on_set_add = yes;
        self
    }

    /// Sets `extendOnGet`.
    pub fn extend_on_get(mut self, yes: bool) -> Expiry {
        self.extend_on_get = yes;
        self
    }

    pub(crate) fn to_json(self) -> Value {
        serde_json::json!({
            "duration": self.duration,
            "deleteSession": self.delete_session,
            "extendOnSetAdd": self.extend_on_set_add,
            "extendOnGet": self.extend_on_get,
        })
    }
}

/// Options of `sh_new` (docs/PROTOCOL.md §11.1). The default is a non-shared session that never expires.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionOptions {
    /// Expiry settings; `None` never expires.
    pub expiry: Option<Expiry>,
    /// A label, or for a shared session the name its token derives from.
    pub name: Option<String>,
    /// Whether the session is shared (found by name with `sh_open`).
    pub shared: bool,
    /// Whose session it is (docs/PROTOCOL.md E11), for `sh_owner_list` and `sh_owner_end`.
    pub owner: Option<String>,
}

impl SessionOptions {
    /// A non-shared session that never expires.
    pub fn new() -> SessionOptions {
        SessionOptions::default()
    }

    /// A shared session named `name`.
    pub fn shared(name: impl Into<String>) -> SessionOptions {
        SessionOptions {
            name: Some(name.into()),
            shared: true,
            ..SessionOptions::default()
        }
    }

    /// Sets the expiry settings.
    pub fn expiry(mut self, expiry: Expiry) -> SessionOptions {
        self.expiry = Some(expiry);
        self
    }

    /// Sets the name.
    pub fn name(mut self, name: impl Into<String>) -> SessionOptions {
        self.name = Some(name.into());
        self
    }

    /// Sets the owner (1 to 256 bytes).
    pub fn owner(mut self, owner: impl Into<String>) -> SessionOptions {
        self.owner = Some(owner.into());
        self
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut body = Map::new();
        if let Some(expiry) = self.expiry {
            body.insert("expiry".into(), expiry.to_json());
        }
        if let Some(name) = &self.name {
            body.insert("name".into(), Value::String(name.clone()));
        }
        if let Some(owner) = &self.owner {
            body.insert("owner".into(), Value::String(owner.clone()));
        }
        if self.shared {
            body.insert("shared".into(), Value::Bool(true));
        }
        Value::Object(body)
    }
}

/// Expiry state reported by `sh_info` for a session that expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryInfo {
    /// The session's expiry settings.
    pub settings: Expiry,
    /// Whole seconds left before the deadline.
    pub remaining: u64,
}

/// A session's description from `sh_info` (docs/PROTOCOL.md §11.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session's token.
    pub tkn: u64,
    /// Whether the session is shared.
    pub shared: bool,
    /// Number of keys in the session.
    pub key_count: u64,
    /// Expiry state; `None` when the session never expires.
    pub expiry: Option<ExpiryInfo>,
    /// The session's name, if it has one.
    pub name: Option<String>,
    /// The session's owner, if it has one.
    pub owner: Option<String>,
}

/// The outcome of a write made only at an expected version (`ifVer`, docs/PROTOCOL.md E10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfVer {
    /// The session was at the expected version; the write happened and left it at `ver`.
    Written {
        /// The version after the write.
        ver: u64,
    },
    /// The session had moved on to version `current`; nothing changed. Read it again, then retry.
    Mismatch {
        /// The session's version.
        current: u64,
    },
}

/// Totals from `sh_info_all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTotals {
    /// Live sessions.
    pub total_sessions: u64,
    /// Keys over all live sessions (top-level keys excluded).
    pub total_keys: u64,
}

/// Result of a successful `kv_save` / `sh_save`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveInfo {
    /// The dataset name.
    pub name: String,
    /// How long the save took, in milliseconds.
    pub duration_ms: u64,
}

/// Result of a successful `kv_load` / `sh_load`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadInfo {
    /// The dataset name.
    pub name: String,
    /// Sessions created (always 0 for `kv_load`).
    pub sessions: u64,
    /// Keys loaded.
    pub keys: u64,
    /// How long the load took in milliseconds (`kv_load` only; `SH_LOAD_RSP` has no duration).
    pub duration_ms: Option<u64>,
}

/// The server's description from `sv_info` (docs/PROTOCOL.md §12).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerInfo {
    /// The server's version string (not to be compared with other servers' versions).
    pub server_version: String,
    /// Whether saves are enabled.
    pub persist_enabled: bool,
    /// Every other member the server sent (`uptimeSecs`, `sessions`, `keys`, `connections`, ...).
    pub extra: Map<String, Value>,
}
