//! A session's keys: an ordered map of key to JSON value text, packed in one block while the
//! session is small ([`Packed`]) and a hash map beyond.

use std::mem;

use hashbrown::DefaultHashBuilder;
use indexmap::map::raw_entry_v1::RawEntryMut;
use indexmap::map::RawEntryApiV1;
use indexmap::IndexMap;

use super::deadlines::KeyDeadlines;
use super::packed::{Packed, PackedIter, SMALL_MAX};
use super::DataBuilder;
use crate::footprint;
use crate::value::Value;

/// An ordered hash map of keys; the hasher is seeded per map so clients cannot aim collisions.
pub type KeyMap = IndexMap<Box<str>, Value, DefaultHashBuilder>;

/// Bytes of one entry of a [`KeyMap`]'s entry vector: the key's hash, the key and the value.
const MAP_ENTRY: usize = mem::size_of::<(u64, Box<str>, Value)>();

/// Bytes of one slot of a [`KeyMap`]'s index table: an entry's position.
const MAP_INDEX: usize = mem::size_of::<usize>();

/// Bytes a key of a session's map costs at most, besides the blocks of its text and value
/// ([`map_key_blocks`]): its entry and its index slot, both in tables that may have just doubled.
const MAP_SLOTS_MAX: u64 = 2 * (MAP_ENTRY + MAP_INDEX + 1) as u64;

/// Bytes a stored key may add, for the memory limit's check before a write (`value_len`: bytes
/// of the value's JSON text). An upper estimate: the key in a session's map whose tables have
/// just doubled (a packed key costs less, a top-level key about the same); what a write really
/// added is counted after it ([`Data::bytes`]).
pub fn entry_bytes(key: &str, value_len: usize) -> u64 {
    map_key_blocks(key.len(), value_len) + MAP_SLOTS_MAX
}

/// Bytes the allocator holds for one key of a session's map: the key's text and the value's
/// block, if it has one.
fn map_key_blocks(key_len: usize, value_len: usize) -> u64 {
    footprint::alloc(key_len) + footprint::alloc(Value::heap_len_for(value_len))
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
    Map(Box<Keyed>),
}

/// The map form of a session's keys, with what their blocks cost the allocator.
#[derive(Debug, Clone)]
pub struct Keyed {
    map: KeyMap,
    /// Sum of [`map_key_blocks`] over the keys.
    blocks: u64,
    /// The map's capacity when `written` was last reset.
    capacity: usize,
    /// Entries of the entry vector's current block ever written: the most keys held since it
    /// was last reallocated (which copies the keys held then).
    written: usize,
    /// Deadlines of single keys, when any key has one (every key named is held).
    deadlines: Option<Box<KeyDeadlines>>,
}

impl Keyed {
    /// An empty map with room for `capacity` keys.
    fn with_capacity(capacity: usize) -> Self {
        let map = KeyMap::with_capacity_and_hasher(capacity, DefaultHashBuilder::default());
        Self {
            capacity: map.capacity(),
            map,
            blocks: 0,
            written: 0,
            deadlines: None,
        }
    }

    /// Makes room for `additional` more keys at once.
    fn reserve(&mut self, additional: usize) {
        self.map.reserve(additional);
        self.resized();
    }

    /// Notes a change of the number of keys or of the capacity (a reallocation).
    fn resized(&mut self) {
        let capacity = self.map.capacity();
        if capacity != self.capacity {
            self.capacity = capacity;
            self.written = self.map.len();
        } else {
            self.written = self.written.max(self.map.len());
        }
    }

    /// Stores `value` under `key`, overwriting (an existing key keeps its place); the length of
    /// the previous value's text.
    fn set(&mut self, key: &str, value: Value) -> Option<usize> {
        let new = footprint::alloc(value.heap_len());
        match self.map.raw_entry_mut_v1().from_key(key) {
            RawEntryMut::Occupied(mut o) => {
                let old = o.insert(value);
                self.blocks = self.blocks + new - footprint::alloc(old.heap_len());
                // A key written again without a deadline has none (as Redis's HSET does).
                self.clear_deadline(key);
                Some(old.len())
            }
            RawEntryMut::Vacant(vac) => {
                vac.insert(Box::from(key), value);
                self.blocks += footprint::alloc(key.len()) + new;
                self.resized();
                None
            }
        }
    }

    /// Removes `key`'s deadline, if any, dropping the deadline table once it is empty.
    #[inline]
    fn clear_deadline(&mut self, key: &str) {
        if let Some(d) = &mut self.deadlines {
            if d.remove(key) && d.is_empty() {
                self.deadlines = None;
            }
        }
    }

