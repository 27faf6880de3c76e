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
    return_freed_memory_at_once();
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

/// mimalloc hands memory it no longer uses back to the OS only `purge_delay` ms after the free,
/// and checks that age only when the same thread next allocates: a connection thread that goes
/// idle after ending a large session, or after one large request, would keep those pages
/// resident indefinitely. With no delay, the free that empties a page (or an arena block)
/// returns it. Set before anything is freed; `MIMALLOC_PURGE_DELAY` has been read by then.
#[allow(unsafe_code)]
fn return_freed_memory_at_once() {
    extern "C" {
        // mimalloc.h: `void mi_option_set(mi_option_t option, long value)`.
        fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
    }
    // `mi_option_purge_delay` in the v2 line's `mi_option_t`; the arena delay is a multiple of it.
    const PURGE_DELAY: std::ffi::c_int = 15;
    // SAFETY: a plain setter of an option value; mimalloc is linked in as the global allocator
    // (the v2 line, whose option numbering the constant follows) and is initialised by now.
    unsafe { mi_option_set(PURGE_DELAY, 0) };
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
    Ok(server.run(listener, shutdown::signal()).await?)
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
