//! The server library's error: why it could not start, serve or stop.

use std::net::SocketAddr;

use crate::config::ConfigError;
use crate::data_dir_lock::LockError;
use crate::persistence::PersistError;
use crate::tls::TlsError;

/// Why [`crate::Server`] could not start, serve or stop. Causes are `source`s, so a reporter
/// that prints the chain (`{:#}` of `anyhow`) shows each once.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration is inconsistent.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The TLS certificate or key is unusable.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// Another process holds the data directory.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// Journal recovery, `--load-name`, or the journal's flush at shutdown failed.
    #[error(transparent)]
    Persist(#[from] PersistError),
    /// `--metrics-addr` could not be bound.
    #[error("cannot listen for metrics on {addr}")]
    MetricsListen {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `--admin-addr` could not be bound.
    #[error("cannot listen for the admin console on {addr}")]
    AdminListen {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `--backend` could not be reached at start.
    #[error(transparent)]
    Backend(#[from] sessiondb_cluster::ConnectError),
    /// The startup work stopped without a result (it panicked).
    #[error("startup stopped: {0}")]
    Startup(String),
}
