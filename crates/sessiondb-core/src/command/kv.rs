//! `KV_` commands (`docs/PROTOCOL.md` §10): the top-level store, atomic under its one lock.

use std::borrow::Cow;

use std::sync::atomic::{AtomicU64, Ordering};

use crate::change::Change;
use crate::command::edit::{Edit, Keyspace, Written};
use crate::command::{Entries, Keys, Outcome, ValueSink};
use crate::kv_map::{self, KvMap, Taken};
use crate::store::{Limits, Store};
use crate::value::Value;

/// Requests with at most this many keys find duplicates by scanning what was found so far
/// (no allocation); longer ones use a hash set, so a huge request stays linear.
const SCAN_DEDUP_MAX: usize = 32;

/// Hands a get's values to `sink`: for each requested key that `get` finds, its request index
/// and value, in request order; each key name once, at its first occurrence (§10.3). Returns how
/// many values were handed over. Allocates nothing for up to [`SCAN_DEDUP_MAX`] keys.
pub(crate) fn values<'v>(
    keys: &[Cow<'_, str>],
    mut get: impl FnMut(&str) -> Option<&'v str>,
    sink: &mut dyn ValueSink,
) -> usize {
    let mut sent = 0;
    if keys.len() <= SCAN_DEDUP_MAX {
        for (i, k) in keys.iter().enumerate() {
            // A repeated name was handled (found or not) at its first occurrence.
            if keys[..i].contains(k) {
                continue;
            }
            if let Some(v) = get(k) {
                sink.value(i, v);
                sent += 1;
            }
        }
    } else {
        let mut seen = hashbrown::HashSet::with_capacity(keys.len());
        for (i, k) in keys.iter().enumerate() {
            if seen.insert(&**k) {
                if let Some(v) = get(k) {
                    sink.value(i, v);
                    sent += 1;
                }
            }
        }
    }
    sent
}

/// The `Contains` of a contains: request indices of keys that exist, in request order,
/// duplicates repeated (§10.5).
pub(crate) fn contains(keys: &[Cow<'_, str>], mut exists: impl FnMut(&str) -> bool) -> Vec<usize> {
    keys.iter()
        .enumerate()
        .filter(|(_, k)| exists(k))
        .map(|(i, _)| i)
        .collect()
}

/// The top-level map under its lock, as the `KV_` commands edit it.
pub(crate) struct TopLevelKeys<'a> {
    map: &'a mut KvMap,
    /// The top-level byte count ([`crate::store::TopLevel::bytes`]).
    bytes: &'a AtomicU64,
    /// Keys taken out by a clear, dropped after the lock is released.
    taken: &'a mut Option<Taken>,
}

impl<'a> TopLevelKeys<'a> {
    /// The top-level map held locked in `map`, counting its bytes in `bytes`.
    pub(crate) fn new(
        map: &'a mut KvMap,
        bytes: &'a AtomicU64,
        taken: &'a mut Option<Taken>,
    ) -> Self {
        Self { map, bytes, taken }
    }
}

impl Keyspace for TopLevelKeys<'_> {
    fn len(&self) -> usize {
        self.map.len()
    }

    fn value_len(&self, key: &str) -> Option<usize> {
        self.map.get(key).map(str::len)
    }

    fn set(&mut self, key: &str, value: &Value) -> Option<usize> {
        self.map.insert(key, value.as_json())
    }

    fn add(&mut self, key: &str, value: &Value) -> bool {
        self.map.insert_new(key, value.as_json())
    }

    fn remove(&mut self, key: &str) -> Option<usize> {
        self.map.remove(key)
    }

    fn bytes(&self) -> u64 {
        self.map.bytes()
    }

    /// Nothing to do: the map's 64 parts grow a part at a time, each by doubling, which already
    /// keeps the extra memory of one growth to a 64th of the map.
    fn reserve(&mut self, _: usize) {}

    fn take_all(&mut self) -> u64 {
        let before = self.map.bytes();
        let old = self.map.take_all();
        let n = old.len() as u64;
        self.account(0, before);
        *self.taken = Some(old);
        n
    }

    #[inline]
    fn account(&self, added: u64, freed: u64) {
        // Written only under the map's lock, so load + store cannot race with another writer.
        let v = self.bytes.load(Ordering::Relaxed);
        self.bytes.store(
            v.saturating_add(added).saturating_sub(freed),
            Ordering::Relaxed,
        );
    }

    fn max_keys(&self, _: &Limits) -> Option<u64> {
        None
    }

    #[inline]
    fn before_write(&mut self, _: &Store) {}

    /// Top-level keys have no version.
    #[inline]
    fn bump_version(&mut self) {}

    fn change<'c>(&self, written: Written<'c>) -> Change<'c> {
        match written {
            Written::Set(entries) => Change::KvSet { entries },
            Written::Removed(keys) => Change::KvRemoved { keys },
            Written::Cleared => Change::KvCleared,
            Written::ClearSet(entries) => Change::KvClearSet { entries },
        }
    }
}

