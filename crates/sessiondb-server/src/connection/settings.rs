//! The settings that shape every connection of one server.

use std::time::Duration;

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::config::Config;

/// Keep-alive pings go out at least this often (PROTOCOL.md §2.2).
const MAX_PING_INTERVAL: Duration = Duration::from_secs(60);
/// tungstenite's read buffer, used only for the HTTP upgrade (frames are read by
/// [`crate::frame`] afterwards).
const UPGRADE_READ_BUFFER_BYTES: usize = 8 * 1024;

/// What every connection of one server is built with.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionSettings {
    /// Settings of the HTTP upgrade (tungstenite's; frames are ours after it).
    pub ws_config: WebSocketConfig,
    /// Largest whole message accepted (`--max-message-bytes`).
    pub max_message_bytes: usize,
    /// A connection silent this long is closed (`--idle-timeout-secs`; none for 0).
    pub idle_timeout: Option<Duration>,
    /// How often a connection is pinged.
    pub ping_interval: Duration,
}

impl ConnectionSettings {
    /// The settings `config` asks for.
    pub fn from_config(config: &Config) -> Self {
        let idle_timeout =
            (config.idle_timeout_secs > 0).then(|| Duration::from_secs(config.idle_timeout_secs));
        Self {
            ws_config: websocket_config(config),
            max_message_bytes: config.max_message_bytes,
            idle_timeout,
            ping_interval: ping_interval(idle_timeout),
        }
    }
}

/// tungstenite's settings for the HTTP upgrade. The size limits are the server's, although after
/// the upgrade [`crate::frame`] enforces them (from frame headers, on whole messages).
pub fn websocket_config(config: &Config) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(UPGRADE_READ_BUFFER_BYTES)
        .max_message_size(Some(config.max_message_bytes))
        .max_frame_size(Some(config.max_message_bytes))
}

/// Keep-alive schedule for an idle timeout: three pings per timeout, so a client that answers
/// them is never closed, and at least one a minute.
pub fn ping_interval(idle_timeout: Option<Duration>) -> Duration {
    match idle_timeout {
        Some(idle) => (idle / 3).clamp(Duration::from_millis(10), MAX_PING_INTERVAL),
        None => MAX_PING_INTERVAL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_interval_keeps_answering_clients_alive() {
        assert_eq!(
            ping_interval(Some(Duration::from_secs(180))),
            Duration::from_secs(60)
        );
        assert_eq!(
            ping_interval(Some(Duration::from_secs(3))),
            Duration::from_secs(1)
        );
        assert_eq!(ping_interval(None), Duration::from_secs(60));
        assert_eq!(
            ping_interval(Some(Duration::from_secs(3600))),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn websocket_limits_follow_config() {
        let config = Config {
            max_message_bytes: 4096,
            ..Config::default()
        };
        let ws = websocket_config(&config);
        assert_eq!(ws.max_message_size, Some(4096));
        assert_eq!(ws.max_frame_size, Some(4096));
    }

    #[test]
    fn idle_timeout_zero_means_none() {
        let config = Config {
            idle_timeout_secs: 0,
            ..Config::default()
        };
        let settings = ConnectionSettings::from_config(&config);
        assert_eq!(settings.idle_timeout, None);
        assert_eq!(settings.ping_interval, MAX_PING_INTERVAL);
    }
}
