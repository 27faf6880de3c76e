//! The sessiondb server: WebSocket transport in front of the protocol layer.
//!
//! [`run`] serves a bound listener until a shutdown future completes, so tests start the real
//! server in-process on `127.0.0.1:0`; the `sessiondb` binary is a thin wrapper around it.

pub mod config;
pub mod connection;
pub mod shutdown;
pub mod transport;

use std::future::Future;
use std::sync::Arc;

use sessiondb_core::clock::SystemClock;
use sessiondb_proto::{DispatchSettings, Dispatcher};
use tokio::net::TcpListener;

pub use config::Config;
use transport::Stats;

/// sessiondb's version, reported as `SV_INFO.serverVersion`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A server whose store exists (and, once persistence lands, is loaded) but which is not yet
/// serving: building it before binding lets a failed startup load stop the process before it
/// listens (PROTOCOL.md §15.2).
pub struct Server {
    config: Config,
    dispatcher: Arc<Dispatcher>,
    stats: Arc<Stats>,
}

impl Server {
    /// Builds the store and the dispatcher over it from `config`.
    pub fn new(config: Config) -> anyhow::Result<Self> {
        config.validate()?;
        let stats = Arc::new(Stats::new());
        let dispatcher = Arc::new(Dispatcher::new(DispatchSettings {
            persist_enabled: config.persist,
            data_dir: config.data_dir.clone(),
            server_version: VERSION,
            clock: Arc::new(SystemClock),
            stats: stats.clone(),
        }));
        Ok(Self {
            config,
            dispatcher,
            stats,
        })
    }

    /// The dispatcher every connection talks to.
    pub fn dispatcher(&self) -> &Arc<Dispatcher> {
        &self.dispatcher
    }

    /// The settings this server was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Serves `listener` until `shutdown` completes, then closes every connection with 1001
    /// after in-flight saves finish (PROTOCOL.md §2.5), and returns.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        transport::serve(
            listener,
            &self.config,
            self.dispatcher,
            self.stats,
            shutdown,
        )
        .await
    }
}

/// Builds a server from `config` and serves `listener` until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    Server::new(config)?.run(listener, shutdown).await
}
