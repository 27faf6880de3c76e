//! Where sessions enter and leave a shard: insertion, the due expiry, deletion, each with its
//! accounting and its journal record.

use std::hash::BuildHasher;

use hashbrown::hash_table::OccupiedEntry;
use hashbrown::HashTable;

use super::{Shard, ShardInner, ShardStats, Store};
use crate::base::Token;
use crate::change::Change;
use crate::expiry::{self, Checked};
use crate::session::{self, Data, Session};

impl Store {
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
        if let Some(owner) = gone.owner() {
            self.owners.remove(owner, gone.tkn);
        }
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
        if let Some(owner) = s.owner() {
            self.owners.insert(owner, s.tkn);
        }
        inner.index.file(&mut s);
        inner
            .table
            .insert_unique(hash, s, |e| self.hasher.hash_one(e.tkn));
    }
}

/// Bytes a session costs, keys included.
pub(crate) fn session_cost(s: &Session) -> u64 {
    session::session_bytes(s.name(), s.owner(), s.expiry().duration_secs > 0) + s.data.bytes()
}
