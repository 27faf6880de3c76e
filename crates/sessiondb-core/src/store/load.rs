//! Bulk creation of sessions and top-level keys: dataset loads and journal recovery.

use std::borrow::Cow;
use std::hash::BuildHasher;

use super::Store;
use crate::base::{Expiry, Token};
use crate::change::Change;
use crate::command::edit::Edit;
use crate::expiry;
use crate::session::{Data, Session};
use crate::value::Value;

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
    /// Its owner, if any.
    pub owner: Option<String>,
    /// The version of its keys (≥ 1).
    pub ver: u32,
    /// Whether a client has been shown the version (datasets keep it only then).
    pub ver_shown: bool,
    /// Expiry settings (`duration_secs == 0`: never expires, flags false).
    pub expiry: Expiry,
    /// Its deadline in Unix ms (`u64::MAX` when it never expires).
    pub deadline_ms: u64,
    /// Its keys, in stored order.
    pub keys: K,
    /// Deadlines (Unix ms) of some of its keys (E9), in no particular order; a key it does not
    /// hold is ignored.
    pub key_deadlines: Vec<(String, u64)>,
}

impl SessionRecord {
    /// An owned copy of session `tkn` as it is now.
    pub fn capture(tkn: Token, s: &Session) -> Self {
        Self {
            tkn,
            shared: s.shared,
            name: s.name().map(str::to_owned),
            owner: s.owner().map(str::to_owned),
            ver: s.version(),
            ver_shown: s.version_shown(),
            expiry: s.expiry(),
            deadline_ms: s.deadline_ms,
            keys: s
                .data
                .iter()
                .map(|(k, v)| (k.to_owned(), Value::from_json_unchecked(v)))
                .collect(),
            key_deadlines: s.data.key_deadlines().map_or_else(Vec::new, |d| {
                d.iter().map(|(k, t)| (k.to_owned(), t)).collect()
            }),
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

impl Store {
    /// Creates the sessions of `records` (dataset load or journal recovery); returns the numbers
    /// of sessions created and of keys in them.
    ///
    /// A record whose token names a live session (or one created earlier in this call) is
    /// skipped; token 0 is skipped. Limits do not apply. A session keeps the record's version.
    /// **Journaled**: each created session is reported to the change sink as `SessionCreated`,
    /// `ShKeysSet` (when it has keys) and `Version`; load into a store without a sink to avoid
    /// that (recovery).
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
                            key_deadlines: std::mem::take(&mut rec.key_deadlines),
                            owner: rec.owner.take(),
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
            // Keys restored past their deadline are never visible, so they are not counted.
            keys += s.data.live_len(now_ms) as u64;
            if journaling {
                self.record(&Change::SessionCreated {
                    tkn,
                    shared: s.shared,
                    name: s.name(),
                    owner: s.owner(),
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
                if let Some(d) = s.data.key_deadlines() {
                    let deadlines: Vec<(Cow<'_, str>, Option<u64>)> =
                        d.iter().map(|(k, t)| (Cow::Borrowed(k), Some(t))).collect();
                    self.record(&Change::KeyDeadlines {
                        tkn,
                        deadlines: &deadlines,
                    });
                }
                self.record(&Change::Version {
                    tkn,
                    ver: s.version(),
                    shown: s.version_shown(),
                });
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
        self.edit_top_level(Edit::Load(&entries));
        count
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
    let mut data: Data = rec.keys.into();
    for (k, d) in &rec.key_deadlines {
        data.set_key_deadline(k, Some(*d));
    }
    let mut s = Box::new(Session::new(
        rec.tkn,
        rec.shared,
        rec.name.map(String::into_boxed_str),
        expiry,
        deadline_ms,
        data,
    ));
    s.set_owner(rec.owner.map(String::into_boxed_str));
    s.restore_version(rec.ver, rec.ver_shown);
    s
}
