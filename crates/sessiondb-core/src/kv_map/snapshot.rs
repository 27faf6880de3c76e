//! Copies of the whole top-level key map as of one instant, taken without holding its lock for
//! the whole copy.
//!
//! `KV_KEYS`, `KV_SAVE` and the journal's snapshot each need every key (and value) as it was at
//! one moment. Copied in one lock hold, a million keys kept every `KV_` command on every
//! connection waiting for a hundred milliseconds or more (`tests/kv_save_bench.rs`; figures in
//! BENCHMARKS.md), where `docs/PROTOCOL.md` §13.6 lets a save delay other clients by a few
//! milliseconds at most. So a large map is copied one part at a time, each
//! in its own short lock hold ([`snapshot()`]), and the copy stays consistent by copying before
//! writing: while a snapshot is registered with the map, the first write to a part it has not
//! copied yet copies that part first ([`KvMap::before_write`]). A part still owed is therefore
//! unchanged since the snapshot began, whenever it is copied. A client waits at most for one
//! part's copy (about 1/64 of the map), in its own write or between two of the snapshot's steps.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use parking_lot::Mutex;

use super::{empty_parts, KvMap, Slot, PARTS};
use crate::value::Value;

/// Every part's bit in a [`Pending::owed`] mask.
const ALL_PARTS: u64 = u64::MAX >> (64 - PARTS);

// One bit per part in the mask.
const _: () = assert!(PARTS <= 64, "a snapshot's owed parts are one u64 mask");

/// Maps with at most this many keys are copied in one lock hold: about a millisecond of copying
/// (a part of a 1M-key map holds 15,600 keys), and one hold instead of 66.
const ONE_HOLD_KEYS: usize = 8_192;

/// Copies every key of `map` (with its value when `values`) as it was when this was called, for
/// the caller to turn into owned results ([`Copied::keys`], [`Copied::entries`]) with no lock held.
/// A large map is copied a part per lock hold (see the module's comment).
pub(crate) fn snapshot<S: BuildHasher>(map: &Mutex<KvMap<S>>, values: bool) -> Copied {
    let id = {
        let mut m = map.lock();
        if m.len() <= ONE_HOLD_KEYS {
            return Copied::of(&m, values);
        }
        m.begin_snapshot(values)
    };
    // Unregisters the snapshot even if this thread unwinds, so that writers stop copying for it.
    let registration = Registration { map, id };
    while map.lock().snapshot_step(id) {}
    let finished = map.lock().end_snapshot(id);
    drop(registration);
    // The loop ran until no part was owed, and only this function unregisters its snapshot, so
    // `finished` holds the copy; were that ever not so, a copy in one hold beats no answer.
    finished.unwrap_or_else(|| Copied::of(&map.lock(), values))
}

/// Keeps a snapshot registered with its map until dropped.
struct Registration<'m, S: BuildHasher> {
    map: &'m Mutex<KvMap<S>>,
    id: u64,
}

impl<S: BuildHasher> Drop for Registration<'_, S> {
    fn drop(&mut self) {
        // After `end_snapshot` this finds nothing to remove.
        self.map.lock().end_snapshot(self.id);
    }
}

/// A snapshot being copied: which parts it still needs, and the copies it has.
#[derive(Debug)]
pub(super) struct Pending {
    id: u64,
    values: bool,
    /// The parts not copied yet, bit `i` for part `i`.
    owed: u64,
    /// Copies made so far, with their parts' numbers.
    copies: Vec<(usize, Chunk)>,
}

impl Pending {
    /// Copies part `i` (whose table is `table`) if this snapshot still needs it.
    pub(super) fn copy_if_owed(&mut self, i: usize, table: &HashTable<Slot>) {
        let bit = 1 << i;
        if self.owed & bit != 0 {
            let copy = Chunk::of(std::slice::from_ref(table), self.values);
            self.copies.push((i, copy));
            self.owed &= !bit;
        }
    }
}

impl<S: BuildHasher> KvMap<S> {
    /// Registers a snapshot of the map as it is now; returns its id for the calls below.
    fn begin_snapshot(&mut self, values: bool) -> u64 {
        let id = self.next_snapshot;
        self.next_snapshot += 1;
        self.snapshots.push(Pending {
            id,
            values,
            owed: ALL_PARTS,
            copies: Vec::with_capacity(PARTS),
        });
        id
    }

