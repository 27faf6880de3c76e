//! The seam between the service and the engine that holds the data.
//!
//! [`Engine`] is what [`crate::Service`] needs from an engine, and nothing else: run one command,
//! count for `SV_INFO`, sweep expired sessions, save and load datasets, and the read-only views
//! an operator's console shows (a page of sessions, the upcoming expiries, one session's keys). The embedded [`Store`]
//! implements it here; another backend (a Redis Cluster client, say) implements it in its own
//! crate. [`crate::Service`] is generic over it, so the embedded path is compiled for [`Store`]
//! alone and calls it without dynamic dispatch.
//!
//! The trait is synchronous: the embedded store answers in place, under its own short locks.
//! An engine that waits on the network cannot answer in place without blocking the
//! connection's thread; its way in is the deferred form the service already has for disk work
//! ([`crate::Handled::Deferred`]), which an asynchronous `execute` would extend to engine calls.
//! That extension belongs with the first such engine and is not here yet.

use std::collections::HashSet;
use std::path::Path;

use sessiondb_core::clock::Clock;
use sessiondb_core::persist::save_load::{self, Loaded};
use sessiondb_core::persist::{LoadError, SaveError, SaveKind};
use sessiondb_core::store::{
    ExpiryTimeline, SessionPage, SessionQuery, SessionView, TimelineQuery, ViewLimits,
};
use sessiondb_core::{Command, Outcome, Store, Token, ValueSink, VersionCheck};

/// What the service needs from an engine. Every method is called with "now" from the service's
/// clock, so an engine never reads the time itself.
pub trait Engine: Send + Sync + 'static {
    /// Runs one validated command at `now_ms` under the request's version members `check`. A
    /// get may hand its values to `values` while it holds its lock (then its outcome is
    /// [`Outcome::ValuesSent`]) instead of returning them. Returns the outcome and, when `check`
    /// asks for it and the session was found, its version for the reply.
    fn execute_into(
        &self,
        cmd: Command<'_>,
        now_ms: u64,
        values: &mut dyn ValueSink,
        check: VersionCheck,
    ) -> (Outcome, Option<u32>);

    /// Live sessions, and top-level keys plus the keys of live sessions (`SV_INFO`).
    fn counts(&self, now_ms: u64) -> (u64, u64);

    /// Reclaims what expired by `now_ms`; returns how many sessions went.
    fn sweep_expired(&self, now_ms: u64) -> usize;

    /// Saves the top-level keys as dataset `name` under `root` (`KV_SAVE`).
    fn save_keys(&self, root: &Path, name: &str, clock: &dyn Clock) -> Result<(), SaveError>;

    /// Saves the live sessions (only those in `only`, when given) as dataset `name` (`SH_SAVE`).
    fn save_sessions(
        &self,
        root: &Path,
        name: &str,
        only: Option<&HashSet<Token>>,
        clock: &dyn Clock,
    ) -> Result<(), SaveError>;

    /// Loads dataset `name` of kind `kind` from `root` (`KV_LOAD`, `SH_LOAD`).
    fn load(
        &self,
        root: &Path,
        name: &str,
        kind: SaveKind,
        now_ms: u64,
    ) -> Result<Loaded, LoadError>;

    /// One page of the live sessions `query` selects, without changing any of them.
    fn list_sessions(&self, query: &SessionQuery<'_>, now_ms: u64) -> SessionPage;

    /// The sessions due soonest and how many are due in each interval ahead, as `query` asks,
    /// without changing any of them.
    fn expiry_timeline(&self, query: &TimelineQuery, now_ms: u64) -> ExpiryTimeline;

    /// Session `tkn` with as much of its keys as `limits` allow, without changing it (a view
    /// does not extend an expiry); `None` if there is no such live session.
    fn view_session(&self, tkn: Token, limits: &ViewLimits, now_ms: u64) -> Option<SessionView>;
}

impl Engine for Store {
    #[inline]
    fn execute_into(
        &self,
        cmd: Command<'_>,
        now_ms: u64,
        values: &mut dyn ValueSink,
        check: VersionCheck,
    ) -> (Outcome, Option<u32>) {
        Store::execute_checked(self, cmd, now_ms, values, check)
    }

    fn counts(&self, now_ms: u64) -> (u64, u64) {
        match self.execute(Command::Stats, now_ms) {
            Outcome::Stats { sessions, keys } => (sessions, keys),
            // `Stats` has no other outcome; counting nothing beats failing `SV_INFO`.
            _ => (0, 0),
        }
    }

    fn sweep_expired(&self, now_ms: u64) -> usize {
        Store::sweep_expired(self, now_ms)
    }

    fn save_keys(&self, root: &Path, name: &str, clock: &dyn Clock) -> Result<(), SaveError> {
        save_load::save_kv(self, root, name, clock).map(|_| ())
    }

    fn save_sessions(
        &self,
        root: &Path,
        name: &str,
        only: Option<&HashSet<Token>>,
        clock: &dyn Clock,
    ) -> Result<(), SaveError> {
        save_load::save_sessions(self, root, name, only, clock).map(|_| ())
    }

    fn load(
        &self,
        root: &Path,
        name: &str,
        kind: SaveKind,
        now_ms: u64,
    ) -> Result<Loaded, LoadError> {
        save_load::load(self, root, name, Some(kind), now_ms)
    }

    fn list_sessions(&self, query: &SessionQuery<'_>, now_ms: u64) -> SessionPage {
        Store::list_sessions(self, query, now_ms)
    }

    fn expiry_timeline(&self, query: &TimelineQuery, now_ms: u64) -> ExpiryTimeline {
        Store::expiry_timeline(self, query, now_ms)
    }

    fn view_session(&self, tkn: Token, limits: &ViewLimits, now_ms: u64) -> Option<SessionView> {
        Store::view_session(self, tkn, limits, now_ms)
    }
}
