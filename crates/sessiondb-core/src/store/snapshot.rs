//! Consistent copies of sessions and top-level keys, for saves and the journal's snapshots: each
//! taken in bounded lock holds.

use std::collections::HashSet;

use super::{SessionRecord, Store, SWEEP_BATCH};
use crate::base::Token;
use crate::kv_map;
use crate::session::{Data, Session};
use crate::value::Value;

impl Store {
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
                    self.expire_keys_of(s, &mut inner.index, &shard.stats, now_ms);
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
}
