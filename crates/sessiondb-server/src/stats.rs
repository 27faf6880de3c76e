//! The transport's figures for `SV_INFO`: open connections and uptime.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use sessiondb_service::ServerStats;

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

#[cfg(test)]
mod tests {
    use super::*;

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
