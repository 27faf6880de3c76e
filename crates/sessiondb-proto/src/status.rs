//! Status codes sent in `st` (`docs/PROTOCOL.md` §5): the one table of them.
//!
//! Every status sessiondb can send is one line of the [`statuses!`] table below: its variant
//! (spelled exactly as `docs/PROTOCOL.md` names the code), its code and what it means. The enum, its
//! name and code lookups, [`Status::ALL`] and the dense [`Status::index`] that metrics count by
//! are all generated from that line, so a new status is one line here plus the code that sends
//! it. Codes the protocol reserves but sessiondb never sends are listed in [`RESERVED`].

/// Generates [`Status`] and its tables from one line per status:
/// `Variant = code, "meaning";` where `Variant` is the protocol's name for the code.
macro_rules! statuses {
    ($($variant:ident = $code:literal, $meaning:literal;)*) => {
        /// A reply status. Success is [`Status::Ok`], except saves ([`Status::SaveComplete`])
        /// and loads ([`Status::LoadComplete`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u16)]
        pub enum Status {
            $(#[doc = $meaning] $variant = $code,)*
        }

        /// Position of each status in [`Status::ALL`], for [`Status::index`].
        #[allow(dead_code)] // only ever converted to its discriminant
        #[repr(u8)]
        enum StatusIndex {
            $($variant,)*
        }

        impl Status {
            /// Every status sessiondb sends, in ascending order of code.
            pub const ALL: &'static [Status] = &[$(Status::$variant,)*];

            /// The name `docs/PROTOCOL.md` §5 gives the code (`"SessionNotExist"`).
            pub const fn name(self) -> &'static str {
                match self {
                    $(Status::$variant => stringify!($variant),)*
                }
            }

            /// When the status is sent, as `docs/PROTOCOL.md` §5 describes it.
            pub const fn meaning(self) -> &'static str {
                match self {
                    $(Status::$variant => $meaning,)*
                }
            }

            /// The status with this code, if sessiondb sends it.
            pub const fn from_code(code: u16) -> Option<Status> {
                match code {
                    $($code => Some(Status::$variant),)*
                    _ => None,
                }
            }

            /// This status's position in [`Status::ALL`]: a dense index for per-status tables.
            pub const fn index(self) -> usize {
                match self {
                    $(Status::$variant => StatusIndex::$variant as usize,)*
                }
            }
        }
    };
}

statuses! {
    Ok = 1, "A command other than a save or a load succeeded.";
    OpCodeInvalid = 2, "A binary message arrived.";
    JsonInvalid = 3, "Invalid JSON, or nesting deeper than 128.";
    CommandNotExist = 10, "Unknown command.";
    CommandSyntax = 13, "Malformed envelope, or an `SH_INFO` body without exactly one member.";
    CommandDisabled = 14, "A save while persistence is disabled.";
    ParamMissing = 26, "A required parameter is absent.";
    ValueTypeInvalid = 41, "A parameter has the wrong JSON type, or a dataset name is not allowed.";
    ValueSize = 42, "An array or string that must not be empty is empty.";
    SessionNotExist = 100, "An `SH_` command's `tkn` names no live session.";
    SessionOpenFail = 102, "`SH_OPEN`: no live shared session has that name.";
    SessionNewFail = 103, "`SH_NEW` shared: the derived token is taken.";
    SaveComplete = 121, "A save succeeded and is durable.";
    SaveDirWriteFail = 122, "A save could not create its directories or metadata.";
    SaveError = 123, "A save could not write, flush or publish its data.";
    LoadComplete = 141, "A load succeeded.";
    LoadError = 142, "The dataset to load is missing, incomplete, of the wrong kind, or malformed.";
    LimitReached = 170, "A configured limit would be exceeded; nothing was changed.";
    VersionMismatch = 190, "`ifVer` names another version than the session's; nothing was changed.";
    NotAuthenticated = 200, "Authentication is on and this connection has not authenticated.";
    AuthFailed = 201, "`SV_AUTH` with a wrong secret.";
    Unknown = 1000, "Internal failure.";
}

impl Status {
    /// The numeric code sent on the wire.
    pub const fn code(self) -> u16 {
        self as u16
    }
}

/// Codes `docs/PROTOCOL.md` §5 reserves for compatibility with NemesisDB and that sessiondb never
/// sends, with their names. Clients may still name them.
pub const RESERVED: &[(u16, &str)] = &[
    (4, "PathInvalid"),
    (5, "NoPath"),
    (11, "CommandMultiple"),
    (12, "CommandType"),
    (22, "NotExist"),
    (40, "ValueMissing"),
    (101, "SessionTokenInvalid"),
    (120, "SaveStart"),
    (140, "Loading"),
    (160, "Duplicate"),
    (161, "Bounds"),
];

#[cfg(test)]
mod tests {
    use super::{Status, RESERVED};

    #[test]
    fn codes_and_names_match_the_protocol_table() {
        assert_eq!(Status::Ok.code(), 1);
        assert_eq!(Status::CommandSyntax.code(), 13);
        assert_eq!(Status::SessionNewFail.code(), 103);
        assert_eq!(Status::LoadError.code(), 142);
        assert_eq!(Status::Unknown.code(), 1000);
        assert_eq!(Status::ValueTypeInvalid.name(), "ValueTypeInvalid");
        assert_eq!(Status::NotAuthenticated.code(), 200);
    }

    #[test]
    fn the_table_is_ordered_dense_and_round_trips() {
        assert_eq!(Status::ALL.len(), 22);
        for (i, &st) in Status::ALL.iter().enumerate() {
            assert_eq!(st.index(), i, "{st:?}");
            assert_eq!(Status::from_code(st.code()), Some(st));
            assert!(!st.meaning().is_empty());
        }
        assert!(Status::ALL.windows(2).all(|w| w[0].code() < w[1].code()));
        assert_eq!(Status::from_code(0), None);
        assert_eq!(Status::from_code(999), None);
    }

    #[test]
    fn reserved_codes_are_never_sent() {
        for &(code, name) in RESERVED {
            assert_eq!(Status::from_code(code), None, "{code}");
            assert!(Status::ALL.iter().all(|s| s.name() != name), "{name}");
        }
    }
}
