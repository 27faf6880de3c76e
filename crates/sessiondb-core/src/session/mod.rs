//! One session: settings, deadline and its keys ([`Data`]).

use std::mem;

use crate::base::{Expiry, Token};
use crate::footprint;

mod data;
mod deadlines;
mod packed;

pub use data::{entry_bytes, Data, DataIter, KeyMap, Keyed, ValueText};
pub use deadlines::KeyDeadlines;
pub use packed::{DataBuilder, Packed, PackedIter};

/// A session (`docs/PROTOCOL.md` §7.1).
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

/// Bytes a session costs besides its keys: its boxed [`Session`], its slot in its shard's table,
/// its name's blocks, and its entry in the deadline index when it expires (`expires`).
pub fn session_bytes(name: Option<&str>, expires: bool) -> u64 {
    let name = name.map_or(0, |n| {
        footprint::alloc(mem::size_of::<Box<str>>()) + footprint::alloc(n.len())
    });
    let index = if expires { DEADLINE_ENTRY } else { 0 };
    footprint::alloc(mem::size_of::<Session>()) + SHARD_SLOT + name + index
}

/// A session's share of its shard's table: an 8-byte slot and a control byte per bucket, and a
/// table that grows by doubling has on average 1.6 buckets per session (from 8/7 just before it
/// doubles to 16/7 just after).
const SHARD_SLOT: u64 = 15;

/// An expiring session's share of the deadline index: a 16-byte heap entry in a vector that grows
/// by doubling (1.4 entries of room per entry on average), and the stale entries that extensions
/// leave until the sweep meets them.
const DEADLINE_ENTRY: u64 = 24;

#[cfg(test)]
mod tests {
    use super::*;

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
}
