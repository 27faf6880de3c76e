//! Errors returned by the client, and the protocol's status codes (docs/PROTOCOL.md §5).

use std::fmt;

/// A reply status code (`st`) with its name from docs/PROTOCOL.md §5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status(pub u64);

impl Status {
    /// `st` 1: a command other than a save or a load succeeded.
    pub const OK: Status = Status(1);
    /// `st` 100: the session named by `tkn` does not exist (or `tkn` is missing / not a uint).
    pub const SESSION_NOT_EXIST: Status = Status(100);
    /// `st` 102: `SH_OPEN` found no live shared session with that name.
    pub const SESSION_OPEN_FAIL: Status = Status(102);
    /// `st` 103: `SH_NEW` of a shared session whose token is already in use.
    pub const SESSION_NEW_FAIL: Status = Status(103);
    /// `st` 121: a save completed and is durable.
    pub const SAVE_COMPLETE: Status = Status(121);
    /// `st` 141: a load completed.
    pub const LOAD_COMPLETE: Status = Status(141);
    /// `st` 190: `ifVer` named another version than the session's (docs/PROTOCOL.md E10); the
    /// request changed nothing. Read the session again before retrying.
    pub const VERSION_MISMATCH: Status = Status(190);

    /// The numeric code.
    pub fn code(self) -> u64 {
        self.0
    }

    /// The code's name as docs/PROTOCOL.md §5 spells it (`"SessionNotExist"`), or `"Unrecognised"` for a
    /// code the document does not define.
    pub fn name(self) -> &'static str {
        match self.0 {
            1 => "Ok",
            2 => "OpCodeInvalid",
            3 => "JsonInvalid",
            4 => "PathInvalid",
            5 => "NoPath",
            10 => "CommandNotExist",
            11 => "CommandMultiple",
            12 => "CommandType",
            13 => "CommandSyntax",
            14 => "CommandDisabled",
            22 => "NotExist",
            26 => "ParamMissing",
            40 => "ValueMissing",
            41 => "ValueTypeInvalid",
            42 => "ValueSize",
            100 => "SessionNotExist",
            101 => "SessionTokenInvalid",
            102 => "SessionOpenFail",
            103 => "SessionNewFail",
            120 => "SaveStart",
            121 => "SaveComplete",
            122 => "SaveDirWriteFail",
            123 => "SaveError",
            140 => "Loading",
            141 => "LoadComplete",
            142 => "LoadError",
            160 => "Duplicate",
            161 => "Bounds",
            170 => "LimitReached",
            190 => "VersionMismatch",
            200 => "NotAuthenticated",
            201 => "AuthFailed",
            1000 => "Unknown",
            _ => "Unrecognised",
        }
    }

    /// Whether sending the same request again later may succeed: internal failures (1000), disk
    /// failures while saving (122, 123) and configured limits (170) can be transient; every other
    /// failure is decided by the request or the data and will repeat.
    pub fn is_retryable(self) -> bool {
        matches!(self.0, 122 | 123 | 170 | 1000)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// Everything that can go wrong with a request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with a failure status.
    #[error("{status}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Status {
        /// The failure status.
        status: Status,
        /// The reply's name (`SH_GET_RSP`, `ERR`, ...).
        reply: String,
        /// The server's optional human-readable message (`m`); its text is not specified.
        message: Option<String>,
    },
    /// The connection is closed (by the server, the network, or a failed write); the request may or
    /// may not have been executed. Connect again to recover.
    #[error("disconnected from the server")]
    Disconnected,
    /// The WebSocket connection could not be opened.
    #[error("cannot connect: {0}")]
    Connect(#[source] Box<tokio_tungstenite::tungstenite::Error>),
    /// Opening the connection took longer than the connect timeout.
    #[error("cannot connect: no answer within {0:?}")]
    ConnectTimeout(std::time::Duration),
    /// No reply came within the request timeout; the request may or may not have run. The
    /// connection stays usable (the late reply is discarded when it comes).
    #[error("no reply within {0:?}")]
    Timeout(std::time::Duration),
    /// The server sent something that is not a well-formed reply for this request.
    #[error("unexpected reply: {0}")]
    Protocol(String),
    /// An argument cannot be turned into a valid request (for example keys that are not an object).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl Error {
    /// The failure status, when the server replied with one.
    pub fn status(&self) -> Option<Status> {
        match self {
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether retrying can help: a retryable status ([`Status::is_retryable`]), or a connection
    /// problem or timeout (note a request cut off by a disconnect or a timeout may have run).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Status { status, .. } => status.is_retryable(),
            Error::Disconnected
            | Error::Connect(_)
            | Error::ConnectTimeout(_)
            | Error::Timeout(_) => true,
            Error::Protocol(_) | Error::InvalidArgument(_) => false,
        }
    }

    /// Whether the error comes from the connection rather than from a reply (a timeout counts:
    /// no reply came).
    pub fn is_connection_error(&self) -> bool {
        matches!(
            self,
            Error::Disconnected | Error::Connect(_) | Error::ConnectTimeout(_) | Error::Timeout(_)
        )
    }
}

/// The result type of every client call.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_protocol_table() {
        assert_eq!(Status(100).name(), "SessionNotExist");
        assert_eq!(Status(42).name(), "ValueSize");
        assert_eq!(Status(142).name(), "LoadError");
        assert_eq!(Status(1000).name(), "Unknown");
        assert_eq!(Status(999).name(), "Unrecognised");
        assert_eq!(Status(100).to_string(), "SessionNotExist (100)");
    }

    #[test]
    fn display_includes_message_when_present() {
        let e = Error::Status {
            status: Status(42),
            reply: "KV_RMV_RSP".into(),
            message: Some("keys is empty".into()),
        };
        assert_eq!(e.to_string(), "ValueSize (42): keys is empty");
        let e = Error::Status {
            status: Status(100),
            reply: "SH_GET_RSP".into(),
            message: None,
        };
        assert_eq!(e.to_string(), "SessionNotExist (100)");
    }

    #[test]
    fn retryable_only_for_transient_failures() {
        assert!(Status(123).is_retryable());
        assert!(Status(1000).is_retryable());
        assert!(!Status(100).is_retryable());
        assert!(!Status(41).is_retryable());
        assert!(Error::Disconnected.is_retryable());
        assert!(!Error::InvalidArgument("x".into()).is_retryable());
        assert!(Error::Disconnected.is_connection_error());
        assert_eq!(Error::Disconnected.status(), None);
    }
}
