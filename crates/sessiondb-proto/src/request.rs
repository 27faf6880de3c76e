//! What a request is once parsed: the one table of commands ([`Kind`]), the reply name, and the
//! validated request that parsing hands to whoever executes it and rendering reads back.
//!
//! These types sit below both [`crate::parse`] (which builds them) and [`crate::render`] (which
//! reads them), so neither module imports the other.

use sessiondb_core::json::Json;
use sessiondb_core::{Command, Token, VersionCheck};

use crate::status::Status;

/// The command families, by name prefix (`docs/PROTOCOL.md` §4 step 7 routes on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// `KV_`: top-level keys, and their saves and loads.
    Kv,
    /// `SH_`: sessions.
    Sh,
    /// `SV_`: the server.
    Sv,
}

impl Family {
    /// The name prefix, without its `_`.
    pub const fn prefix(self) -> &'static str {
        match self {
            Family::Kv => "KV",
            Family::Sh => "SH",
            Family::Sv => "SV",
        }
    }
}

/// Generates [`Kind`] and its tables from one line per command:
/// `Variant = "WIRE_NAME", Family, "summary";`.
macro_rules! commands {
    ($($variant:ident = $name:literal, $family:ident, $summary:literal;)*) => {
        /// Every command of the protocol.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Kind {
            $(#[doc = concat!("`", $name, "`: ", $summary)] $variant,)*
        }

        impl Kind {
            /// Every command, in the order of `docs/PROTOCOL.md` Appendix A (then `SV_AUTH`, then
            /// the commands of the extensions);
            /// `Kind::ALL[k as usize] == k`.
            pub const ALL: &'static [Kind] = &[$(Kind::$variant,)*];

            /// The command's name on the wire (`"KV_CLEAR_SET"`).
            pub const fn name(self) -> &'static str {
                match self {
                    $(Kind::$variant => $name,)*
                }
            }

            /// What the command does, in a phrase.
            pub const fn summary(self) -> &'static str {
                match self {
                    $(Kind::$variant => $summary,)*
                }
            }

            /// The family its name's prefix puts it in.
            pub const fn family(self) -> Family {
                match self {
                    $(Kind::$variant => Family::$family,)*
                }
            }

            /// The command with exactly this wire name.
            pub fn from_name(name: &str) -> Option<Kind> {
                match name {
                    $($name => Some(Kind::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

commands! {
    KvSet = "KV_SET", Kv, "set top-level keys.";
    KvAdd = "KV_ADD", Kv, "add top-level keys that do not exist yet.";
    KvGet = "KV_GET", Kv, "read top-level keys.";
    KvRmv = "KV_RMV", Kv, "remove top-level keys.";
    KvContains = "KV_CONTAINS", Kv, "which of the named top-level keys exist.";
    KvCount = "KV_COUNT", Kv, "count the top-level keys.";
    KvKeys = "KV_KEYS", Kv, "list the top-level keys.";
    KvClear = "KV_CLEAR", Kv, "remove every top-level key.";
    KvClearSet = "KV_CLEAR_SET", Kv, "remove every top-level key, then set keys.";
    KvSave = "KV_SAVE", Kv, "save the top-level keys to a dataset.";
    KvLoad = "KV_LOAD", Kv, "load top-level keys from a dataset.";
    ShNew = "SH_NEW", Sh, "create a session.";
    ShOpen = "SH_OPEN", Sh, "find a shared session by name.";
    ShEnd = "SH_END", Sh, "end a session.";
    ShEndAll = "SH_END_ALL", Sh, "end every session.";
    ShExists = "SH_EXISTS", Sh, "which of the named sessions exist.";
    ShInfo = "SH_INFO", Sh, "describe a session.";
    ShInfoAll = "SH_INFO_ALL", Sh, "count sessions and their keys.";
    ShSave = "SH_SAVE", Sh, "save sessions to a dataset.";
    ShLoad = "SH_LOAD", Sh, "load sessions from a dataset.";
    ShSet = "SH_SET", Sh, "set keys of a session.";
    ShAdd = "SH_ADD", Sh, "add keys that do not exist yet to a session.";
    ShGet = "SH_GET", Sh, "read keys of a session.";
    ShRmv = "SH_RMV", Sh, "remove keys of a session.";
    ShContains = "SH_CONTAINS", Sh, "which of the named keys a session has.";
    ShCount = "SH_COUNT", Sh, "count a session's keys.";
    ShKeys = "SH_KEYS", Sh, "list a session's keys.";
    ShClear = "SH_CLEAR", Sh, "remove every key of a session.";
    ShClearSet = "SH_CLEAR_SET", Sh, "remove every key of a session, then set keys.";
    ShKeyTtl = "SH_KEY_TTL", Sh, "set or remove deadlines of keys of a session.";
    ShKeyRemaining = "SH_KEY_REMAINING", Sh, "seconds left before keys of a session expire.";
    SvInfo = "SV_INFO", Sv, "describe the server.";
    SvAuth = "SV_AUTH", Sv, "authenticate the connection.";
    ShOwnerList = "SH_OWNER_LIST", Sh, "list the live sessions of an owner.";
    ShOwnerEnd = "SH_OWNER_END", Sh, "end every session of an owner.";
}

impl Kind {
    /// `KV_` commands report internal failures as `ERR` rather than `<CMD>_RSP` (§4).
    pub const fn is_kv(self) -> bool {
        matches!(self.family(), Family::Kv)
    }
}

/// The member name a reply is filed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyName<'j> {
    /// The generic `"ERR"`.
    Err,
    /// `"<command>_RSP"`, with the command name exactly as received (unescaped).
    Rsp(&'j str),
}

/// A request answered before it reaches the engine: `{"<name>":{"st":<status>}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection<'j> {
    /// Reply member name.
    pub name: ReplyName<'j>,
    /// The failure status.
    pub status: Status,
    /// The command the request named, when its name is one (for counting the reply).
    pub kind: Option<Kind>,
}

/// The request's key names, for turning the engine's indices back into names when rendering.
#[derive(Debug)]
pub enum KeyNames<'j> {
    /// The command has no `keys` array.
    None,
    /// Every item of the `keys` array is a string: index `i` is item `i` (no copy needed).
    Direct(&'j [Json<'j>]),
    /// Some items were not strings: the string items, in order.
    Filtered(Vec<&'j str>),
}

impl<'j> KeyNames<'j> {
    /// The name at index `i` of the engine's [`sessiondb_core::Keys`] list.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&'j str> {
        match self {
            KeyNames::None => None,
            KeyNames::Direct(items) => items.get(i)?.as_str(),
            KeyNames::Filtered(names) => names.get(i).copied(),
        }
    }
}

/// What rendering needs to know about the request besides the outcome.
#[derive(Debug)]
pub struct Context<'j> {
    /// Key names of a `keys` array, for `Values` and `Contains` outcomes.
    pub keys: KeyNames<'j>,
    /// The request's `name` (`SH_NEW`, `SH_OPEN`), or its `owner` (`SH_OWNER_LIST`,
    /// `SH_OWNER_END`).
    pub name: Option<&'j str>,
    /// The request's `ifVer` and `withVer` (commands naming one session by token).
    pub version: VersionCheck,
}

/// A validated persistence request. Names are allowed dataset names (§13.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersistRequest<'j> {
    /// `KV_SAVE`.
    KvSave {
        /// Dataset name.
        name: &'j str,
    },
    /// `SH_SAVE`; `tkns` is `None` for "every live session", else non-empty.
    ShSave {
        /// Dataset name.
        name: &'j str,
        /// Tokens to save.
        tkns: Option<Vec<Token>>,
    },
    /// `KV_LOAD`.
    KvLoad {
        /// Dataset name.
        name: &'j str,
    },
    /// `SH_LOAD`.
    ShLoad {
        /// Dataset name.
        name: &'j str,
    },
}

