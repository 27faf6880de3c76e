//! Status codes sent in `st` (`PROTOCOL.md` §5).

/// A reply status. Success is [`Status::Ok`], except saves ([`Status::SaveComplete`]) and loads
/// ([`Status::LoadComplete`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Status {
    /// A command other than a save or a load succeeded.
    Ok = 1,
    /// A binary message arrived.
    OpCodeInvalid = 2,
    /// Invalid JSON or nesting deeper than 128.
    JsonInvalid = 3,
    /// Unknown command.
    CommandNotExist = 10,
    /// Malformed envelope, or an `SH_INFO` body without exactly one member.
    CommandSyntax = 13,
    /// A save while persistence is disabled.
    CommandDisabled = 14,
    /// A required parameter is absent.
    ParamMissing = 26,
    /// A parameter has the wrong JSON type, or a dataset name is not allowed.
    ValueTypeInvalid = 41,
    /// An array or string that must not be empty is empty.
    ValueSize = 42,
    /// An `SH_` command's `tkn` names no live session.
    SessionNotExist = 100,
    /// `SH_OPEN`: no live shared session has that name.
    SessionOpenFail = 102,
    /// `SH_NEW` shared: the derived token is taken.
    SessionNewFail = 103,
    /// A save succeeded and is durable.
    SaveComplete = 121,
    /// A save could not create its directories or metadata.
    SaveDirWriteFail = 122,
    /// A save could not write, flush or publish its data.
    SaveError = 123,
    /// A load succeeded.
    LoadComplete = 141,
    /// The dataset to load is missing, incomplete, of the wrong kind, or malformed.
    LoadError = 142,
    /// A configured limit would be exceeded.
    LimitReached = 170,
    /// Authentication is on and this connection has not authenticated.
    NotAuthenticated = 200,
    /// `SV_AUTH` with a wrong secret.
    AuthFailed = 201,
    /// Internal failure.
    Unknown = 1000,
}

impl Status {
    /// The numeric code sent on the wire.
    pub fn code(self) -> u16 {
        self as u16
    }

    /// The name `PROTOCOL.md` §5 gives the code.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "Ok",
            Status::OpCodeInvalid => "OpCodeInvalid",
            Status::JsonInvalid => "JsonInvalid",
            Status::CommandNotExist => "CommandNotExist",
            Status::CommandSyntax => "CommandSyntax",
            Status::CommandDisabled => "CommandDisabled",
            Status::ParamMissing => "ParamMissing",
            Status::ValueTypeInvalid => "ValueTypeInvalid",
            Status::ValueSize => "ValueSize",
            Status::SessionNotExist => "SessionNotExist",
            Status::SessionOpenFail => "SessionOpenFail",
            Status::SessionNewFail => "SessionNewFail",
            Status::SaveComplete => "SaveComplete",
            Status::SaveDirWriteFail => "SaveDirWriteFail",
            Status::SaveError => "SaveError",
            Status::LoadComplete => "LoadComplete",
            Status::LoadError => "LoadError",
            Status::LimitReached => "LimitReached",
            Status::NotAuthenticated => "NotAuthenticated",
            Status::AuthFailed => "AuthFailed",
            Status::Unknown => "Unknown",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Status;

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
}
