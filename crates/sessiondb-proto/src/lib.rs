//! The sessiondb wire protocol (`PROTOCOL.md`): parse a JSON text message into a typed command,
//! run it on the engine, render the reply.
//!
//! The transport (sessiondb-server) only ever calls [`Dispatcher`]: one text message in, exactly
//! one reply (one JSON object) out, or deferred work for commands that touch the disk.

pub mod parse;
pub mod persist_cmds;
pub mod render;
pub mod request;
pub mod status;

use std::path::PathBuf;
use std::sync::Arc;

use sessiondb_core::clock::Clock;
use sessiondb_core::{json, Command, Outcome, Store, StoreConfig};

use crate::render::{ReplyWriter, ServerInfo, Written};
pub use crate::request::Kind;
use crate::request::{Action, Rejection, ReplyName};
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
    /// Approximate memory used by the process (`SV_INFO.memoryBytes`), if known.
    fn memory_bytes(&self) -> Option<u64> {
        None
    }
}

/// Checks `SV_AUTH` secrets (PROTOCOL.md §2.6). Implemented by the server, which owns the
/// secrets; without one (or when it is not `enabled`), authentication is off.
pub trait Authenticator: Send + Sync + 'static {
    /// Whether authentication is on (at least one secret is configured).
    fn enabled(&self) -> bool;
    /// Whether `secret` is an accepted secret. Must run in constant time.
    fn verify(&self, secret: &str) -> bool;
    /// Failed `SV_AUTH` attempts after which the connection is closed with 1008.
    fn max_failures(&self) -> u32;
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

/// Per-connection protocol state: authentication, and the counts the transport's policies
/// read (failed attempts, requests naming tokens or names that do not exist).
#[derive(Debug, Default)]
pub struct ConnState {
    authenticated: bool,
    auth_failures: u32,
    policy_close: bool,
    probe_misses: u64,
}

impl ConnState {
    /// A connection that authenticated at the WebSocket upgrade (PROTOCOL.md §2.6).
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

/// Work that must run off the async runtime (disk I/O); it appends exactly one reply to the
/// buffer and returns that reply's status.
pub type DeferredWork = Box<dyn FnOnce(&mut Vec<u8>) -> Status + Send + 'static>;

/// Outcome of handling one message.
pub enum Handled {
    /// One reply was appended to `out`.
    Replied,
    /// Run this on a blocking thread; it appends the reply. Later replies on the connection wait for it.
    Deferred(DeferredWork),
}

/// What [`Dispatcher::handle_text_at`] replied, so the transport can count it without
/// parsing the reply again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyHead {
    /// Whether the reply is named `ERR` (else `<command>_RSP`, the command as received).
    pub err: bool,
    /// The command the request named; `None` when its name is none of the protocol's (or it
    /// had no name: invalid JSON, a malformed envelope).
    pub kind: Option<Kind>,
    /// The reply's `st`; `None` for deferred work, whose reply does not exist yet (the work
    /// returns it).
    pub status: Option<Status>,
}

impl ReplyHead {
    fn new(kind: Option<Kind>, written: Written) -> Self {
        Self {
            err: written.err,
            kind,
            status: Some(written.status),
        }
    }
}

/// Executes protocol messages against the store.
pub struct Dispatcher {
    store: Arc<Store>,
    settings: DispatchSettings,
    auth: Option<Arc<dyn Authenticator>>,
}

impl Dispatcher {
    /// Builds a dispatcher over a fresh, empty store.
    pub fn new(settings: DispatchSettings) -> Self {
        Self::with_store(settings, Arc::new(Store::new(StoreConfig::default())))
    }

    /// Builds a dispatcher over `store` (configured with limits, a change sink, …).
    pub fn with_store(settings: DispatchSettings, store: Arc<Store>) -> Self {
        Self {
            store,
            settings,
            auth: None,
        }
    }

    /// Turns authentication on (when `auth` is enabled): requests other than `SV_AUTH` on a
    /// connection that has not authenticated get status 200 and have no effect.
    pub fn with_authenticator(mut self, auth: Arc<dyn Authenticator>) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Whether `conn` may run commands: authentication is off, or it has authenticated.
    fn admitted(&self, conn: &ConnState) -> bool {
        conn.authenticated || !self.auth.as_ref().is_some_and(|a| a.enabled())
    }

    /// `SV_AUTH` (PROTOCOL.md §2.6): any secret passes while authentication is off.
    fn sv_auth(&self, conn: &mut ConnState, secret: &str) -> Status {
        let Some(auth) = self.auth.as_ref().filter(|a| a.enabled()) else {
            return Status::Ok;
        };
        if auth.verify(secret) {
            conn.authenticated = true;
            return Status::Ok;
        }
        conn.auth_failures = conn.auth_failures.saturating_add(1);
        if conn.auth_failures >= auth.max_failures() {
            conn.policy_close = true;
        }
        Status::AuthFailed
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
        self.handle_text_at(conn, msg, self.settings.clock.now_ms(), out)
            .0
    }

