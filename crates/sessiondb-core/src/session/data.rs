//! A session's keys: an ordered map of key to JSON value text, packed in one block while the
//! session is small ([`Packed`]) and a hash map beyond.

use std::mem;

use hashbrown::DefaultHashBuilder;
use indexmap::map::raw_entry_v1::RawEntryMut;
use indexmap::map::RawEntryApiV1;
use indexmap::IndexMap;

use super::packed::{Packed, PackedIter, SMALL_MAX};
use super::DataBuilder;
use crate::value::Value;

/// An ordered hash map of keys; the hasher is seeded per map so clients cannot aim collisions.
pub type KeyMap = IndexMap<Box<str>, Value, DefaultHashBuilder>;

/// Approximate bytes one stored key costs besides its text and its value's text: a map slot
/// (two fat pointers) plus the value's reference-count header. A packed key costs less (its two
/// length prefixes), a top-level key about as much (a 24-byte table slot, `kv_map`); the figure
/// is kept as it is so that `max_memory_bytes` means the same for every layout and the limit errs
/// on the safe side.
pub const ENTRY_OVERHEAD: u64 = 48;

/// Approximate bytes a stored key costs, for memory accounting (`value_len`: bytes of the
/// value's JSON text).
pub fn entry_bytes(key: &str, value_len: usize) -> u64 {
    (key.len() + value_len) as u64 + ENTRY_OVERHEAD
}

/// A value to store: a command's [`Value`] (a map keeps it by reference count) or JSON text read
/// from disk (copied; wrapped in a `Value` only when it lands in a map).
pub trait ValueText {
    /// The value's JSON text.
    fn json(&self) -> &str;
    /// The value as a [`Value`], for the map form.
    fn to_value(&self) -> Value;
}

impl ValueText for Value {
    fn json(&self) -> &str {
        self.as_json()
    }

    fn to_value(&self) -> Value {
        self.clone()
    }
}

impl ValueText for str {
    fn json(&self) -> &str {
        self
    }

    fn to_value(&self) -> Value {
        Value::from_json_unchecked(self)
    }
}

/// A map of keys to JSON values that keeps insertion order while nothing is removed.
#[derive(Debug, Clone)]
pub enum Data {
    /// Few, small keys: one heap block (see [`Packed`]).
    Small(Packed),
    /// Many or large keys: a hash map (boxed so the common small case stays small).
    Map(Box<KeyMap>),
}

impl Default for Data {
    fn default() -> Self {
        Data::Small(Packed::default())
    }
}

impl Data {
    /// Number of keys.
    pub fn len(&self) -> usize {
        match self {
            Data::Small(p) => p.len(),
            Data::Map(m) => m.len(),
        }
    }

    /// True when there are no keys.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The JSON text of `key`'s value.
    pub fn get(&self, key: &str) -> Option<&str> {
        match self {
            Data::Small(p) => p.get(key),
            Data::Map(m) => m.get(key).map(Value::as_json),
        }
    }

    /// Whether `key` exists.
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Stores `value` under `key`, overwriting; returns the length of the previous value's text.
    /// Hashes the key once and allocates the key only when it is new.
    pub fn set<V: ValueText + ?Sized>(&mut self, key: &str, value: &V) -> Option<usize> {
        match self {
            Data::Small(p) => match p.find(key) {
                Some(e) => {
                    if !p.replace(e, value.json()) {
                        self.map_insert(key, value);
                    }
                    Some(e.value_len())
                }
                None => {
                    self.push_new(key, value);
                    None
                }
            },
            Data::Map(m) => match m.raw_entry_mut_v1().from_key(key) {
                RawEntryMut::Occupied(mut o) => Some(o.insert(value.to_value()).len()),
                RawEntryMut::Vacant(vac) => {
                    vac.insert(Box::from(key), value.to_value());
                    None
                }
            },
        }
    }

    /// Stores `value` under `key` only if `key` does not exist; returns whether it was added.
    pub fn add(&mut self, key: &str, value: &Value) -> bool {
        match self {
            Data::Small(p) => {
                if p.find(key).is_some() {
                    return false;
                }
                self.push_new(key, value);
                true
            }
            Data::Map(m) => match m.raw_entry_mut_v1().from_key(key) {
                RawEntryMut::Occupied(_) => false,
                RawEntryMut::Vacant(vac) => {
                    vac.insert(Box::from(key), value.clone());
                    true
                }
            },
        }
    }

