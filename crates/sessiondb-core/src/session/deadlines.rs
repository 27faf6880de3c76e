//! Deadlines of single keys of a session (`docs/PROTOCOL.md` E9): which keys expire, and when.
//!
//! Kept out of line, in the map form of a session's keys only ([`super::Keyed`]), so a session
//! without key deadlines pays nothing for them: its packed block is unchanged, and a map-form
//! session pays one pointer.

use std::mem;

use hashbrown::HashMap;

use crate::footprint;

/// Bytes of one slot of the deadline table: the key and its deadline.
const SLOT: usize = mem::size_of::<(Box<str>, u64)>();

/// The keys of one session that have a deadline, with the earliest of them at hand so that the
/// check on every access is one comparison.
#[derive(Debug, Clone, Default)]
pub struct KeyDeadlines {
    /// Key → deadline in Unix ms.
    by_key: HashMap<Box<str>, u64>,
    /// The smallest deadline of `by_key` (`u64::MAX` when empty).
    earliest: u64,
    /// Sum of the key blocks the table holds.
    blocks: u64,
}

impl KeyDeadlines {
    /// Sets `key`'s deadline.
    pub fn set(&mut self, key: &str, deadline_ms: u64) {
        if self.by_key.is_empty() {
            self.earliest = u64::MAX;
        }
        match self.by_key.get_mut(key) {
            Some(d) => {
                let was = mem::replace(d, deadline_ms);
                if was == self.earliest && deadline_ms > was {
                    self.recompute_earliest();
                }
            }
            None => {
                self.by_key.insert(Box::from(key), deadline_ms);
                self.blocks += footprint::alloc(key.len());
            }
        }
        self.earliest = self.earliest.min(deadline_ms);
    }

    /// Removes `key`'s deadline; whether it had one.
    pub fn remove(&mut self, key: &str) -> bool {
        let Some(was) = self.by_key.remove(key) else {
            return false;
        };
        self.blocks -= footprint::alloc(key.len());
        if was == self.earliest {
            self.recompute_earliest();
        }
        true
    }

    /// `key`'s deadline, if it has one.
    pub fn get(&self, key: &str) -> Option<u64> {
        self.by_key.get(key).copied()
    }

    /// The earliest deadline (`u64::MAX` when there is none).
    #[inline]
    pub fn earliest(&self) -> u64 {
        if self.by_key.is_empty() {
            u64::MAX
        } else {
            self.earliest
        }
    }

    /// Number of keys with a deadline.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// True when no key has a deadline.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// The keys due at `now_ms` (deadline ≤ now), in no particular order.
    pub fn due(&self, now_ms: u64) -> impl Iterator<Item = &str> {
        self.by_key
            .iter()
            .filter(move |(_, &d)| d <= now_ms)
            .map(|(k, _)| &**k)
    }

    /// Every `(key, deadline)`, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.by_key.iter().map(|(k, &d)| (&**k, d))
    }

    /// Bytes the allocator holds for the deadlines: the boxed struct, its table and key blocks.
    pub fn bytes(&self) -> u64 {
        footprint::alloc(mem::size_of::<Self>())
            + footprint::table(self.by_key.capacity(), SLOT)
            + self.blocks
    }

    fn recompute_earliest(&mut self) {
        self.earliest = self.by_key.values().copied().min().unwrap_or(u64::MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_follows_sets_and_removals() {
        let mut d = KeyDeadlines::default();
        assert_eq!(d.earliest(), u64::MAX);
        d.set("a", 5_000);
        d.set("b", 3_000);
        assert_eq!(d.earliest(), 3_000);
        // Moving the earliest later finds the next one.
        d.set("b", 9_000);
        assert_eq!(d.earliest(), 5_000);
        assert!(d.remove("a"));
        assert!(!d.remove("a"));
        assert_eq!(d.earliest(), 9_000);
        assert_eq!(d.due(8_999).count(), 0);
        assert_eq!(d.due(9_000).collect::<Vec<_>>(), ["b"]);
        assert!(d.remove("b"));
        assert_eq!((d.earliest(), d.len(), d.blocks), (u64::MAX, 0, 0));
    }
}