    /// Copies one more part for snapshot `id`; returns whether any is still owed.
    fn snapshot_step(&mut self, id: u64) -> bool {
        let Some(pending) = self.snapshots.iter_mut().find(|p| p.id == id) else {
            return false;
        };
        if pending.owed == 0 {
            return false;
        }
        let i = pending.owed.trailing_zeros() as usize;
        pending.copy_if_owed(i, &self.parts[i]);
        pending.owed != 0
    }

    /// Unregisters snapshot `id`; returns its copy if every part was copied.
    fn end_snapshot(&mut self, id: u64) -> Option<Copied> {
        let at = self.snapshots.iter().position(|p| p.id == id)?;
        let mut pending = self.snapshots.swap_remove(at);
        if pending.owed != 0 {
            return None;
        }
        pending.copies.sort_unstable_by_key(|&(i, _)| i);
        Some(Copied {
            chunks: pending.copies.into_iter().map(|(_, c)| c).collect(),
        })
    }

    /// Empties the map (`KV_CLEAR`, `KV_CLEAR_SET`) and returns what it held, to be dropped once
    /// the lock is released. Snapshots being copied get the parts they still need first.
    pub(crate) fn take_all(&mut self) -> Taken {
        for i in 0..PARTS {
            self.before_write(i);
        }
        self.next_seq = 0;
        self.bytes = 0;
        Taken {
            _parts: std::mem::replace(&mut self.parts, empty_parts()),
            len: std::mem::take(&mut self.len),
        }
    }
}

/// The keys a map held, taken out by [`KvMap::take_all`]: freed when dropped.
pub(crate) struct Taken {
    _parts: Box<[HashTable<Slot>; PARTS]>,
    len: usize,
}

impl Taken {
    /// How many keys there were.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// A map's keys (and values), copied out by [`snapshot()`]: a chunk per part, or one chunk.
pub(crate) struct Copied {
    chunks: Vec<Chunk>,
}

impl Copied {
    /// Every part of `map` in one go, into one buffer (the caller holds its lock).
    pub(super) fn of<S>(map: &KvMap<S>, values: bool) -> Self {
        Self {
            chunks: vec![Chunk::of(&map.parts[..], values)],
        }
    }

    /// The keys, in insertion order.
    pub(crate) fn keys(self) -> Vec<String> {
        self.collect(|key, _| key.to_owned())
    }

    /// The keys and their values (copied with `values`), in insertion order.
    pub(crate) fn entries(self) -> Vec<(String, Value)> {
        self.collect(|key, value| (key.to_owned(), Value::from_json_unchecked(value)))
    }

    /// `make(key, value)` of every entry, in insertion order.
    fn collect<T>(self, mut make: impl FnMut(&str, &str) -> T) -> Vec<T> {
        let mut items = Vec::with_capacity(self.len());
        let mut seqs = Vec::with_capacity(self.len());
        for chunk in self.chunks {
            seqs.extend_from_slice(&chunk.seqs);
            let (text, ends) = chunk.text();
            items.extend(pairs(&text, &ends).map(|(key, value)| make(key, value)));
        }
        in_insertion_order(items, &seqs)
    }

    fn len(&self) -> usize {
        self.chunks.iter().map(|c| c.ends.len()).sum()
    }
}

/// The keys (and values) of one part, or of several: their text one after another, where each
/// key and each entry ends in it, and each key's insertion number.
#[derive(Debug)]
pub(super) struct Chunk {
    bytes: Vec<u8>,
    ends: Vec<(usize, usize)>,
    seqs: Vec<u32>,
}

impl Chunk {
    /// Copies the keys of `tables`, with their values when `values`.
    fn of(tables: &[HashTable<Slot>], values: bool) -> Self {
        let part = |s: &Slot| if values { s.text.len() } else { s.key_len() };
        let slots = || tables.iter().flatten();
        // First where everything goes, from the lengths in the slots (reading no block), then a
        // loop that does nothing but copy: the blocks, visited in table order, are scattered in
        // memory, and the fewer instructions between their reads the more of those overlap
        // (with 1M keys this took about two thirds of the time of pushing onto a `String`).
        let len = tables.iter().map(HashTable::len).sum();
        let mut ends = Vec::with_capacity(len);
        let mut seqs = Vec::with_capacity(len);
        let mut total = 0;
        for s in slots() {
            ends.push((total + s.key_len(), total + part(s)));
            seqs.push(s.seq);
            total += part(s);
        }
        let mut bytes = vec![0; total];
        let mut start = 0;
        for (s, &(_, end)) in slots().zip(&ends) {
            let from = s.text.as_bytes().get(..end - start);
            if let (Some(to), Some(from)) = (bytes.get_mut(start..end), from) {
                to.copy_from_slice(from);
            }
            start = end;
        }
        Self { bytes, ends, seqs }
    }

