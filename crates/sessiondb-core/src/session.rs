//! One session: settings, deadline and an ordered key → value map.

use std::mem;

use hashbrown::DefaultHashBuilder;
use indexmap::map::raw_entry_v1::RawEntryMut;
use indexmap::map::RawEntryApiV1;
use indexmap::IndexMap;

use crate::base::{Expiry, Token};
use crate::value::Value;

/// An ordered hash map of keys; the hasher is seeded per map so clients cannot aim collisions.
pub type KeyMap = IndexMap<Box<str>, Value, DefaultHashBuilder>;

/// Up to this many keys live in one packed buffer (scanned linearly); beyond, in a [`KeyMap`].
/// Most sessions hold a handful of keys, and one buffer costs far less memory than a map.
const SMALL_MAX: usize = 8;

/// A packed buffer may not grow past this many bytes: rewriting it on a change copies all of it,
/// so sessions with large values move to a [`KeyMap`], where a change touches one value.
const SMALL_BYTES_MAX: usize = 1024;

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

/// Up to 8 keys packed in one exactly-sized heap block: a count byte, then per key
/// `varint(key len) key varint(value len) value` (key text, then the value's minified JSON
/// text), in insertion order. A get follows one pointer; an empty session allocates nothing.
/// A change rewrites the block (at most 1 KiB), except a same-length overwrite, done in place.
#[derive(Debug, Clone, Default)]
pub struct Packed(Box<[u8]>);

/// Where one key's entry lies in a [`Packed`] block: it starts at `start`, its value's text at
/// `value`, and it ends at `end`.
#[derive(Clone, Copy)]
struct PackedEntry {
    start: usize,
    value: usize,
    end: usize,
}

impl PackedEntry {
    /// Bytes of the value's text.
    fn value_len(self) -> usize {
        self.end - self.value
    }
}

impl Packed {
    /// Number of keys.
    fn len(&self) -> usize {
        self.0.first().map_or(0, |&n| usize::from(n))
    }

    /// The value of `key`.
    fn get(&self, key: &str) -> Option<&str> {
        let e = self.find(key)?;
        text(self.0.get(e.value..e.end)?)
    }

    /// The entry of `key`. Compares bytes: only the text this returns is checked as UTF-8.
    fn find(&self, key: &str) -> Option<PackedEntry> {
        find_entry(&self.0, key)
    }

    /// The key, value and end offset of the entry at `at` (`None` past the last).
    fn entry_at(&self, at: usize) -> Option<(&str, &str, usize)> {
        let (k, at) = field(&self.0, at)?;
        let (v, end) = field(&self.0, at)?;
        Some((text(k)?, text(v)?, end))
    }

