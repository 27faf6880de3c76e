//! The operations the generator issues, independent of the wire protocol that carries them.

/// One request, named by what it does; each target maps it to its own command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Step `step` (0..4) of a session's life; `sess` is the session handle (ignored by the
    /// WebSocket target at step 0, where the server picks the token).
    ///
    /// | step | sessiondb                         | Redis                        |
    /// |------|-----------------------------------|------------------------------|
    /// | 0    | `SH_NEW` with expiry              | `HSET s:<id> k0 v k1 v`      |
    /// | 1    | `SH_SET` k0, k1                   | `EXPIRE s:<id> <secs>`       |
    /// | 2    | `SH_GET` k0, k1                   | `HMGET s:<id> k0 k1`         |
    /// | 3    | `SH_END`                          | `DEL s:<id>`                 |
    ///
    /// Both create an expiring two-key session, read it back and end it in four round trips.
    Life {
        /// Which step of the life this is.
        step: u8,
        /// The session handle (token for sessiondb, key id for Redis).
        sess: u64,
    },
    /// Read both keys of an existing session (`SH_GET` / `HMGET`).
    Get(u64),
    /// Overwrite both keys of an existing session (`SH_SET` / `HSET`).
    Set(u64),
    /// Read top-level key `kv:<n>` (`KV_GET` / `GET`).
    KvGet(u64),
    /// Write top-level key `kv:<n>` (`KV_SET` / `SET`).
    KvSet(u64),
    /// Remove top-level key `kv:<n>` (`KV_RMV` / `DEL`), used by teardown.
    KvDel(u64),
}

/// Lifetime in seconds given to every session the generator creates: long enough to outlive a
/// run, short enough that an aborted run's leftovers go away by themselves.
pub const SESSION_EXPIRY_SECS: u64 = 3600;

/// Names of the two keys each benchmark session holds.
pub const SESSION_KEYS: [&str; 2] = ["k0", "k1"];

/// The value stored under every key: `size` ASCII letters (JSON-quoted by the WebSocket target).
pub fn make_value(size: usize) -> Vec<u8> {
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

/// A small, fast pseudo-random generator (xorshift64*): choosing keys must cost next to nothing.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded from `seed` (any value; 0 is remapped).
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// A generator seeded from the standard library's per-process random hasher keys.
    pub fn from_entropy(salt: u64) -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(salt);
        Self::new(h.finish())
    }

    /// The next pseudo-random value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (`n` > 0; the slight modulo bias is irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn value_has_requested_size_and_needs_no_escaping() {
        let v = make_value(40);
        assert_eq!(v.len(), 40);
        assert!(v.iter().all(u8::is_ascii_lowercase));
    }

    #[test]
    fn rng_stays_in_range_and_varies() {
        let mut r = Rng::new(7);
        let draws: Vec<u64> = (0..100).map(|_| r.below(10)).collect();
        assert!(draws.iter().all(|&d| d < 10));
        assert!(draws.iter().any(|&d| d != draws[0]));
    }
}
