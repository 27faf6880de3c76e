//! `sessiondb-echo`: the WebSocket echo floor sessiondb is measured against.
//!
//! It is sessiondb's own transport, the server's connection loop and accept loop, with the
//! service replaced by "reply with the request's payload" ([`sessiondb_bench::echo`]), and the
//! same allocator as the `sessiondb` binary. Whatever sessiondb costs above this floor is
//! parsing, executing, rendering and the server's bookkeeping (metrics, policies).
//!
//! By default one connection thread, because `scripts/bench.sh` pins the floor to one CPU
//! (the server's own default, one per available core, comes to the same there).

use anyhow::{Context, Result};
use clap::Parser;
use tokio::net::TcpListener;

// As the `sessiondb` binary: the floor should not differ from it in how it allocates.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// WebSocket echo server on sessiondb's transport (benchmark floor).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    ip: String,
    /// Port to listen on (0: any free port, printed on stdout).
    #[arg(long, default_value_t = 1988)]
    port: u16,
    /// Connection threads, each a single-threaded runtime; 0 serves connections on the
    /// accepting runtime (multi-threaded), like the server's `--threads 0`.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

fn main() -> Result<()> {
    let args = Args::parse();
    // The server's own acceptor runtime.
    let runtime = sessiondb_server::transport::acceptor_runtime(args.threads == 0)
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = TcpListener::bind((args.ip.as_str(), args.port))
            .await
            .with_context(|| format!("binding {}:{}", args.ip, args.port))?;
        println!(
            "sessiondb-echo listening on ws://{}",
            listener.local_addr()?
        );
        sessiondb_bench::echo::serve(listener, args.threads, sessiondb_server::shutdown::signal())
            .await
    })
}
