//! The sessiondb wire protocol (`PROTOCOL.md`): parse a JSON text message into a typed command,
//! run it on the engine, render the reply.
//!
//! The transport (sessiondb-server) only ever calls [`Dispatcher`]: one text message in, exactly
//! one reply (one JSON object) out, or deferred work for commands that touch the disk.

use std::path::PathBuf;
use std::sync::Arc;

use sessiondb_core::clock::Clock;

/// Server-level figures that `SV_INFO` reports and only the transport knows.
pub trait ServerStats: Send + Sync + 'static {
    /// Open WebSocket connections, including the one asking.
    fn connections(&self) -> u64;
    /// Whole seconds since the server started.
    fn uptime_secs(&self) -> u64;
}

/// Settings the protocol layer needs.
pub struct DispatchSettings {
    /// Whether `KV_SAVE` / `SH_SAVE` are enabled (PROTOCOL.md §13.1).
    pub persist_enabled: bool,
    /// Persistence root: datasets are read from and written to it.
    pub data_dir: PathBuf,
    /// Reported as `SV_INFO.serverVersion`.
    pub server_version: &'static str,
    /// Source of "now" for expiry.
    pub clock: Arc<dyn Clock>,
    /// Transport figures for `SV_INFO`.
    pub stats: Arc<dyn ServerStats>,
}

/// Per-connection protocol state (authentication lives here once it exists).
#[derive(Debug, Default)]
pub struct ConnState {}

/// Work that must run off the async runtime (disk I/O); it appends exactly one reply to the buffer.
pub type DeferredWork = Box<dyn FnOnce(&mut Vec<u8>) + Send + 'static>;

/// Outcome of handling one message.
pub enum Handled {
    /// One reply was appended to `out`.
    Replied,
    /// Run this on a blocking thread; it appends the reply. Later replies on the connection wait for it.
    Deferred(DeferredWork),
}

/// Executes protocol messages against the store.
pub struct Dispatcher {/* owned by the engine/proto work */}

impl Dispatcher {
    /// Builds a dispatcher over a fresh, empty store.
    pub fn new(settings: DispatchSettings) -> Self {
        let _ = settings;
        todo!("sessiondb-proto: Dispatcher::new")
    }

    /// Handles one text message (already valid UTF-8, within the size limit).
    pub fn handle_text(&self, conn: &mut ConnState, msg: &str, out: &mut Vec<u8>) -> Handled {
        let _ = (conn, msg, out);
        todo!("sessiondb-proto: handle_text")
    }

    /// Appends the reply to a binary message: `{"ERR":{"st":2}}`.
    pub fn handle_binary(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(br#"{"ERR":{"st":2}}"#);
    }

    /// Reclaims sessions past their deadline; call about every 100 ms. Holds each shard lock
    /// only briefly (bounded work per lock hold), so it never stalls clients.
    pub fn sweep_expired(&self) -> usize {
        todo!("sessiondb-proto: sweep_expired")
    }
}