    /// Every `(key, value)`, in order.
    fn iter(&self) -> PackedIter<'_> {
        PackedIter {
            packed: self,
            at: 1,
        }
    }

    /// Appends a key; false (nothing changed) if the block would exceed [`SMALL_BYTES_MAX`].
    fn push(&mut self, key: &str, value: &str) -> bool {
        let body = if self.0.is_empty() { 1 } else { self.0.len() };
        let len = body + field_len(key) + field_len(value);
        if len > SMALL_BYTES_MAX {
            return false;
        }
        let mut buf = Vec::with_capacity(len);
        buf.push(1 + self.len() as u8);
        buf.extend_from_slice(self.0.get(1..).unwrap_or_default());
        put_field(&mut buf, key);
        put_field(&mut buf, value);
        self.0 = buf.into_boxed_slice();
        true
    }

    /// Replaces the value of entry `e` (keeping its place); false (nothing changed) if the
    /// block would exceed [`SMALL_BYTES_MAX`].
    fn replace(&mut self, e: PackedEntry, value: &str) -> bool {
        // Same length (a counter, a timestamp, a fixed-size token): overwrite in place.
        if let Some(old) = self.0.get_mut(e.value..e.end) {
            if old.len() == value.len() {
                old.copy_from_slice(value.as_bytes());
                return true;
            }
        }
        let Some((key, _, _)) = self.entry_at(e.start) else {
            return false;
        };
        let entry_len = field_len(key) + field_len(value);
        let len = self.0.len() - (e.end - e.start) + entry_len;
        if len > SMALL_BYTES_MAX {
            return false;
        }
        let mut buf = Vec::with_capacity(len);
        buf.extend_from_slice(&self.0[..e.start]);
        put_field(&mut buf, key);
        put_field(&mut buf, value);
        buf.extend_from_slice(&self.0[e.end..]);
        self.0 = buf.into_boxed_slice();
        true
    }

    /// Removes entry `e`, moving the last entry into its place (as `Vec::swap_remove` does).
    fn swap_remove(&mut self, e: PackedEntry) {
        let n = self.len();
        if n <= 1 {
            self.0 = Box::default();
            return;
        }
        // The last entry starts where the one before it ends.
        let mut last = 1;
        while let Some((_, _, end)) = self.entry_at(last) {
            if end >= self.0.len() {
                break;
            }
            last = end;
        }
        let removed = e.end - e.start;
        let mut buf = Vec::with_capacity(self.0.len() - removed);
        buf.push(n as u8 - 1);
        buf.extend_from_slice(&self.0[1..e.start]);
        if e.start != last {
            buf.extend_from_slice(&self.0[last..]);
            buf.extend_from_slice(&self.0[e.end..last]);
        }
        self.0 = buf.into_boxed_slice();
    }
}

