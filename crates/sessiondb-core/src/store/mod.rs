//! The sharded store: token → session, plus the top-level key map.
//!
//! Sessions live in N shards (a power of two), each a `parking_lot::Mutex` around a hash table
//! keyed by token. A command on one session locks exactly one shard; commands over all sessions
//! go shard by shard (atomic per session, `docs/PROTOCOL.md` §7.2). The top-level keys sit behind one
//! lock of their own, so `KV_` commands are atomic over the whole top-level store. Values freed
//! by a command are dropped after its lock is released.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hashbrown::{DefaultHashBuilder, HashTable};
use parking_lot::Mutex;

use crate::base::Token;
use crate::change::{Change, ChangeSink};
use crate::command::session::Versioned;
use crate::command::{Command, Outcome, OwnedNew, ValueSink, VersionCheck};
use crate::expiry::DeadlineIndex;
use crate::kv_map::KvMap;
use crate::value::Value;
use owners::OwnerIndex;

mod browse;
mod lifecycle;
mod load;
mod owners;
mod shard;
mod snapshot;
mod sweep;

pub use browse::{
    ExpiryTimeline, SessionFilter, SessionPage, SessionQuery, SessionSummary, SessionView,
    TimelineQuery, ViewLimits, ViewedEntry,
};
pub use load::{Arming, PreparedSessions, SessionRecord};
pub(crate) use shard::{Shard, ShardInner, ShardStats};
pub use sweep::{SweepReport, SWEEP_BATCH};

/// Optional limits. A command that would exceed one replies [`Outcome::LimitReached`]
/// and changes nothing. Checks cost nothing when a limit is `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// Most sessions at once (`SH_NEW` beyond it is refused).
    pub max_sessions: Option<u64>,
    /// Most keys one session may hold (`SH_SET`/`SH_ADD`/`SH_CLEAR_SET` beyond it are refused).
    pub max_keys_per_session: Option<u64>,
    /// Most bytes the stored data may take in memory, as the allocator counts them (keys, values,
    /// their tables and per-session overhead; sessions and top-level keys together); writes that
    /// would grow past it are refused.
    pub max_memory_bytes: Option<u64>,
}

/// Store construction settings.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Number of session shards (a power of two; other values are rounded up, 0 becomes 1).
    pub shards: usize,
    /// Limits enforced by commands.
    pub limits: Limits,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            shards: 64,
            limits: Limits::default(),
        }
    }
}

/// The top-level store: one map behind one lock.
pub(crate) struct TopLevel {
    pub(crate) map: Mutex<KvMap>,
    /// Approximate bytes of the top-level keys (written under `map`'s lock).
    pub(crate) bytes: AtomicU64,
}

/// All sessions and top-level keys.
pub struct Store {
    pub(crate) shards: Box<[Shard]>,
    shard_mask: usize,
    hasher: DefaultHashBuilder,
    pub(crate) top_level: TopLevel,
    pub(crate) limits: Limits,
    /// Owner → tokens of its sessions (`SH_OWNER_LIST`, `SH_OWNER_END`).
    pub(crate) owners: OwnerIndex,
    sink: Option<Arc<dyn ChangeSink>>,
}

impl Store {
    /// An empty store.
    pub fn new(config: StoreConfig) -> Self {
        let n = config.shards.max(1).next_power_of_two();
        let shards = (0..n)
            .map(|_| Shard {
                inner: Mutex::new(ShardInner {
                    table: HashTable::new(),
                    index: DeadlineIndex::default(),
                }),
                stats: ShardStats::default(),
            })
            .collect();
        Self {
            shards,
            shard_mask: n - 1,
            hasher: DefaultHashBuilder::default(),
            top_level: TopLevel {
                map: Mutex::new(KvMap::new()),
                bytes: AtomicU64::new(0),
            },
            limits: config.limits,
            owners: OwnerIndex::default(),
            sink: None,
        }
    }

