//! Typed commands the engine executes and the outcomes it returns.
//!
//! The protocol layer (sessiondb-proto) has already validated the body (26/41/42/13 are decided
//! there); everything here is well-formed. The engine decides only what depends on state: session
//! lookup (100), shared-name collisions (103), limits (170). Outcomes are semantic: the protocol
//! layer renders each one in the reply form its command defines (`docs/PROTOCOL.md` §10–§12).

use std::borrow::Cow;

pub use crate::base::{Expiry, Token};
use crate::value::Value;

pub(crate) mod edit;
pub(crate) mod key_expiry;
pub(crate) mod kv;
pub(crate) mod session;

/// `(key, value)` pairs to store, in request order.
pub type Entries<'a> = Vec<(Cow<'a, str>, Value)>;

/// Key names of a `keys` array, in request order (non-string items already dropped).
pub type Keys<'a> = Vec<Cow<'a, str>>;

/// `(key, seconds)` pairs of a `ttl` or `SH_KEY_TTL` object, in request order; `None` removes
/// a deadline. Seconds are ≥ 1 (checked by proto).
pub type KeyTtls<'a> = Vec<(Cow<'a, str>, Option<u64>)>;

/// One command, validated. `tkn: Option<Token>` is `None` when the request's `tkn` was absent or
/// not a uint; `Some(0)` is a uint that names no session.
#[derive(Debug, Clone, PartialEq)]
pub enum Command<'a> {
    /// `KV_SET`: set keys, overwriting.
    KvSet(Entries<'a>),
    /// `KV_ADD`: add keys that do not exist.
    KvAdd(Entries<'a>),
    /// `KV_GET`: values of existing keys.
    KvGet(Keys<'a>),
    /// `KV_RMV`: remove keys (non-empty list, checked by proto).
    KvRmv(Keys<'a>),
    /// `KV_CONTAINS`: which keys exist.
    KvContains(Keys<'a>),
    /// `KV_COUNT`.
    KvCount,
    /// `KV_KEYS`.
    KvKeys,
    /// `KV_CLEAR`.
    KvClear,
    /// `KV_CLEAR_SET`: replace the whole top-level store.
    KvClearSet(Entries<'a>),
    /// `SH_NEW`. For `shared`, `name` is present and non-empty (checked by proto).
    ShNew {
        expiry: Option<Expiry>,
        name: Option<Cow<'a, str>>,
        shared: bool,
    },
    /// `SH_OPEN`: find a live shared session by name.
    ShOpen { name: Cow<'a, str> },
    /// `SH_END`.
    ShEnd { tkn: Option<Token> },
    /// `SH_END_ALL`.
    ShEndAll,
    /// `SH_EXISTS`: the uint items of `tkns`, in request order.
    ShExists { tkns: Vec<Token> },
    /// `SH_INFO`.
    ShInfo { tkn: Option<Token> },
    /// `SH_INFO_ALL`.
    ShInfoAll,
    /// `SH_SET`.
    ShSet {
        tkn: Option<Token>,
        keys: Entries<'a>,
    },
    /// `SH_ADD`.
    ShAdd {
        tkn: Option<Token>,
        keys: Entries<'a>,
    },
    /// `SH_GET`.
    ShGet { tkn: Option<Token>, keys: Keys<'a> },
    /// `SH_RMV`.
    ShRmv { tkn: Option<Token>, keys: Keys<'a> },
    /// `SH_CONTAINS`.
    ShContains { tkn: Option<Token>, keys: Keys<'a> },
    /// `SH_COUNT`.
    ShCount { tkn: Option<Token> },
    /// `SH_KEYS`.
    ShKeys { tkn: Option<Token> },
    /// `SH_CLEAR`.
    ShClear { tkn: Option<Token> },
    /// `SH_CLEAR_SET`.
    ShClearSet {
        tkn: Option<Token>,
        keys: Entries<'a>,
    },
    /// `SH_SET` or `SH_ADD` with a `ttl` member. Kept apart from `ShSet`/`ShAdd`, and boxed so
    /// that it does not make every command larger to move, so their hot path is unchanged.
    ShWriteWithTtl(Box<TtlWrite<'a>>),
    /// `SH_KEY_TTL`: set or remove deadlines of keys the session holds.
    ShKeyTtl {
        tkn: Option<Token>,
        keys: KeyTtls<'a>,
    },
    /// `SH_KEY_REMAINING`: seconds left for each named key the session holds.
    ShKeyRemaining { tkn: Option<Token>, keys: Keys<'a> },
    /// Counts for `SV_INFO`: live sessions and all keys held.
    Stats,
}

/// `SH_SET` (`add` false) or `SH_ADD` (`add` true) with a `ttl` member: the write, then
/// deadlines for the keys `ttl` names (all of them in `keys`, checked by proto); for an add, only
/// for the keys it added.
#[derive(Debug, Clone, PartialEq)]
pub struct TtlWrite<'a> {
    /// The session.
    pub tkn: Option<Token>,
    /// The keys to write, as for `ShSet`/`ShAdd`.
    pub keys: Entries<'a>,
    /// Seconds per key.
    pub ttl: KeyTtls<'a>,
    /// An add rather than a set.
    pub add: bool,
}

/// Receives the values a get finds, while the store's lock is held, so the reply can be written
/// from the stored bytes without copying them out first.
pub trait ValueSink {
    /// One found key: its index into the request's keys and its value as minified JSON text.
    /// Called in request order, once per distinct key name (its first occurrence).
    fn value(&mut self, index: usize, json: &str);
}

impl<F: FnMut(usize, &str)> ValueSink for F {
    fn value(&mut self, index: usize, json: &str) {
        self(index, json)
    }
}

/// What a session looks like to `SH_INFO`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub tkn: Token,
    pub shared: bool,
    pub key_count: u64,
    pub name: Option<String>,
    /// `Some((settings, remaining_secs))` when the session expires (`duration_secs > 0`).
    pub expiry: Option<(Expiry, u64)>,
}

/// The result of a command, before rendering.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `st` 1 with no other members (`*_SET`, `*_ADD`, `*_RMV`).
    Done,
    /// `st` 1 with `cnt` (`*_COUNT`, `*_CLEAR`, `*_CLEAR_SET`, `SH_END_ALL`).
    Count(u64),
    /// `st` 1 with `keys` object: `(index into the request's keys, value)` for each requested key
    /// that exists, each key once (first occurrence). Returned by [`crate::Store::execute`].
    Values(Vec<(usize, Value)>),
    /// `st` 1 with `keys` object whose members were handed to the [`ValueSink`] of
    /// [`crate::Store::execute_into`] (this many, in order) while the lock was held.
    ValuesSent(usize),
    /// `st` 1 with `keys` array: every key (`*_KEYS`).
    KeyList(Vec<String>),
    /// `st` 1 with `contains`: indices into the request's keys that exist, in request order,
    /// repeated as often as requested.
    Contains(Vec<usize>),
    /// `st` 1 with `keys` object of remaining seconds (`None`: no deadline): `(index into the
    /// request's keys, seconds)` for each requested key that exists, each key once (first
    /// occurrence), in request order (`SH_KEY_REMAINING`).
    Remaining(Vec<(usize, Option<u64>)>),
    /// `SH_NEW` success.
    Created { tkn: Token },
    /// `SH_NEW` shared: a live session already has the derived token (103).
    NameTaken,
    /// `SH_OPEN` success.
    Opened { tkn: Token },
    /// `SH_OPEN`: no live shared session with that name (102).
    OpenFailed,
    /// `SH_END` success.
    Ended { tkn: Token },
    /// Session lookup failed (100). `tkn` is the request's uint token, if it had one.
    NoSession { tkn: Option<Token> },
    /// `SH_EXISTS`: the given tokens that name live sessions, in request order.
    Exist(Vec<Token>),
    /// `SH_INFO` success.
    Info(SessionInfo),
    /// `SH_INFO_ALL` success.
    InfoAll { sessions: u64, keys: u64 },
    /// `Command::Stats`: live sessions; top-level keys plus keys of live sessions.
    Stats { sessions: u64, keys: u64 },
    /// A configured limit would be exceeded; nothing changed (170).
    LimitReached,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_stay_small_to_move() {
        // Every request moves its command a few times; a variant larger than the base ones
        // would make each move a `memcpy` call (BENCHMARKS.md, "Per-key expiry").
        println!("size_of Command = {}", std::mem::size_of::<Command<'_>>());
        assert!(std::mem::size_of::<Command<'_>>() <= 48);
    }
}
