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
    /// `SH_NEW` with an `owner`. Kept apart from `ShNew`, and boxed, so that this rare member
    /// does not make every command larger.
    ShNewOwned(Box<OwnedNew<'a>>),
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
    /// `SH_OWNER_LIST`: the live sessions of an owner.
    ShOwnerList { owner: Cow<'a, str> },
    /// `SH_OWNER_END`: end every session of an owner in one step.
    ShOwnerEnd { owner: Cow<'a, str> },
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

/// `SH_NEW` with an owner: the settings of [`Command::ShNew`] and the owner (1 to 256 bytes,
/// checked by proto), which the session keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedNew<'a> {
    /// As [`Command::ShNew`]'s.
    pub expiry: Option<Expiry>,
    /// As [`Command::ShNew`]'s.
    pub name: Option<Cow<'a, str>>,
    /// As [`Command::ShNew`]'s.
    pub shared: bool,
    /// Whose session it is.
    pub owner: Box<str>,
}

/// The version members of a request naming one session: `ifVer` (run only at that version) and
/// `withVer` (report the version). [`VersionCheck::NONE`] is a request without them.
///
/// Packed in one word, because every request carries one through parsing and dispatch: the low
/// 32 bits are the `ifVer` a session can match, and flag bits above them say whether `ifVer` was
/// given, whether it is beyond every version (0, or above 2^32 − 1: it never matches), and
/// whether `withVer` was true.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VersionCheck(u64);

/// `VersionCheck` bit: the request has `ifVer`.
const IF_VER: u64 = 1 << 32;
/// `VersionCheck` bit: the request's `ifVer` is no version a session can have.
const NEVER: u64 = 1 << 33;
/// `VersionCheck` bit: the request has `withVer:true`.
const WITH_VER: u64 = 1 << 34;

impl VersionCheck {
    /// Neither member.
    pub const NONE: VersionCheck = VersionCheck(0);

    /// The members as the request gave them.
    pub fn new(if_ver: Option<u64>, with_ver: bool) -> Self {
        let if_ver = match if_ver {
            None => 0,
            Some(v) => match u32::try_from(v) {
                Ok(v) if v > 0 => IF_VER | u64::from(v),
                _ => IF_VER | NEVER,
            },
        };
        Self(if_ver | if with_ver { WITH_VER } else { 0 })
    }

    /// Whether the reply carries `ver` (`ifVer` given, or `withVer:true`).
    #[inline]
    pub fn reports(&self) -> bool {
        self.0 != 0
    }

    /// Whether a session at version `ver` fails the request's `ifVer` (false without one).
    #[inline]
    pub fn mismatches(&self, ver: u32) -> bool {
        self.0 & IF_VER != 0 && (self.0 & NEVER != 0 || self.0 as u32 != ver)
    }
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
    /// Its owner, if it has one.
    pub owner: Option<String>,
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
    /// `SH_INFO` success (boxed: the largest outcome, and a rare one, would otherwise make every
    /// outcome as large).
    Info(Box<SessionInfo>),
    /// `SH_INFO_ALL` success.
    InfoAll { sessions: u64, keys: u64 },
    /// `Command::Stats`: live sessions; top-level keys plus keys of live sessions.
    Stats { sessions: u64, keys: u64 },
    /// A configured limit would be exceeded; nothing changed (170).
    LimitReached,
    /// `ifVer` named another version than the session's; nothing changed (190). The current
    /// version is reported with the outcome.
    VersionMismatch,
    /// `SH_OWNER_LIST`: the owner's live sessions, ascending.
    OwnerSessions(Vec<Token>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_check_packs_both_members() {
        assert!(!VersionCheck::NONE.reports() && !VersionCheck::NONE.mismatches(1));
        let with = VersionCheck::new(None, true);
        assert!(with.reports() && !with.mismatches(7));
        let at = VersionCheck::new(Some(7), false);
        assert!(at.reports() && !at.mismatches(7) && at.mismatches(8));
        // Values no session can have never match, even where their low bits would.
        for never in [0, 1 << 32, (1 << 32) + 7, u64::MAX] {
            let c = VersionCheck::new(Some(never), true);
            assert!(c.reports());
            assert!(
                (1..=9).chain([u32::MAX]).all(|v| c.mismatches(v)),
                "{never}"
            );
        }
        assert!(!VersionCheck::new(Some(u64::from(u32::MAX)), false).mismatches(u32::MAX));
    }

    #[test]
    fn commands_stay_small_to_move() {
        // Every request moves its command a few times; a variant larger than the base ones
        // would make each move a `memcpy` call (BENCHMARKS.md, "Per-key expiry").
        println!("size_of Command = {}", std::mem::size_of::<Command<'_>>());
        assert!(std::mem::size_of::<Command<'_>>() <= 48);
    }
}
