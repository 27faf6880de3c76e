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
pub(crate) mod kv;
pub(crate) mod session;

/// `(key, value)` pairs to store, in request order.
pub type Entries<'a> = Vec<(Cow<'a, str>, Value)>;

/// Key names of a `keys` array, in request order (non-string items already dropped).
pub type Keys<'a> = Vec<Cow<'a, str>>;

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
    /// `SH_NEW`. For `shared`, `name` is present and non-empty (checked by proto); `owner`, when
    /// present, is 1 to 256 bytes.
    ShNew {
        expiry: Option<Expiry>,
        name: Option<Cow<'a, str>>,
        shared: bool,
        owner: Option<Cow<'a, str>>,
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
    /// `SH_OWNER_LIST`: the live sessions of an owner.
    ShOwnerList { owner: Cow<'a, str> },
    /// `SH_OWNER_END`: end every session of an owner in one step.
    ShOwnerEnd { owner: Cow<'a, str> },
    /// Counts for `SV_INFO`: live sessions and all keys held.
    Stats,
}

/// The version members of a request naming one session: run only at version `if_ver`, and
/// whether the reply reports the version. [`VersionCheck::NONE`] is a request without them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VersionCheck {
    /// `ifVer`: the version the session must have, else nothing changes (190).
    pub if_ver: Option<u64>,
    /// `withVer:true`: report the version even without `ifVer`.
    pub with_ver: bool,
}

impl VersionCheck {
    /// Neither member.
    pub const NONE: VersionCheck = VersionCheck {
        if_ver: None,
        with_ver: false,
    };

    /// Whether the reply carries `ver` (`ifVer` given, or `withVer:true`).
    #[inline]
    pub fn reports(&self) -> bool {
        self.if_ver.is_some() || self.with_ver
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
    /// `ifVer` named another version than the session's; nothing changed (190). The current
    /// version is reported with the outcome.
    VersionMismatch,
    /// `SH_OWNER_LIST`: the owner's live sessions, ascending.
    OwnerSessions(Vec<Token>),
}