    /// Removes `key`, returning the length of its value's text. The last key takes the removed
    /// one's place, so order is kept only while nothing is removed (all §7.2 asks).
    pub fn remove(&mut self, key: &str) -> Option<usize> {
        match self {
            Data::Small(p) => {
                let e = p.find(key)?;
                p.swap_remove(e);
                Some(e.value_len())
            }
            Data::Map(m) => m.swap_remove(key).map(|v| v.len()),
        }
    }

    /// Takes every key out, leaving the map empty; the caller drops the result (ideally after
    /// releasing its lock, since freeing many values takes time).
    pub fn take(&mut self) -> Data {
        mem::take(self)
    }

    /// Every `(key, value JSON text)`, in insertion order while nothing was removed.
    pub fn iter(&self) -> DataIter<'_> {
        match self {
            Data::Small(p) => DataIter::Small(p.iter()),
            Data::Map(m) => DataIter::Map(m.iter()),
        }
    }

    /// Approximate bytes held by the keys, for memory accounting.
    pub fn bytes(&self) -> u64 {
        self.iter().map(|(k, v)| entry_bytes(k, v.len())).sum()
    }

    /// Appends a key known to be absent, moving to a map when the packed form would be too big.
    fn push_new<V: ValueText + ?Sized>(&mut self, key: &str, value: &V) {
        if let Data::Small(p) = self {
            if p.len() < SMALL_MAX && p.push(key, value.json()) {
                return;
            }
        }
        self.map_insert(key, value);
    }

    /// Stores `key` in the map form, moving packed keys into a map first (same order).
    fn map_insert<V: ValueText + ?Sized>(&mut self, key: &str, value: &V) {
        let mut map = match mem::take(self) {
            Data::Map(m) => m,
            Data::Small(p) => {
                let mut map =
                    KeyMap::with_capacity_and_hasher(SMALL_MAX * 2, DefaultHashBuilder::default());
                for (k, v) in p.iter() {
                    map.insert(Box::from(k), Value::from_json_unchecked(v));
                }
                Box::new(map)
            }
        };
        // An existing key keeps its place.
        map.insert(Box::from(key), value.to_value());
        *self = Data::Map(map);
    }
}

impl From<Vec<(String, Value)>> for Data {
    /// The keys set in order, as [`Data::set`] would.
    fn from(keys: Vec<(String, Value)>) -> Self {
        let mut data = DataBuilder::default();
        for (k, v) in &keys {
            data.set(k, v);
        }
        data.finish()
    }
}

