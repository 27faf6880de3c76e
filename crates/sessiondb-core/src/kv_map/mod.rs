//! The top-level key map (`KV_` commands): each key and its value in one heap block.
//!
//! A lookup is on the hot path of `KV_GET`, and with many keys its cost is memory latency: an
//! `IndexMap<Box<str>, Value>` reads its index table, then its entry vector, then the boxed key,
//! then the value's `Arc` block, each read depending on the one before. Here the hash table's slot
//! holds the key's length and one pointer to a block with the key's text followed by the value's
//! JSON text, so a lookup reads the table and that one block. The slot's key length also lets a
//! probe skip a slot whose key has another length without touching its block.
//!
//! Keys are listed (`KV_KEYS`, saves) in insertion order, always: an overwrite keeps a key's
//! place, a removal leaves the others in their order, and a key removed and set again goes to
//! the end (`docs/PROTOCOL.md` §7.2 recommends insertion order while nothing was removed, and
//! NemesisDB's own tests compare `KV_KEYS` with it). Each slot carries the key's insertion
//! number ([`Slot::seq`], in the slot's padding, so a slot still takes 24 bytes); a listing is
//! copied in table order and put in insertion order after the copy, with no lock held
//! ([`snapshot::in_insertion_order`]).
//!
//! The price of the layout is in listings: they visit the blocks in table order, scattered in
//! memory, where the `IndexMap` walked keys allocated in insertion order (with 1M keys, about
//! twice as long). Listings and saves copy the map a part at a time, without stopping other
//! clients for the whole copy ([`snapshot()`]).
//!
//! The keys are split into [`PARTS`] hash tables, a key's part chosen by bits of its hash that the
//! tables do not use ([`part`]). A hash table grows by doubling, and the insert that makes it
//! grow moves every slot it holds, under the map's lock, while every `KV_` command on every
//! connection waits: with one table and millions of keys that single `KV_SET` took hundreds of
//! milliseconds (`tests/kv_growth_bench.rs`; figures in BENCHMARKS.md). A part holds about 1/64
//! of the keys, so its growth moves about 1/64 of them and the pause is roughly 1/64 as long. The
//! parts fill evenly and so grow at nearly the same key counts, but each `KV_SET` pays for at
//! most one of them, and other commands get the lock in between. The total work of growing is the same as one table's
//! (each slot is still moved once per doubling), and so is the memory per key on average (each
//! part's load swings between the same bounds as one table's would); the parts' 64 table headers
//! cost 2 KiB per store, and empty parts allocate nothing. Listings visit the parts one by one,
//! each in its table order.

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::footprint;

mod snapshot;

use snapshot::Pending;
pub(crate) use snapshot::{snapshot, Taken};

/// A map of top-level keys to JSON values. `S` is the hasher; the default is seeded per map so
/// clients cannot aim collisions (tests use a constant one to force them).
#[derive(Debug)]
pub(crate) struct KvMap<S = DefaultHashBuilder> {
    /// The keys, in [`PARTS`] tables; a key is in `parts[part(hash)]`.
    parts: Box<[HashTable<Slot>; PARTS]>,
    /// Keys in all the parts.
    len: usize,
    /// Bytes the allocator holds for the parts' tables (spare slots included) and the keys'
    /// blocks.
    bytes: u64,
    hasher: S,
    /// Snapshots being copied ([`snapshot()`]), each owed a copy of the parts it has not copied
    /// yet; a write to such a part copies it first ([`KvMap::before_write`]).
    snapshots: Vec<Pending>,
    /// The id the next snapshot gets.
    next_snapshot: u64,
    /// The insertion number the next new key gets ([`Slot::seq`]).
    next_seq: u32,
}

