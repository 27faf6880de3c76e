//! One session: settings, deadline and an ordered key → value map.

use std::mem;

use hashbrown::DefaultHashBuilder;
use indexmap::map::raw_entry_v1::RawEntryMut;
use indexmap::map::RawEntryApiV1;
use indexmap::IndexMap;

use crate::command::Expiry;
use crate::value::Value;

/// An ordered hash map of keys; the hasher is seeded per map so clients cannot aim collisions.
pub type KeyMap = IndexMap<Box<str>, Value, DefaultHashBuilder>;

/// Up to this many keys live in a plain vector (scanned linearly); beyond, in a [`KeyMap`].
/// Most sessions hold a handful of keys, and a vector of them costs far less memory than a map.
const SMALL_MAX: usize = 8;

/// Approximate bytes one stored key costs besides its text and its value's text: the slot
/// (two fat pointers) plus the value's reference-count header.
pub const ENTRY_OVERHEAD: u64 = 48;

/// Approximate bytes a stored key costs, for memory accounting.
pub fn entry_bytes(key: &str, value: &Value) -> u64 {
    (key.len() + value.len()) as u64 + ENTRY_OVERHEAD
}

/// A map of keys to JSON values that keeps insertion order while nothing is removed.
#[derive(Debug, Clone)]
pub enum Data {
    /// Few keys: a vector, grown one slot at a time so a 2-key session holds exactly 2 slots.
    Small(Vec<(Box<str>, Value)>),
    /// Many keys: a hash map (boxed so the common small case stays small).
    Map(Box<KeyMap>),
}

impl Default for Data {
    fn default() -> Self {
        Data::Small(Vec::new())
    }
}

impl Data {
    /// Number of keys.
    pub fn len(&self) -> usize {
        match self {
            Data::Small(v) => v.len(),
            Data::Map(m) => m.len(),
        }
    }

    /// True when there are no keys.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Data::Small(v) => v.iter().find(|(k, _)| &**k == key).map(|(_, val)| val),
            Data::Map(m) => m.get(key),
        }
    }

    /// Whether `key` exists.
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Stores `value` under `key`, overwriting; returns the previous value. Hashes the key once
    /// and allocates the key only when it is new.
    pub fn set(&mut self, key: &str, value: Value) -> Option<Value> {
        match self {
            Data::Small(v) => {
                if let Some((_, old)) = v.iter_mut().find(|(k, _)| &**k == key) {
                    return Some(mem::replace(old, value));
                }
                self.push_new(key, value);
                None
            }
            Data::Map(m) => match m.raw_entry_mut_v1().from_key(key) {
                RawEntryMut::Occupied(mut o) => Some(o.insert(value)),
                RawEntryMut::Vacant(vac) => {
                    vac.insert(Box::from(key), value);
                    None
                }
            },
        }
    }

    /// Stores `value` under `key` only if `key` does not exist; returns whether it was added.
    pub fn add(&mut self, key: &str, value: Value) -> bool {
        match self {
            Data::Small(v) => {
                if v.iter().any(|(k, _)| &**k == key) {
                    return false;
                }
                self.push_new(key, value);
                true
            }
            Data::Map(m) => match m.raw_entry_mut_v1().from_key(key) {
                RawEntryMut::Occupied(_) => false,
                RawEntryMut::Vacant(vac) => {
                    vac.insert(Box::from(key), value);
                    true
                }
            },
        }
    }

    /// Removes `key`, returning its value. The last key takes the removed one's place, so order
    /// is kept only while nothing is removed (all §7.2 asks).
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        match self {
            Data::Small(v) => {
                let i = v.iter().position(|(k, _)| &**k == key)?;
                Some(v.swap_remove(i).1)
            }
            Data::Map(m) => m.swap_remove(key),
        }
    }

    /// Takes every key out, leaving the map empty; the caller drops the result (ideally after
    /// releasing its lock, since freeing many values takes time).
    pub fn take(&mut self) -> Data {
        mem::take(self)
    }

    /// Every `(key, value)`, in insertion order while nothing was removed.
    pub fn iter(&self) -> DataIter<'_> {
        match self {
            Data::Small(v) => DataIter::Small(v.iter()),
            Data::Map(m) => DataIter::Map(m.iter()),
        }
    }

    /// Approximate bytes held by the keys, for memory accounting.
    pub fn bytes(&self) -> u64 {
        self.iter().map(|(k, v)| entry_bytes(k, v)).sum()
    }

    /// Appends a key known to be absent, upgrading to a map when the vector is full.
    fn push_new(&mut self, key: &str, value: Value) {
        match self {
            Data::Small(v) if v.len() < SMALL_MAX => {
                // Grow by one: small sessions are the common case and memory per session matters
                // more than the (bounded, ≤ SMALL_MAX) cost of re-growing.
                v.reserve_exact(1);
                v.push((Box::from(key), value));
            }
            Data::Small(v) => {
                let mut map =
                    KeyMap::with_capacity_and_hasher(SMALL_MAX * 2, DefaultHashBuilder::default());
                map.extend(v.drain(..));
                map.insert(Box::from(key), value);
                *self = Data::Map(Box::new(map));
            }
            Data::Map(m) => {
                m.insert(Box::from(key), value);
            }
        }
    }
}