    /// The copied text (whole `str`s one after another: valid UTF-8, which this checks rather
    /// than assumes because the crate has no `unsafe`).
    fn text(self) -> (String, Vec<(usize, usize)>) {
        let text = String::from_utf8(self.bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        (text, self.ends)
    }
}

/// `items`, whose insertion numbers are `seqs`, in insertion order. While no key was removed
/// (or few were) the numbers are dense, and each item is put straight at its place; otherwise
/// they are sorted.
pub(super) fn in_insertion_order<T>(items: Vec<T>, seqs: &[u32]) -> Vec<T> {
    let Some(min) = seqs.iter().copied().min() else {
        return items;
    };
    let max = seqs.iter().copied().max().unwrap_or(min);
    let span = (max - min) as usize + 1;
    let items_len = items.len();
    if span <= 2 * items_len {
        let mut placed: Vec<Option<T>> = std::iter::repeat_with(|| None).take(span).collect();
        for (item, &seq) in items.into_iter().zip(seqs) {
            if let Some(place) = placed.get_mut((seq - min) as usize) {
                *place = Some(item);
            }
        }
        // Flattening loses the exact length: reserve it, or the result grows by doubling.
        let mut ordered = Vec::with_capacity(items_len);
        ordered.extend(placed.into_iter().flatten());
        return ordered;
    }
    let mut numbered: Vec<(u32, T)> = seqs.iter().copied().zip(items).collect();
    numbered.sort_unstable_by_key(|&(seq, _)| seq);
    numbered.into_iter().map(|(_, item)| item).collect()
}

/// Each key in `text` and what follows it up to its entry's end.
fn pairs<'t>(
    text: &'t str,
    ends: &'t [(usize, usize)],
) -> impl Iterator<Item = (&'t str, &'t str)> + 't {
    let mut start = 0;
    ends.iter().map(move |&(key_end, end)| {
        let key = text.get(start..key_end).unwrap_or_default();
        let rest = text.get(key_end..end).unwrap_or_default();
        start = end;
        (key, rest)
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use hashbrown::DefaultHashBuilder;

    use super::*;

    type Map = KvMap<DefaultHashBuilder>;
    type Model = BTreeMap<String, String>;

    fn sorted(copied: Copied) -> Model {
        copied
            .entries()
            .into_iter()
            .map(|(k, v)| (k, v.as_json().to_owned()))
            .collect()
    }

    fn model_of(m: &Map) -> Model {
        sorted(Copied::of(m, true))
    }

    /// A small deterministic generator (xorshift), so a failure can be replayed.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    /// One random write: a set, an insert-if-new or a removal of one of 3,000 keys.
    fn random_write(m: &mut Map, rng: &mut Rng, round: u64) {
        let key = format!("k{}", rng.below(3_000));
        match rng.below(3) {
            0 => {
                m.insert(&key, &round.to_string());
            }
            1 => {
                m.insert_new(&key, "\"new\"");
            }
            _ => {
                m.remove(&key);
            }
        }
    }

    #[test]
    fn a_snapshot_shows_the_map_as_it_was_when_it_began() {
        let mut m = Map::new();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for round in 0..2_000 {
            random_write(&mut m, &mut rng, round);
        }
        let at_first = model_of(&m);
        let first = m.begin_snapshot(true);
        let mut second = None;
        let mut at_second = Model::new();
        let mut round = 2_000;
        // Writes between the steps of two overlapping snapshots, the second begun halfway.
        loop {
            for _ in 0..50 {
                random_write(&mut m, &mut rng, round);
                round += 1;
            }
            if round >= 4_000 && second.is_none() {
                at_second = model_of(&m);
                second = Some(m.begin_snapshot(false));
            }
            let more = m.snapshot_step(first);
            let more_second = second.is_some_and(|id| m.snapshot_step(id));
            if !more && second.is_some() && !more_second {
                break;
            }
        }
        assert_ne!(model_of(&m), at_first, "the writes changed nothing");
        assert!(!m.snapshot_step(first) && m.snapshots.len() == 2);
        assert_eq!(sorted(m.end_snapshot(first).expect("first")), at_first);
        let mut keys = m
            .end_snapshot(second.expect("begun"))
            .expect("second")
            .keys();
        keys.sort();
        assert_eq!(keys, at_second.into_keys().collect::<Vec<_>>());
        // Both are gone: writes copy nothing any more.
        assert!(m.snapshots.is_empty());
        assert!(m.end_snapshot(first).is_none());
    }

    #[test]
    fn a_snapshot_lists_in_insertion_order_as_it_was_when_it_began() {
        let mut m = Map::new();
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let names: Vec<String> = (0..3 * ONE_HOLD_KEYS).map(|i| format!("n{i}")).collect();
        for name in &names {
            m.insert(name, "0");
        }
        for round in 0..2_000 {
            random_write(&mut m, &mut rng, round);
        }
        let at_start = Copied::of(&m, true).entries();
        assert!(at_start.starts_with(&[(names[0].clone(), Value::from_json_unchecked("0"))]));
        let id = m.begin_snapshot(true);
        // Removals, new keys and overwrites between the steps, each part copied at another time.
        let mut round = 2_000;
        while m.snapshot_step(id) {
            for _ in 0..100 {
                random_write(&mut m, &mut rng, round);
                round += 1;
            }
        }
        assert_eq!(m.end_snapshot(id).expect("finished").entries(), at_start);
    }

    #[test]
    fn a_cleared_map_still_gives_the_snapshot_what_it_held() {
        let mut m = Map::new();
        for i in 0..1_000 {
            m.insert(&format!("k{i}"), &i.to_string());
        }
        let before = model_of(&m);
        let id = m.begin_snapshot(true);
        assert!(m.snapshot_step(id));
        let taken = m.take_all();
        assert_eq!((taken.len(), m.len()), (1_000, 0));
        m.insert("k1", "\"after\"");
        while m.snapshot_step(id) {}
        assert_eq!(sorted(m.end_snapshot(id).expect("finished")), before);
        assert_eq!(model_of(&m).len(), 1);
    }

    #[test]
    fn an_unfinished_snapshot_is_unregistered_when_dropped() {
        let map = Mutex::new(Map::new());
        let id = map.lock().begin_snapshot(true);
        let registration = Registration { map: &map, id };
        assert_eq!(map.lock().snapshots.len(), 1);
        drop(registration);
        assert!(map.lock().snapshots.is_empty());
    }

    #[test]
    fn small_and_large_maps_snapshot_every_key() {
        for n in [0, 1, ONE_HOLD_KEYS, ONE_HOLD_KEYS + 1, 3 * ONE_HOLD_KEYS] {
            let map = Mutex::new(Map::new());
            for i in 0..n {
                map.lock().insert(&format!("k{i}"), "1");
            }
            let want = model_of(&map.lock());
            assert_eq!(sorted(snapshot(&map, true)), want, "{n}");
            let mut keys = snapshot(&map, false).keys();
            keys.sort();
            assert_eq!(keys, want.into_keys().collect::<Vec<_>>(), "{n}");
            assert!(map.lock().snapshots.is_empty());
        }
    }

    #[test]
    fn placing_and_sorting_give_the_same_order() {
        let items: Vec<u32> = vec![40, 10, 30, 20];
        assert_eq!(in_insertion_order(items.clone(), &items), [10, 20, 30, 40]);
        // Sparse numbers take the sort.
        let sparse: Vec<u32> = vec![900, 3, 77];
        assert_eq!(in_insertion_order(sparse.clone(), &sparse), [3, 77, 900]);
        assert!(in_insertion_order(Vec::<u32>::new(), &[]).is_empty());
    }

    #[test]
    fn a_snapshot_never_mixes_two_states_of_the_map() {
        // Every write sets all keys to the next generation in one lock hold, between the
        // snapshot's steps: a copy that mixed parts from before and after a write would hold two
        // generations.
        let keys: Vec<String> = (0..4 * ONE_HOLD_KEYS).map(|i| format!("k{i}")).collect();
        let map = Arc::new(Mutex::new(Map::new()));
        for k in &keys {
            map.lock().insert(k, "0");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (map, stop, keys) = (Arc::clone(&map), Arc::clone(&stop), keys.clone());
            std::thread::spawn(move || {
                let mut generation = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    generation += 1;
                    let value = generation.to_string();
                    let mut m = map.lock();
                    for k in &keys {
                        m.insert(k, &value);
                    }
                }
                generation
            })
        };
        for _ in 0..20 {
            let entries = snapshot(&map, true).entries();
            assert_eq!(entries.len(), keys.len());
            let first = entries[0].1.clone();
            assert!(
                entries.iter().all(|(_, v)| *v == first),
                "mixed generations"
            );
        }
        stop.store(true, Ordering::Relaxed);
        let generations = writer.join().expect("writer");
        assert!(generations > 0);
        assert!(map.lock().snapshots.is_empty());
    }
}
