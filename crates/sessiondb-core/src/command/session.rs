//! `SH_` commands (`docs/PROTOCOL.md` §11) and the session counts of `SV_INFO`.
//!
//! A command naming one session locks that session's shard only. Every lookup applies a due
//! expiry first (§9.4), so a session past its deadline is never visible.

use std::sync::atomic::Ordering;

use crate::base::{Expiry, Token};
use crate::change::Change;
use crate::command::edit::{Edit, Keyspace, Written};
use crate::command::kv::{contains, values};
use crate::command::{Entries, Keys, Outcome, SessionInfo, ValueSink, VersionCheck};
use crate::expiry::{self, DeadlineIndex};
use crate::session::{session_bytes, Data, Session};
use crate::store::{Limits, ShardInner, ShardStats, Store};
use crate::token;
use crate::value::Value;

/// A live session under its shard lock, as a session command sees it.
pub(crate) struct LiveSession<'a> {
    pub(crate) tkn: Token,
    pub(crate) now_ms: u64,
    pub(crate) s: &'a mut Session,
    pub(crate) index: &'a mut DeadlineIndex,
    pub(crate) stats: &'a ShardStats,
    /// Keys freed by the command, dropped after the lock is released.
    pub(crate) freed: &'a mut Option<Data>,
}

impl LiveSession<'_> {
    /// Re-arms the session to `now + duration` (§9.5) and records it. Extending changes only the
    /// deadline, never the data.
    fn extend(&mut self, store: &Store) {
        let duration_secs = self.s.expiry().duration_secs;
        if duration_secs == 0 {
            return;
        }
        self.s.deadline_ms = expiry::arm(self.now_ms, duration_secs);
        // Only a clock that went back makes this earlier than the index entry; `file` handles it.
        self.index.file(self.s);
        store.record(&Change::Rearmed {
            tkn: self.tkn,
            deadline_ms: self.s.deadline_ms,
        });
    }
}

/// A request's version members and, once the session was found, the version to report.
pub(crate) struct Versioned {
    check: VersionCheck,
    /// The session's version after the command, when `check` reports it.
    pub(crate) seen: Option<u32>,
}

impl Versioned {
    /// Nothing seen yet.
    pub(crate) fn new(check: VersionCheck) -> Self {
        Self { check, seen: None }
    }

    /// Whether `s` is at a version other than `ifVer` asks for.
    fn mismatch(&self, s: &Session) -> bool {
        self.check.mismatches(s.version())
    }

    /// Reports the version of `s` (the live session `tkn`) to the client: kept for the reply,
    /// and on its first showing recorded, so that datasets and the journal keep it from then on.
    fn show(&mut self, store: &Store, tkn: Token, s: &mut Session) {
        self.seen = Some(s.version());
        if s.show_version() {
            store.record(&Change::Version {
                tkn,
                ver: s.version(),
                shown: true,
            });
        }
    }
}

impl Keyspace for LiveSession<'_> {
    fn len(&self) -> usize {
        self.s.data.len()
    }

    fn value_len(&self, key: &str) -> Option<usize> {
        self.s.data.get(key).map(str::len)
    }

    fn set(&mut self, key: &str, value: &Value) -> Option<usize> {
        self.s.data.set(key, value)
    }

    fn add(&mut self, key: &str, value: &Value) -> bool {
        self.s.data.add(key, value)
    }

    fn remove(&mut self, key: &str) -> Option<usize> {
        self.s.data.remove(key)
    }

    fn bytes(&self) -> u64 {
        self.s.data.bytes()
    }

    fn reserve(&mut self, additional: usize) {
        self.s.data.reserve(additional);
    }

    fn take_all(&mut self) -> u64 {
        let data = self.s.data.take();
        let n = data.len() as u64;
        self.stats.account(0, data.bytes());
        if !data.is_empty() {
            *self.freed = Some(data);
        }
        n
    }

    #[inline]
    fn account(&self, added: u64, freed: u64) {
        self.stats.account(added, freed);
    }

    fn max_keys(&self, limits: &Limits) -> Option<u64> {
        limits.max_keys_per_session
    }

    #[inline]
    fn before_write(&mut self, store: &Store) {
        if self.s.expiry().extend_on_set_add {
            self.extend(store);
        }
    }

    #[inline]
    fn bump_version(&mut self) {
        self.s.bump_version();
    }

    fn change<'c>(&self, written: Written<'c>) -> Change<'c> {
        let tkn = self.tkn;
        match written {
            Written::Set(entries) => Change::ShKeysSet { tkn, entries },
            Written::Removed(keys) => Change::ShKeysRemoved { tkn, keys },
            Written::Cleared => Change::ShCleared { tkn },
            Written::ClearSet(entries) => Change::ShClearSet { tkn, entries },
        }
    }
}