/// Iterator over a session's keys and values (JSON text).
pub enum DataIter<'a> {
    /// Over the packed block.
    Small(PackedIter<'a>),
    /// Over the map.
    Map(indexmap::map::Iter<'a, Box<str>, Value>),
}

impl<'a> Iterator for DataIter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            DataIter::Small(it) => it.next(),
            DataIter::Map(it) => it.next().map(|(k, v)| (&**k, v.as_json())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::packed::SMALL_BYTES_MAX;
    use super::super::Session;
    use super::*;

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
            "size_of Session = {}, Data = {}",
            mem::size_of::<Session>(),
            mem::size_of::<Data>()
        );
        assert!(mem::size_of::<Data>() <= 16);
        let mut d = Data::default();
        d.set("a", &v("1"));
        d.set("bb", &v("\"xy\""));
        match &d {
            // count, then 1 "a" 1 "1", then 2 "bb" 4 "\"xy\"": one exactly-sized block.
            Data::Small(p) => assert_eq!(p.0.len(), 1 + 2 + 2 + 3 + 5),
            Data::Map(_) => panic!("2 keys must stay in the packed form"),
        }
        assert_eq!(d.get("bb"), Some("\"xy\""));
        assert_eq!(d.get("b"), None);
    }

    #[test]
    fn insertion_order_kept_across_upgrade() {
        let mut d = Data::default();
        let names: Vec<String> = (0..20).map(|i| format!("k{i}")).collect();
        for (i, n) in names.iter().enumerate() {
            assert!(d.set(n, &v(&i.to_string())).is_none());
            assert_eq!(matches!(d, Data::Map(_)), i >= SMALL_MAX);
        }
        assert_eq!(
            keys(&d),
            names.iter().map(String::as_str).collect::<Vec<_>>()
        );
        assert_eq!(d.get("k7"), Some("7"));
    }

    #[test]
    fn large_values_move_to_the_map_in_order() {
        let mut d = Data::default();
        d.set("a", &v("1"));
        d.set("b", &v("2"));
        let big = format!("\"{}\"", "x".repeat(SMALL_BYTES_MAX));
        // Overwriting in place with a value too big for the block keeps the key's place.
        assert_eq!(d.set("a", &v(&big)), Some(1));
        assert!(matches!(d, Data::Map(_)));
        assert_eq!(keys(&d), ["a", "b"]);
        assert_eq!(d.get("a"), Some(big.as_str()));
        let mut e = Data::default();
        e.set("a", &v("1"));
        assert!(e.add("big", &v(&big)));
        assert!(matches!(e, Data::Map(_)));
        assert_eq!(keys(&e), ["a", "big"]);
    }

    #[test]
    fn same_length_overwrite_keeps_the_block_and_order() {
        let mut d = Data::default();
        d.set("a", &v("11"));
        d.set("b", &v("22"));
        let before = match &d {
            Data::Small(p) => p.0.as_ptr(),
            Data::Map(_) => panic!("packed expected"),
        };
        assert_eq!(d.set("a", &v("33")), Some(2));
        match &d {
            Data::Small(p) => assert_eq!(p.0.as_ptr(), before, "rewritten in place"),
            Data::Map(_) => panic!("packed expected"),
        }
        assert_eq!(d.iter().collect::<Vec<_>>(), [("a", "33"), ("b", "22")]);
        // A different length rewrites the block, still in place order-wise.
        assert_eq!(d.set("a", &v("4")), Some(2));
        assert_eq!(d.iter().collect::<Vec<_>>(), [("a", "4"), ("b", "22")]);
    }

    #[test]
    fn removal_moves_the_last_key_into_the_hole() {
        for n in [4usize, 12] {
            let mut d = Data::default();
            for i in 0..n {
                d.set(&format!("k{i}"), &v(&i.to_string()));
            }
            assert_eq!(d.remove("k1"), Some(1));
            let mut want: Vec<String> = (0..n).map(|i| format!("k{i}")).collect();
            want.swap_remove(1);
            assert_eq!(
                keys(&d),
                want.iter().map(String::as_str).collect::<Vec<_>>()
            );
            // Removing the last key leaves the others in order.
            let last = want.pop().unwrap_or_default();
            assert_eq!(d.remove(&last), Some(last[1..].len()));
            assert_eq!(
                keys(&d),
                want.iter().map(String::as_str).collect::<Vec<_>>()
            );
            assert_eq!(d.get("k0"), Some("0"));
        }
        let mut one = Data::default();
        one.set("a", &v("1"));
        assert_eq!(one.remove("a"), Some(1));
        assert!(one.is_empty());
        assert_eq!(one.iter().count(), 0);
    }

    #[test]
    fn set_overwrites_add_does_not() {
        for n in [2usize, 12] {
            let mut d = Data::default();
            for i in 0..n {
                d.set(&format!("k{i}"), &v("0"));
            }
            assert_eq!(d.set("k1", &v("99")), Some(1));
            assert!(!d.add("k1", &v("5")));
            assert_eq!(d.get("k1"), Some("99"));
            assert!(d.add("new", &v("5")));
            assert_eq!(d.len(), n + 1);
            assert_eq!(
                d.bytes(),
                d.iter().map(|(k, v)| entry_bytes(k, v.len())).sum()
            );
            assert_eq!(d.remove("k1"), Some(2));
            assert_eq!(d.remove("k1"), None);
            assert!(!d.contains("k1"));
            assert_eq!(d.len(), n);
            let taken = d.take();
            assert_eq!(taken.len(), n);
            assert!(d.is_empty());
        }
    }
}