/// Iterator over a session's keys and values.
pub enum DataIter<'a> {
    /// Over the small vector.
    Small(std::slice::Iter<'a, (Box<str>, Value)>),
    /// Over the map.
    Map(indexmap::map::Iter<'a, Box<str>, Value>),
}

impl<'a> Iterator for DataIter<'a> {
    type Item = (&'a str, &'a Value);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            DataIter::Small(it) => it.next().map(|(k, v)| (&**k, v)),
            DataIter::Map(it) => it.next().map(|(k, v)| (&**k, v)),
        }
    }
}

/// A session (`PROTOCOL.md` §7.1); its token is the key it is stored under.
#[derive(Debug, Clone)]
pub struct Session {
    /// Whether the session is shared (its token derives from its name).
    pub shared: bool,
    /// Optional name: a label, or the name a shared token derives from.
    pub name: Option<Box<str>>,
    /// Expiry settings; `Expiry::default()` (duration 0) never expires.
    pub expiry: Expiry,
    /// When the session is due, in Unix ms (`u64::MAX` when it never expires).
    pub deadline_ms: u64,
    /// The deadline under which the store's deadline index currently files this session (see
    /// `expiry::DeadlineIndex`); always ≤ `deadline_ms` for a session that expires.
    pub(crate) indexed_ms: u64,
    /// The session's keys.
    pub data: Data,
}

/// Approximate bytes a session costs besides its keys: its table slot, token and name.
pub fn session_bytes(name: Option<&str>) -> u64 {
    (mem::size_of::<(u64, Session)>() + name.map_or(0, str::len)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn v(json: &str) -> Value {
        Value::from_json_unchecked(json)
    }

    fn keys(d: &Data) -> Vec<&str> {
        d.iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn small_session_stays_small() {
        // Printed so the figure is visible in test output; the assertion keeps it from growing.
        println!(
            "size_of Session = {}, (Token, Session) = {}, Data = {}",
            mem::size_of::<Session>(),
            mem::size_of::<(u64, Session)>(),
            mem::size_of::<Data>()
        );
        assert!(mem::size_of::<Data>() <= 24);
        assert!(mem::size_of::<(u64, Session)>() <= 88);
        let mut d = Data::default();
        d.set(&Cow::Borrowed("a"), v("1"));
        d.set(&Cow::Borrowed("b"), v("2"));
        match &d {
            Data::Small(vec) => assert_eq!(vec.capacity(), 2),
            Data::Map(_) => panic!("2 keys must stay in the small form"),
        }
    }

    #[test]
    fn insertion_order_kept_across_upgrade() {
        let mut d = Data::default();
        let names: Vec<String> = (0..20).map(|i| format!("k{i}")).collect();
        for (i, n) in names.iter().enumerate() {
            assert!(d
                .set(&Cow::Borrowed(n.as_str()), v(&i.to_string()))
                .is_none());
        }
        assert!(matches!(d, Data::Map(_)));
        assert_eq!(
            keys(&d),
            names.iter().map(String::as_str).collect::<Vec<_>>()
        );
        assert_eq!(d.get("k7"), Some(&v("7")));
    }

    #[test]
    fn set_overwrites_add_does_not() {
        for n in [2usize, 12] {
            let mut d = Data::default();
            for i in 0..n {
                d.set(&Cow::Owned(format!("k{i}")), v("0"));
            }
            assert_eq!(d.set(&Cow::Borrowed("k1"), v("9")), Some(v("0")));
            assert!(!d.add(&Cow::Borrowed("k1"), v("5")));
            assert_eq!(d.get("k1"), Some(&v("9")));
            assert!(d.add(&Cow::Borrowed("new"), v("5")));
            assert_eq!(d.len(), n + 1);
            assert_eq!(d.remove("k1"), Some(v("9")));
            assert_eq!(d.remove("k1"), None);
            assert!(!d.contains("k1"));
            assert_eq!(d.len(), n);
            let taken = d.take();
            assert_eq!(taken.len(), n);
            assert!(d.is_empty());
        }
    }
}
