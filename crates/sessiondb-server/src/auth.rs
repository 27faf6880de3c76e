//! Authentication (docs/PROTOCOL.md §2.6): shared secrets, checked in constant time.
//!
//! Authentication is off when no secret is configured. A connection authenticates either at the
//! WebSocket upgrade (`Authorization: Bearer <secret>`, or HTTP Basic with the secret as the
//! password) or with a first `SV_AUTH` message, which the protocol layer checks through the
//! [`sessiondb_service::Authenticator`] implemented here.
//!
//! Secrets never leave this module in readable form: [`Secret`]'s `Debug` is redacted, and the
//! comparison hashes the candidate first, so neither its length nor its content shapes the time
//! a comparison takes.

use std::fmt;

use base64::Engine as _;

/// Default number of failed attempts after which a connection is closed with 1008.
pub const DEFAULT_MAX_FAILURES: u32 = 5;

/// One configured secret. Only its BLAKE3 digest is kept, so a heap dump or a stray `{:?}`
/// cannot reveal it.
#[derive(Clone)]
pub struct Secret {
    digest: [u8; 32],
}

impl Secret {
    /// Wraps a secret given on the command line, in the config file or in the environment.
    pub fn new(secret: &str) -> Self {
        Self {
            digest: *blake3::hash(secret.as_bytes()).as_bytes(),
        }
    }
}

// Equality exists so `Config` can be compared in tests; it is constant-time anyway so it is
// safe wherever it ends up being used.
impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq::constant_time_eq_32(&self.digest, &other.digest)
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The server's authentication settings: the accepted secrets and the failure policy.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    secrets: Vec<Secret>,
    max_failures: u32,
}

impl AuthConfig {
    /// Builds the settings from the configured secrets. Empty secrets are dropped: an empty
    /// password would make "no credentials" indistinguishable from a valid one.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>, max_failures: u32) -> Self {
        Self::from_secrets(
            secrets
                .into_iter()
                .filter(|s| !s.is_empty())
                .map(Secret::new),
            max_failures,
        )
    }

    /// Builds the settings from already wrapped secrets (as the configuration holds them).
    pub fn from_secrets(secrets: impl IntoIterator<Item = Secret>, max_failures: u32) -> Self {
        Self {
            secrets: secrets.into_iter().collect(),
            // Zero would close before the first attempt could succeed; treat it as one.
            max_failures: max_failures.max(1),
        }
    }

    /// Authentication off: every connection is authenticated from the start.
    pub fn disabled() -> Self {
        Self::new(std::iter::empty(), DEFAULT_MAX_FAILURES)
    }

    /// Whether any secret is configured.
    pub fn enabled(&self) -> bool {
        !self.secrets.is_empty()
    }

    /// Failed attempts after which the connection is closed with 1008.
    pub fn max_failures(&self) -> u32 {
        self.max_failures
    }

    /// Whether `candidate` is one of the secrets. Constant time: the candidate's digest is
    /// compared with every secret's digest, without stopping at the first match.
    pub fn verify(&self, candidate: &[u8]) -> bool {
        let digest = blake3::hash(candidate);
        let mut matched = false;
        for secret in &self.secrets {
            // `|` rather than `||`: every comparison runs whatever the earlier ones returned.
            matched |= constant_time_eq::constant_time_eq_32(digest.as_bytes(), &secret.digest);
        }
        matched
    }

    /// Decides a WebSocket upgrade from its `Authorization` header values (all of them, in
    /// order). Credentials that do not parse count as a wrong secret.
    pub fn check_upgrade<'h>(&self, headers: impl IntoIterator<Item = &'h [u8]>) -> UpgradeAuth {
        if !self.enabled() {
            return UpgradeAuth::Authenticated;
        }
        let mut any = false;
        let mut all_valid = true;
        for value in headers {
            any = true;
            let ok = match parse_authorization(value) {
                Some(candidate) => self.verify(&candidate),
                None => false,
            };
            all_valid &= ok;
        }
        match (any, all_valid) {
            (false, _) => UpgradeAuth::Anonymous,
            (true, true) => UpgradeAuth::Authenticated,
            (true, false) => UpgradeAuth::Rejected,
        }
    }
}

impl sessiondb_service::Authenticator for AuthConfig {
    fn enabled(&self) -> bool {
        AuthConfig::enabled(self)
    }

    fn verify(&self, secret: &str) -> bool {
        AuthConfig::verify(self, secret.as_bytes())
    }

