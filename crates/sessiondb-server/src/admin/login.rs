//! Who may use the console: with `--auth-secret` set, only a browser that logged in with one of
//! the server's secrets (a form post, so the secret never appears in a URL) and holds the login's
//! cookie; without secrets, anyone who can reach `--admin-addr`.
//!
//! Each login gets a random cookie (`HttpOnly`, `SameSite=Strict`) and a random CSRF token that
//! the console's forms carry; a post that changes data must bring both. The server keeps only
//! the cookie's BLAKE3 digest, looked up as a map key (so a lookup's time says nothing about a
//! valid cookie), and compares CSRF tokens in constant time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::auth::AuthConfig;

/// Name of the login cookie.
pub const COOKIE: &str = "sessiondb_admin";
/// How long a login lasts.
pub const LOGIN_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// Most logins kept at once; the oldest goes when another arrives.
const MAX_LOGINS: usize = 1024;
/// Failed logins within [`FAILURE_WINDOW`] after which every login is refused until the window
/// has moved on: the console answers each attempt on a fresh connection, so the WebSocket port's
/// per-connection limit cannot bound guessing here.
pub const MAX_FAILURES: usize = 20;
/// The window [`MAX_FAILURES`] counts in.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// How a login attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginAttempt {
    /// The secret is right: the new login's cookie value.
    LoggedIn(String),
    /// Wrong secret (or authentication is off, so there is nothing to log in to).
    Refused,
    /// Too many failed attempts lately; the secret was not checked.
    Throttled,
}

/// What a request may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Authentication is off: everything; forms carry the console's CSRF token.
    Open {
        /// The console-wide CSRF token.
        csrf: String,
    },
    /// Logged in.
    LoggedIn {
        /// This login's CSRF token.
        csrf: String,
    },
    /// Authentication is on and the request has no valid login: only the login form.
    Denied,
}

impl Access {
    /// The CSRF token forms carry, unless access is denied.
    pub fn csrf(&self) -> Option<&str> {
        match self {
            Access::Open { csrf } | Access::LoggedIn { csrf } => Some(csrf),
            Access::Denied => None,
        }
    }

    /// Whether `candidate` is this access's CSRF token (constant time).
    pub fn csrf_matches(&self, candidate: Option<&str>) -> bool {
        match (self.csrf(), candidate) {
            (Some(csrf), Some(candidate)) => {
                constant_time_eq::constant_time_eq(csrf.as_bytes(), candidate.as_bytes())
            }
            _ => false,
        }
    }
}

struct Login {
    csrf: String,
    since: Instant,
}

/// The console's logins.
pub struct Logins {
    auth: Arc<AuthConfig>,
    open_csrf: String,
    logins: Mutex<HashMap<[u8; 32], Login>>,
    /// When the recent failed attempts happened, oldest first.
    failures: Mutex<std::collections::VecDeque<Instant>>,
}

impl Logins {
    /// Logins checked against `auth`'s secrets.
    pub fn new(auth: Arc<AuthConfig>) -> Self {
        Self {
            auth,
            open_csrf: random_token(),
            logins: Mutex::new(HashMap::new()),
            failures: Mutex::new(std::collections::VecDeque::new()),
        }
    }

    /// Whether the console asks for a login.
    pub fn required(&self) -> bool {
        self.auth.enabled()
    }

    /// What a request with login cookie `cookie` may do.
    pub fn access(&self, cookie: Option<&str>) -> Access {
        if !self.required() {
            return Access::Open {
                csrf: self.open_csrf.clone(),
            };
        }
        let Some(cookie) = cookie else {
            return Access::Denied;
        };
        let mut logins = self.logins.lock();
        let key = digest(cookie);
        match logins.get(&key) {
            Some(login) if login.since.elapsed() < LOGIN_LIFETIME => Access::LoggedIn {
                csrf: login.csrf.clone(),
            },
            Some(_) => {
                logins.remove(&key);
                Access::Denied
            }
            None => Access::Denied,
        }
    }

