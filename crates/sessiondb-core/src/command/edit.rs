//! The one path by which a command changes stored keys, a session's or the top-level store's.
//!
//! Every write command (`SH_SET`, `SH_ADD`, `SH_RMV`, `SH_CLEAR`, `SH_CLEAR_SET`, their `KV_`
//! counterparts, and `KV_LOAD`) states what it changes as an [`Edit`] and hands it to
//! [`Store::edit`] together with the keys it holds locked (a [`Keyspace`]: one live session, or
//! the top-level map). There, in this order, the limits are checked (when one would be exceeded
//! nothing changes), a session that extends on writes is re-armed, the keys change, their bytes
//! are accounted, and the change is recorded for the journal. Keys taken out stay with the
//! keyspace's owner, who drops them after releasing the lock. A new kind of write is a new
//! [`Edit`]; what every effective write must also do (the version bump, an event) belongs in
//! `Store::written`. The expected version (`ifVer`) is checked before any of this, where the
//! command finds its session, because reads and `SH_END` take it too.
//!
//! Lifecycle changes of sessions (creation, end, expiry) do not go through here: the store
//! records them ([`Store::apply_due`] is the one place an expiry takes effect).

use std::borrow::Cow;

use crate::change::Change;
use crate::command::Outcome;
use crate::session::entry_bytes;
use crate::store::{Limits, Store};
use crate::value::Value;

/// A change of keys, as a command asks for it (keys and values borrowed from the command).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Edit<'e> {
    /// Set keys, overwriting (`*_SET`).
    Set(&'e [(Cow<'e, str>, Value)]),
    /// Set keys, overwriting, whatever the limits (`KV_LOAD`: a load is never refused by a
    /// limit, docs/PROTOCOL.md E1).
    Load(&'e [(Cow<'e, str>, Value)]),
    /// Set the keys that do not exist yet (`*_ADD`).
    Add(&'e [(Cow<'e, str>, Value)]),
    /// Remove keys (`*_RMV`).
    Remove(&'e [Cow<'e, str>]),
    /// Remove every key (`*_CLEAR`).
    Clear,
    /// Replace every key (`*_CLEAR_SET`).
    ClearSet(&'e [(Cow<'e, str>, Value)]),
}

/// What an edit changed, as the journal records it; [`Keyspace::change`] names whose keys.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Written<'c> {
    /// These keys were written, in order (for an add, only those added).
    Set(&'c [(Cow<'c, str>, Value)]),
    /// These keys were removed.
    Removed(&'c [Cow<'c, str>]),
    /// Every key was removed.
    Cleared,
    /// Every key was replaced by these.
    ClearSet(&'c [(Cow<'c, str>, Value)]),
}

/// Keys held under a lock, as [`Store::edit`] changes them: the keys of one live session, or the
/// top-level map. Besides the keys themselves it knows its own limits, where its bytes are
/// counted, and how its changes are journaled.
pub(crate) trait Keyspace {
    /// Keys held.
    fn len(&self) -> usize;
    /// Bytes of the value text of `key`, if it exists.
    fn value_len(&self, key: &str) -> Option<usize>;
    /// Stores `value` under `key`, overwriting; the length of the previous value's text.
    fn set(&mut self, key: &str, value: &Value) -> Option<usize>;
    /// Stores `value` under `key` if it is absent; whether it did.
    fn add(&mut self, key: &str, value: &Value) -> bool;
    /// Removes `key`; the length of its value's text.
    fn remove(&mut self, key: &str) -> Option<usize>;
    /// Bytes the allocator holds for every key held (constant time).
    fn bytes(&self) -> u64;
    /// Makes room for `additional` more keys at once, before a write of that many.
    fn reserve(&mut self, additional: usize);
    /// Takes every key out, uncounting their bytes, and keeps them to be dropped once the lock is
    /// released; returns how many there were.
    fn take_all(&mut self) -> u64;
    /// Applies a change of the byte count that limits and metrics read.
    fn account(&self, added: u64, freed: u64);
    /// The most keys it may hold, if limited.
    fn max_keys(&self, limits: &Limits) -> Option<u64>;
    /// Called before a set or an add changes anything: a session that extends on writes is
    /// re-armed here.
    fn before_write(&mut self, store: &Store);
    /// Counts one change of the keys: a session's version goes up by one.
    fn bump_version(&mut self);
    /// The journal's change for `written`.
    fn change<'c>(&self, written: Written<'c>) -> Change<'c>;
}

