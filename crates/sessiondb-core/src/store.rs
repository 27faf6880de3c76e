//! The sharded store: token → session, plus the top-level key map.
//!
//! Sessions live in N shards (a power of two), each a `parking_lot::Mutex` around a hash table
//! keyed by token. A command on one session locks exactly one shard; commands over all sessions
//! go shard by shard (atomic per session, `PROTOCOL.md` §7.2). The top-level keys sit behind one
//! lock of their own, so `KV_` commands are atomic over the whole top-level store. Values freed
//! by a command are dropped after its lock is released.

use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hashbrown::hash_table::OccupiedEntry;
use hashbrown::{DefaultHashBuilder, HashTable};
use parking_lot::Mutex;

use crate::base::{Expiry, Token};
use crate::change::{Change, ChangeSink};
use crate::command::edit::Edit;
use crate::command::{Command, Outcome, ValueSink};
use crate::expiry::{self, Checked, DeadlineIndex};
use crate::kv_map::{self, KvMap};
use crate::session::{self, Data, Session};
use crate::value::Value;

/// Most due sessions the sweep handles per shard lock hold: bounds how long a sweep of a million
/// simultaneous expiries can delay a client (a batch takes about 0.1 ms).
pub const SWEEP_BATCH: usize = 256;

/// Optional limits (issue 6). A command that would exceed one replies [`Outcome::LimitReached`]
/// and changes nothing. Checks cost nothing when a limit is `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// Most sessions at once (`SH_NEW` beyond it is refused).
    pub max_sessions: Option<u64>,
    /// Most keys one session may hold (`SH_SET`/`SH_ADD`/`SH_CLEAR_SET` beyond it are refused).
    pub max_keys_per_session: Option<u64>,
    /// Most approximate bytes of stored data (keys, values and per-session overhead, sessions and
    /// top-level keys together); writes that would grow past it are refused.
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

/// A session as saved in a dataset or restored from one (or from the journal). `K` holds its
/// keys: owned pairs in stored order, or a session's built [`Data`] (bulk loads build it on the
/// parser threads).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord<K = Vec<(String, Value)>> {
    /// Its token (≥ 1).
    pub tkn: Token,
    /// Whether it is shared.
    pub shared: bool,
    /// Its name, if any.
    pub name: Option<String>,
    /// Expiry settings (`duration_secs == 0`: never expires, flags false).
    pub expiry: Expiry,
    /// Its deadline in Unix ms (`u64::MAX` when it never expires).
    pub deadline_ms: u64,
    /// Its keys, in stored order.
    pub keys: K,
}

impl SessionRecord {
    /// An owned copy of session `tkn` as it is now.
    pub fn capture(tkn: Token, s: &Session) -> Self {
        Self {
            tkn,
            shared: s.shared,
            name: s.name().map(str::to_owned),
            expiry: s.expiry(),
            deadline_ms: s.deadline_ms,
            keys: s
                .data
                .iter()
                .map(|(k, v)| (k.to_owned(), Value::from_json_unchecked(v)))
                .collect(),
        }
    }
}

/// How [`Store::load_sessions`] arms restored sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arming {
    /// Load time + duration (dataset loads, §9.7); `deadline_ms` of the records is ignored.
    FromDuration,
    /// Keep each record's `deadline_ms` (journal recovery); sessions already due then expire as
    /// §9.3 says, on first access or at the next sweep.
    KeepDeadline,
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Sessions deleted or emptied.
    pub reclaimed: usize,
    /// Shard lock acquisitions.
    pub lock_holds: usize,
    /// The longest single shard lock hold (freeing the reclaimed keys happens after release).
    pub longest_hold: Duration,
}

/// Counters of one shard, readable without its lock (limits, metrics).
#[derive(Debug, Default)]
pub(crate) struct ShardStats {
    /// Approximate bytes of the shard's sessions and their keys.
    pub(crate) bytes: AtomicU64,
    /// Sessions in the shard (due ones not yet reclaimed included).
    pub(crate) sessions: AtomicU64,
}

// Written only under the shard lock, so load + store cannot race with another writer;
// saturating keeps an accounting slip from wrapping into a huge number.
impl ShardStats {
    /// Adds `added` and subtracts `freed` bytes in one step.
    #[inline]
    pub(crate) fn account(&self, added: u64, freed: u64) {
        let v = self.bytes.load(Ordering::Relaxed);
        self.bytes.store(
            v.saturating_add(added).saturating_sub(freed),
            Ordering::Relaxed,
        );
    }

