//! Requests/s of the example app (`examples/axum-login`) with its sessions in sessiondb and in
//! Redis through `tower-sessions-redis-store`, side by side in one run.
//!
//! The app and the load driver run in this process; sessiondb and redis-server are separate
//! processes (scripts/bench-tower-sessions.sh starts them). Rounds interleave the stores
//! (sessiondb, Redis, sessiondb, Redis, ...) so that a change in the machine's load touches both,
//! and the table gives each store's median over the rounds.

mod load;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tower_sessions::{Expiry, SessionStore};
use tower_sessions_redis_store::fred::prelude::{ClientLike, Config, Pool};
use tower_sessions_redis_store::RedisStore;
use tower_sessions_sessiondb_store::SessiondbStore;

use load::Workload;

/// Command-line arguments.
#[derive(Parser)]
struct Args {
    /// The sessiondb server.
    #[arg(long, default_value = "ws://127.0.0.1:1987")]
    sessiondb: String,
    /// The Redis server.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis: String,
    /// Connections in the Redis store's pool (its example uses 6).
    #[arg(long, default_value_t = 6)]
    redis_pool: usize,
    /// Virtual users, each on its own HTTP connection.
    #[arg(long, default_value_t = 50)]
    users: usize,
    /// Seconds each measurement lasts.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Measurements of each store and workload.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Workloads, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "counter,login")]
    workloads: Vec<Workload>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let expiry = Expiry::OnInactivity(time::Duration::hours(1));
    let sessiondb = SessiondbStore::connect(&args.sessiondb)
        .await
        .with_context(|| format!("connecting to sessiondb at {}", args.sessiondb))?;
    let pool = Pool::new(
        Config::from_url(&args.redis)?,
        None,
        None,
        None,
        args.redis_pool,
    )?;
    pool.init()
        .await
        .with_context(|| format!("connecting to Redis at {}", args.redis))?;
    let redis = RedisStore::new(pool);
    let sessiondb_app = serve(sessiondb, expiry).await?;
    let redis_app = serve(redis, expiry).await?;
    let duration = Duration::from_secs_f64(args.duration);

    println!(
        "| workload | store | requests/s (median of {}) | rounds |",
        args.rounds
    );
    println!("|---|---|---:|---|");
    for &workload in &args.workloads {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..args.rounds {
            ours.push(
                load::run(sessiondb_app, workload, args.users, duration)
                    .await?
                    .rate(),
            );
            theirs.push(
                load::run(redis_app, workload, args.users, duration)
                    .await?
                    .rate(),
            );
        }
        let name = format!("{workload:?}").to_lowercase();
        row(&name, "sessiondb", &mut ours);
        row(&name, "redis (tower-sessions-redis-store)", &mut theirs);
    }
    Ok(())
}

/// Serves the example app on `store` at a free loopback port.
async fn serve<S: SessionStore + Clone>(store: S, expiry: Expiry) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = sessiondb_axum_login::app(store, expiry);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

fn row(workload: &str, store: &str, rates: &mut [f64]) {
    rates.sort_by(f64::total_cmp);
    let median = rates.get(rates.len() / 2).copied().unwrap_or(0.0);
    let all: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
    println!(
        "| {workload} | {store} | {median:.0} | {} |",
        all.join(", ")
    );
}
