//! The packed form of a small session's keys: one exactly-sized block, and the builder that
//! fills such blocks in bulk (dataset loads, journal replay).

use super::data::ValueText;
use super::Data;

/// Up to this many keys live in one packed buffer (scanned linearly); beyond, in a [`KeyMap`].
/// Most sessions hold a handful of keys, and one buffer costs far less memory than a map.
pub(super) const SMALL_MAX: usize = 8;

/// A packed buffer may not grow past this many bytes: rewriting it on a change copies all of it,
/// so sessions with large values move to a [`KeyMap`], where a change touches one value.
pub(super) const SMALL_BYTES_MAX: usize = 1024;

/// Up to 8 keys packed in one exactly-sized heap block: a count byte, then per key
/// `varint(key len) key varint(value len) value` (key text, then the value's minified JSON
/// text), in insertion order. A get follows one pointer; an empty session allocates nothing.
/// A change rewrites the block (at most 1 KiB), except a same-length overwrite, done in place.
#[derive(Debug, Clone, Default)]
pub struct Packed(pub(super) Box<[u8]>);

/// Where one key's entry lies in a [`Packed`] block: it starts at `start`, its value's text at
/// `value`, and it ends at `end`.
#[derive(Clone, Copy)]
pub(super) struct PackedEntry {
    start: usize,
    value: usize,
    end: usize,
}

impl PackedEntry {
    /// Bytes of the value's text.
    pub(super) fn value_len(self) -> usize {
        self.end - self.value
    }
}

impl Packed {
    /// Number of keys.
    pub(super) fn len(&self) -> usize {
        self.0.first().map_or(0, |&n| usize::from(n))
    }

    /// The value of `key`.
    pub(super) fn get(&self, key: &str) -> Option<&str> {
        let e = self.find(key)?;
        text(self.0.get(e.value..e.end)?)
    }

    /// The entry of `key`. Compares bytes: only the text this returns is checked as UTF-8.
    pub(super) fn find(&self, key: &str) -> Option<PackedEntry> {
        find_entry(&self.0, key)
    }

    /// The key, value and end offset of the entry at `at` (`None` past the last).
    fn entry_at(&self, at: usize) -> Option<(&str, &str, usize)> {
        let (k, at) = field(&self.0, at)?;
        let (v, end) = field(&self.0, at)?;
        Some((text(k)?, text(v)?, end))
    }

    /// Every `(key, value)`, in order.
    pub(super) fn iter(&self) -> PackedIter<'_> {
        PackedIter {
            packed: self,
            at: 1,
        }
    }

    /// Appends a key; false (nothing changed) if the block would exceed [`SMALL_BYTES_MAX`].
    pub(super) fn push(&mut self, key: &str, value: &str) -> bool {
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
    pub(super) fn replace(&mut self, e: PackedEntry, value: &str) -> bool {
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
    pub(super) fn swap_remove(&mut self, e: PackedEntry) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    fn v(json: &str) -> Value {
        Value::from_json_unchecked(json)
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