impl<S: Default> KvMap<S> {
    /// An empty map. (No `Default`: `std::mem::take` of a map would take its registered
    /// snapshots with it; [`KvMap::take_all`] keeps them.)
    pub(crate) fn new() -> Self {
        Self {
            parts: empty_parts(),
            len: 0,
            bytes: 0,
            hasher: S::default(),
            snapshots: Vec::new(),
            next_snapshot: 0,
            next_seq: 0,
        }
    }
}

/// [`PARTS`] empty tables. An empty `HashTable` allocates nothing: this is the one 2 KiB block of
/// headers.
fn empty_parts() -> Box<[HashTable<Slot>; PARTS]> {
    Box::new(std::array::from_fn(|_| HashTable::new()))
}

/// How many tables the keys are split into: the growth of one part moves about `1 / PARTS` of
/// the keys, so the longest pause an insert can cause is about `1 / PARTS` of one table's. 64, as
/// many as the store's default number of session shards: enough to bring the pause at 2M keys to
/// a few milliseconds, while more parts would mostly add headers and partly-filled tables to small
/// stores. A power of two, so that [`part`] takes bits of the hash.
const PARTS: usize = 64;

/// The lowest of the hash bits that choose a key's part (bits 50..56 for 64 parts). Every key of
/// a part has the same part bits, so they must be bits the part's table does not use: hashbrown
/// takes a key's bucket from the LOW bits of its hash (as many as the table has buckets: it would
/// need 2^50 buckets to reach bit 50) and the 7-bit tag it keeps in the control bytes from the
/// TOP 7 bits (57..64). Part bits taken from the low end would leave each part's keys 1/64 of its
/// buckets, and from the top end 1/64 of the tag values (so more key comparisons per probe).
const PART_SHIFT: u32 = 50;

// The part bits stay clear of the tag bits.
const _: () = assert!(
    PARTS.is_power_of_two() && PART_SHIFT + PARTS.trailing_zeros() <= 64 - 7,
    "part bits overlap hashbrown's tag bits"
);

/// The part of a key whose hash is `hash`.
fn part(hash: u64) -> usize {
    (hash >> PART_SHIFT) as usize & (PARTS - 1)
}

/// One key and its value: 24 bytes in the table, plus the block.
#[derive(Debug)]
struct Slot {
    /// The key's text followed by the value's JSON text, in one allocation.
    text: Box<str>,
    /// Bytes of the key at the start of `text`. A key is at most one message long (256 MiB at
    /// most), or one journal record (1 GiB): far below `u32::MAX`, as the journal's lengths
    /// assume too. A longer key would not be found again, never cut short or misread.
    key_len: u32,
    /// When the key was first inserted, counted per map: listings are ordered by it.
    seq: u32,
}

// Four bytes more per slot would cost about nine per key at the table's usual load.
const _: () = assert!(
    std::mem::size_of::<Slot>() == 24,
    "a slot grew past 24 bytes"
);

impl Slot {
    /// Bytes the allocator holds for the block of a key of `key_len` and a value of `value_len`
    /// bytes.
    fn block_bytes(key_len: usize, value_len: usize) -> u64 {
        footprint::alloc(key_len + value_len)
    }

    fn new(key: &str, value: &str, seq: u32) -> Self {
        let mut text = String::with_capacity(key.len() + value.len());
        text.push_str(key);
        text.push_str(value);
        Self {
            text: text.into_boxed_str(),
            key_len: u32::try_from(key.len()).unwrap_or(u32::MAX),
            seq,
        }
    }

    /// Bytes of the key at the start of the block.
    fn key_len(&self) -> usize {
        self.key_len as usize
    }

    fn key(&self) -> &str {
        self.text.get(..self.key_len()).unwrap_or_default()
    }

    fn value(&self) -> &str {
        self.text.get(self.key_len()..).unwrap_or_default()
    }

    /// Whether this is `key`'s slot; a key of another length is told apart without reading the
    /// block.
    fn is(&self, key: &str) -> bool {
        self.key_len() == key.len() && self.key() == key
    }

