//! Effective mutations of the store, reported to an optional [`ChangeSink`] (the journal).
//!
//! Replaying the changes of one session in the order they were recorded, starting from an empty
//! store, rebuilds that session exactly (keys, settings and deadline). Changes are recorded while
//! the lock covering the affected session (or the top-level store) is held, so the recorded order
//! is the execution order for each session and for the top-level store.

use std::borrow::Cow;

use crate::base::{Expiry, Token};
use crate::value::Value;

/// One effective mutation. Borrowed from the command or the store: a sink that keeps it must copy.
#[derive(Debug, Clone, PartialEq)]
pub enum Change<'a> {
    /// A session was created (by `SH_NEW` or a load), at version 1. `deadline_ms` is `u64::MAX`
    /// when `expiry.duration_secs == 0` (never expires).
    SessionCreated {
        tkn: Token,
        shared: bool,
        name: Option<&'a str>,
        owner: Option<&'a str>,
        expiry: Expiry,
        deadline_ms: u64,
    },
    /// The session's version is `ver`, and whether a client has been shown it. Recorded where
    /// replaying the changes would not count it: a session a load restored, a compaction
    /// snapshot's session, and the first time a reply carries the version. Every other change
    /// of a session's keys (and an expiry that empties keys) counts one version.
    Version { tkn: Token, ver: u32, shown: bool },
    /// `SH_END` deleted the session.
    SessionEnded { tkn: Token },
    /// The session reached its deadline with `deleteSession` and was deleted.
    SessionExpired { tkn: Token },
    /// The session reached its deadline without `deleteSession`: its keys were deleted and it was
    /// re-armed to `rearmed_deadline_ms`.
    SessionEmptied {
        tkn: Token,
        rearmed_deadline_ms: u64,
    },
    /// The session's deadline was extended (`extendOnSetAdd` / `extendOnGet`).
    Rearmed { tkn: Token, deadline_ms: u64 },
    /// Keys were written into a session, in this order (later duplicates win). For `SH_ADD` only
    /// the keys actually added are listed.
    ShKeysSet {
        tkn: Token,
        entries: &'a [(Cow<'a, str>, Value)],
    },
    /// These keys were removed from a session (keys that did not exist are harmless to replay).
    ShKeysRemoved {
        tkn: Token,
        keys: &'a [Cow<'a, str>],
    },
    /// Keys of a session got a deadline (Unix ms) or lost theirs (`None`): `SH_KEY_TTL`, or the
    /// `ttl` of an `SH_SET`/`SH_ADD`, recorded right after its keys (E9). Only keys the session
    /// held are listed.
    KeyDeadlines {
        tkn: Token,
        deadlines: &'a [(Cow<'a, str>, Option<u64>)],
    },
    /// All keys of a session were deleted (`SH_CLEAR`).
    ShCleared { tkn: Token },
    /// All keys of a session were replaced by `entries` (`SH_CLEAR_SET`).
    ShClearSet {
        tkn: Token,
        entries: &'a [(Cow<'a, str>, Value)],
    },
    /// Top-level keys were written, in this order (later duplicates win; for `KV_ADD`, only the
    /// keys actually added).
    KvSet {
        entries: &'a [(Cow<'a, str>, Value)],
    },
    /// These top-level keys were removed.
    KvRemoved { keys: &'a [Cow<'a, str>] },
    /// Every top-level key was deleted.
    KvCleared,
    /// The top-level store was replaced by `entries`.
    KvClearSet {
        entries: &'a [(Cow<'a, str>, Value)],
    },
    /// `SH_END_ALL` deleted these sessions. The command runs shard by shard (atomic per session,
    /// §7.2), so it is recorded once per shard, under that shard's lock, naming what it deleted
    /// (due sessions included: replaying deletes them either way).
    EndAll { tkns: &'a [Token] },
}

/// Receives every [`Change`], synchronously, while the affected lock is held: keep it fast
/// (append to a buffer; do the I/O elsewhere).
pub trait ChangeSink: Send + Sync {
    /// Records one change.
    fn record(&self, change: &Change<'_>);
}