    /// Bytes the allocator holds for the map: its own block, its entry vector and index table
    /// (spare room included), every key's blocks, and the key deadlines.
    fn bytes(&self) -> u64 {
        // The entry vector is kept as large as the index table's capacity (`IndexMap` reserves
        // it so), which is what `capacity()` reports.
        footprint::alloc(mem::size_of::<Self>())
            + footprint::vec(self.written, self.capacity, MAP_ENTRY)
            + footprint::table(self.capacity, MAP_INDEX)
            + self.blocks
            + self.deadlines.as_ref().map_or(0, |d| d.bytes())
    }
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
            Data::Map(m) => m.map.len(),
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
            Data::Map(m) => m.map.get(key).map(Value::as_json),
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
            Data::Map(m) => m.set(key, value.to_value()),
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
            Data::Map(m) => {
                if m.map.contains_key(key) {
                    return false;
                }
                m.set(key, value.clone());
                true
            }
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
            Data::Map(m) => {
                let len = m.map.swap_remove(key)?.len();
                m.blocks -= map_key_blocks(key.len(), len);
                m.resized();
                m.clear_deadline(key);
                Some(len)
            }
        }
    }

    /// Sets (`Some`, Unix ms) or removes (`None`) the deadline of `key`; false, changing
    /// nothing, when `key` does not exist. A first deadline moves packed keys into the map form,
    /// which is where deadlines are kept.
    pub fn set_key_deadline(&mut self, key: &str, deadline_ms: Option<u64>) -> bool {
        if !self.contains(key) {
            return false;
        }
        match deadline_ms {
            None => {
                if let Data::Map(m) = self {
                    m.clear_deadline(key);
                }
            }
            Some(d) => {
                self.move_to_map();
                if let Data::Map(m) = self {
                    m.deadlines.get_or_insert_with(Box::default).set(key, d);
                }
            }
        }
        true
    }

    /// The deadline of `key`, if it has one.
    pub fn key_deadline(&self, key: &str) -> Option<u64> {
        self.key_deadlines()?.get(key)
    }

    /// The deadlines of single keys, if any key has one.
    #[inline]
    pub fn key_deadlines(&self) -> Option<&KeyDeadlines> {
        match self {
            Data::Small(_) => None,
            Data::Map(m) => m.deadlines.as_deref(),
        }
    }

    /// The earliest deadline of a key (`u64::MAX` when no key has one): the one comparison the
    /// check on every access costs.
    #[inline]
    pub fn next_key_deadline(&self) -> u64 {
        self.key_deadlines()
            .map_or(u64::MAX, KeyDeadlines::earliest)
    }

    /// Keys visible at `now_ms`: those held, less those past their deadline that the sweep or
    /// an access has not removed yet.
    pub fn live_len(&self, now_ms: u64) -> usize {
        let due = match self.key_deadlines() {
            Some(d) if d.earliest() <= now_ms => d.due(now_ms).count(),
            _ => 0,
        };
        self.len() - due
    }

    /// Moves packed keys into the map form (same order); a map stays as it is.
    fn move_to_map(&mut self) {
        if let Data::Small(p) = self {
            let mut map = Keyed::with_capacity(SMALL_MAX * 2);
            for (k, v) in p.iter() {
                map.set(k, Value::from_json_unchecked(v));
            }
            *self = Data::Map(Box::new(map));
        }
    }

    /// Makes room for `additional` more keys at once when that many are about to be written, so
    /// the map's tables are allocated once at their final size instead of doubling (each
    /// doubling briefly holds the old tables and the new).
    pub fn reserve(&mut self, additional: usize) {
        if additional <= SMALL_MAX {
            return;
        }
        if let Data::Small(p) = self {
            let mut map = Keyed::with_capacity(p.len() + additional);
            for (k, v) in p.iter() {
                map.set(k, Value::from_json_unchecked(v));
            }
            *self = Data::Map(Box::new(map));
        } else if let Data::Map(m) = self {
            m.reserve(additional);
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
            Data::Map(m) => DataIter::Map(m.map.iter()),
        }
    }

    /// Bytes the allocator holds for the keys, for memory accounting: the packed block, or the
    /// map with its spare room and every key's blocks. Constant time.
    pub fn bytes(&self) -> u64 {
        match self {
            Data::Small(p) => footprint::alloc(p.0.len()),
            Data::Map(m) => m.bytes(),
        }
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
        self.move_to_map();
        if let Data::Map(m) = self {
            m.set(key, value.to_value());
        }
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
            assert_eq!(d.bytes(), recount(&d));
            assert_eq!(d.remove("k1"), Some(2));
            assert_eq!(d.remove("k1"), None);
            assert!(!d.contains("k1"));
            assert_eq!(d.len(), n);
            let taken = d.take();
            assert_eq!(taken.len(), n);
            assert!(d.is_empty());
        }
    }

    /// [`Data::bytes`] recounted from the layout.
    fn recount(d: &Data) -> u64 {
        match d {
            Data::Small(p) => footprint::alloc(p.0.len()),
            Data::Map(m) => {
                let capacity = m.map.capacity();
                footprint::alloc(mem::size_of::<Keyed>())
                    + footprint::vec(m.written, capacity, MAP_ENTRY)
                    + footprint::table(capacity, MAP_INDEX)
                    + d.iter()
                        .map(|(k, v)| map_key_blocks(k.len(), v.len()))
                        .sum::<u64>()
            }
        }
    }

    #[test]
    fn bytes_follow_every_change_in_both_forms() {
        let mut d = Data::default();
        assert_eq!(d.bytes(), 0);
        d.set("a", &v("1"));
        // The packed block: count, then 1 "a" 1 "1".
        assert_eq!(d.bytes(), footprint::alloc(5));
        for i in 0..300 {
            d.set(&format!("k{i}"), &v(&"7".repeat(i % 50 + 1)));
            assert!(i < SMALL_MAX - 1 || matches!(d, Data::Map(_)));
            assert_eq!(d.bytes(), recount(&d), "{i}");
        }
        for i in (0..300).step_by(3) {
            d.set(&format!("k{i}"), &v("[1]"));
            assert!(d.add(&format!("n{i}"), &v("2")));
            assert!(!d.add(&format!("n{i}"), &v("3")));
            d.remove(&format!("k{}", i + 1));
        }
        assert_eq!(d.bytes(), recount(&d));
        // Tiny keys cost their slots and blocks, several times their text.
        let per_key = d.bytes() / d.len() as u64;
        assert!(per_key > 40, "{per_key}");
        drop(d.take());
        assert_eq!(d.bytes(), 0);
    }
}