    fn max_failures(&self) -> u32 {
        AuthConfig::max_failures(self)
    }
}

/// What the upgrade request's credentials say about a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpgradeAuth {
    /// Authentication is off, or the header carried a valid secret.
    Authenticated,
    /// No credentials: the connection may still authenticate with `SV_AUTH`.
    Anonymous,
    /// A wrong or malformed credential: refuse the upgrade with HTTP 401.
    Rejected,
}

/// Extracts the secret from an `Authorization` header value: the token of `Bearer <token>`, or
/// the password of `Basic base64(user:password)` (the user name is ignored). Scheme names are
/// case-insensitive (RFC 9110 §11.1). `None` for any other scheme or a malformed value.
pub fn parse_authorization(value: &[u8]) -> Option<Vec<u8>> {
    let value = std::str::from_utf8(value).ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim_start();
    if rest.is_empty() {
        return None;
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        Some(rest.as_bytes().to_vec())
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let colon = decoded.iter().position(|&b| b == b':')?;
        Some(decoded[colon + 1..].to_vec())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_pass: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
        .into_bytes()
    }

    #[test]
    fn verify_accepts_only_configured_secrets() {
        let auth = AuthConfig::new(["alpha", "beta"], 5);
        assert!(auth.enabled());
        assert!(auth.verify(b"alpha"));
        assert!(auth.verify(b"beta"));
        assert!(!auth.verify(b"gamma"));
        assert!(!auth.verify(b"alph"));
        assert!(!auth.verify(b"alphaa"));
        assert!(!auth.verify(b""));
    }

    #[test]
    fn empty_secrets_do_not_enable_auth() {
        let auth = AuthConfig::new([""], 5);
        assert!(!auth.enabled());
        assert!(!AuthConfig::disabled().enabled());
        assert_eq!(
            AuthConfig::disabled().check_upgrade([b"Bearer x".as_slice()]),
            UpgradeAuth::Authenticated
        );
    }

    #[test]
    fn max_failures_is_at_least_one() {
        assert_eq!(AuthConfig::new(["s"], 0).max_failures(), 1);
        assert_eq!(AuthConfig::new(["s"], 7).max_failures(), 7);
    }

    #[test]
    fn parses_bearer_and_basic() {
        assert_eq!(
            parse_authorization(b"Bearer s3cret"),
            Some(b"s3cret".to_vec())
        );
        assert_eq!(
            parse_authorization(b"bearer  s3cret "),
            Some(b"s3cret".to_vec())
        );
        assert_eq!(parse_authorization(&basic("user:pw")), Some(b"pw".to_vec()));
        // Only the first colon splits: passwords may contain colons.
        assert_eq!(parse_authorization(&basic("u:a:b")), Some(b"a:b".to_vec()));
        assert_eq!(parse_authorization(&basic(":pw")), Some(b"pw".to_vec()));
    }

    #[test]
    fn rejects_malformed_credentials() {
        assert_eq!(parse_authorization(b"Bearer"), None);
        assert_eq!(parse_authorization(b"Bearer "), None);
        assert_eq!(parse_authorization(b"Digest abc"), None);
        assert_eq!(parse_authorization(b"Basic !!!notbase64"), None);
        assert_eq!(parse_authorization(&basic("no-colon")), None);
        assert_eq!(parse_authorization(&[0xff, 0xfe]), None);
    }

    #[test]
    fn upgrade_decisions() {
        let auth = AuthConfig::new(["pw"], 5);
        let none: [&[u8]; 0] = [];
        assert_eq!(auth.check_upgrade(none), UpgradeAuth::Anonymous);
        assert_eq!(
            auth.check_upgrade([b"Bearer pw".as_slice()]),
            UpgradeAuth::Authenticated
        );
        assert_eq!(
            auth.check_upgrade([basic("anyone:pw").as_slice()]),
            UpgradeAuth::Authenticated
        );
        assert_eq!(
            auth.check_upgrade([b"Bearer nope".as_slice()]),
            UpgradeAuth::Rejected
        );
        assert_eq!(
            auth.check_upgrade([b"Negotiate pw".as_slice()]),
            UpgradeAuth::Rejected
        );
        // A second, wrong header is not outvoted by a right one.
        assert_eq!(
            auth.check_upgrade([b"Bearer pw".as_slice(), b"Bearer x".as_slice()]),
            UpgradeAuth::Rejected
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let auth = AuthConfig::new(["hunter2"], 5);
        let shown = format!("{auth:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }
}