    /// Counts one more session, of `bytes`.
    pub(crate) fn add_session(&self, bytes: u64) {
        let v = self.sessions.load(Ordering::Relaxed);
        self.sessions.store(v.saturating_add(1), Ordering::Relaxed);
        self.account(bytes, 0);
    }

    /// Counts one session of `bytes` fewer.
    pub(crate) fn sub_session(&self, bytes: u64) {
        let v = self.sessions.load(Ordering::Relaxed);
        self.sessions.store(v.saturating_sub(1), Ordering::Relaxed);
        self.account(0, bytes);
    }
}

/// What a shard lock protects.
pub(crate) struct ShardInner {
    /// The shard's sessions, boxed: a slot costs 8 bytes, and the table's spare slots (it is
    /// between half and seven eighths full) and the old tables it leaves behind as it grows
    /// cost as little.
    pub(crate) table: HashTable<Box<Session>>,
    pub(crate) index: DeadlineIndex,
}

/// One shard; aligned to keep neighbouring shards' locks off the same cache lines.
#[repr(align(128))]
pub(crate) struct Shard {
    pub(crate) inner: Mutex<ShardInner>,
    pub(crate) stats: ShardStats,
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
        match cmd {
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
            } => self.sh_new(expiry, name.as_deref(), shared, now_ms),
            Command::ShOpen { name } => self.sh_open(&name, now_ms),
            Command::ShEnd { tkn } => self.sh_end(tkn, now_ms),
            Command::ShEndAll => self.sh_end_all(now_ms),
            Command::ShExists { tkns } => self.sh_exists(tkns, now_ms),
            Command::ShInfo { tkn } => self.sh_info(tkn, now_ms),
            Command::ShInfoAll => {
                let (sessions, keys) = self.session_totals(now_ms);
                Outcome::InfoAll { sessions, keys }
            }
            Command::ShSet { tkn, keys } => self.sh_set(tkn, keys, now_ms),
            Command::ShAdd { tkn, keys } => self.sh_add(tkn, keys, now_ms),
            Command::ShGet { tkn, keys } => self.sh_get(tkn, &keys, now_ms, sink),
            Command::ShRmv { tkn, keys } => self.sh_rmv(tkn, keys, now_ms),
            Command::ShContains { tkn, keys } => self.sh_contains(tkn, &keys, now_ms),
            Command::ShCount { tkn } => self.sh_count(tkn, now_ms),
            Command::ShKeys { tkn } => self.sh_keys(tkn, now_ms),
            Command::ShClear { tkn } => self.sh_clear(tkn, now_ms),
            Command::ShClearSet { tkn, keys } => self.sh_clear_set(tkn, keys, now_ms),
            Command::Stats => {
                let (sessions, session_keys) = self.session_totals(now_ms);
                let kv_keys = self.top_level.map.lock().len() as u64;
                Outcome::Stats {
                    sessions,
                    keys: session_keys + kv_keys,
                }
            }
        }
    }

    /// Reclaims sessions past their deadline with bounded work per shard lock hold; returns how
    /// many sessions were deleted or emptied.
    pub fn sweep_expired(&self, now_ms: u64) -> usize {
        self.sweep_expired_report(now_ms).reclaimed
    }

    /// [`Store::sweep_expired`], also reporting how long it held shard locks (for metrics and
    /// measurements; timing costs one clock read per lock hold).
    pub fn sweep_expired_report(&self, now_ms: u64) -> SweepReport {
        let mut report = SweepReport::default();
        let mut reclaimed = 0;
        for shard in self.shards.iter() {
            loop {
                // Declared before the guard so that it is dropped after the lock is released.
                let mut garbage: Vec<Data> = Vec::new();
                let full_batch;
                {
                    let mut guard = shard.inner.lock();
                    let held_since = Instant::now();
                    let ShardInner { table, index } = &mut *guard;
                    let mut popped = 0;
                    while popped < SWEEP_BATCH {
                        let Some((indexed, tkn)) = index.pop_due(now_ms) else {
                            break;
                        };
                        popped += 1;
                        let h = self.hash(tkn);
                        let Ok(mut entry) = table.find_entry(h, |e| e.tkn == tkn) else {
                            continue; // ended since: a stale entry
                        };
                        let s: &mut Session = entry.get_mut();
                        if s.indexed_ms != indexed {
                            continue; // a stale entry of an earlier session with this token
                        }
                        s.indexed_ms = u64::MAX;
                        let mut freed = None;
                        if let Some(entry) = self.apply_due(&shard.stats, entry, now_ms, &mut freed)
                        {
                            // Extended since it was filed, or emptied and re-armed: file it again.
                            index.file(entry.into_mut());
                        }
                        if let Some(data) = freed {
                            garbage.push(data);
                            reclaimed += 1;
                        }
                    }
                    full_batch = popped == SWEEP_BATCH;
                    if !full_batch {
                        if index.needs_compaction(table.len()) {
                            index.rebuild(table.iter_mut().map(|s| &mut **s));
                        }
                        index.shrink_if_sparse();
                    }
                    report.lock_holds += 1;
                    report.longest_hold = report.longest_hold.max(held_since.elapsed());
                }
                drop(garbage);
                if !full_batch {
                    break;
                }
            }
        }
        report.reclaimed = reclaimed;
        report
    }

    /// Number of shards, for [`Store::snapshot_shard`].
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Every live session of shard `i` (or those whose token is in `filter`), each in one
    /// consistent state; due sessions are expired first (and those changes recorded). Returns
    /// nothing for an `i` out of range.
    pub fn snapshot_shard(
        &self,
        i: usize,
        now_ms: u64,
        filter: Option<&HashSet<Token>>,
    ) -> Vec<SessionRecord> {
        // The same chunked path as a save, so no caller ever holds a shard's lock for all of it.
        let tkns = self.shard_tokens(i, filter);
        let mut records = Vec::with_capacity(tkns.len());
        for chunk in tkns.chunks(SWEEP_BATCH) {
            self.visit_sessions(i, chunk, now_ms, |tkn, s| {
                records.push(SessionRecord::capture(tkn, s));
            });
        }
        records
    }

    /// The tokens of shard `i`'s sessions (only those in `filter`, when given), copied under one
    /// short lock hold, for [`Store::visit_sessions`]. Due sessions are included (visiting
    /// expires them). Empty for an `i` out of range.
    pub fn shard_tokens(&self, i: usize, filter: Option<&HashSet<Token>>) -> Vec<Token> {
        let Some(shard) = self.shards.get(i) else {
            return Vec::new();
        };
        let guard = shard.inner.lock();
        match filter {
            None => guard.table.iter().map(|s| s.tkn).collect(),
            Some(f) => guard
                .table
                .iter()
                .map(|s| s.tkn)
                .filter(|tkn| f.contains(tkn))
                .collect(),
        }
    }

    /// Calls `visit` with each live session among `tkns` (tokens of shard `i`, normally a chunk
    /// of [`Store::shard_tokens`]), all under one hold of that shard's lock, so each session is
    /// seen in one consistent state (§7.2) and the caller bounds the hold by the chunk's size.
    /// Due sessions are expired first (and those changes recorded); tokens no longer present are
    /// skipped. Returns how many sessions were visited.
    pub fn visit_sessions(
        &self,
        i: usize,
        tkns: &[Token],
        now_ms: u64,
        mut visit: impl FnMut(Token, &Session),
    ) -> usize {
        let Some(shard) = self.shards.get(i) else {
            return 0;
        };
        let mut garbage: Vec<Data> = Vec::new();
        let mut visited = 0;
        {
            let mut guard = shard.inner.lock();
            let inner = &mut *guard;
            for &tkn in tkns {
                let mut freed = None;
                let h = self.hash(tkn);
                if let Some(s) = self.live_mut(&mut inner.table, shard, h, tkn, now_ms, &mut freed)
                {
                    visit(tkn, s);
                    visited += 1;
                }
                garbage.extend(freed);
            }
        }
        // Freed keys are dropped after the lock is released.
        drop(garbage);
        visited
    }

    /// Every top-level key and value (in no particular order), as one consistent snapshot.
    pub fn snapshot_kv(&self) -> Vec<(String, Value)> {
        // Copied a part per lock hold, made owned with no lock held.
        kv_map::snapshot(&self.top_level.map, true).entries()
    }

    /// Creates the sessions of `records` (dataset load or journal recovery); returns the numbers
    /// of sessions created and of keys in them.
    ///
    /// A record whose token names a live session (or one created earlier in this call) is
    /// skipped; token 0 is skipped. Limits do not apply. **Journaled**: each created session is
    /// reported to the change sink as `SessionCreated` followed by `ShKeysSet` (when it has
    /// keys); load into a store without a sink to avoid that (recovery).
    pub fn load_sessions(
        &self,
        mut records: Vec<SessionRecord>,
        now_ms: u64,
        arm: Arming,
    ) -> (u64, u64) {
        // Building the sessions (packing their keys) is most of the work: done on every core,
        // each thread taking one contiguous run of records so that record order is kept.
        let threads = parallelism().min(records.len().div_ceil(LOAD_BATCH)).max(1);
        if threads == 1 {
            // A small restore (a short journal, a test) is not worth a thread.
            let part = self.prepare_sessions(records, now_ms, arm);
            return self.insert_prepared(vec![part], now_ms);
        }
        let run = records.len().div_ceil(threads);
        let parts = std::thread::scope(|scope| {
            let handles: Vec<_> = records
                .chunks_mut(run)
                .map(|run| {
                    scope.spawn(move || {
                        let taken = run.iter_mut().map(|rec| SessionRecord {
                            keys: std::mem::take(&mut rec.keys),
                            name: rec.name.take(),
                            ..*rec
                        });
                        self.prepare_sessions(taken, now_ms, arm)
                    })
                })
                .collect();
            handles.into_iter().map(join).collect()
        });
        self.insert_prepared(parts, now_ms)
    }

    /// Builds restored sessions (outside any lock) and groups them by shard, in record order,
    /// for [`Store::insert_prepared`]. Loaders call this on their parser threads.
    pub fn prepare_sessions<K: Into<Data>>(
        &self,
        records: impl IntoIterator<Item = SessionRecord<K>>,
        now_ms: u64,
        arm: Arming,
    ) -> PreparedSessions {
        let mut by_shard: Vec<PreparedBucket> =
            (0..self.shards.len()).map(|_| Vec::new()).collect();
        for rec in records {
            if rec.tkn == 0 {
                continue;
            }
            let h = self.hash(rec.tkn);
            if let Some(bucket) = by_shard.get_mut(self.shard_index(h)) {
                bucket.push((h, restored_session(rec, now_ms, arm)));
            }
        }
        PreparedSessions { by_shard }
    }

    /// Inserts prepared sessions (`parts` in record order) like [`Store::load_sessions`], one
    /// thread per core (for more than one batch's worth) each taking its own shards, in batches
    /// of [`LOAD_BATCH`] per lock hold. Returns sessions and keys created.
    pub fn insert_prepared(&self, parts: Vec<PreparedSessions>, now_ms: u64) -> (u64, u64) {
        let shards = self.shards.len();
        let total: usize = parts
            .iter()
            .flat_map(|part| &part.by_shard)
            .map(Vec::len)
            .sum();
        let threads = parallelism()
            .min(shards)
            .min(total.div_ceil(LOAD_BATCH))
            .max(1);
        // lanes[t]: the shards thread t inserts, each with its buckets in record order.
        let mut lanes: Vec<Vec<(usize, Vec<PreparedBucket>)>> =
            (0..threads).map(|_| Vec::new()).collect();
        let mut per_shard: Vec<Vec<PreparedBucket>> = (0..shards).map(|_| Vec::new()).collect();
        for part in parts {
            for (buckets, bucket) in per_shard.iter_mut().zip(part.by_shard) {
                if !bucket.is_empty() {
                    buckets.push(bucket);
                }
            }
        }
        for (i, buckets) in per_shard.into_iter().enumerate() {
            if let Some(lane) = lanes.get_mut(i % threads) {
                lane.push((i, buckets));
            }
        }
        let insert_lane = |lane: Vec<(usize, Vec<PreparedBucket>)>| {
            let (mut created, mut keys) = (0u64, 0u64);
            for (i, buckets) in lane {
                self.reserve(i, buckets.iter().map(Vec::len).sum());
                for bucket in buckets {
                    let mut recs = bucket.into_iter();
                    while recs.len() > 0 {
                        let (c, k) = self.insert_batch(i, recs.by_ref().take(LOAD_BATCH), now_ms);
                        created += c;
                        keys += k;
                    }
                }
            }
            (created, keys)
        };
        if threads == 1 {
            return lanes.into_iter().map(insert_lane).fold((0, 0), add_pair);
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = lanes
                .into_iter()
                .map(|lane| scope.spawn(move || insert_lane(lane)))
                .collect();
            handles.into_iter().map(join).fold((0, 0), add_pair)
        })
    }

    /// Makes room in shard `i`'s table for `additional` sessions in one go, so that a bulk
    /// insert does not rehash the table several times over while it grows.
    fn reserve(&self, i: usize, additional: usize) {
        if let Some(shard) = self.shards.get(i) {
            shard
                .inner
                .lock()
                .table
                .reserve(additional, |s| self.hasher.hash_one(s.tkn));
        }
    }

    /// Inserts `batch` (sessions of shard `i`, with their hashes) under one lock hold, skipping
    /// tokens already live; returns sessions and keys created. Skipped sessions are dropped after
    /// the lock is released.
    fn insert_batch(
        &self,
        i: usize,
        batch: impl Iterator<Item = (u64, Box<Session>)>,
        now_ms: u64,
    ) -> (u64, u64) {
        let Some(shard) = self.shards.get(i) else {
            return (0, 0);
        };
        let (mut created, mut keys) = (0u64, 0u64);
        let mut garbage: Vec<Box<Session>> = Vec::new();
        let mut freed: Vec<Data> = Vec::new();
        let journaling = self.journaling();
        let mut guard = shard.inner.lock();
        let inner = &mut *guard;
        for (h, s) in batch {
            let tkn = s.tkn;
            let mut gone = None;
            let live = self
                .live_mut(&mut inner.table, shard, h, tkn, now_ms, &mut gone)
                .is_some();
            freed.extend(gone);
            if live {
                garbage.push(s);
                continue;
            }
            created += 1;
            keys += s.data.len() as u64;
            if journaling {
                self.record(&Change::SessionCreated {
                    tkn,
                    shared: s.shared,
                    name: s.name(),
                    expiry: s.expiry(),
                    deadline_ms: s.deadline_ms,
                });
                if !s.data.is_empty() {
                    let entries: Vec<(Cow<'_, str>, Value)> = s
                        .data
                        .iter()
                        .map(|(k, v)| (Cow::Borrowed(k), Value::from_json_unchecked(v)))
                        .collect();
                    self.record(&Change::ShKeysSet {
                        tkn,
                        entries: &entries,
                    });
                }
            }
            self.insert_new(inner, shard, h, s);
        }
        drop(guard);
        drop(garbage);
        drop(freed);
        (created, keys)
    }

    /// Stores top-level `entries`, overwriting keys of the same name (`KV_LOAD`); returns how many
    /// entries were stored. Limits do not apply. **Journaled** as one `KvSet` when a sink is set.
    pub fn kv_load(&self, entries: Vec<(String, Value)>) -> u64 {
        let entries: Vec<(Cow<'static, str>, Value)> = entries
            .into_iter()
            .map(|(k, v)| (Cow::Owned(k), v))
            .collect();
        let count = entries.len() as u64;
        self.edit_top_level(Edit::Set(&entries));
        count
    }

    /// Approximate bytes of stored data (sessions, their keys and top-level keys).
    pub fn stored_bytes(&self) -> u64 {
        self.shard_bytes() + self.top_level.bytes.load(Ordering::Relaxed)
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
    fn shard_index(&self, hash: u64) -> usize {
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

    /// The live session `tkn` in `table` (of the locked `shard`), applying a due expiry first
    /// (§9.4). Freed keys are moved into `freed` so the caller drops them after unlocking.
    pub(crate) fn live_mut<'i>(
        &self,
        table: &'i mut HashTable<Box<Session>>,
        shard: &Shard,
        hash: u64,
        tkn: Token,
        now_ms: u64,
        freed: &mut Option<Data>,
    ) -> Option<&'i mut Session> {
        let entry = table.find_entry(hash, |e| e.tkn == tkn).ok()?;
        // An emptied session's deadline moved later: its index entry still covers it.
        let entry = self.apply_due(&shard.stats, entry, now_ms, freed)?;
        Some(&mut **entry.into_mut())
    }

    /// Applies a due expiry (§9.3) to the session `entry` holds: the one place an expiry takes
    /// effect, whether the sweep meets the session first or a command does. A session without
    /// `deleteSession` is emptied and re-armed, and its entry is returned; one with it is
    /// deleted (`None`). The keys freed are left in `freed` (set whenever the expiry acted), for
    /// the caller to drop after releasing the lock.
    pub(crate) fn apply_due<'t>(
        &self,
        stats: &ShardStats,
        mut entry: OccupiedEntry<'t, Box<Session>>,
        now_ms: u64,
        freed: &mut Option<Data>,
    ) -> Option<OccupiedEntry<'t, Box<Session>>> {
        let tkn = entry.get().tkn;
        match expiry::check(entry.get_mut(), now_ms) {
            Checked::Live => Some(entry),
            Checked::Emptied(data) => {
                stats.account(0, data.bytes());
                self.record(&Change::SessionEmptied {
                    tkn,
                    rearmed_deadline_ms: entry.get().deadline_ms,
                });
                *freed = Some(data);
                Some(entry)
            }
            Checked::Expired => {
                *freed = Some(self.remove_session(stats, entry, &Change::SessionExpired { tkn }));
                None
            }
        }
    }

    /// Deletes the session `entry` holds (of the shard counted in `stats`) and records `change`,
    /// which says why. Returns its keys, for the caller to drop after releasing the lock.
    pub(crate) fn remove_session(
        &self,
        stats: &ShardStats,
        entry: OccupiedEntry<'_, Box<Session>>,
        change: &Change<'_>,
    ) -> Data {
        let (gone, _) = entry.remove();
        stats.sub_session(session_cost(&gone));
        self.record(change);
        gone.data
    }

    /// Inserts a session known to be absent from `inner` (the locked `shard`); `hash` is its
    /// token's. Boxed by the caller, so that the allocation can happen before the lock is taken.
    pub(crate) fn insert_new(
        &self,
        inner: &mut ShardInner,
        shard: &Shard,
        hash: u64,
        mut s: Box<Session>,
    ) {
        shard.stats.add_session(session_cost(&s));
        inner.index.file(&mut s);
        inner
            .table
            .insert_unique(hash, s, |e| self.hasher.hash_one(e.tkn));
    }
}