    /// Replaces the value, keeping the key where it is: the block is reallocated (in place when
    /// the allocator can), so the key is not copied again.
    fn set_value(&mut self, value: &str) -> usize {
        let old_len = self.text.len() - self.key_len();
        let mut text = String::from(std::mem::take(&mut self.text));
        text.truncate(self.key_len());
        text.reserve_exact(value.len());
        text.push_str(value);
        self.text = text.into_boxed_str();
        old_len
    }
}

impl<S: BuildHasher> KvMap<S> {
    /// Number of keys.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes the allocator holds for the map: its tables, spare slots included, and every key's
    /// block. Constant time.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Counts a change of part `i`'s table from `capacity` slots to what it has now.
    fn table_resized(&mut self, i: usize, capacity: usize) {
        let now = self.parts[i].capacity();
        if now != capacity {
            let slot = std::mem::size_of::<Slot>();
            self.bytes =
                self.bytes + footprint::table(now, slot) - footprint::table(capacity, slot);
        }
    }

    /// True when there are no keys.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The JSON text of `key`'s value.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        let hash = self.hasher.hash_one(key);
        self.parts[part(hash)]
            .find(hash, |s| s.is(key))
            .map(Slot::value)
    }

    /// Whether `key` exists.
    pub(crate) fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Stores `value` under `key`, overwriting; returns the length of the previous value's text.
    /// Hashes the key once.
    pub(crate) fn insert(&mut self, key: &str, value: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(key);
        let i = part(hash);
        self.before_write(i);
        let capacity = self.parts[i].capacity();
        let hasher = &self.hasher;
        let old = match self.parts[i].entry(hash, |s| s.is(key), |s| hasher.hash_one(s.key())) {
            hashbrown::hash_table::Entry::Occupied(mut o) => Some(o.get_mut().set_value(value)),
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(Slot::new(key, value, self.next_seq));
                self.inserted();
                None
            }
        };
        let freed = old.map_or(0, |old| Slot::block_bytes(key.len(), old));
        self.bytes = self.bytes + Slot::block_bytes(key.len(), value.len()) - freed;
        self.table_resized(i, capacity);
        old
    }

    /// Stores `value` under `key` only if `key` is absent; returns whether it did.
    pub(crate) fn insert_new(&mut self, key: &str, value: &str) -> bool {
        let hash = self.hasher.hash_one(key);
        let i = part(hash);
        self.before_write(i);
        let capacity = self.parts[i].capacity();
        let hasher = &self.hasher;
        match self.parts[i].entry(hash, |s| s.is(key), |s| hasher.hash_one(s.key())) {
            hashbrown::hash_table::Entry::Occupied(_) => return false,
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(Slot::new(key, value, self.next_seq));
                self.inserted();
            }
        }
        self.bytes += Slot::block_bytes(key.len(), value.len());
        self.table_resized(i, capacity);
        true
    }

    /// Removes `key`; returns the length of its value's text. A part left mostly empty by
    /// removals is shrunk (hash tables do not shrink by themselves), so a store that once held
    /// many keys does not keep their slots.
    pub(crate) fn remove(&mut self, key: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(key);
        let i = part(hash);
        self.before_write(i);
        let table = &mut self.parts[i];
        let capacity = table.capacity();
        let (gone, _) = table.find_entry(hash, |s| s.is(key)).ok()?.remove();
        self.len -= 1;
        if self.len == 0 {
            self.next_seq = 0;
        }
        let len = table.len();
        if capacity > SHRINK_ABOVE && len < capacity / 8 {
            let hasher = &self.hasher;
            table.shrink_to(len * 2, |s| hasher.hash_one(s.key()));
        }
        let value_len = gone.value().len();
        self.bytes -= Slot::block_bytes(key.len(), value_len);
        self.table_resized(i, capacity);
        Some(value_len)
    }

    /// Counts a key just inserted with insertion number `next_seq`, and takes the next number.
    #[inline]
    fn inserted(&mut self) {
        self.len += 1;
        self.next_seq += 1;
        if self.next_seq == u32::MAX {
            self.renumber();
        }
    }

    /// Numbers the keys 0, 1, … in their insertion order, so that numbers never run out: after
    /// four billion insertions into a map that was never emptied, one pass over all keys.
    #[cold]
    #[inline(never)]
    fn renumber(&mut self) {
        for i in 0..PARTS {
            self.before_write(i);
        }
        let mut slots: Vec<&mut Slot> = self.parts.iter_mut().flat_map(|t| t.iter_mut()).collect();
        slots.sort_unstable_by_key(|s| s.seq);
        for (seq, s) in (0u32..).zip(slots) {
            s.seq = seq;
        }
        // A map holds far fewer than four billion keys (each costs well over 24 bytes).
        self.next_seq = u32::try_from(self.len).unwrap_or(u32::MAX - 1);
    }

    /// Called before anything in part `i` changes: a snapshot being copied that has not copied
    /// that part yet copies it now, as it still is. (A part is copied at the latest before its
    /// first change since the snapshot began, so every copy shows the map as it was then.)
    #[inline]
    fn before_write(&mut self, i: usize) {
        if !self.snapshots.is_empty() {
            self.copy_owed(i);
        }
    }

    /// [`KvMap::before_write`] while snapshots are being copied: rare, so out of line.
    #[cold]
    #[inline(never)]
    fn copy_owed(&mut self, i: usize) {
        for pending in &mut self.snapshots {
            pending.copy_if_owed(i, &self.parts[i]);
        }
    }

    /// Slots allocated in all the parts.
    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.parts.iter().map(HashTable::capacity).sum()
    }
}

