//! One shard of sessions: its lock, what the lock protects, and counters readable without it.

use std::sync::atomic::{AtomicU64, Ordering};

use hashbrown::HashTable;
use parking_lot::Mutex;

use crate::expiry::DeadlineIndex;
use crate::session::Session;

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
