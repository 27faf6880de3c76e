//! How a client connects, times requests out and recovers from a dropped connection.

use std::time::Duration;

/// Connection settings for [`Client::connect_with`](crate::Client::connect_with).
///
/// The default is the recommended setup: 10 s to connect, 10 s per request, and reconnection
/// with [`Backoff::default`]. [`Client::connect`](crate::Client::connect) uses
/// [`ClientOptions::plain`] instead: no timeouts and no reconnection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// How long opening a connection (TCP, TLS and the WebSocket upgrade) may take before
    /// [`Error::ConnectTimeout`](crate::Error::ConnectTimeout); `None` waits as long as the
    /// system does.
    pub connect_timeout: Option<Duration>,
    /// How long a request waits for its reply before [`Error::Timeout`](crate::Error::Timeout);
    /// `None` waits forever. The connection stays usable: a late reply is matched to the request
    /// that gave up on it and discarded.
    pub request_timeout: Option<Duration>,
    /// Whether and how to open a new connection when the current one is found closed; `None`
    /// leaves the client disconnected for good.
    pub reconnect: Option<Backoff>,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            connect_timeout: Some(Duration::from_secs(10)),
            request_timeout: Some(Duration::from_secs(10)),
            reconnect: Some(Backoff::default()),
        }
    }
}

impl ClientOptions {
    /// No timeouts and no reconnection: what [`Client::connect`](crate::Client::connect) uses.
    pub fn plain() -> ClientOptions {
        ClientOptions {
            connect_timeout: None,
            request_timeout: None,
            reconnect: None,
        }
    }

    /// Sets [`ClientOptions::connect_timeout`].
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> ClientOptions {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`ClientOptions::request_timeout`].
    pub fn request_timeout(mut self, timeout: Option<Duration>) -> ClientOptions {
        self.request_timeout = timeout;
        self
    }

    /// Sets [`ClientOptions::reconnect`].
    pub fn reconnect(mut self, backoff: Option<Backoff>) -> ClientOptions {
        self.reconnect = backoff;
        self
    }
}

/// Exponential backoff between attempts to reconnect.
///
/// The first attempt is made at once; after each failure the client waits `initial`, then twice
/// as long each time, at most `max`, until `attempts` attempts have failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Wait after the first failed attempt.
    pub initial: Duration,
    /// Longest wait between two attempts.
    pub max: Duration,
    /// Attempts before the request that needed the connection fails with the last error (at
    /// least 1 is made).
    pub attempts: u32,
}

impl Default for Backoff {
    /// 50 ms, doubling up to 2 s, 8 attempts: about 6 s of trying.
    fn default() -> Backoff {
        Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_secs(2),
            attempts: 8,
        }
    }
}

impl Backoff {
    /// The wait after failed attempt number `failed` (1 for the first failure).
    pub(crate) fn delay(&self, failed: u32) -> Duration {
        let factor = 2u32.saturating_pow(failed.saturating_sub(1));
        self.initial.saturating_mul(factor).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let b = Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(300),
            attempts: 10,
        };
        let delays: Vec<u128> = (1..=6).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(delays, [50, 100, 200, 300, 300, 300]);
        assert_eq!(b.delay(200), Duration::from_millis(300));
    }

    #[test]
    fn connect_is_plain_and_the_default_recovers() {
        assert_eq!(ClientOptions::plain().reconnect, None);
        assert_eq!(ClientOptions::plain().request_timeout, None);
        let d = ClientOptions::default();
        assert_eq!(d.request_timeout, Some(Duration::from_secs(10)));
        assert_eq!(d.reconnect, Some(Backoff::default()));
    }
}
