//! [`Service`]: one text message in, exactly one reply out (or deferred disk work), and what
//! was replied.

use std::path::PathBuf;
use std::sync::Arc;

use sessiondb_core::clock::Clock;
use sessiondb_core::{Command, Outcome, Store, StoreConfig, VersionCheck};
use sessiondb_proto::parse;
use sessiondb_proto::render::{self, ReplyWriter, ServerInfo};
use sessiondb_proto::request::{Action, Rejection, ReplyName};
use sessiondb_proto::{ReplyHead, Status};

use crate::remote::{self, PendingReply, RemoteEngine};
use crate::{persist, ConnState, Engine};

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

/// Checks `SV_AUTH` secrets (docs/PROTOCOL.md §2.6). Implemented by the server, which owns the
/// secrets; without one (or when it is not `enabled`), authentication is off.
pub trait Authenticator: Send + Sync + 'static {
    /// Whether authentication is on (at least one secret is configured).
    fn enabled(&self) -> bool;
    /// Whether `secret` is an accepted secret. Must run in constant time.
    fn verify(&self, secret: &str) -> bool;
    /// Failed `SV_AUTH` attempts after which the connection is closed with 1008.
    fn max_failures(&self) -> u32;
}

/// Settings the service needs.
pub struct ServiceSettings {
    /// Whether `KV_SAVE` / `SH_SAVE` are enabled (docs/PROTOCOL.md §13.1).
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

/// Work that must run off the async runtime (disk I/O); it appends exactly one reply to the
/// buffer and returns that reply's status.
pub type DeferredWork = Box<dyn FnOnce(&mut Vec<u8>) -> Status + Send + 'static>;

/// Outcome of handling one message.
pub enum Handled {
    /// One reply was appended to `out`.
    Replied,
    /// Run this on a blocking thread; it appends the reply. Later replies on the connection wait for it.
    Deferred(DeferredWork),
    /// Await this on the connection's task (a remote engine's answer): it yields the reply and
    /// its status. Later replies on the connection wait for it.
    Pending(PendingReply),
}

/// Runs protocol messages on an engine: the authentication gate, the engine call, `SV_INFO`
/// and `SV_AUTH`, deferral of disk work, and the count of probing misses.
///
/// Generic over the [`Engine`] so that the embedded [`Store`] (the default) is called directly.
pub struct Service<E: Engine = Store> {
    engine: Arc<E>,
    settings: ServiceSettings,
    auth: Option<Arc<dyn Authenticator>>,
    /// In backend mode, the engine that holds the data instead of `engine`.
    remote: Option<Arc<dyn RemoteEngine>>,
}

impl Service<Store> {
    /// A service over a fresh, empty store.
    pub fn new(settings: ServiceSettings) -> Self {
        Self::with_engine(settings, Arc::new(Store::new(StoreConfig::default())))
    }
}

impl<E: Engine> Service<E> {
    /// A service over `engine` (a store configured with limits, a change sink, …).
    pub fn with_engine(settings: ServiceSettings, engine: Arc<E>) -> Self {
        Self {
            engine,
            settings,
            auth: None,
            remote: None,
        }
    }

    /// Turns authentication on (when `auth` is enabled): requests other than `SV_AUTH` on a
    /// connection that has not authenticated get status 200 and have no effect.
    pub fn with_authenticator(mut self, auth: Arc<dyn Authenticator>) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Backend mode: engine commands and `SV_INFO` counts go to `remote`, whose answers the
    /// transport awaits ([`Handled::Pending`]); saves and loads answer
    /// [`Status::CommandDisabled`] (not yet supported there).
    pub fn with_remote(mut self, remote: Arc<dyn RemoteEngine>) -> Self {
        self.remote = Some(remote);
        self
    }

    /// The engine, for persistence and operations code that works beside the protocol.
    pub fn engine(&self) -> &Arc<E> {
        &self.engine
    }

    /// The settings this service was built with.
    pub fn settings(&self) -> &ServiceSettings {
        &self.settings
    }

    /// Whether `conn` may run commands: authentication is off, or it has authenticated.
    fn admitted(&self, conn: &ConnState) -> bool {
        conn.authenticated || !self.auth.as_ref().is_some_and(|a| a.enabled())
    }

    /// `SV_AUTH` (docs/PROTOCOL.md §2.6): any secret passes while authentication is off.
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

    /// Handles one text message (already valid UTF-8, within the size limit).
    pub fn handle_text(&self, conn: &mut ConnState, msg: &str, out: &mut Vec<u8>) -> Handled {
        self.handle_text_at(conn, msg, self.settings.clock.now_ms(), out)
            .0
    }

