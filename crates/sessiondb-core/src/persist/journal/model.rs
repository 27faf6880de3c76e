//! The store as replay rebuilds it: a plain model that records are applied to one by one and
//! that is handed to the engine in one bulk load at the end.
//!
//! Replay is idempotent by construction: records set absolute state (a key's value, a deadline,
//! a whole session), so replaying a segment over a snapshot that already contains some of its
//! records (compaction snapshots concurrently with new writes) ends in the same state. Versions
//! are the exception: each change of a session's keys counts one, so a change both in the
//! snapshot and in the segment counts twice. Where that matters, for a version a client was
//! shown, the compaction also writes the version into the segment at the moment it snapshots the
//! session, and replay lands on it after counting the changes before it. A version nobody was
//! shown may come back higher than it was, never lower.

use hashbrown::HashMap;
use indexmap::IndexMap;

use super::record::Op;
use crate::command::{Expiry, Token};
use crate::store::SessionRecord;
use crate::value::Value;

/// Keys up to which a session's keys are a vector searched linearly: building a hash map for
/// every session dominates the replay of many small sessions, and a short scan is cheaper.
const SMALL_KEYS: usize = 8;

/// A session's keys during replay, with the store's semantics: set overwrites in place, a new
/// key goes last, removal moves the last key into the hole (as `session::Data` does).
#[derive(Debug)]
enum ModelKeys {
    Small(Vec<(String, Value)>),
    Map(IndexMap<String, Value>),
}

impl ModelKeys {
    fn extend(&mut self, entries: Vec<(String, Value)>) {
        for (k, v) in entries {
            match self {
                ModelKeys::Small(keys) => {
                    if let Some(i) = keys.iter().position(|(old, _)| *old == k) {
                        keys[i].1 = v;
                    } else if keys.len() < SMALL_KEYS {
                        keys.push((k, v));
                    } else {
                        let mut map: IndexMap<String, Value> = keys.drain(..).collect();
                        map.insert(k, v);
                        *self = ModelKeys::Map(map);
                    }
                }
                ModelKeys::Map(map) => {
                    map.insert(k, v);
                }
            }
        }
    }

    fn swap_remove(&mut self, key: &str) {
        match self {
            ModelKeys::Small(keys) => {
                if let Some(i) = keys.iter().position(|(k, _)| k == key) {
                    keys.swap_remove(i);
                }
            }
            ModelKeys::Map(map) => {
                map.swap_remove(key);
            }
        }
    }

    fn clear(&mut self) {
        *self = ModelKeys::Small(Vec::new());
    }

    fn is_empty(&self) -> bool {
        match self {
            ModelKeys::Small(keys) => keys.is_empty(),
            ModelKeys::Map(map) => map.is_empty(),
        }
    }

    fn into_vec(self) -> Vec<(String, Value)> {
        match self {
            ModelKeys::Small(keys) => keys,
            ModelKeys::Map(map) => map.into_iter().collect(),
        }
    }
}

/// One session as replay rebuilds it.
#[derive(Debug)]
struct ModelSession {
    shared: bool,
    name: Option<String>,
    owner: Option<String>,
    expiry: Expiry,
    deadline_ms: u64,
    keys: ModelKeys,
    /// Deadlines of single keys, as `session::Data` keeps them: only for keys held, dropped when
    /// a key is written again, removed or cleared.
    key_deadlines: HashMap<String, u64>,
    /// The version, counted as the store counts it: one per change of the keys.
    ver: u32,
    ver_shown: bool,
}

impl ModelSession {
    fn clear_keys(&mut self) {
        self.keys.clear();
        self.key_deadlines.clear();
    }

    /// Counts one change of the keys.
    fn changed(&mut self) {
        self.ver = crate::session::next_version(self.ver);
    }
}

/// The store as replay rebuilds it.
#[derive(Debug, Default)]
pub(super) struct Model {
    sessions: HashMap<Token, ModelSession>,
    kv: IndexMap<String, Value>,
}

