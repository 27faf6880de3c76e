//! `KV_` commands (`PROTOCOL.md` §10): the top-level store, atomic under its one lock.

use std::borrow::Cow;

use crate::change::Change;
use crate::command::{Entries, Keys, Outcome, ValueSink};
use crate::kv_map;
use crate::session::entry_bytes;
use crate::store::Store;
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

/// Approximate bytes `entries` would occupy.
pub(crate) fn entries_bytes(entries: &[(Cow<'_, str>, Value)]) -> u64 {
    entries.iter().map(|(k, v)| entry_bytes(k, v.len())).sum()
}

impl Store {
    /// `KV_SET`.
    pub(crate) fn kv_set(&self, entries: Entries<'_>) -> Outcome {
        let mut map = self.kv.map.lock();
        if self.limits.max_memory_bytes.is_some() {
            let freed: u64 = entries
                .iter()
                .filter_map(|(k, _)| map.get(k).map(|old| entry_bytes(k, old.len())))
                .sum();
            if !self.memory_allows(entries_bytes(&entries).saturating_sub(freed)) {
                return Outcome::LimitReached;
            }
        }
        self.kv_write(&mut map, &entries);
        if !entries.is_empty() {
            self.record(&Change::KvSet { entries: &entries });
        }
        Outcome::Done
    }

    /// `KV_ADD`.
    pub(crate) fn kv_add(&self, entries: Entries<'_>) -> Outcome {
        let mut map = self.kv.map.lock();
        if self.limits.max_memory_bytes.is_some() {
            let added: u64 = entries
                .iter()
                .filter(|(k, _)| !map.contains_key(k))
                .map(|(k, v)| entry_bytes(k, v.len()))
                .sum();
            if !self.memory_allows(added) {
                return Outcome::LimitReached;
            }
        }
        let mut added_bytes = 0;
        let mut written: Vec<(Cow<'_, str>, Value)> = Vec::new();
        for (k, v) in &entries {
            if map.insert_new(k, v.as_json()) {
                added_bytes += entry_bytes(k, v.len());
                if self.journaling() {
                    written.push((Cow::Borrowed(&**k), v.clone()));
                }
            }
        }
        self.kv_account(added_bytes, 0);
        if !written.is_empty() {
            self.record(&Change::KvSet { entries: &written });
        }
        Outcome::Done
    }

    /// `KV_GET`: the values go to `sink` under the lock.
    pub(crate) fn kv_get(&self, keys: &Keys<'_>, sink: &mut dyn ValueSink) -> Outcome {
        let map = self.kv.map.lock();
        Outcome::ValuesSent(values(keys, |k| map.get(k), sink))
    }

    /// `KV_RMV`.
    pub(crate) fn kv_rmv(&self, keys: Keys<'_>) -> Outcome {
        let mut map = self.kv.map.lock();
        let mut freed = 0;
        for k in &keys {
            if let Some(old_len) = map.remove(k) {
                freed += entry_bytes(k, old_len);
            }
        }
        if freed > 0 {
            self.kv_account(0, freed);
            self.record(&Change::KvRemoved { keys: &keys });
        }
        Outcome::Done
    }

    /// `KV_CONTAINS`.
    pub(crate) fn kv_contains(&self, keys: &Keys<'_>) -> Outcome {
        let map = self.kv.map.lock();
        Outcome::Contains(contains(keys, |k| map.contains_key(k)))
    }

    /// `KV_COUNT`.
    pub(crate) fn kv_count(&self) -> Outcome {
        Outcome::Count(self.kv.map.lock().len() as u64)
    }

    /// `KV_KEYS`.
    pub(crate) fn kv_keys(&self) -> Outcome {
        // Copied a part per lock hold, made owned with no lock held.
        Outcome::KeyList(kv_map::snapshot(&self.kv.map, false).keys())
    }

    /// `KV_CLEAR`.
    pub(crate) fn kv_clear(&self) -> Outcome {
        let old = {
            let mut map = self.kv.map.lock();
            let old = map.take_all();
            let bytes = self.kv.bytes.load(std::sync::atomic::Ordering::Relaxed);
            self.kv_account(0, bytes);
            if !old.is_empty() {
                self.record(&Change::KvCleared);
            }
            old
        };
        // Freed after the lock is released: a big store takes a while to drop.
        Outcome::Count(old.len() as u64)
    }

    /// `KV_CLEAR_SET`.
    pub(crate) fn kv_clear_set(&self, entries: Entries<'_>) -> Outcome {
        let old = {
            let mut map = self.kv.map.lock();
            let old_bytes = self.kv.bytes.load(std::sync::atomic::Ordering::Relaxed);
            if !self.memory_allows(entries_bytes(&entries).saturating_sub(old_bytes)) {
                return Outcome::LimitReached;
            }
            let old = map.take_all();
            self.kv_account(0, old_bytes);
            self.kv_write(&mut map, &entries);
            if !old.is_empty() || !entries.is_empty() {
                self.record(&Change::KvClearSet { entries: &entries });
            }
            old
        };
        Outcome::Count(old.len() as u64)
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
