//! The sessiondb server: WebSocket transport in front of the protocol layer.
//!
//! [`run`] serves a bound listener until a shutdown future completes, so tests start the real
//! server in-process on `127.0.0.1:0`; the `sessiondb` binary is a thin wrapper around it.

pub mod admin;
pub mod auth;
pub mod backend;
pub mod config;
pub mod connection;
pub mod data_dir_lock;
pub mod error;
pub mod frame;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod persistence;
pub mod policies;
pub mod shutdown;
pub mod stats;
pub mod tls;
pub mod transport;
pub mod upgrade;

mod service_handler;

use std::future::Future;
use std::sync::Arc;

use sessiondb_core::clock::{Clock, SystemClock};
use sessiondb_core::store::Limits;
use sessiondb_core::{Command, Outcome, StoreConfig};
use sessiondb_service::{RemoteEngine, Service, ServiceSettings};
use tokio::net::TcpListener;

pub use config::Config;
pub use error::ServerError;
use stats::Stats;

/// sessiondb's version, reported as `SV_INFO.serverVersion`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A server whose store exists (and, once persistence lands, is loaded) but which is not yet
/// serving: building it before binding lets a failed startup load stop the process before it
/// listens (PROTOCOL.md §15.2).
pub struct Server {
    config: Config,
    dispatcher: Arc<Service>,
    stats: Arc<Stats>,
    policies: policies::ConnectionPolicies,
    persistence: persistence::Persistence,
    /// Where the admin console listens, when given by [`Server::with_admin_listener`].
    admin_listener: Option<TcpListener>,
    /// Held until the server is dropped, after the journal is flushed.
    _data_dir_lock: Option<data_dir_lock::DataDirLock>,
}

impl Server {
    /// Builds the store and the dispatcher over it from `config`, which must not name a
    /// backend (see [`Server::start`], which connects to it first).
    pub fn new(config: Config) -> Result<Self, ServerError> {
        if !config.backend.is_empty() {
            return Err(ServerError::Startup(
                "a server with --backend is built by Server::start".to_owned(),
            ));
        }
        Self::build(config, None)
    }

    /// Builds the server; in backend mode (`remote`) the embedded store stays empty and the
    /// data directory is neither locked nor journaled.
    fn build(config: Config, remote: Option<Arc<dyn RemoteEngine>>) -> Result<Self, ServerError> {
        config.validate()?;
        let stats = Arc::new(Stats::new());
        // A bad certificate or key stops startup, before anything listens.
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
            _ => None,
        };
        let auth = Arc::new(auth::AuthConfig::from_secrets(
            config.auth_secrets.iter().cloned(),
            config.auth_max_failures,
        ));
        // Before recovery: a second server on this directory must not touch its journal.
        let data_dir_lock = if config.persist && remote.is_none() {
            Some(data_dir_lock::DataDirLock::acquire(&config.data_dir)?)
        } else {
            None
        };
        log_settings(&config);
        // Journal recovery and --load-name happen here, before anything listens.
        let persist_options = if remote.is_some() {
            persistence::PersistOptions::from_config(&Config {
                persist: false,
                ..config.clone()
            })
        } else {
            persistence::PersistOptions::from_config(&config)
        };
        let (store, persistence) = persistence::open_store(
            &persist_options,
            StoreConfig {
                limits: Limits {
                    max_sessions: config.max_sessions,
                    max_keys_per_session: config.max_keys_per_session,
                    max_memory_bytes: config.max_memory,
                },
                ..StoreConfig::default()
            },
            Arc::new(SystemClock),
        )?;
        let dispatcher = Service::with_engine(
            ServiceSettings {
                persist_enabled: config.persist,
                data_dir: config.data_dir.clone(),
                server_version: VERSION,
                clock: Arc::new(SystemClock),
                stats: stats.clone(),
            },
            Arc::clone(&store),
        )
        .with_authenticator(auth.clone());
        let dispatcher = match remote {
            Some(remote) => dispatcher.with_remote(remote),
            None => dispatcher,
        };
        let journal_size = persistence.journal_size();
        let gauges: metrics::StoreGauges = Box::new(move || {
            let (sessions, keys) = match store.execute(Command::Stats, SystemClock.now_ms()) {
                Outcome::Stats { sessions, keys } => (sessions, keys),
                _ => (0, 0),
            };
            metrics::StoreSnapshot {
                sessions,
                keys,
                stored_bytes: store.stored_bytes(),
                journal_bytes: journal_size.as_ref().map(|size| size()),
            }
        });
        let policies = policies::ConnectionPolicies {
            tls,
            auth,
            limiter: limits::ConnectionLimiter::new(config.max_connections),
            probe_policy: config.probe_guard.then(limits::ProbePolicy::default),
            metrics: Arc::new(metrics::Metrics::new(VERSION, Some(gauges))),
            durability: persistence.durability(),
        };
        Ok(Self {
            config,
            dispatcher: Arc::new(dispatcher),
            stats,
            policies,
            persistence,
            admin_listener: None,
            _data_dir_lock: data_dir_lock,
        })
    }

    /// Builds the server from `config` (journal recovery and `--load-name` can take long) while
    /// `listener` answers HTTP with 503 (see [`build_answering`]).
    pub async fn start(listener: &TcpListener, config: Config) -> Result<Self, ServerError> {
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
            _ => None,
        };
        build_answering(listener, tls, async move {
            let remote = backend::connect(&config.backend).await?;
            tokio::task::spawn_blocking(move || Server::build(config, remote))
                .await
                .map_err(|e| ServerError::Startup(e.to_string()))?
        })
        .await
    }

    /// The dispatcher every connection talks to.
    pub fn dispatcher(&self) -> &Arc<Service> {
        &self.dispatcher
    }

    /// The server's metrics (what `--metrics-addr` serves).
    pub fn metrics(&self) -> &Arc<metrics::Metrics> {
        &self.policies.metrics
    }

    /// The settings this server was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Serves the admin console on `listener` instead of binding `--admin-addr`; tests hand it a
    /// listener on port 0.
    pub fn with_admin_listener(mut self, listener: TcpListener) -> Self {
        self.admin_listener = Some(listener);
        self
    }

    /// Serves `listener` until `shutdown` completes, then closes every connection with 1001
    /// after in-flight saves finish (PROTOCOL.md §2.5), and returns.
    /// Binds `--metrics-addr` and `--admin-addr` when they are set.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ServerError> {
        let metrics_listener = match self.config.metrics_addr {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| ServerError::MetricsListen { addr, source })?,
            ),
            None => None,
        };
        let mut server = self;
        if let (None, Some(addr)) = (&server.admin_listener, server.config.admin_addr) {
            let admin = TcpListener::bind(addr)
                .await
                .map_err(|source| ServerError::AdminListen { addr, source })?;
            server.admin_listener = Some(admin);
        }
        server.run_with(listener, metrics_listener, shutdown).await
    }

    /// Like [`Server::run`], serving metrics on `metrics_listener` (if any) instead of binding
    /// `--metrics-addr` itself; tests hand it a listener on port 0.
    pub async fn run_with(
        mut self,
        listener: TcpListener,
        metrics_listener: Option<TcpListener>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ServerError> {
        let admin_task = self.admin_listener.take().map(|l| {
            if let Ok(addr) = l.local_addr() {
                tracing::info!("admin console on http://{addr}/");
            }
            let console = admin::Console::new(
                Arc::clone(&self.dispatcher),
                Arc::clone(&self.stats),
                Arc::clone(&self.policies.metrics),
                Arc::clone(&self.policies.auth),
            );
            tokio::spawn(admin::serve(l, Arc::new(console), std::future::pending()))
        });
        let metrics_task = metrics_listener.map(|l| {
            if let Ok(addr) = l.local_addr() {
                tracing::info!("metrics on http://{addr}/metrics");
            }
            tokio::spawn(metrics::serve(
                l,
                Arc::clone(&self.policies.metrics),
                std::future::pending(),
            ))
        });
        let served = transport::serve_service(
            listener,
            &self.config,
            self.dispatcher,
            self.stats,
            self.policies,
            shutdown,
        )
        .await;
        for task in [metrics_task, admin_task].into_iter().flatten() {
            task.abort();
        }
        // Connections are closed: flush and fsync the journal before returning.
        let flushed = self.persistence.shutdown();
        served.and(flushed.map_err(ServerError::from))
    }
}