    /// An empty store that reports every effective mutation to `sink` (the journal).
    pub fn with_change_sink(config: StoreConfig, sink: Arc<dyn ChangeSink>) -> Self {
        let mut store = Self::new(config);
        store.sink = Some(sink);
        store
    }

    /// Attaches (or detaches) the change sink before the store is shared. Recovery loads the
    /// journal into a store without a sink, then attaches it, so replay is not journaled again.
    pub fn set_change_sink(&mut self, sink: Option<Arc<dyn ChangeSink>>) {
        self.sink = sink;
    }

    /// The limits this store enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Executes one validated command at wall-clock time `now_ms` (Unix ms). Gets return
    /// [`Outcome::Values`] with the values copied out; the protocol layer uses
    /// [`Store::execute_into`] instead.
    pub fn execute(&self, cmd: Command<'_>, now_ms: u64) -> Outcome {
        let mut found: Vec<(usize, Value)> = Vec::new();
        let mut collect = |i: usize, json: &str| found.push((i, Value::from_json_unchecked(json)));
        match self.execute_into(cmd, now_ms, &mut collect) {
            Outcome::ValuesSent(_) => Outcome::Values(found),
            other => other,
        }
    }

    /// Executes one validated command at wall-clock time `now_ms` (Unix ms). A get (`SH_GET`,
    /// `KV_GET`) hands its values to `sink` while the lock is held and returns
    /// [`Outcome::ValuesSent`]; nothing is copied or allocated for them.
    pub fn execute_into(&self, cmd: Command<'_>, now_ms: u64, sink: &mut dyn ValueSink) -> Outcome {
        self.execute_checked(cmd, now_ms, sink, VersionCheck::NONE)
            .0
    }

    /// [`Store::execute_into`] with the version members of the request (`ifVer`, `withVer`),
    /// which only commands naming one session by token take. Returns the outcome and, when
    /// `check` [`VersionCheck::reports`] it and the session was found, the session's version
    /// after the command (for [`Outcome::VersionMismatch`], its current version).
    pub fn execute_checked(
        &self,
        cmd: Command<'_>,
        now_ms: u64,
        sink: &mut dyn ValueSink,
        check: VersionCheck,
    ) -> (Outcome, Option<u32>) {
        let mut ver = Versioned::new(check);
        let v = &mut ver;
        let outcome = match cmd {
            Command::KvSet(entries) => self.kv_set(entries),
            Command::KvAdd(entries) => self.kv_add(entries),
            Command::KvGet(keys) => self.kv_get(&keys, sink),
            Command::KvRmv(keys) => self.kv_rmv(keys),
            Command::KvContains(keys) => self.kv_contains(&keys),
            Command::KvCount => self.kv_count(),
            Command::KvKeys => self.kv_keys(),
            Command::KvClear => self.kv_clear(),
            Command::KvClearSet(entries) => self.kv_clear_set(entries),
            Command::ShNew {
                expiry,
                name,
                shared,
            } => self.sh_new(expiry, name.as_deref(), shared, None, now_ms),
            Command::ShNewOwned(new) => {
                let OwnedNew {
                    expiry,
                    name,
                    shared,
                    owner,
                } = *new;
                self.sh_new(expiry, name.as_deref(), shared, Some(owner), now_ms)
            }
            Command::ShOpen { name } => self.sh_open(&name, now_ms),
            Command::ShEnd { tkn } => self.sh_end(tkn, now_ms, v),
            Command::ShEndAll => self.sh_end_all(now_ms),
            Command::ShExists { tkns } => self.sh_exists(tkns, now_ms),
            Command::ShInfo { tkn } => self.sh_info(tkn, now_ms, v),
            Command::ShInfoAll => {
                let (sessions, keys) = self.session_totals(now_ms);
                Outcome::InfoAll { sessions, keys }
            }
            Command::ShSet { tkn, keys } => self.sh_set(tkn, keys, now_ms, v),
            Command::ShAdd { tkn, keys } => self.sh_add(tkn, keys, now_ms, v),
            Command::ShGet { tkn, keys } => self.sh_get(tkn, &keys, now_ms, sink, v),
            Command::ShRmv { tkn, keys } => self.sh_rmv(tkn, keys, now_ms, v),
            Command::ShContains { tkn, keys } => self.sh_contains(tkn, &keys, now_ms, v),
            Command::ShCount { tkn } => self.sh_count(tkn, now_ms, v),
            Command::ShKeys { tkn } => self.sh_keys(tkn, now_ms, v),
            Command::ShClear { tkn } => self.sh_clear(tkn, now_ms, v),
            Command::ShClearSet { tkn, keys } => self.sh_clear_set(tkn, keys, now_ms, v),
            Command::ShWriteWithTtl(write) => self.sh_write_with_ttl(*write, now_ms, v),
            Command::ShKeyTtl { tkn, keys } => self.sh_key_ttl(tkn, keys, now_ms, v),
            Command::ShKeyRemaining { tkn, keys } => self.sh_key_remaining(tkn, &keys, now_ms, v),
            Command::ShOwnerList { owner } => self.sh_owner_list(&owner, now_ms),
            Command::ShOwnerEnd { owner } => self.sh_owner_end(&owner, now_ms),
            Command::Stats => {
                let (sessions, session_keys) = self.session_totals(now_ms);
                let kv_keys = self.top_level.map.lock().len() as u64;
                Outcome::Stats {
                    sessions,
                    keys: session_keys + kv_keys,
                }
            }
        };
        (outcome, ver.seen)
    }