impl Store {
    /// Runs `f` on the live session `tkn` under its shard lock, its keys past their deadline
    /// removed first; `None` when there is none.
    pub(crate) fn with_session<R>(
        &self,
        tkn: Option<Token>,
        now_ms: u64,
        f: impl FnOnce(&mut LiveSession<'_>) -> R,
    ) -> Option<R> {
        let tkn = tkn?;
        let h = self.hash(tkn);
        let shard = self.shard_of(h);
        // Declared before the guard so freed keys are dropped after the lock is released.
        let mut freed: Option<Data> = None;
        let mut guard = shard.inner.lock();
        let ShardInner { table, index } = &mut *guard;
        let s = self.live_mut(table, shard, h, tkn, now_ms, &mut freed)?;
        let mut live = LiveSession {
            tkn,
            now_ms,
            s,
            index,
            stats: &shard.stats,
            freed: &mut freed,
        };
        self.expire_keys(&mut live);
        Some(f(&mut live))
    }

    /// Runs `f` on the live session `tkn` as [`Store::with_session`] does, under the request's
    /// version members: a session at another version than `ifVer` is left untouched (nothing
    /// changes, not even its deadline), and the version after `f` is reported when asked for.
    pub(super) fn with_checked(
        &self,
        tkn: Option<Token>,
        now_ms: u64,
        ver: &mut Versioned,
        f: impl FnOnce(&mut LiveSession<'_>) -> Outcome,
    ) -> Outcome {
        self.with_session(tkn, now_ms, |live| {
            if !ver.check.reports() {
                return f(live);
            }
            let outcome = if ver.mismatch(live.s) {
                Outcome::VersionMismatch
            } else {
                f(live)
            };
            ver.show(self, live.tkn, live.s);
            outcome
        })
        .unwrap_or(Outcome::NoSession { tkn })
    }

    /// Applies `edit` to the live session `tkn` ([`Store::edit`]).
    fn edit_session(
        &self,
        tkn: Option<Token>,
        edit: Edit<'_>,
        now_ms: u64,
        ver: &mut Versioned,
    ) -> Outcome {
        self.with_checked(tkn, now_ms, ver, |live| self.edit(live, edit))
    }

    /// `SH_NEW` (§11.1).
    pub(crate) fn sh_new(
        &self,
        expiry: Option<Expiry>,
        name: Option<&str>,
        shared: bool,
        owner: Option<Box<str>>,
        now_ms: u64,
    ) -> Outcome {
        // §9.1: no expiry, or duration 0, never expires and discards the flags.
        let expiry = expiry.filter(|e| e.duration_secs > 0).unwrap_or_default();
        if let Some(max) = self.limits.max_sessions {
            if self.session_count_estimate() >= max {
                return Outcome::LimitReached;
            }
        }
        if !self.memory_allows(session_bytes(
            name,
            owner.as_deref(),
            expiry.duration_secs > 0,
        )) {
            return Outcome::LimitReached;
        }
        // Allocated before any lock is taken; its token is set once drawn.
        let mut s = Box::new(Session::new(
            0,
            shared,
            name.map(Box::from),
            expiry,
            expiry::arm(now_ms, expiry.duration_secs),
            Data::default(),
        ));
        s.set_owner(owner);
        let mut garbage: Option<Data> = None;
        let (tkn, h, shard, mut guard) = if shared {
            // proto guarantees a non-empty name for shared sessions.
            let tkn = token::shared_token(name.unwrap_or_default());
            let h = self.hash(tkn);
            let shard = self.shard_of(h);
            let mut guard = shard.inner.lock();
            if self
                .live_mut(&mut guard.table, shard, h, tkn, now_ms, &mut garbage)
                .is_some()
            {
                return Outcome::NameTaken;
            }
            (tkn, h, shard, guard)
        } else {
            // §8.2: redraw while the token names an existing session; the check and the insert
            // happen under the same lock.
            loop {
                let tkn = token::random_token();
                let h = self.hash(tkn);
                let shard = self.shard_of(h);
                let guard = shard.inner.lock();
                if guard.table.find(h, |e| e.tkn == tkn).is_none() {
                    break (tkn, h, shard, guard);
                }
            }
        };
        s.tkn = tkn;
        self.record(&Change::SessionCreated {
            tkn,
            shared,
            name: s.name(),
            owner: s.owner(),
            expiry,
            deadline_ms: s.deadline_ms,
        });
        self.insert_new(&mut guard, shard, h, s);
        drop(guard);
        drop(garbage);
        Outcome::Created { tkn }
    }

    /// `SH_OPEN` (§11.2): a live shared session whose token derives from `name`.
    pub(crate) fn sh_open(&self, name: &str, now_ms: u64) -> Outcome {
        let tkn = token::shared_token(name);
        self.with_session(Some(tkn), now_ms, |live| live.s.shared)
            .filter(|&shared| shared)
            .map_or(Outcome::OpenFailed, |_| Outcome::Opened { tkn })
    }

    /// `SH_END` (§11.4); the version reported is the one the session ended at.
    pub(crate) fn sh_end(&self, tkn: Option<Token>, now_ms: u64, ver: &mut Versioned) -> Outcome {
        let Some(t) = tkn else {
            return Outcome::NoSession { tkn: None };
        };
        let h = self.hash(t);
        let shard = self.shard_of(h);
        // Declared before the guard so freed keys are dropped after the lock is released.
        let (mut expired, mut ended): (Option<Data>, Option<Data>) = (None, None);
        let mut guard = shard.inner.lock();
        let ShardInner { table, index } = &mut *guard;
        let mut mismatch = false;
        if let Ok(entry) = table.find_entry(h, |e| e.tkn == t) {
            if let Some(mut entry) = self.apply_due(&shard.stats, entry, now_ms, &mut expired) {
                if ver.check.reports() {
                    // The version it is compared at and ends at counts the expiry of keys due
                    // now, as every other lookup does (without version members, the keys go
                    // with the session anyway).
                    self.expire_keys_of(entry.get_mut(), index, &shard.stats, now_ms);
                    mismatch = ver.mismatch(entry.get());
                    if mismatch {
                        ver.show(self, t, entry.get_mut());
                    } else {
                        ver.seen = Some(entry.get().version());
                    }
                }
                if !mismatch {
                    let change = Change::SessionEnded { tkn: t };
                    ended = Some(self.remove_session(&shard.stats, entry, &change));
                }
            }
        }
        drop(guard);
        match ended {
            Some(_) => Outcome::Ended { tkn: t },
            None if mismatch => Outcome::VersionMismatch,
            None => Outcome::NoSession { tkn },
        }
    }

    /// `SH_END_ALL` (§11.8): shard by shard, each shard emptied in one step.
    pub(crate) fn sh_end_all(&self, now_ms: u64) -> Outcome {
        let mut count = 0u64;
        for shard in self.shards.iter() {
            let (table, index) = {
                let mut guard = shard.inner.lock();
                let table = std::mem::take(&mut guard.table);
                let index = std::mem::take(&mut guard.index);
                shard.stats.sessions.store(0, Ordering::Relaxed);
                shard.stats.bytes.store(0, Ordering::Relaxed);
                for owner in table.iter().filter_map(|s| s.owner().map(|o| (o, s.tkn))) {
                    self.owners.remove(owner.0, owner.1);
                }
                if self.journaling() && !table.is_empty() {
                    let tkns: Vec<Token> = table.iter().map(|s| s.tkn).collect();
                    self.record(&Change::EndAll { tkns: &tkns });
                }
                (table, index)
            };
            // Counted and freed outside the lock: the sessions are already invisible, and their
            // state was fixed when they were taken out.
            count += table
                .iter()
                .filter(|s| !(expiry::is_due(s, now_ms) && s.expiry().delete_session))
                .count() as u64;
            drop((table, index));
        }
        Outcome::Count(count)
    }

    /// `SH_EXISTS` (§11.5): the tokens naming live sessions, in request order.
    pub(crate) fn sh_exists(&self, tkns: Vec<Token>, now_ms: u64) -> Outcome {
        let mut tkns = tkns;
        tkns.retain(|&t| {
            let h = self.hash(t);
            let guard = self.shard_of(h).inner.lock();
            guard
                .table
                .find(h, |s| s.tkn == t)
                .is_some_and(|s| !(expiry::is_due(s, now_ms) && s.expiry().delete_session))
        });
        Outcome::Exist(tkns)
    }

    /// `SH_INFO` (§11.6).
    pub(crate) fn sh_info(&self, tkn: Option<Token>, now_ms: u64, ver: &mut Versioned) -> Outcome {
        self.with_checked(tkn, now_ms, ver, |live| {
            let s = &*live.s;
            let e = s.expiry();
            Outcome::Info(Box::new(SessionInfo {
                tkn: live.tkn,
                shared: s.shared,
                key_count: s.data.len() as u64,
                name: s.name().map(str::to_owned),
                expiry: (e.duration_secs > 0).then(|| (e, expiry::remaining_secs(s, now_ms))),
                owner: s.owner().map(str::to_owned),
            }))
        })
    }

    /// Live sessions and the keys they hold, shard by shard, without changing anything: a due
    /// session counts as absent (`deleteSession`) or empty, exactly as expiring it would leave it.
    pub(crate) fn session_totals(&self, now_ms: u64) -> (u64, u64) {
        let (mut sessions, mut keys) = (0u64, 0u64);
        for shard in self.shards.iter() {
            let guard = shard.inner.lock();
            for s in guard.table.iter() {
                if !expiry::is_due(s, now_ms) {
                    sessions += 1;
                    keys += s.data.live_len(now_ms) as u64;
                } else if !s.expiry().delete_session {
                    sessions += 1;
                }
            }
        }
        (sessions, keys)
    }

    /// `SH_SET`.
    pub(crate) fn sh_set(
        &self,
        tkn: Option<Token>,
        entries: Entries<'_>,
        now_ms: u64,
        ver: &mut Versioned,
    ) -> Outcome {
        self.edit_session(tkn, Edit::Set(&entries), now_ms, ver)
    }

    /// `SH_ADD`.
    pub(crate) fn sh_add(
        &self,
        tkn: Option<Token>,
        entries: Entries<'_>,
        now_ms: u64,
        ver: &mut Versioned,
    ) -> Outcome {
        self.edit_session(tkn, Edit::Add(&entries), now_ms, ver)
    }

    /// `SH_GET`: extends with `extendOnGet` whatever the keys (§9.5); the values go to `sink`
    /// under the shard lock.
    pub(crate) fn sh_get(
        &self,
        tkn: Option<Token>,
        keys: &Keys<'_>,
        now_ms: u64,
        sink: &mut dyn ValueSink,
        ver: &mut Versioned,
    ) -> Outcome {
        self.with_checked(tkn, now_ms, ver, |live| {
            if live.s.expiry().extend_on_get {
                live.extend(self);
            }
            let data = &live.s.data;
            Outcome::ValuesSent(values(keys, |k| data.get(k), sink))
        })
    }

    /// `SH_RMV`.
    pub(crate) fn sh_rmv(
        &self,
        tkn: Option<Token>,
        keys: Keys<'_>,
        now_ms: u64,
        ver: &mut Versioned,
    ) -> Outcome {
        self.edit_session(tkn, Edit::Remove(&keys), now_ms, ver)
    }

    /// `SH_CONTAINS`.
    pub(crate) fn sh_contains(
        &self,
        tkn: Option<Token>,
        keys: &Keys<'_>,
        now_ms: u64,
        ver: &mut Versioned,
    ) -> Outcome {
        self.with_checked(tkn, now_ms, ver, |live| {
            Outcome::Contains(contains(keys, |k| live.s.data.contains(k)))
        })
    }

    /// `SH_COUNT`.
    pub(crate) fn sh_count(&self, tkn: Option<Token>, now_ms: u64, ver: &mut Versioned) -> Outcome {
        self.with_checked(tkn, now_ms, ver, |live| {
            Outcome::Count(live.s.data.len() as u64)
        })
    }

    /// `SH_KEYS`.
    pub(crate) fn sh_keys(&self, tkn: Option<Token>, now_ms: u64, ver: &mut Versioned) -> Outcome {
        self.with_checked(tkn, now_ms, ver, |live| {
            Outcome::KeyList(live.s.data.iter().map(|(k, _)| k.to_owned()).collect())
        })
    }

    /// `SH_CLEAR`: empties the map; the deadline stays (§9.7).
    pub(crate) fn sh_clear(&self, tkn: Option<Token>, now_ms: u64, ver: &mut Versioned) -> Outcome {
        self.edit_session(tkn, Edit::Clear, now_ms, ver)
    }

    /// `SH_CLEAR_SET`: replaces the map; never extends (§9.5).
    pub(crate) fn sh_clear_set(
        &self,
        tkn: Option<Token>,
        entries: Entries<'_>,
        now_ms: u64,
        ver: &mut Versioned,
    ) -> Outcome {
        self.edit_session(tkn, Edit::ClearSet(&entries), now_ms, ver)
    }

    /// `SH_OWNER_LIST`: the owner's sessions that are live now, ascending.
    pub(crate) fn sh_owner_list(&self, owner: &str, now_ms: u64) -> Outcome {
        match self.sh_exists(self.owners.tokens(owner), now_ms) {
            Outcome::Exist(tkns) => Outcome::OwnerSessions(tkns),
            other => other,
        }
    }

    /// `SH_OWNER_END`: ends every session of `owner` in one step, holding the locks of every
    /// shard that holds one of them while it ends them all, so no client sees some ended and
    /// others not. Every session the owner had when the call began is ended; one created while
    /// it waited for a lock may be too. Counts the sessions ended that were live.
    pub(crate) fn sh_owner_end(&self, owner: &str, now_ms: u64) -> Outcome {
        // The shards to lock, ascending (the one order in which several shard locks are ever
        // taken); grown until it covers every session the owner has once they are all held.
        let mut locked: Vec<usize> = Vec::new();
        loop {
            let shard_of = |t: &Token| self.shard_index(self.hash(*t));
            locked.extend(self.owners.tokens(owner).iter().map(shard_of));
            locked.sort_unstable();
            locked.dedup();
            let mut guards: Vec<_> = locked
                .iter()
                .map(|&i| self.shards[i].inner.lock())
                .collect();
            let tkns = self.owners.tokens(owner);
            if tkns
                .iter()
                .all(|t| locked.binary_search(&shard_of(t)).is_ok())
            {
                let mut freed: Vec<Data> = Vec::new();
                let mut count = 0u64;
                for t in tkns {
                    let i = shard_of(&t);
                    let Ok(pos) = locked.binary_search(&i) else {
                        continue;
                    };
                    let (shard, guard) = (&self.shards[i], &mut guards[pos]);
                    let h = self.hash(t);
                    let Ok(entry) = guard.table.find_entry(h, |e| e.tkn == t) else {
                        continue;
                    };
                    let mut expired = None;
                    if let Some(entry) = self.apply_due(&shard.stats, entry, now_ms, &mut expired) {
                        let change = Change::SessionEnded { tkn: t };
                        freed.push(self.remove_session(&shard.stats, entry, &change));
                        count += 1;
                    }
                    freed.extend(expired);
                }
                drop(guards);
                drop(freed);
                return Outcome::Count(count);
            }
        }
    }
}