    /// Like [`Dispatcher::handle_text`], with "now" read by the caller from
    /// [`DispatchSettings::clock`] (a transport reads it once per batch of requests rather
    /// than once per request), and what was replied.
    pub fn handle_text_at(
        &self,
        conn: &mut ConnState,
        msg: &str,
        now_ms: u64,
        out: &mut Vec<u8>,
    ) -> (Handled, ReplyHead) {
        let admitted = self.admitted(conn);
        let gate = |rej| gate(admitted, rej);
        let rejected = |out: &mut Vec<u8>, rej: Rejection<'_>| {
            let written = render::rejection(out, rej);
            (Handled::Replied, ReplyHead::new(rej.kind, written))
        };
        // The scratch buffer allocates only if a value needs minifying.
        let mut scratch = String::new();
        // Hot commands in their plain shape are read without a tree; every other message takes
        // the full path below, which gives the same request wherever both apply.
        let root;
        let req = match parse::fast_request(msg, &mut scratch) {
            Some(req) => req,
            None => {
                // Step 3: strict JSON.
                let Ok(parsed) = json::parse(msg) else {
                    let rej = Rejection {
                        name: ReplyName::Err,
                        status: Status::JsonInvalid,
                        kind: None,
                    };
                    return rejected(out, gate(rej));
                };
                root = parsed;
                // Steps 4–7 and validation.
                match parse::parse_request(&root, self.settings.persist_enabled, &mut scratch) {
                    Ok(req) => req,
                    Err(rej) => return rejected(out, gate(rej)),
                }
            }
        };
        if !admitted && !matches!(req.action, Action::SvAuth { .. }) {
            let rej = gate(Rejection {
                name: ReplyName::Rsp(req.name),
                status: Status::NotAuthenticated,
                kind: Some(req.kind),
            });
            return rejected(out, rej);
        }
        let written = match req.action {
            Action::Engine { cmd, ctx } => {
                let asked = match &cmd {
                    Command::ShExists { tkns } => tkns.len(),
                    _ => 0,
                };
                // A get's values are written into `out` by the engine, under its lock.
                let mut values = render::ValuesWriter::new(out, req.name, req.kind, &ctx.keys);
                let outcome = self.store.execute_into(cmd, now_ms, &mut values);
                conn.probe_misses = conn.probe_misses.saturating_add(misses(&outcome, asked));
                match values.finish(&outcome) {
                    Some(written) => written,
                    None => render::outcome(out, req.name, req.kind, &ctx, &outcome),
                }
            }
            Action::Persist(p) => {
                let work = persist_cmds::execute(self, req.name, p, out);
                let head = ReplyHead {
                    err: false,
                    kind: Some(req.kind),
                    status: None,
                };
                return (work, head);
            }
            Action::SvInfo => match self.store.execute(Command::Stats, now_ms) {
                Outcome::Stats { sessions, keys } => {
                    let info = ServerInfo {
                        version: self.settings.server_version,
                        persist_enabled: self.settings.persist_enabled,
                        uptime_secs: self.settings.stats.uptime_secs(),
                        sessions,
                        keys,
                        connections: self.settings.stats.connections(),
                        memory_bytes: self.settings.stats.memory_bytes(),
                    };
                    render::sv_info(out, req.name, &info)
                }
                _ => render::internal_failure(out, req.name, req.kind),
            },
            Action::SvAuth { secret } => {
                let status = self.sv_auth(conn, secret);
                ReplyWriter::new(out, ReplyName::Rsp(req.name), status).finish()
            }
        };
        (Handled::Replied, ReplyHead::new(Some(req.kind), written))
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

/// Before a connection authenticates, every reply but `SV_AUTH`'s keeps its usual name and
/// gets status 200 (PROTOCOL.md §2.6).
fn gate(admitted: bool, rej: Rejection<'_>) -> Rejection<'_> {
    if admitted || rej.name == ReplyName::Rsp("SV_AUTH") {
        rej
    } else {
        Rejection {
            status: Status::NotAuthenticated,
            ..rej
        }
    }
}

/// How many guesses of a token or shared name an outcome reveals as wrong (`asked`: the
/// number of tokens an `SH_EXISTS` named). A missing or non-uint `tkn` is not a guess.
fn misses(outcome: &Outcome, asked: usize) -> u64 {
    let n = match outcome {
        Outcome::NoSession { tkn: Some(_) } | Outcome::OpenFailed => 1,
        Outcome::Exist(found) => asked.saturating_sub(found.len()),
        _ => 0,
    };
    u64::try_from(n).unwrap_or(u64::MAX)
}
