//! Accept loop, per-server WebSocket settings, the background expiry sweep, and the figures
//! `SV_INFO` asks the transport for.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sessiondb_proto::{Dispatcher, ServerStats};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tracing::{debug, error, info, warn};

use crate::config::Config;
use crate::connection::{self, ConnCtx};
use crate::metrics::Metrics;
use crate::ops::Ops;

/// How often expired sessions are reclaimed (PROTOCOL.md §9.4 asks for within 1 s).
const SWEEP_INTERVAL: Duration = Duration::from_millis(100);
/// Pause after a failed accept (typically out of file descriptors) so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);
/// Keep-alive pings go out at least this often (PROTOCOL.md §2.2).
const MAX_PING_INTERVAL: Duration = Duration::from_secs(60);
/// tungstenite's read buffer, used only for the HTTP upgrade (frames are read by
/// [`crate::frame`] afterwards).
const READ_BUFFER_BYTES: usize = 8 * 1024;

/// Transport figures for `SV_INFO`.
#[derive(Debug)]
pub struct Stats {
    connections: AtomicU64,
    started: Instant,
}

impl Stats {
    /// Zero connections, started now.
    pub fn new() -> Self {
        Self {
            connections: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    /// Counts one open WebSocket connection until the returned guard is dropped.
    pub fn open_connection(self: &Arc<Self>) -> ConnectionGuard {
        self.connections.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard(self.clone())
    }
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerStats for Stats {
    fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    fn memory_bytes(&self) -> Option<u64> {
        crate::metrics::process_resident_bytes()
    }
}

/// Keeps a connection counted in [`Stats`] while it lives.
#[derive(Debug)]
pub struct ConnectionGuard(Arc<Stats>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// tungstenite's settings for the HTTP upgrade. The size limits are the server's, although after
/// the upgrade [`crate::frame`] enforces them (from frame headers, on whole messages).
pub fn websocket_config(config: &Config) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
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

/// Completes once shutdown has been signalled (or the signalling side is gone).
pub(crate) async fn wait_shutdown(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Runs the accept loop and the sweep until `shutdown`, then closes every connection and waits
/// for them (and for any save they are running) to finish.
pub(crate) async fn serve(
    listener: TcpListener,
    config: &Config,
    dispatcher: Arc<Dispatcher>,
    stats: Arc<Stats>,
    ops: Ops,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let metrics = Arc::clone(&ops.metrics);
    let idle_timeout =
        (config.idle_timeout_secs > 0).then(|| Duration::from_secs(config.idle_timeout_secs));
    let ctx = Arc::new(ConnCtx {
        dispatcher: dispatcher.clone(),
        stats,
        ws_config: websocket_config(config),
        max_message_bytes: config.max_message_bytes,
        idle_timeout,
        ping_interval: ping_interval(idle_timeout),
        ops,
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    // Every connection task holds a sender; `recv` returns `None` once all of them are gone.
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let sweeper = tokio::spawn(sweep_loop(dispatcher, metrics, stop_rx.clone()));

    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tokio::spawn(connection::serve(
                        stream,
                        peer,
                        ctx.clone(),
                        stop_rx.clone(),
                        done_tx.clone(),
                    ));
                }
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                }
            },
        }
    }

    drop(listener);
    info!("shutting down: no new connections; closing open ones");
    // Ignoring the error is right: it only means no receiver is left to tell.
    let _ = stop_tx.send(true);
    drop(done_tx);
    let _ = done_rx.recv().await;
    if let Err(e) = sweeper.await {
        error!(error = %e, "expiry sweep task failed");
    }
    info!("shutdown complete");
    Ok(())
}

/// Calls the dispatcher's sweep every [`SWEEP_INTERVAL`] on a blocking thread, so a large
/// sweep never holds up connections sharing this worker.
async fn sweep_loop(
    dispatcher: Arc<Dispatcher>,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(SWEEP_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = wait_shutdown(&mut stop) => break,
            _ = tick.tick() => {
                let d = dispatcher.clone();
                match tokio::task::spawn_blocking(move || d.sweep_expired()).await {
                    Ok(0) => {}
                    Ok(n) => {
                        metrics.sessions_expired(u64::try_from(n).unwrap_or(u64::MAX));
                        debug!(sessions = n, "expired sessions reclaimed");
                    }
                    Err(e) => error!(error = %e, "expiry sweep failed"),
                }
            }
        }
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
    fn connection_guard_counts_open_connections() {
        let stats = Arc::new(Stats::new());
        let a = stats.open_connection();
        let b = stats.open_connection();
        assert_eq!(stats.connections(), 2);
        drop(a);
        assert_eq!(stats.connections(), 1);
        drop(b);
        assert_eq!(stats.connections(), 0);
    }
}