impl Store {
    /// Applies `edit` to `keys` (held locked by the caller) with limits, accounting and journal.
    /// Returns `LimitReached` (nothing changed), `Done` for sets, adds and removals, or the
    /// count of keys removed for clears.
    pub(crate) fn edit(&self, keys: &mut impl Keyspace, edit: Edit<'_>) -> Outcome {
        if !self.edit_allowed(keys, edit) {
            return Outcome::LimitReached;
        }
        match edit {
            Edit::Set(entries) | Edit::Load(entries) => {
                keys.before_write(self);
                self.write_entries(keys, entries);
                if !entries.is_empty() {
                    self.written(keys, Written::Set(entries));
                }
                Outcome::Done
            }
            Edit::Add(entries) => {
                keys.before_write(self);
                let before = keys.bytes();
                keys.reserve(entries.len().saturating_sub(keys.len()));
                let mut written: Vec<(Cow<'_, str>, Value)> = Vec::new();
                let mut added = false;
                for (k, v) in entries {
                    if keys.add(k, v) {
                        added = true;
                        if self.journaling() {
                            written.push((Cow::Borrowed(&**k), v.clone()));
                        }
                    }
                }
                account_since(keys, before);
                if added {
                    self.written(keys, Written::Set(&written));
                }
                Outcome::Done
            }
            Edit::Remove(names) => {
                let before = keys.bytes();
                let mut removed = false;
                for k in names {
                    removed |= keys.remove(k).is_some();
                }
                if removed {
                    account_since(keys, before);
                    self.written(keys, Written::Removed(names));
                }
                Outcome::Done
            }
            Edit::Clear => {
                let n = keys.take_all();
                if n > 0 {
                    self.written(keys, Written::Cleared);
                }
                Outcome::Count(n)
            }
            Edit::ClearSet(entries) => {
                let n = keys.take_all();
                self.write_entries(keys, entries);
                if n > 0 || !entries.is_empty() {
                    self.written(keys, Written::ClearSet(entries));
                }
                Outcome::Count(n)
            }
        }
    }

    /// What follows every edit that changed something, once per edit, under the same lock: one
    /// more version, and the journal's record (so the journal's order is the execution order;
    /// replaying the record counts the version again).
    #[inline]
    fn written(&self, keys: &mut impl Keyspace, written: Written<'_>) {
        keys.bump_version();
        self.record(&keys.change(written));
    }

    /// Writes `entries` in order, overwriting, and accounts their bytes.
    fn write_entries(&self, keys: &mut impl Keyspace, entries: &[(Cow<'_, str>, Value)]) {
        let before = keys.bytes();
        // Keys already held are overwritten in place: room only for the rest, at most.
        keys.reserve(entries.len().saturating_sub(keys.len()));
        for (k, v) in entries {
            keys.set(k, v);
        }
        account_since(keys, before);
    }

    /// Whether `edit` keeps `keys` within the key and memory limits. Free when neither is set.
    fn edit_allowed(&self, keys: &impl Keyspace, edit: Edit<'_>) -> bool {
        let max_keys = keys.max_keys(&self.limits);
        let memory = self.limits.max_memory_bytes.is_some();
        if max_keys.is_none() && !memory {
            return true;
        }
        let within = |count: u64| !matches!(max_keys, Some(max) if count > max);
        match edit {
            Edit::Set(entries) => {
                if max_keys.is_some() && !within(keys.len() as u64 + new_keys(keys, entries)) {
                    return false;
                }
                if !memory {
                    return true;
                }
                let freed: u64 = entries
                    .iter()
                    .filter_map(|(k, _)| keys.value_len(k).map(|old| entry_bytes(k, old)))
                    .sum();
                self.memory_allows(entries_bytes(entries).saturating_sub(freed))
            }
            Edit::Add(entries) => {
                if max_keys.is_some() && !within(keys.len() as u64 + new_keys(keys, entries)) {
                    return false;
                }
                let added: u64 = entries
                    .iter()
                    .filter(|(k, _)| keys.value_len(k).is_none())
                    .map(|(k, v)| entry_bytes(k, v.len()))
                    .sum();
                !memory || self.memory_allows(added)
            }
            Edit::Remove(_) | Edit::Clear | Edit::Load(_) => true,
            Edit::ClearSet(entries) => {
                if max_keys.is_some() && !within(distinct_keys(entries)) {
                    return false;
                }
                !memory || self.memory_allows(entries_bytes(entries).saturating_sub(keys.bytes()))
            }
        }
    }
}

/// Charges `keys` what its bytes changed by since they were `before`: what a write really added
/// or freed, tables and allocator rounding included.
#[inline]
pub(crate) fn account_since(keys: &impl Keyspace, before: u64) {
    let after = keys.bytes();
    if after >= before {
        keys.account(after - before, 0);
    } else {
        keys.account(0, before - after);
    }
}

/// Bytes `entries` may occupy at most, for the limit's check before a write.
pub(crate) fn entries_bytes(entries: &[(Cow<'_, str>, Value)]) -> u64 {
    entries.iter().map(|(k, v)| entry_bytes(k, v.len())).sum()
}

/// How many keys of `entries` `keys` lacks, each distinct key once.
fn new_keys(keys: &impl Keyspace, entries: &[(Cow<'_, str>, Value)]) -> u64 {
    let mut seen = hashbrown::HashSet::with_capacity(entries.len());
    entries
        .iter()
        .filter(|(k, _)| keys.value_len(k).is_none() && seen.insert(&**k))
        .count() as u64
}

/// How many distinct keys `entries` holds.
fn distinct_keys(entries: &[(Cow<'_, str>, Value)]) -> u64 {
    let mut seen = hashbrown::HashSet::with_capacity(entries.len());
    entries.iter().filter(|(k, _)| seen.insert(&**k)).count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Command, Entries, Keys};
    use crate::store::StoreConfig;

    fn entries<'a>(pairs: &[(&'a str, &str)]) -> Entries<'a> {
        pairs
            .iter()
            .map(|&(k, v)| (Cow::Borrowed(k), Value::from_json_unchecked(v)))
            .collect()
    }

    fn names<'a>(keys: &[&'a str]) -> Keys<'a> {
        keys.iter().map(|&k| Cow::Borrowed(k)).collect()
    }

    /// The edits of one round, as `SH_` or as `KV_` commands.
    fn round<'a>(tkn: Option<u64>, i: usize, session: bool) -> Vec<Command<'a>> {
        let long = "[1,2,3,4,5,6,7,8,9,10]";
        let set = entries(&[("a", "1"), ("b", long), ("a", "22")]);
        let add = entries(&[("b", "0"), ("c", "\"c\""), ("c", "3")]);
        let keys = names(&["a", "x", "a"]);
        let clear_set = entries(&[("d", long), ("e", "5")]);
        match (i % 5, session) {
            (0, true) => vec![Command::ShSet { tkn, keys: set }],
            (1, true) => vec![Command::ShAdd { tkn, keys: add }],
            (2, true) => vec![Command::ShRmv { tkn, keys }],
            (3, true) => vec![Command::ShClearSet {
                tkn,
                keys: clear_set,
            }],
            (_, true) => vec![Command::ShClear { tkn }],
            (0, false) => vec![Command::KvSet(set)],
            (1, false) => vec![Command::KvAdd(add)],
            (2, false) => vec![Command::KvRmv(keys)],
            (3, false) => vec![Command::KvClearSet(clear_set)],
            (_, false) => vec![Command::KvClear],
        }
    }

    /// Bytes of every session and of the top-level map, recounted from what they hold now.
    fn recount(st: &Store) -> u64 {
        let sessions: u64 = st
            .shards
            .iter()
            .map(|shard| {
                let inner = shard.inner.lock();
                inner
                    .table
                    .iter()
                    .map(|s| {
                        crate::session::session_bytes(
                            s.name(),
                            s.owner(),
                            s.expiry().duration_secs > 0,
                        ) + s.data.bytes()
                    })
                    .sum::<u64>()
            })
            .sum();
        sessions + st.top_level.map.lock().bytes()
    }

    #[test]
    fn every_edit_keeps_the_byte_count_exact_for_sessions_and_top_level_keys() {
        let st = Store::new(StoreConfig::default());
        let Outcome::Created { tkn } = st.execute(
            Command::ShNew {
                expiry: None,
                name: None,
                shared: false,
            },
            0,
        ) else {
            panic!("SH_NEW failed");
        };
        let tkn = Some(tkn);
        for i in 0..15 {
            for session in [true, false] {
                for cmd in round(tkn, i, session) {
                    st.execute(cmd, 0);
                }
                assert_eq!(
                    st.stored_bytes(),
                    recount(&st),
                    "round {i}, session {session}"
                );
            }
        }
        // Many keys: a session's map form and the top-level parts' tables grow and shrink.
        let names: Vec<String> = (0..2_000).map(|i| format!("key{i}")).collect();
        let many: Entries<'_> = names
            .iter()
            .map(|n| {
                (
                    Cow::Borrowed(n.as_str()),
                    Value::from_json_unchecked("[1,2]"),
                )
            })
            .collect();
        let half: Keys<'_> = names
            .iter()
            .step_by(2)
            .map(|n| Cow::Borrowed(n.as_str()))
            .collect();
        for cmd in [
            Command::ShSet {
                tkn,
                keys: many.clone(),
            },
            Command::KvSet(many.clone()),
            Command::ShRmv {
                tkn,
                keys: half.clone(),
            },
            Command::KvRmv(half),
            Command::ShAdd {
                tkn,
                keys: many.clone(),
            },
            Command::KvClearSet(many),
        ] {
            st.execute(cmd, 0);
            assert_eq!(st.stored_bytes(), recount(&st));
        }
    }
}