    /// Logs in with `secret`.
    pub fn log_in(&self, secret: &str) -> LoginAttempt {
        if !self.required() {
            return LoginAttempt::Refused;
        }
        {
            let mut failures = self.failures.lock();
            while failures
                .front()
                .is_some_and(|t| t.elapsed() >= FAILURE_WINDOW)
            {
                failures.pop_front();
            }
            if failures.len() >= MAX_FAILURES {
                return LoginAttempt::Throttled;
            }
            if !self.auth.verify(secret.as_bytes()) {
                failures.push_back(Instant::now());
                return LoginAttempt::Refused;
            }
        }
        let cookie = random_token();
        let mut logins = self.logins.lock();
        logins.retain(|_, l| l.since.elapsed() < LOGIN_LIFETIME);
        if logins.len() >= MAX_LOGINS {
            if let Some(oldest) = logins.iter().min_by_key(|(_, l)| l.since).map(|(k, _)| *k) {
                logins.remove(&oldest);
            }
        }
        logins.insert(
            digest(&cookie),
            Login {
                csrf: random_token(),
                since: Instant::now(),
            },
        );
        LoginAttempt::LoggedIn(cookie)
    }

    /// Ends the login whose cookie is `cookie`.
    pub fn log_out(&self, cookie: Option<&str>) {
        if let Some(cookie) = cookie {
            self.logins.lock().remove(&digest(cookie));
        }
    }
}

/// The `Set-Cookie` value that stores login `cookie` in the browser.
pub fn set_cookie(cookie: &str) -> String {
    format!(
        "{COOKIE}={cookie}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        LOGIN_LIFETIME.as_secs()
    )
}

/// The `Set-Cookie` value that removes the login cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

fn digest(cookie: &str) -> [u8; 32] {
    *blake3::hash(cookie.as_bytes()).as_bytes()
}

/// 32 bytes from the OS CSPRNG, in hex.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    if getrandom::fill(&mut bytes).is_err() {
        // Without the OS generator there is no unguessable token; hashing the address of a
        // stack value and the time is a last resort that still differs per call and process.
        let seed = format!("{:p}{:?}", &bytes, std::time::SystemTime::now());
        bytes = *blake3::hash(seed.as_bytes()).as_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logins(secrets: &[&str]) -> Logins {
        Logins::new(Arc::new(AuthConfig::new(secrets.iter().copied(), 5)))
    }

    #[test]
    fn without_secrets_everything_is_open_with_one_csrf_token() {
        let l = logins(&[]);
        let access = l.access(None);
        assert!(matches!(access, Access::Open { .. }));
        assert_eq!(access, l.access(Some("anything")));
        assert!(access.csrf_matches(access.csrf()));
        assert!(!access.csrf_matches(Some("forged")) && !access.csrf_matches(None));
        assert_eq!(l.log_in(""), LoginAttempt::Refused);
    }

    fn cookie_of(attempt: LoginAttempt) -> String {
        match attempt {
            LoginAttempt::LoggedIn(cookie) => cookie,
            other => panic!("not logged in: {other:?}"),
        }
    }

    #[test]
    fn many_wrong_secrets_stop_all_logins_for_a_while() {
        let l = logins(&["s3cret"]);
        for _ in 0..MAX_FAILURES {
            assert_eq!(l.log_in("guess"), LoginAttempt::Refused);
        }
        assert_eq!(l.log_in("s3cret"), LoginAttempt::Throttled);
        assert_eq!(l.log_in("guess"), LoginAttempt::Throttled);
    }

    #[test]
    fn a_login_needs_the_secret_and_lasts_until_logout() {
        let l = logins(&["s3cret"]);
        assert_eq!(l.access(None), Access::Denied);
        assert_eq!(l.log_in("wrong"), LoginAttempt::Refused);
        let cookie = cookie_of(l.log_in("s3cret"));
        assert_eq!(cookie.len(), 64);
        let access = l.access(Some(&cookie));
        assert!(matches!(access, Access::LoggedIn { .. }));
        let other = cookie_of(l.log_in("s3cret"));
        assert_ne!(
            l.access(Some(&other)).csrf(),
            access.csrf(),
            "per-login tokens"
        );
        assert_eq!(l.access(Some("forged")), Access::Denied);
        l.log_out(Some(&cookie));
        assert_eq!(l.access(Some(&cookie)), Access::Denied);
        assert!(!Access::Denied.csrf_matches(Some("")));
    }
}