    /// Like [`Service::handle_text`], with "now" read by the caller from
    /// [`ServiceSettings::clock`] (a transport reads it once per batch of requests rather
    /// than once per request), and what was replied.
    pub fn handle_text_at(
        &self,
        conn: &mut ConnState,
        msg: &str,
        now_ms: u64,
        out: &mut Vec<u8>,
    ) -> (Handled, ReplyHead) {
        let admitted = self.admitted(conn);
        let rejected = |out: &mut Vec<u8>, rej: Rejection<'_>| {
            let rej = gate(admitted, rej);
            let written = render::rejection(out, rej);
            (Handled::Replied, ReplyHead::written(rej.kind, written))
        };
        // The scratch buffer allocates only if a value needs minifying.
        let mut scratch = String::new();
        let mut tree = None;
        let req = match parse::message(msg, self.settings.persist_enabled, &mut scratch, &mut tree)
        {
            Ok(req) => req,
            Err(rej) => return rejected(out, rej),
        };
        if !admitted && !matches!(req.action, Action::SvAuth { .. }) {
            let rej = Rejection {
                name: ReplyName::Rsp(req.name),
                status: Status::NotAuthenticated,
                kind: Some(req.kind),
            };
            return rejected(out, rej);
        }
        let written = match req.action {
            Action::Engine { cmd, ctx } => {
                if let Some(remote) = self.remote.as_deref() {
                    // The backend keeps no versions yet: a write it cannot check against `ifVer`
                    // must not happen unchecked, so these requests answer 14 like other
                    // commands the backend lacks.
                    if ctx.version != VersionCheck::NONE {
                        return remote::unsupported(req.name, req.kind, out);
                    }
                    let persist = self.settings.persist_enabled;
                    let reply = (req.name, req.kind);
                    return remote::engine_call(remote, msg, persist, cmd, reply, now_ms, out);
                }
                let asked = match &cmd {
                    Command::ShExists { tkns } => tkns.len(),
                    _ => 0,
                };
                // A get's values are written into `out` by the engine, under its lock.
                let start = out.len();
                let mut values = render::ValuesWriter::new(out, req.name, req.kind, &ctx.keys);
                let (outcome, ver) =
                    self.engine
                        .execute_into(cmd, now_ms, &mut values, ctx.version);
                conn.probe_misses = conn.probe_misses.saturating_add(misses(&outcome, asked));
                let written = match values.finish(&outcome) {
                    Some(written) => written,
                    None => render::outcome(out, req.name, req.kind, &ctx, &outcome),
                };
                if let Some(ver) = ver.filter(|_| written.status != Status::Unknown) {
                    render::append_ver(out, start, u64::from(ver));
                }
                written
            }
            Action::Persist(_) if self.remote.is_some() => {
                let status = Status::CommandDisabled;
                ReplyWriter::new(out, ReplyName::Rsp(req.name), status).finish()
            }
            Action::Persist(p) => {
                let work = persist::defer(self, req.name, p);
                return (work, ReplyHead::deferred(req.kind));
            }
            Action::SvInfo => {
                let mut info = ServerInfo {
                    version: self.settings.server_version,
                    // Backend mode has no saves yet.
                    persist_enabled: self.settings.persist_enabled && self.remote.is_none(),
                    uptime_secs: self.settings.stats.uptime_secs(),
                    sessions: 0,
                    keys: 0,
                    connections: self.settings.stats.connections(),
                    memory_bytes: self.settings.stats.memory_bytes(),
                };
                if let Some(remote) = self.remote.as_deref() {
                    return remote::sv_info(remote, req.name, info, now_ms, out);
                }
                (info.sessions, info.keys) = self.engine.counts(now_ms);
                render::sv_info(out, req.name, &info)
            }
            Action::SvAuth { secret } => {
                let status = self.sv_auth(conn, secret);
                ReplyWriter::new(out, ReplyName::Rsp(req.name), status).finish()
            }
        };
        (
            Handled::Replied,
            ReplyHead::written(Some(req.kind), written),
        )
    }

    /// Appends the reply to a binary message, `{"ERR":{"st":2}}`, and returns what it is.
    pub fn handle_binary(&self, out: &mut Vec<u8>) -> ReplyHead {
        let rej = Rejection {
            name: ReplyName::Err,
            status: Status::OpCodeInvalid,
            kind: None,
        };
        ReplyHead::written(None, render::rejection(out, rej))
    }

    /// Reclaims sessions past their deadline; call about every 100 ms. Holds each shard lock
    /// only briefly (bounded work per lock hold), so it never stalls clients.
    pub fn sweep_expired(&self) -> usize {
        self.engine.sweep_expired(self.settings.clock.now_ms())
    }
}

/// Before a connection authenticates, every reply but `SV_AUTH`'s keeps its usual name and
/// gets status 200 (docs/PROTOCOL.md §2.6).
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