/// The entry of `key` in packed block bytes `block` (count byte first).
fn find_entry(block: &[u8], key: &str) -> Option<PackedEntry> {
    let mut at = 1;
    loop {
        let (k, value_at) = field(block, at)?;
        let (v, end) = field(block, value_at)?;
        if k == key.as_bytes() {
            return Some(PackedEntry {
                start: at,
                value: end - v.len(),
                end,
            });
        }
        at = end;
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

/// Builds one session's keys at a time from records read in bulk (dataset loads, journal
/// replay), reusing one buffer: a packed session is allocated once, at its final size, instead
/// of once per key as [`Data::set`] must. The result is what setting the keys in order with
/// [`Data::set`] gives, duplicates and the move to a map included.
#[derive(Debug, Default)]
pub struct DataBuilder {
    /// The packed block so far (count byte first; empty while no key is packed).
    packed: Vec<u8>,
    /// Set once a key does not fit the packed form (or repeats one): the rest goes through
    /// [`Data::set`].
    spilled: Option<Data>,
}

impl DataBuilder {
    /// Sets `key` to `value` (JSON text already validated and minified, or a [`Value`]).
    pub fn set<V: ValueText + ?Sized>(&mut self, key: &str, value: &V) {
        if let Some(data) = &mut self.spilled {
            data.set(key, value);
            return;
        }
        let json = value.json();
        let count = self.packed.first().map_or(0, |&n| usize::from(n));
        let body = self.packed.len().max(1);
        let fits = count < SMALL_MAX && body + field_len(key) + field_len(json) <= SMALL_BYTES_MAX;
        if fits && find_entry(&self.packed, key).is_none() {
            if self.packed.is_empty() {
                self.packed.push(0);
            }
            self.packed[0] = count as u8 + 1;
            put_field(&mut self.packed, key);
            put_field(&mut self.packed, json);
            return;
        }
        let mut data = self.take_packed();
        data.set(key, value);
        self.spilled = Some(data);
    }

    /// The keys set since the last `finish`; the builder is empty again afterwards.
    pub fn finish(&mut self) -> Data {
        match self.spilled.take() {
            Some(data) => data,
            None => self.take_packed(),
        }
    }

    fn take_packed(&mut self) -> Data {
        let data = Data::Small(Packed(self.packed.as_slice().into()));
        self.packed.clear();
        data
    }
}

/// Bytes a field takes: its LEB128 length prefix and its text.
fn field_len(text: &str) -> usize {
    let mut n = text.len();
    let mut prefix = 1;
    while n >= 0x80 {
        n >>= 7;
        prefix += 1;
    }
    prefix + text.len()
}

/// Appends `text` with its LEB128 length prefix.
fn put_field(buf: &mut Vec<u8>, text: &str) {
    let mut n = text.len();
    while n >= 0x80 {
        buf.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
    buf.extend_from_slice(text.as_bytes());
}

/// The field at `at` of `buf` and the offset after it; `None` at the end (or on a malformed
/// block, which only this module writes).
fn field(buf: &[u8], mut at: usize) -> Option<(&[u8], usize)> {
    let mut len = 0usize;
    let mut shift = 0;
    loop {
        let b = *buf.get(at)?;
        at += 1;
        len |= usize::from(b & 0x7f) << shift;
        if b < 0x80 {
            break;
        }
        shift += 7;
        if shift >= usize::BITS {
            return None;
        }
    }
    let end = at.checked_add(len)?;
    Some((buf.get(at..end)?, end))
}

/// A field's bytes as text. Fields are written from `&str`s, so this always succeeds; it is
/// checked rather than assumed because the crate has no `unsafe`.
fn text(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}

/// Iterator over a [`Packed`] block.
pub struct PackedIter<'a> {
    packed: &'a Packed,
    at: usize,
}

impl<'a> Iterator for PackedIter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let (k, v, end) = self.packed.entry_at(self.at)?;
        self.at = end;
        Some((k, v))
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

/// A session (`PROTOCOL.md` §7.1).
///
/// Shard tables hold sessions boxed (an 8-byte slot each), so this is one heap block per session,
/// laid out to fit the allocator's 64-byte size class (a unit test keeps it there): the name,
/// rare, is a thin pointer, and the expiry settings are kept as a duration and a flags byte
/// (read them with [`Session::expiry`]) instead of an [`Expiry`] and its padding.
#[derive(Debug, Clone)]
pub struct Session {
    /// Its token: the key its shard's table finds it by.
    pub tkn: Token,
    /// Whether the session is shared (its token derives from its name).
    pub shared: bool,
    /// Optional name (a label, or the name a shared token derives from), boxed twice so that the
    /// pointer is thin: 8 bytes here instead of 16 for a field most sessions leave empty.
    name: Option<Box<Box<str>>>,
    /// `Expiry::duration_secs`; 0 never expires.
    duration_secs: u64,
    /// The other `Expiry` fields, as bits ([`DELETE_SESSION`] and so on).
    expiry_flags: u8,
    /// When the session is due, in Unix ms (`u64::MAX` when it never expires).
    pub deadline_ms: u64,
    /// The deadline under which the store's deadline index currently files this session (see
    /// `expiry::DeadlineIndex`); always ≤ `deadline_ms` for a session that expires.
    pub(crate) indexed_ms: u64,
    /// The session's keys.
    pub data: Data,
}

/// `Session::expiry_flags` bit of `Expiry::delete_session`.
const DELETE_SESSION: u8 = 1;
/// `Session::expiry_flags` bit of `Expiry::extend_on_set_add`.
const EXTEND_ON_SET_ADD: u8 = 2;
/// `Session::expiry_flags` bit of `Expiry::extend_on_get`.
const EXTEND_ON_GET: u8 = 4;

impl Session {
    /// A session with these settings and keys, not yet filed in any deadline index.
    pub fn new(
        tkn: Token,
        shared: bool,
        name: Option<Box<str>>,
        expiry: Expiry,
        deadline_ms: u64,
        data: Data,
    ) -> Self {
        let flag = |on: bool, bit: u8| if on { bit } else { 0 };
        Self {
            tkn,
            shared,
            name: name.map(Box::new),
            duration_secs: expiry.duration_secs,
            expiry_flags: flag(expiry.delete_session, DELETE_SESSION)
                | flag(expiry.extend_on_set_add, EXTEND_ON_SET_ADD)
                | flag(expiry.extend_on_get, EXTEND_ON_GET),
            deadline_ms,
            indexed_ms: u64::MAX,
            data,
        }
    }

    /// Its name, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref().map(|n| &**n)
    }

    /// Its expiry settings; `duration_secs == 0` never expires.
    #[inline]
    pub fn expiry(&self) -> Expiry {
        Expiry {
            duration_secs: self.duration_secs,
            delete_session: self.expiry_flags & DELETE_SESSION != 0,
            extend_on_set_add: self.expiry_flags & EXTEND_ON_SET_ADD != 0,
            extend_on_get: self.expiry_flags & EXTEND_ON_GET != 0,
        }
    }
}

/// Approximate bytes a session costs besides its keys: its table slot, its boxed [`Session`]
/// and its name.
pub fn session_bytes(name: Option<&str>) -> u64 {
    let name = name.map_or(0, |n| mem::size_of::<Box<str>>() + n.len());
    (mem::size_of::<Box<Session>>() + mem::size_of::<Session>() + name) as u64
}

#[cfg(test)]
mod tests {
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
    fn session_fits_the_64_byte_size_class() {
        // Shard tables hold sessions boxed: one more byte and each costs an 80-byte block.
        assert!(
            mem::size_of::<Session>() <= 64,
            "size_of Session = {}",
            mem::size_of::<Session>()
        );
        assert_eq!(mem::size_of::<Option<Box<Box<str>>>>(), 8);
    }

    #[test]
    fn expiry_settings_round_trip_through_the_flags() {
        for bits in 0..8u8 {
            let expiry = Expiry {
                duration_secs: u64::MAX - u64::from(bits),
                delete_session: bits & 1 != 0,
                extend_on_set_add: bits & 2 != 0,
                extend_on_get: bits & 4 != 0,
            };
            let s = Session::new(7, bits == 3, None, expiry, 5, Data::default());
            assert_eq!(s.expiry(), expiry);
            assert_eq!((s.tkn, s.shared, s.deadline_ms), (7, bits == 3, 5));
            assert_eq!(s.name(), None);
        }
        let named = Session::new(
            1,
            true,
            Some("café".into()),
            Expiry::default(),
            0,
            Data::default(),
        );
        assert_eq!(named.name(), Some("café"));
        assert_eq!(named.expiry(), Expiry::default());
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
    fn lengths_past_one_prefix_byte_round_trip() {
        // 200-byte text needs a two-byte length prefix.
        let long_key = "k".repeat(200);
        let long_val = format!("\"{}\"", "v".repeat(300));
        let mut d = Data::default();
        d.set(&long_key, &v(&long_val));
        d.set("z", &v("0"));
        assert!(matches!(d, Data::Small(_)));
        assert_eq!(d.get(&long_key), Some(long_val.as_str()));
        assert_eq!(
            d.iter().collect::<Vec<_>>(),
            [(long_key.as_str(), long_val.as_str()), ("z", "0")]
        );
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

    #[test]
    fn builder_gives_what_sets_in_order_give() {
        let big = format!("\"{}\"", "x".repeat(600));
        let cases: Vec<Vec<(String, String)>> = vec![
            vec![],
            (0..5)
                .map(|i| (format!("key{i}"), format!("\"v{i}\"")))
                .collect(),
            (0..12).map(|i| (format!("k{i}"), i.to_string())).collect(),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "2".into()),
                ("a".into(), "3".into()),
            ],
            vec![
                ("a".into(), big.clone()),
                ("b".into(), big.clone()),
                ("c".into(), "1".into()),
            ],
            vec![("a".into(), "1".into()), ("a".into(), big)],
        ];
        let mut builder = DataBuilder::default();
        for keys in cases {
            let mut expected = Data::default();
            for (k, j) in &keys {
                expected.set(k, &v(j));
                builder.set(k, j.as_str());
            }
            let built = builder.finish();
            assert_eq!(
                built.iter().collect::<Vec<_>>(),
                expected.iter().collect::<Vec<_>>(),
                "{keys:?}"
            );
            assert_eq!(
                matches!(built, Data::Small(_)),
                matches!(expected, Data::Small(_)),
                "{keys:?}"
            );
        }
        // Reused after finish: nothing carried over.
        assert!(builder.finish().is_empty());
    }
}
