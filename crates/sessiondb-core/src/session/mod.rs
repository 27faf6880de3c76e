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
/// laid out to fit the allocator's 64-byte size class (a unit test keeps it there): the name and
/// the owner, rare, sit behind one thin pointer, the expiry settings are kept as a duration and a
/// flags byte (read them with [`Session::expiry`]) instead of an [`Expiry`] and its padding, and
/// the version takes the room that padding left.
#[derive(Debug, Clone)]
pub struct Session {
    /// Its token: the key its shard's table finds it by.
    pub tkn: Token,
    /// Whether the session is shared (its token derives from its name).
    pub shared: bool,
    /// Optional name and owner, out of line so that a session with neither pays 8 bytes here.
    labels: Option<Box<Labels>>,
    /// `Expiry::duration_secs`; 0 never expires.
    duration_secs: u64,
    /// The other `Expiry` fields, as bits ([`DELETE_SESSION`] and so on), and [`VERSION_SHOWN`].
    expiry_flags: u8,
    /// The version of its data: 1 when created, one more for every change of its keys. Counted
    /// modulo 2^32 (skipping 0): it fits the padding of the 64-byte block, and a client would
    /// have to hold a version across four billion writes of one session to be misled.
    version: u32,
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
/// `Session::expiry_flags` bit set once a reply has carried the session's version (or a request
/// compared it): from then on datasets keep the version, so it never goes back.
const VERSION_SHOWN: u8 = 8;

/// The rare text labels of a session, kept out of line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Labels {
    /// A label, or the name a shared token derives from.
    name: Option<Box<str>>,
    /// Whose session it is, for the owner index.
    owner: Option<Box<str>>,
}

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
            labels: name.map(|name| {
                Box::new(Labels {
                    name: Some(name),
                    owner: None,
                })
            }),
            duration_secs: expiry.duration_secs,
            expiry_flags: flag(expiry.delete_session, DELETE_SESSION)
                | flag(expiry.extend_on_set_add, EXTEND_ON_SET_ADD)
                | flag(expiry.extend_on_get, EXTEND_ON_GET),
            deadline_ms,
            version: 1,
            indexed_ms: u64::MAX,
            data,
        }
    }

    /// Its name, if any.
    pub fn name(&self) -> Option<&str> {
        self.labels.as_ref()?.name.as_deref()
    }

    /// Its owner, if any.
    pub fn owner(&self) -> Option<&str> {
        self.labels.as_ref()?.owner.as_deref()
    }

    /// Sets its owner (before it is filed in a store: the owner index keys on it).
    pub fn set_owner(&mut self, owner: Option<Box<str>>) {
        match (&mut self.labels, owner) {
            (Some(labels), owner) => labels.owner = owner,
            (None, None) => {}
            (labels @ None, owner) => *labels = Some(Box::new(Labels { name: None, owner })),
        }
    }

    /// The version of its data (≥ 1).
    #[inline]
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Counts one change of its data.
    #[inline]
    pub fn bump_version(&mut self) {
        self.version = next_version(self.version);
    }

    /// Whether a client has been shown its version (see [`Session::show_version`]).
    pub fn version_shown(&self) -> bool {
        self.expiry_flags & VERSION_SHOWN != 0
    }

    /// Marks its version as shown to a client; true if it was not before.
    pub fn show_version(&mut self) -> bool {
        let first = !self.version_shown();
        self.expiry_flags |= VERSION_SHOWN;
        first
    }

    /// Restores a version and whether it was shown (loads, journal recovery).
    pub fn restore_version(&mut self, version: u32, shown: bool) {
        self.version = version.max(1);
        if shown {
            self.expiry_flags |= VERSION_SHOWN;
        } else {
            self.expiry_flags &= !VERSION_SHOWN;
        }
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

/// The version after `v`: versions count modulo 2^32 and skip 0.
pub fn next_version(v: u32) -> u32 {
    v.checked_add(1).unwrap_or(1)
}

/// Bytes a session costs besides its keys: its boxed [`Session`], its slot in its shard's table,
/// its labels' blocks (name, and owner with its share of the owner index), and its entry in the
/// deadline index when it expires (`expires`).
pub fn session_bytes(name: Option<&str>, owner: Option<&str>, expires: bool) -> u64 {
    let text = |t: Option<&str>| t.map_or(0, |t| footprint::alloc(t.len()));
    let labels = if name.is_some() || owner.is_some() {
        footprint::alloc(mem::size_of::<Labels>()) + text(name) + text(owner)
    } else {
        0
    };
    let owned = if owner.is_some() { OWNER_ENTRY } else { 0 };
    let index = if expires { DEADLINE_ENTRY } else { 0 };
    footprint::alloc(mem::size_of::<Session>()) + SHARD_SLOT + labels + owned + index
}

/// An owned session's share of the owner index: its token in its owner's ordered set (a B-tree
/// leaf holds up to 11 tokens in about 100 bytes), rounded up. The owner's own entry is shared by
/// its sessions and not counted.
const OWNER_ENTRY: u64 = 16;

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
        assert_eq!(mem::size_of::<Option<Box<Labels>>>(), 8);
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
        assert_eq!(named.owner(), None);
    }

    #[test]
    fn owner_and_version_live_beside_the_name_and_flags() {
        let mut s = Session::new(1, false, None, Expiry::default(), 0, Data::default());
        assert_eq!((s.version(), s.version_shown()), (1, false));
        s.set_owner(Some("alice".into()));
        assert_eq!((s.name(), s.owner()), (None, Some("alice")));
        s.bump_version();
        assert!(s.show_version() && !s.show_version());
        assert_eq!((s.version(), s.version_shown()), (2, true));
        assert_eq!(s.expiry(), Expiry::default());
        s.restore_version(u32::MAX, false);
        s.bump_version();
        assert_eq!((s.version(), s.version_shown()), (1, false));
    }
}