impl Model {
    pub(super) fn apply(&mut self, op: Op) {
        match op {
            Op::Created {
                tkn,
                shared,
                name,
                owner,
                expiry,
                deadline_ms,
            } => {
                self.sessions.insert(
                    tkn,
                    ModelSession {
                        shared,
                        name,
                        owner,
                        expiry,
                        deadline_ms,
                        keys: ModelKeys::Small(Vec::new()),
                        key_deadlines: HashMap::new(),
                        ver: 1,
                        ver_shown: false,
                    },
                );
            }
            Op::Version { tkn, ver, shown } => {
                if let Some(s) = self.sessions.get_mut(&tkn) {
                    s.ver = ver;
                    s.ver_shown = shown;
                }
            }
            Op::Ended { tkn } | Op::Expired { tkn } => {
                self.sessions.remove(&tkn);
            }
            Op::EndAll { tkns } => {
                for tkn in tkns {
                    self.sessions.remove(&tkn);
                }
            }
            Op::Emptied { tkn, deadline_ms } => {
                if let Some(s) = self.sessions.get_mut(&tkn) {
                    if !s.keys.is_empty() {
                        s.changed();
                    }
                    s.clear_keys();
                    s.deadline_ms = deadline_ms;
                }
            }
            Op::Rearmed { tkn, deadline_ms } => {
                if let Some(s) = self.sessions.get_mut(&tkn) {
                    s.deadline_ms = deadline_ms;
                }
            }
            // Changes to a session replay does not hold are followed by its end in the same
            // log (see the module comment), so skipping them is exact.
            Op::ShSet { tkn, entries } => {
                if let Some(s) = self.sessions.get_mut(&tkn) {
                    if !s.key_deadlines.is_empty() {
                        for (k, _) in &entries {
                            s.key_deadlines.remove(k);
                        }
                    }
                    s.keys.extend(entries);
                    s.changed();
                }
            }
            // Not a counted change: a write with `ttl` is counted by its write record, and
            // `SH_KEY_TTL` journals its version after its deadlines.
            Op::KeyDeadlines { tkn, deadlines } => {
                if let Some(s) = self.sessions.get_mut(&tkn) {
                    for (k, d) in deadlines {
                        match d {
                            Some(d) => s.key_deadlines.insert(k, d),
                            None => s.key_deadlines.remove(&k),
                        };
                    }
                }
            }
            Op::ShRemoved { tkn, keys } => {
                if let Some(s) = self.sessions.get_mut(&tkn) {
                    for k in keys {
                        s.keys.swap_remove(&k);
                        s.key_deadlines.remove(&k);
                    }
                    s.changed();
                }
            }
            Op::ShCleared { tkn } => {
                if let Some(s) = self.sessions.get_mut(&tkn) {
                    s.clear_keys();
                    s.changed();
                }
            }
            Op::ShClearSet { tkn, entries } => {
                if let Some(s) = self.sessions.get_mut(&tkn) {
                    s.clear_keys();
                    s.keys.extend(entries);
                    s.changed();
                }
            }
            Op::KvSet { entries } => self.kv.extend(entries),
            Op::KvRemoved { keys } => {
                for k in keys {
                    self.kv.swap_remove(&k);
                }
            }
            Op::KvCleared => self.kv.clear(),
            Op::KvClearSet { entries } => {
                self.kv.clear();
                self.kv.extend(entries);
            }
        }
    }

    /// The sessions and top-level keys rebuilt, in the form the store loads.
    pub(super) fn into_parts(self) -> (Vec<SessionRecord>, Vec<(String, Value)>) {
        let sessions = self
            .sessions
            .into_iter()
            .map(|(tkn, s)| SessionRecord {
                tkn,
                shared: s.shared,
                name: s.name,
                owner: s.owner,
                ver: s.ver,
                ver_shown: s.ver_shown,
                expiry: s.expiry,
                deadline_ms: s.deadline_ms,
                keys: s.keys.into_vec(),
                key_deadlines: s.key_deadlines.into_iter().collect(),
            })
            .collect();
        (sessions, self.kv.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(names: &[&str], value: &str) -> Vec<(String, Value)> {
        names
            .iter()
            .map(|n| ((*n).to_owned(), Value::from_json_unchecked(value)))
            .collect()
    }

    /// The keys as `(name, value)` text pairs, in order.
    fn listed(keys: ModelKeys) -> Vec<(String, String)> {
        keys.into_vec()
            .into_iter()
            .map(|(k, v)| (k, v.as_json().to_owned()))
            .collect()
    }

    #[test]
    fn small_keys_keep_the_store_order_across_the_switch_to_a_map() {
        for n in [3usize, 8, 12] {
            let names: Vec<String> = (0..n).map(|i| format!("k{i}")).collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let mut keys = ModelKeys::Small(Vec::new());
            keys.extend(entries(&names, "1"));
            // Overwrite in place, then remove the first: the last key takes its place.
            keys.extend(entries(&["k1"], "2"));
            keys.swap_remove("k0");
            keys.swap_remove("absent");
            let mut expected: Vec<(String, String)> = names
                .iter()
                .map(|n| ((*n).to_owned(), "1".to_owned()))
                .collect();
            expected[1].1 = "2".to_owned();
            expected.swap_remove(0);
            assert_eq!(listed(keys), expected, "{n} keys");
        }
        let mut keys = ModelKeys::Small(Vec::new());
        keys.extend(entries(&["a", "b", "a"], "3"));
        keys.clear();
        keys.extend(entries(&["c"], "4"));
        assert_eq!(listed(keys), vec![("c".to_owned(), "4".to_owned())]);
    }
}
