//! Where a tower-sessions record lives: the shared session named after its id.
//!
//! A shared session's token is derived from its name (docs/PROTOCOL.md §8.3), so the store
//! computes the token of an id locally and reaches the record in one request, without an
//! `SH_OPEN` round trip first.

use tower_sessions_core::session::Id;

/// The name of the shared session that holds the record of `id`.
pub(crate) fn session_name(namespace: &str, id: &Id) -> String {
    format!("{namespace}{id}")
}

/// The token the server gives the shared session named `name`: the first 8 bytes of
/// BLAKE3("sessiondb-shared:" + name), little-endian, with 0 mapped to 1.
pub(crate) fn shared_token(name: &str) -> u64 {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"sessiondb-shared:");
    hasher.update(name.as_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_bytes()[..8]);
    match u64::from_le_bytes(first) {
        0 => 1,
        token => token,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_follow_the_protocol_test_vectors() {
        assert_eq!(shared_token("settings"), 15900886249489855254);
        assert_eq!(shared_token("config"), 16293854323119613365);
        assert_eq!(shared_token("café"), 3519951774017562329);
        assert_eq!(shared_token("team/42"), 2556186590011935489);
    }

    #[test]
    fn the_name_is_the_namespace_then_the_cookie_value() {
        let id = Id(1);
        assert_eq!(
            session_name("tower-sessions:", &id),
            format!("tower-sessions:{id}")
        );
        assert_eq!(id.to_string(), "AQAAAAAAAAAAAAAAAAAAAA");
    }
}
