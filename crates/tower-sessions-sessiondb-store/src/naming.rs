//! Where a tower-sessions record lives: the shared session named after its id.
//!
//! A shared session's token is derived from its name (docs/PROTOCOL.md §8.3), so the store
//! computes the token of an id locally, with the server's own derivation, and reaches the record
//! in one request, without an `SH_OPEN` round trip first.

use tower_sessions_core::session::Id;

/// The name of the shared session that holds the record of `id`.
pub(crate) fn session_name(namespace: &str, id: &Id) -> String {
    format!("{namespace}{id}")
}

/// The token of the shared session holding the record of `id`.
pub(crate) fn record_token(namespace: &str, id: &Id) -> u64 {
    sessiondb_core::token::shared_token(&session_name(namespace, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_is_the_namespace_then_the_cookie_value() {
        let id = Id(1);
        assert_eq!(id.to_string(), "AQAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(
            session_name("tower-sessions:", &id),
            "tower-sessions:AQAAAAAAAAAAAAAAAAAAAA"
        );
    }
}