impl Store {
    /// Applies `edit` to the top-level map under its lock ([`Store::edit`]); keys it takes out
    /// are freed after the lock is released.
    pub(crate) fn edit_top_level(&self, edit: Edit<'_>) -> Outcome {
        // Declared before the guard so that it is dropped after the lock is released.
        let mut taken = None;
        let mut map = self.top_level.map.lock();
        let mut keys = TopLevelKeys::new(&mut map, &self.top_level.bytes, &mut taken);
        let outcome = self.edit(&mut keys, edit);
        drop(map);
        outcome
    }

    /// `KV_SET`.
    pub(crate) fn kv_set(&self, entries: Entries<'_>) -> Outcome {
        self.edit_top_level(Edit::Set(&entries))
    }

    /// `KV_ADD`.
    pub(crate) fn kv_add(&self, entries: Entries<'_>) -> Outcome {
        self.edit_top_level(Edit::Add(&entries))
    }

    /// `KV_GET`: the values go to `sink` under the lock.
    pub(crate) fn kv_get(&self, keys: &Keys<'_>, sink: &mut dyn ValueSink) -> Outcome {
        let map = self.top_level.map.lock();
        Outcome::ValuesSent(values(keys, |k| map.get(k), sink))
    }

    /// `KV_RMV`.
    pub(crate) fn kv_rmv(&self, keys: Keys<'_>) -> Outcome {
        self.edit_top_level(Edit::Remove(&keys))
    }

    /// `KV_CONTAINS`.
    pub(crate) fn kv_contains(&self, keys: &Keys<'_>) -> Outcome {
        let map = self.top_level.map.lock();
        Outcome::Contains(contains(keys, |k| map.contains_key(k)))
    }

    /// `KV_COUNT`.
    pub(crate) fn kv_count(&self) -> Outcome {
        Outcome::Count(self.top_level.map.lock().len() as u64)
    }

    /// `KV_KEYS`.
    pub(crate) fn kv_keys(&self) -> Outcome {
        // Copied a part per lock hold, made owned with no lock held.
        Outcome::KeyList(kv_map::snapshot(&self.top_level.map, false).keys())
    }

    /// `KV_CLEAR`: a big store takes a while to free, so that happens after the lock is released.
    pub(crate) fn kv_clear(&self) -> Outcome {
        self.edit_top_level(Edit::Clear)
    }

    /// `KV_CLEAR_SET`.
    pub(crate) fn kv_clear_set(&self, entries: Entries<'_>) -> Outcome {
        self.edit_top_level(Edit::ClearSet(&entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `values` over `keys` against a store holding `a` = 1 and `b` = 2.
    fn sent(keys: &[&str]) -> (usize, Vec<(usize, String)>) {
        let keys: Vec<Cow<'_, str>> = keys.iter().map(|k| Cow::Borrowed(*k)).collect();
        let mut got = Vec::new();
        let mut sink = |i: usize, json: &str| got.push((i, json.to_owned()));
        let n = values(
            &keys,
            |k| match k {
                "a" => Some("1"),
                "b" => Some("2"),
                _ => None,
            },
            &mut sink,
        );
        (n, got)
    }

    #[test]
    fn values_in_request_order_each_name_once() {
        let (n, got) = sent(&["b", "x", "a", "b", "a"]);
        assert_eq!(n, 2);
        assert_eq!(got, vec![(0, "2".to_owned()), (2, "1".to_owned())]);
        assert_eq!(sent(&[]), (0, vec![]));
    }

    #[test]
    fn long_requests_deduplicate_through_the_set() {
        // Beyond SCAN_DEDUP_MAX the hash-set path runs; same answer as the scan.
        let mut keys = vec!["x"; SCAN_DEDUP_MAX + 5];
        keys[3] = "a";
        keys[10] = "b";
        keys[20] = "a";
        let (n, got) = sent(&keys);
        assert_eq!(n, 2);
        assert_eq!(got, vec![(3, "1".to_owned()), (10, "2".to_owned())]);
    }
}
