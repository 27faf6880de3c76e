//! Where a session lives in Redis. Both keys of a session carry the hash tag `{<token>}`, so a
//! command on it is one slot and one atomic script.

use sessiondb_core::Token;

/// The hash of a session's settings and deadline.
pub fn meta_key(tkn: Token) -> String {
    format!("sdb:{{{tkn}}}:m")
}

/// The hash of a session's keys and values (minified JSON text).
pub fn data_key(tkn: Token) -> String {
    format!("sdb:{{{tkn}}}:d")
}

/// `SCAN … MATCH` pattern of every session's settings key.
pub const META_PATTERN: &str = "sdb:{*}:m";

/// The token of a session settings key, `None` for any other key.
pub fn token_of_meta(key: &str) -> Option<Token> {
    key.strip_prefix("sdb:{")?.strip_suffix("}:m")?.parse().ok()
}

/// The hash of the top-level keys (`KV_`). One hash on one master: every `KV_` command is
/// atomic and `KV_COUNT`/`KV_KEYS` are exact, at the cost of not spreading those keys.
pub const KV_KEY: &str = "sdb:{kv}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_one_hash_tag() {
        assert_eq!(meta_key(42), "sdb:{42}:m");
        assert_eq!(data_key(42), "sdb:{42}:d");
        assert_eq!(token_of_meta(&meta_key(42)), Some(42));
        assert_eq!(token_of_meta("sdb:{42}:d"), None);
        assert_eq!(token_of_meta("sdb:{kv}"), None);
    }
}
