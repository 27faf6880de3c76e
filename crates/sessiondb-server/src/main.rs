//! `sessiondb`: parse the configuration, set up logging, bind, serve until SIGINT/SIGTERM.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use sessiondb_server::config::{Config, ConfigError};
use sessiondb_server::{shutdown, Server};
use tokio::net::TcpListener;
use tracing::{info, warn};
use tracing_subscriber::EnvFilter;

// The persistence paths (save capture, load, recovery) are allocation-bound; mimalloc's per-thread
// free lists make them several times cheaper than glibc malloc (BENCHMARKS.md, Persistence).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let config = match Config::from_args(std::env::args_os()) {
        Ok(config) => config,
        // Prints help/version to stdout (exit 0) or the usage error to stderr (exit 2).
        Err(ConfigError::Cli(e)) => e.exit(),
        Err(e) => return fail(&e.into()),
    };
    match start(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Reports a startup or runtime failure on stderr, with its causes, and exits non-zero.
fn fail(e: &anyhow::Error) -> ExitCode {
    eprintln!("sessiondb: {e:#}");
    ExitCode::FAILURE
}

fn start(config: Config) -> anyhow::Result<()> {
    init_logging(&config.log_level)?;
    raise_open_file_limit();
    let runtime = sessiondb_server::transport::acceptor_runtime(config.threads == Some(0))
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let addr = SocketAddr::new(config.ip, config.port);
    // Bound before loading so that health checks get 503 meanwhile; nothing is served over
    // WebSocket until the store is loaded, and a failed startup load stops the server.
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    info!(
        "loading; HTTP on {} answers 503 until ready",
        listener.local_addr()?
    );
    let server = Server::start(&listener, config).await?;
    info!(
        version = sessiondb_server::VERSION,
        "listening on ws://{}",
        listener.local_addr()?
    );
    server.run(listener, shutdown::signal()).await
}

/// Logs to stderr at the configured level; `RUST_LOG`, when set, takes precedence.
fn init_logging(level: &str) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) => EnvFilter::try_new(&directives)
            .with_context(|| format!("invalid RUST_LOG {directives:?}"))?,
        Err(_) => {
            EnvFilter::try_new(level).with_context(|| format!("invalid log level {level:?}"))?
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    Ok(())
}

/// Each connection is a file descriptor; the usual soft limit (1024) would cap the server far
/// below 10,000 clients, so take whatever the hard limit allows.
fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => info!(limit, "open file limit"),
        Err(e) => warn!(error = %e, "cannot raise the open file limit"),
    }
}