/// Sessions inserted per shard lock hold by [`Store::load_sessions`].
const LOAD_BATCH: usize = 512;

/// Sessions of one shard from one [`PreparedSessions`], in record order, with their hashes.
type PreparedBucket = Vec<(u64, Box<Session>)>;

/// Restored sessions built and grouped by shard ([`Store::prepare_sessions`]), waiting to be
/// inserted ([`Store::insert_prepared`]).
pub struct PreparedSessions {
    by_shard: Vec<PreparedBucket>,
}

/// Threads for bulk work: one per core.
fn parallelism() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A scoped thread's result, its panic carried on to the caller.
fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn add_pair(a: (u64, u64), b: (u64, u64)) -> (u64, u64) {
    (a.0 + b.0, a.1 + b.1)
}

/// The session a restored record becomes (built outside any lock), armed as `arm` says.
fn restored_session<K: Into<Data>>(
    rec: SessionRecord<K>,
    now_ms: u64,
    arm: Arming,
) -> Box<Session> {
    // A session that never expires keeps no flags (§13.7).
    let expiry = if rec.expiry.duration_secs == 0 {
        Expiry::default()
    } else {
        rec.expiry
    };
    let deadline_ms = match arm {
        _ if expiry.duration_secs == 0 => u64::MAX,
        Arming::FromDuration => expiry::arm(now_ms, expiry.duration_secs),
        Arming::KeepDeadline => rec.deadline_ms,
    };
    Box::new(Session::new(
        rec.tkn,
        rec.shared,
        rec.name.map(String::into_boxed_str),
        expiry,
        deadline_ms,
        rec.keys.into(),
    ))
}

/// Approximate bytes a session costs, keys included.
pub(crate) fn session_cost(s: &Session) -> u64 {
    session::session_bytes(s.name()) + s.data.bytes()
}