/// Parts with at most this many slots are never shrunk: too small to matter (all [`PARTS`] of
/// them at this size hold about 100 KiB of slots).
const SHRINK_ABOVE: usize = 64;

#[cfg(test)]
mod tests {
    use std::hash::{BuildHasherDefault, Hasher};

    use super::snapshot::Copied;
    use super::*;
    use crate::value::Value;

    /// Hashes everything to 0: every key collides, so only the key comparison tells them apart.
    #[derive(Default)]
    struct Zero;

    impl Hasher for Zero {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, _: &[u8]) {}
    }

    type Colliding = KvMap<BuildHasherDefault<Zero>>;

    fn keys<S: BuildHasher>(m: &KvMap<S>) -> Vec<String> {
        // Table order: sorted to compare.
        let mut keys = Copied::of(m, false).keys();
        keys.sort();
        keys
    }

    /// Keys that are prefixes of one another, and values that continue them, so that a wrong
    /// split between key and value would show.
    const PREFIXED: [(&str, &str); 5] = [
        ("", "0"),
        ("a", "\"b\""),
        ("ab", "1"),
        ("abc", "[\"abc\"]"),
        ("a\"b", "{\"a\":\"b\"}"),
    ];

    fn prefixed_map<S: BuildHasher>(m: &mut KvMap<S>) {
        for (k, v) in PREFIXED {
            assert_eq!(m.insert(k, v), None);
        }
        assert_eq!(m.len(), PREFIXED.len());
        for (k, v) in PREFIXED {
            assert_eq!(m.get(k), Some(v), "{k}");
        }
        assert_eq!(m.get("abcd"), None);
        assert_eq!(m.get("b"), None);
    }

    /// [`KvMap::bytes`] recounted from the tables and the blocks.
    fn recount<S: BuildHasher>(m: &KvMap<S>) -> u64 {
        m.parts
            .iter()
            .map(|t| {
                footprint::table(t.capacity(), std::mem::size_of::<Slot>())
                    + t.iter()
                        .map(|s| Slot::block_bytes(s.key().len(), s.value().len()))
                        .sum::<u64>()
            })
            .sum()
    }

    #[test]
    fn bytes_follow_every_change_of_tables_and_blocks() {
        let mut m = KvMap::<DefaultHashBuilder>::new();
        assert_eq!(m.bytes(), 0);
        let names: Vec<String> = (0..5_000).map(|i| format!("k{i}")).collect();
        for (i, k) in names.iter().enumerate() {
            m.insert(k, &"1".repeat(i % 40 + 1));
            if i % 7 == 0 {
                m.insert_new(&format!("new{i}"), "[1,2]");
            }
        }
        assert_eq!(m.bytes(), recount(&m));
        // Overwrites with longer and shorter values, removals that shrink the parts.
        for (i, k) in names.iter().enumerate() {
            if i % 3 == 0 {
                m.insert(k, &"2".repeat(200));
            } else {
                m.remove(k);
            }
        }
        assert_eq!(m.bytes(), recount(&m));
        let grown = m.bytes();
        assert!(grown > 0);
        drop(m.take_all());
        assert_eq!(m.bytes(), 0);
        assert_eq!(recount(&m), 0);
    }

    #[test]
    fn keys_that_prefix_each_other_stay_apart() {
        prefixed_map(&mut KvMap::<DefaultHashBuilder>::new());
        // The same with every hash colliding.
        let mut m = Colliding::new();
        prefixed_map(&mut m);
        assert_eq!(m.remove("a"), Some(3));
        assert_eq!(m.get("a"), None);
        assert_eq!(m.get("ab"), Some("1"));
        assert_eq!(m.remove("a"), None);
        assert_eq!(m.insert("ab", "22"), Some(1));
        assert_eq!(m.get("ab"), Some("22"));
        assert!(m.contains_key(""));
        assert_eq!(keys(&m), ["", "a\"b", "ab", "abc"]);
    }

    #[test]
    fn overwrite_keeps_the_key() {
        let mut m = KvMap::<DefaultHashBuilder>::new();
        m.insert("x", "1");
        m.insert("y", "2");
        assert_eq!(m.insert("x", "\"longer value\""), Some(1));
        assert_eq!(m.get("x"), Some("\"longer value\""));
        assert_eq!(m.insert("x", "3"), Some(14));
        assert_eq!(m.get("x"), Some("3"));
        assert_eq!(m.len(), 2);
        assert_eq!(keys(&m), ["x", "y"]);
        // insert_new leaves an existing key alone.
        assert!(!m.insert_new("x", "4"));
        assert_eq!(m.get("x"), Some("3"));
        assert!(m.insert_new("z", "5"));
        assert_eq!(keys(&m), ["x", "y", "z"]);
    }

    #[test]
    fn long_values_and_keys() {
        let mut m = KvMap::<DefaultHashBuilder>::new();
        let key = "k".repeat(1000);
        let big = format!("\"{}\"", "é".repeat(100_000));
        assert_eq!(m.insert(&key, &big), None);
        assert_eq!(m.get(&key), Some(big.as_str()));
        assert_eq!(m.get(&key[1..]), None);
        assert_eq!(m.insert(&key, "1"), Some(big.len()));
        assert_eq!(m.get(&key), Some("1"));
        assert_eq!(m.insert(&key, &big), Some(1));
        assert_eq!(m.remove(&key), Some(big.len()));
        assert!(m.is_empty());
    }

    #[test]
    fn many_keys_grow_then_shrink() {
        let mut m = KvMap::<DefaultHashBuilder>::new();
        let n = 20_000;
        let names: Vec<String> = (0..n).map(|i| format!("key:{i:05}")).collect();
        for (i, k) in names.iter().enumerate() {
            assert_eq!(m.insert(k, &i.to_string()), None);
        }
        assert_eq!(m.len(), n);
        assert_eq!(keys(&m), names);
        let grown = m.capacity();
        assert!(grown >= n);
        // Remove all but every 100th key: the table shrinks.
        for (i, k) in names.iter().enumerate() {
            if i % 100 != 0 {
                assert_eq!(m.remove(k), Some(i.to_string().len()));
            }
        }
        let kept: Vec<String> = names.iter().step_by(100).cloned().collect();
        assert_eq!(keys(&m), kept);
        assert!(m.capacity() < grown / 8, "{}", m.capacity());
        // Each part was shrunk by its own rule.
        for t in m.parts.iter() {
            assert!(t.capacity() <= SHRINK_ABOVE || t.len() >= t.capacity() / 8);
        }
        for (i, k) in names.iter().enumerate() {
            let want = (i % 100 == 0).then(|| i.to_string());
            assert_eq!(m.get(k), want.as_deref(), "{k}");
        }
        m.insert(&names[1], "\"back\"");
        assert_eq!(m.get(&names[1]), Some("\"back\""));
        assert_eq!(m.len(), kept.len() + 1);
        for k in &kept {
            assert!(m.remove(k).is_some());
        }
        assert_eq!(m.remove(&names[1]), Some(6));
        assert!(m.is_empty());
        assert!(m.parts.iter().all(|t| t.capacity() <= SHRINK_ABOVE));
    }

    /// Inserts, overwrites, inserts if new and removes `n` keys, checking `len` and lookups as it
    /// goes; returns how many keys each part held when all were in.
    fn churn<S: BuildHasher>(m: &mut KvMap<S>, n: usize) -> Vec<usize> {
        let names: Vec<String> = (0..n).map(|i| format!("k{i}")).collect();
        for (i, k) in names.iter().enumerate() {
            assert_eq!(m.insert(k, "1"), None);
            assert_eq!(m.len(), i + 1);
        }
        for k in &names {
            assert_eq!(m.insert(k, "22"), Some(1));
            assert!(!m.insert_new(k, "3"));
        }
        assert_eq!(m.len(), n);
        // Every key is in the part its hash names, and the count matches the parts.
        for (i, t) in m.parts.iter().enumerate() {
            assert!(t.iter().all(|s| part(m.hasher.hash_one(s.key())) == i));
        }
        let lens: Vec<usize> = m.parts.iter().map(HashTable::len).collect();
        assert_eq!(lens.iter().sum::<usize>(), n);
        assert_eq!(keys(m).len(), n);
        for (i, k) in names.iter().enumerate() {
            assert_eq!(m.get(k), Some("22"));
            if i % 2 == 0 {
                assert_eq!(m.remove(k), Some(2));
                assert_eq!(m.remove(k), None);
            }
        }
        assert_eq!(m.len(), n / 2);
        for (i, k) in names.iter().enumerate() {
            assert_eq!(m.contains_key(k), i % 2 == 1, "{k}");
            assert_eq!(m.insert_new(k, "4"), i % 2 == 0);
        }
        assert_eq!(m.len(), n);
        for k in &names {
            assert!(m.remove(k).is_some());
        }
        assert!(m.is_empty());
        assert_eq!(m.parts.iter().map(HashTable::len).sum::<usize>(), 0);
        lens
    }

    #[test]
    fn colliding_keys_share_part_zero() {
        let lens = churn(&mut Colliding::new(), 300);
        assert_eq!(lens[0], 300);
        assert!(lens[1..].iter().all(|&l| l == 0));
    }

    #[test]
    fn keys_spread_over_the_parts() {
        let lens = churn(&mut KvMap::<DefaultHashBuilder>::new(), 1_000);
        // About 16 keys a part; a part left empty has odds of (63/64)^1000, about 1e-7.
        let used = lens.iter().filter(|&&l| l > 0).count();
        assert!(used >= 32, "{lens:?}");
        assert!(lens.iter().all(|&l| l < 100), "{lens:?}");
    }

    #[test]
    fn part_bits_miss_the_bucket_and_tag_bits() {
        assert_eq!(part(0), 0);
        assert_eq!(part(u64::MAX), PARTS - 1);
        // The low 50 bits (buckets) and the top 7 (tags) choose nothing.
        assert_eq!(part((1 << 50) - 1), 0);
        assert_eq!(part(0x7f << 57), 0);
        assert_eq!(part(1 << 50), 1);
        assert_eq!(part(1 << 55), 32);
        assert_eq!(part(1 << 56), 0);
    }

    /// Keys as listed, in the map's own order.
    fn listed<S: BuildHasher>(m: &KvMap<S>) -> Vec<String> {
        Copied::of(m, false).keys()
    }

    #[test]
    fn listings_are_in_insertion_order() {
        let mut m = KvMap::<DefaultHashBuilder>::new();
        let names: Vec<String> = (0..2_000).map(|i| format!("k{i}")).collect();
        for k in &names {
            assert_eq!(m.insert(k, "1"), None);
        }
        assert_eq!(listed(&m), names);
        // An overwrite keeps a key's place, so does an add of a key that exists.
        assert_eq!(m.insert(&names[5], "\"longer\""), Some(1));
        assert!(!m.insert_new(&names[7], "3"));
        assert_eq!(listed(&m), names);
        // Values stay paired with their keys in the ordered copy.
        let entries = Copied::of(&m, true).entries();
        assert_eq!(entries[5].0, names[5]);
        assert_eq!(entries[5].1.as_json(), "\"longer\"");
        // A removal leaves the others in order; a key set again goes to the end.
        for k in names.iter().step_by(3) {
            assert!(m.remove(k).is_some());
        }
        assert!(m.insert_new(&names[0], "4"));
        let mut want: Vec<String> = names
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 != 0)
            .map(|(_, k)| k.clone())
            .collect();
        want.push(names[0].clone());
        assert_eq!(listed(&m), want);
    }

    #[test]
    fn order_survives_sparse_numbers_and_restarts_when_emptied() {
        let mut m = Colliding::new();
        let names: Vec<String> = (0..300).map(|i| format!("k{i}")).collect();
        for k in &names {
            m.insert(k, "1");
        }
        // Nine keys in ten removed: the numbers left are too sparse to place, and are sorted.
        for (i, k) in names.iter().enumerate() {
            if i % 10 != 9 {
                m.remove(k);
            }
        }
        let kept: Vec<String> = names.iter().skip(9).step_by(10).cloned().collect();
        assert_eq!(listed(&m), kept);
        // Emptied, by removals or all at once, the map numbers from 0 again.
        for k in &kept {
            m.remove(k);
        }
        assert_eq!(m.next_seq, 0);
        m.insert("b", "1");
        m.insert("a", "2");
        assert_eq!(listed(&m), ["b", "a"]);
        drop(m.take_all());
        assert_eq!(m.next_seq, 0);
        m.insert("z", "1");
        assert_eq!(listed(&m), ["z"]);
    }

    #[test]
    fn numbers_running_out_renumbers_in_order() {
        let mut m = KvMap::<DefaultHashBuilder>::new();
        for k in ["a", "b", "c"] {
            m.insert(k, "1");
        }
        m.remove("b");
        m.next_seq = u32::MAX - 2;
        m.insert("d", "1");
        // This insertion takes the last number: every key is numbered again, from 0.
        assert!(m.insert_new("e", "1"));
        assert_eq!(m.next_seq, 4);
        m.insert("f", "1");
        m.insert("a", "2");
        assert_eq!(listed(&m), ["a", "c", "d", "e", "f"]);
    }

    #[test]
    fn copied_entries_pair_keys_with_their_values() {
        let mut m = Colliding::new();
        prefixed_map(&mut m);
        let mut pairs = Copied::of(&m, true).entries();
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut want: Vec<(String, Value)> = PREFIXED
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from_json_unchecked(v)))
            .collect();
        want.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(pairs, want);
        assert!(Copied::of(&Colliding::new(), true).entries().is_empty());
    }
}