/// Says at startup what an operator needs to know about this server's settings.
fn log_settings(config: &Config) {
    let data_dir =
        std::path::absolute(&config.data_dir).unwrap_or_else(|_| config.data_dir.clone());
    let metrics = config
        .metrics_addr
        .map_or_else(|| "off".to_owned(), |a| a.to_string());
    let admin = config
        .admin_addr
        .map_or_else(|| "off".to_owned(), |a| a.to_string());
    tracing::info!(
        data_dir = %data_dir.display(),
        persist = config.persist,
        fsync = %config.fsync,
        auth = if config.auth_secrets.is_empty() { "off" } else { "on" },
        tls = if config.tls_cert.is_some() { "on" } else { "off" },
        metrics = %metrics,
        admin = %admin,
        "starting"
    );
}

/// Builds a server from `config` and serves `listener` until `shutdown` completes. Connections
/// that arrive while it loads wait in the listen backlog (the binary answers them with 503
/// instead, see [`Server::start`]).
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let remote = backend::connect(&config.backend).await?;
    Server::build(config, remote)?.run(listener, shutdown).await
}

/// Awaits `building` (the server's startup: journal recovery, `--load-name`) while `listener`
/// answers every request with HTTP 503: `GET /health` with "loading", a WebSocket upgrade with
/// a refusal, so load balancers and health checks see a server that is starting, not one that
/// is down. Nothing is served over WebSocket until `building` has succeeded; if it fails, the
/// server never served anything. `tls`: the connections speak TLS first.
pub async fn build_answering(
    listener: &TcpListener,
    tls: Option<tls::TlsAcceptor>,
    building: impl Future<Output = Result<Server, ServerError>>,
) -> Result<Server, ServerError> {
    tokio::pin!(building);
    loop {
        tokio::select! {
            built = &mut building => return built,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(tokio::time::timeout(
                        connection::HANDSHAKE_TIMEOUT,
                        answer_loading(stream, tls.clone()),
                    ));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed while loading");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
        }
    }
}

/// One connection while the server loads: `/health` and upgrades get 503, the rest as always.
async fn answer_loading(stream: tokio::net::TcpStream, tls: Option<tls::TlsAcceptor>) {
    let mut stream = match tls {
        Some(acceptor) => match acceptor.accept(stream).await {
            Ok(s) => tls::ServerStream::Tls(Box::new(s)),
            Err(_) => return,
        },
        None => tls::ServerStream::Plain(stream),
    };
    let mut read = Vec::new();
    let checked = match http::read_head(&mut stream, &mut read).await {
        Ok(len) => http::classify(&read[..len]),
        Err(http::HeadError::Gone) => return,
        Err(http::HeadError::Refused(answer)) => Err(answer),
    };
    let answer = match checked {
        Ok(http::Request::Health { head_only }) => http::Answer::health(false, head_only),
        Ok(http::Request::Upgrade) => http::Answer::loading(
            false,
            "loading: WebSocket connections are accepted once GET /health answers 200",
        ),
        Err(answer) => answer,
    };
    http::answer(&mut stream, &answer).await;
}
