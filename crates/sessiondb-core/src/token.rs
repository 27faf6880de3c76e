//! Session tokens: random ones for ordinary sessions, derived ones for shared sessions
//! (`PROTOCOL.md` §8).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::command::Token;

/// Prefix hashed in front of a shared session's name (§8.3).
const SHARED_PREFIX: &[u8] = b"sessiondb-shared:";

/// A uniformly random token from the OS CSPRNG, never 0.
///
/// The caller redraws if the token already names a session (§8.2); the store does that while
/// holding the lock of the token's shard, so the check and the insert are one step.
pub fn random_token() -> Token {
    loop {
        let t = os_random_u64();
        if t != 0 {
            return t;
        }
    }
}

/// The token of the shared session named `name`: the first 8 bytes of
/// `BLAKE3("sessiondb-shared:" + name)` read little-endian, with 0 mapped to 1 (§8.3).
pub fn shared_token(name: &str) -> Token {
    let mut hasher = blake3::Hasher::new();
    hasher.update(SHARED_PREFIX);
    hasher.update(name.as_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_bytes()[..8]);
    match u64::from_le_bytes(first) {
        0 => 1,
        t => t,
    }
}

/// 64 random bits from the OS.
///
/// The OS source does not fail on a running Linux system; if it ever does, we fall back to
/// hashing the clock and a process-wide counter rather than crash the server. Tokens are handles,
/// not secrets (§8.1), so the fallback costs unpredictability only, never uniqueness (the store
/// still redraws on collision).
fn os_random_u64() -> u64 {
    if let Ok(v) = getrandom::u64() {
        return v;
    }
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"sessiondb-fallback-token:");
    hasher.update(&nanos.to_le_bytes());
    hasher.update(&COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hasher.finalize().as_bytes()[..8]);
    u64::from_le_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_token_vectors_of_protocol_8_3() {
        assert_eq!(shared_token("settings"), 15900886249489855254);
        assert_eq!(shared_token("config"), 16293854323119613365);
        assert_eq!(shared_token("café"), 3519951774017562329);
        assert_eq!(shared_token("team/42"), 2556186590011935489);
    }

    #[test]
    fn shared_token_depends_on_the_whole_name() {
        assert_ne!(shared_token("settings"), shared_token("settings "));
        assert_ne!(shared_token(""), shared_token("settings"));
    }

    #[test]
    fn random_tokens_are_nonzero_and_distinct() {
        let tokens: std::collections::HashSet<Token> = (0..1000).map(|_| random_token()).collect();
        assert_eq!(tokens.len(), 1000);
        assert!(!tokens.contains(&0));
        // Uniform u64s: with 1000 draws, some must be above 2^63 and some below.
        assert!(tokens.iter().any(|&t| t > u64::MAX / 2));
        assert!(tokens.iter().any(|&t| t < u64::MAX / 2));
    }
}