    /// Approximate bytes of stored data (sessions, their keys and top-level keys).
    pub fn stored_bytes(&self) -> u64 {
        self.shard_bytes() + self.top_level.bytes.load(Ordering::Relaxed)
    }

    /// Owners that own at least one session held (an owner with none takes no memory).
    pub fn owner_count(&self) -> usize {
        self.owners.owners()
    }

    /// Sessions held, including due ones the sweep has not reclaimed yet (cheap; for metrics and
    /// limits: exact live counts come from `Command::Stats`).
    pub fn session_count_estimate(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.stats.sessions.load(Ordering::Relaxed))
            .sum()
    }

    // ---- internals shared by the command modules ----

    /// The table hash of a token (seeded per store, so derived tokens cannot be aimed at a shard
    /// or bucket).
    pub(crate) fn hash(&self, tkn: Token) -> u64 {
        self.hasher.hash_one(tkn)
    }

    /// The shard of a token's hash. Uses middle bits: hashbrown takes the low bits for the bucket
    /// and the top 7 for its control bytes.
    pub(crate) fn shard_of(&self, hash: u64) -> &Shard {
        &self.shards[self.shard_index(hash)]
    }

    /// The index of the shard that holds a token of table hash `hash`.
    pub(crate) fn shard_index(&self, hash: u64) -> usize {
        (hash >> 32) as usize & self.shard_mask
    }

    /// Reports a change to the sink, if any.
    #[inline]
    pub(crate) fn record(&self, change: &Change<'_>) {
        if let Some(sink) = &self.sink {
            sink.record(change);
        }
    }

    /// Whether a change sink is attached (callers skip building changes when not).
    #[inline]
    pub(crate) fn journaling(&self) -> bool {
        self.sink.is_some()
    }

    fn shard_bytes(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.stats.bytes.load(Ordering::Relaxed))
            .sum()
    }

    /// Whether growing stored data by `added` bytes stays within `max_memory_bytes`.
    pub(crate) fn memory_allows(&self, added: u64) -> bool {
        match self.limits.max_memory_bytes {
            None => true,
            Some(max) => added == 0 || self.stored_bytes().saturating_add(added) <= max,
        }
    }
}
