//! Session tokens: random ones for ordinary sessions, derived ones for shared sessions
//! (`docs/PROTOCOL.md` §8).

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha12Rng;

use crate::base::Token;

/// Prefix hashed in front of a shared session's name (§8.3).
const SHARED_PREFIX: &[u8] = b"sessiondb-shared:";

thread_local! {
    /// Each thread's token generator: ChaCha12, a cryptographically secure generator, seeded
    /// once from the OS. A `getrandom` system call per token cost the kernel's own ChaCha set-up
    /// every time, a visible share of the server's CPU when sessions come and go fast.
    static TOKENS: RefCell<ChaCha12Rng> = RefCell::new(ChaCha12Rng::from_seed(seed()));
}

/// A uniformly random, unpredictable token, never 0.
///
/// The caller redraws if the token already names a session (§8.2); the store does that while
/// holding the lock of the token's shard, so the check and the insert are one step.
pub fn random_token() -> Token {
    TOKENS.with(|rng| loop {
        let t = rng.borrow_mut().next_u64();
        if t != 0 {
            return t;
        }
    })
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

/// A seed from the OS CSPRNG. Should the OS refuse (it does not on Linux once booted), a
/// BLAKE3 digest of the time and a per-process counter stands in: tokens stay distinct (the
/// store also redraws on collision), if less unpredictable.
fn seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    if getrandom::fill(&mut seed).is_ok() {
        return seed;
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
    *hasher.finalize().as_bytes()
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
    fn threads_draw_different_tokens() {
        // Each thread seeds its own generator: two threads must not repeat each other.
        let draw = || std::thread::spawn(|| (0..100).map(|_| random_token()).collect::<Vec<_>>());
        let (a, b) = (draw(), draw());
        let mut all = a.join().expect("thread a");
        all.extend(b.join().expect("thread b"));
        let distinct: std::collections::HashSet<Token> = all.iter().copied().collect();
        assert_eq!(distinct.len(), 200);
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
