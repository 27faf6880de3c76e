//! The sessiondb wire protocol (`PROTOCOL.md`): parse a JSON text message into a typed command,
//! run it on the engine, render the reply.
//!
//! The transport (sessiondb-server) only ever calls [`Dispatcher`]: one text message in, exactly
//! one reply (one JSON object) out, or deferred work for commands that touch the disk.

pub mod parse;
pub mod persist_cmds;
pub mod render;
pub mod status;

use std::path::PathBuf;
use std::sync::Arc;

use sessiondb_core::clock::Clock;
use sessiondb_core::{json, Command, Outcome, Store, StoreConfig};

use crate::parse::{Action, Rejection, ReplyName};
use crate::render::{ReplyWriter, ServerInfo};
pub use crate::status::Status;

/// True if `name` is an allowed dataset name (`PROTOCOL.md` §13.2):
/// `^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$` and no `..`. One rule for requests and `--load-name`,
/// so this delegates to the engine's persistence code.
pub fn dataset_name_allowed(name: &str) -> bool {
    sessiondb_core::persist::is_valid_dataset_name(name)
}

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
pub struct Dispatcher {
    store: Arc<Store>,
    settings: DispatchSettings,
}

impl Dispatcher {
    /// Builds a dispatcher over a fresh, empty store.
    pub fn new(settings: DispatchSettings) -> Self {
        Self {
            store: Arc::new(Store::new(StoreConfig::default())),
            settings,
        }
    }

    /// The store, for persistence and operations code that works beside the protocol.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The settings this dispatcher was built with.
    pub fn settings(&self) -> &DispatchSettings {
        &self.settings
    }

    /// Handles one text message (already valid UTF-8, within the size limit).
    pub fn handle_text(&self, conn: &mut ConnState, msg: &str, out: &mut Vec<u8>) -> Handled {
        let _ = conn;
        // Step 3: strict JSON.
        let Ok(root) = json::parse(msg) else {
            let rej = Rejection {
                name: ReplyName::Err,
                status: Status::JsonInvalid,
            };
            render::rejection(out, rej);
            return Handled::Replied;
        };
        // Steps 4–7 and validation. The scratch buffer allocates only if a value needs minifying.
        let mut scratch = String::new();
        let req = match parse::parse_request(&root, self.settings.persist_enabled, &mut scratch) {
            Ok(req) => req,
            Err(rej) => {
                render::rejection(out, rej);
                return Handled::Replied;
            }
        };
        match req.action {
            Action::Engine { cmd, ctx } => {
                let outcome = self.store.execute(cmd, self.settings.clock.now_ms());
                render::outcome(out, req.name, req.kind, &ctx, &outcome);
                Handled::Replied
            }
            Action::Persist(p) => persist_cmds::execute(self, req.name, p, out),
            Action::SvInfo => {
                match self
                    .store
                    .execute(Command::Stats, self.settings.clock.now_ms())
                {
                    Outcome::Stats { sessions, keys } => {
                        let info = ServerInfo {
                            version: self.settings.server_version,
                            persist_enabled: self.settings.persist_enabled,
                            uptime_secs: self.settings.stats.uptime_secs(),
                            sessions,
                            keys,
                            connections: self.settings.stats.connections(),
                        };
                        render::sv_info(out, req.name, &info);
                    }
                    _ => render::internal_failure(out, req.name, req.kind),
                }
                Handled::Replied
            }
            Action::SvAuth { secret } => {
                // Authentication is off: any secret is accepted (PROTOCOL.md §2.6).
                let _ = secret;
                ReplyWriter::new(out, ReplyName::Rsp(req.name), Status::Ok).finish();
                Handled::Replied
            }
        }
    }

    /// Appends the reply to a binary message: `{"ERR":{"st":2}}`.
    pub fn handle_binary(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(br#"{"ERR":{"st":2}}"#);
    }

    /// Reclaims sessions past their deadline; call about every 100 ms. Holds each shard lock
    /// only briefly (bounded work per lock hold), so it never stalls clients.
    pub fn sweep_expired(&self) -> usize {
        self.store.sweep_expired(self.settings.clock.now_ms())
    }
}