/// What to do with a valid request.
#[derive(Debug)]
pub enum Action<'j> {
    /// Run on the engine, then render the outcome with the context.
    Engine {
        /// The typed command.
        cmd: Command<'j>,
        /// Request details the reply needs.
        ctx: Context<'j>,
    },
    /// A save or load.
    Persist(PersistRequest<'j>),
    /// `SV_INFO`.
    SvInfo,
    /// `SV_AUTH` with its secret.
    SvAuth {
        /// The secret as sent.
        secret: &'j str,
    },
}

/// A request that passed dispatch and validation.
#[derive(Debug)]
pub struct Request<'j> {
    /// The command name as received (the reply is `<name>_RSP`).
    pub name: &'j str,
    /// Which command.
    pub kind: Kind,
    /// What to do.
    pub action: Action<'j>,
}

#[cfg(test)]
mod tests {
    use super::{Family, Kind};

    #[test]
    fn the_table_is_dense_and_names_round_trip() {
        assert_eq!(Kind::ALL.len(), 35);
        for (i, &kind) in Kind::ALL.iter().enumerate() {
            assert_eq!(kind as usize, i, "{kind:?}");
            assert_eq!(Kind::from_name(kind.name()), Some(kind));
            // The family is the name's prefix.
            let (prefix, rest) = kind.name().split_once('_').unwrap_or_default();
            assert_eq!(prefix, kind.family().prefix(), "{kind:?}");
            assert!(!rest.is_empty());
            assert!(!kind.summary().is_empty());
        }
        assert_eq!(Kind::from_name("KV_NOPE"), None);
        assert_eq!(Kind::from_name("kv_set"), None);
        assert!(Kind::KvLoad.is_kv() && !Kind::ShGet.is_kv() && !Kind::SvInfo.is_kv());
        assert_eq!(Kind::SvAuth.family(), Family::Sv);
    }

    #[test]
    fn variants_are_the_wire_names_in_camel_case() {
        for &kind in Kind::ALL {
            // `KvClearSet` → `KV_CLEAR_SET`.
            let mut name = String::new();
            for (i, c) in format!("{kind:?}").chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    name.push('_');
                }
                name.push(c.to_ascii_uppercase());
            }
            assert_eq!(kind.name(), name);
        }
    }
}
