//! `sessiondb-bench`: a load generator for sessiondb (JSON over WebSocket) and, with the same
//! workloads, Redis (RESP2) and a WebSocket echo server, so one client measures all three.
//!
//! Setup (pre-creating `--sessions` sessions or top-level keys) runs before the timed phase and
//! teardown after it; every reply is verified and failures are counted.

mod codec;
mod driver;
mod op;
mod procstat;
mod resp;
mod runner;
mod verify;
mod ws;

use anyhow::{bail, Result};
use clap::Parser;
use driver::{Phase, Workload};
use runner::{Endpoint, PhaseSpec, Stats, Target};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Load generator for sessiondb (WebSocket), Redis (RESP) and a WebSocket echo floor.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Server URL: ws://host:port/path for ws and echo, redis://host:port for resp.
    #[arg(long, default_value = "ws://127.0.0.1:1987/")]
    url: String,
    /// Protocol to speak.
    #[arg(long, value_enum, default_value = "ws")]
    target: Target,
    /// What to ask.
    #[arg(long, value_enum, default_value = "get")]
    workload: Workload,
    /// Connections.
    #[arg(long, default_value_t = 50)]
    conns: usize,
    /// Requests in flight per connection.
    #[arg(long, default_value_t = 1)]
    pipeline: usize,
    /// Seconds to run the timed phase (ignored with --requests).
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Run exactly this many requests instead of for --duration.
    #[arg(long)]
    requests: Option<u64>,
    /// Generator threads (each runs its share of the connections).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Bytes per value.
    #[arg(long, default_value_t = 20)]
    value_size: usize,
    /// Sessions (or top-level keys, for kv-*) created before the timed phase.
    #[arg(long, default_value_t = 10_000)]
    sessions: usize,
    /// Server process id: report its CPU time per request from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Only create the sessions/keys and exit, leaving them in place (memory measurement).
    #[arg(long)]
    setup_only: bool,
    /// Leave the pre-created sessions/keys in place after the run.
    #[arg(long)]
    no_teardown: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Latency percentiles in microseconds.
#[derive(Debug, Serialize)]
struct Latency {
    p50: f64,
    p90: f64,
    p99: f64,
    p999: f64,
    max: f64,
    mean: f64,
}

/// The result of one run, as printed with `--json`.
#[derive(Debug, Serialize)]
struct Report {
    target: Target,
    workload: Workload,
    url: String,
    conns: usize,
    pipeline: usize,
    threads: usize,
    value_size: usize,
    sessions: usize,
    setup_secs: f64,
    elapsed_secs: f64,
    requests: u64,
    errors: u64,
    first_error: Option<String>,
    /// Replies from sessiondb verified by parsing them, not by comparing them with the reply it
    /// renders (only a surprise makes this non-zero; each such reply costs the generator more).
    full_checks: u64,
    rps: f64,
    latency_us: Latency,
    /// Server CPU microseconds per request (user + system), with --server-pid.
    server_cpu_us_per_req: Option<f64>,
    /// Server CPU time over wall time during the run (1.0 = one core busy), with --server-pid.
    server_cpu_util: Option<f64>,
    /// Generator CPU time over wall time, per thread (near 1.0 means the generator was the limit).
    client_cpu_util_per_thread: f64,
    /// Generator CPU microseconds per request, to compare with the server's.
    client_cpu_us_per_req: f64,
}

fn main() {
    let args = Args::parse();
    match run(&args) {
        Ok(report) => {
            print_report(&report, args.json);
            if report.errors > 0 {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("sessiondb-bench: {e:#}");
            std::process::exit(2);
        }
    }
}

fn run(args: &Args) -> Result<Report> {
    if args.conns == 0 || args.pipeline == 0 || args.threads == 0 {
        bail!("--conns, --pipeline and --threads must be at least 1");
    }
    if args.workload != Workload::Lifecycle && args.sessions == 0 {
        bail!(
            "--sessions must be at least 1 for the {:?} workload",
            args.workload
        );
    }
    if !(args.duration > 0.0 && args.duration.is_finite()) && args.requests.is_none() {
        bail!("--duration must be a positive number of seconds");
    }
    let endpoint = Endpoint::parse(&args.url)?;
    let server_pid = args.server_pid.map(|p| p.to_string());
    let table: driver::Table = Arc::new(
        (0..args.sessions)
            .map(|i| AtomicU64::new(i as u64 + 1))
            .collect(),
    );
    let mut spec = PhaseSpec {
        target: args.target,
        endpoint,
        phase: Phase::Timed,
        workload: args.workload,
        table,
        conns: args.conns,
        pipeline: args.pipeline,
        threads: args.threads,
        value_size: args.value_size,
        duration: None,
        requests: None,
    };

    // The echo server keeps no state, so there is nothing to set up or tear down.
    let stateful = args.target != Target::Echo && args.workload.needs_setup();
    let setup_started = Instant::now();
    if stateful {
        run_bulk(&spec, Phase::Setup(Arc::new(AtomicUsize::new(0))), "setup")?;
    }
    let setup_secs = setup_started.elapsed().as_secs_f64();
    if args.setup_only {
        return Ok(empty_report(args, setup_secs));
    }

    spec.phase = Phase::Timed;
    spec.requests = args.requests;
    spec.duration = match args.requests {
        Some(_) => None,
        None => Some(Duration::from_secs_f64(args.duration)),
    };
    let mut before = None;
    let stats = runner::run_phase(&spec, || {
        before = Some(sample(server_pid.as_deref()));
    })?;
    let after = sample(server_pid.as_deref());

    if stateful && !args.no_teardown {
        run_bulk(
            &spec,
            Phase::Teardown(Arc::new(AtomicUsize::new(0))),
            "teardown",
        )?;
    }
    let before = before.unwrap_or_else(|| sample(None));
    Ok(report(args, &spec, &stats, setup_secs, &before, &after))
}

/// Runs setup or teardown: a few deeply pipelined connections, failing on any bad reply.
fn run_bulk(spec: &PhaseSpec, phase: Phase, what: &str) -> Result<()> {
    let bulk = PhaseSpec {
        phase,
        conns: spec.conns.min(16),
        pipeline: 64,
        duration: None,
        requests: None,
        ..spec.clone()
    };
    let stats = runner::run_phase(&bulk, || {})?;
    if stats.errors > 0 {
        bail!(
            "{what}: {} of {} replies failed verification; first: {}",
            stats.errors,
            stats.completed,
            stats.first_error.unwrap_or_default()
        );
    }
    Ok(())
}

/// CPU counters at one instant.
struct Sample {
    at: Instant,
    server: Option<Duration>,
    client: Option<Duration>,
}

fn sample(server_pid: Option<&str>) -> Sample {
    Sample {
        at: Instant::now(),
        server: server_pid.and_then(|p| procstat::cpu_time(p).ok()),
        client: procstat::cpu_time("self").ok(),
    }
}

fn delta(a: Option<Duration>, b: Option<Duration>) -> Option<f64> {
    Some(b?.saturating_sub(a?).as_secs_f64())
}

fn report(
    args: &Args,
    spec: &PhaseSpec,
    stats: &Stats,
    setup_secs: f64,
    before: &Sample,
    after: &Sample,
) -> Report {
    let wall = after.at.duration_since(before.at).as_secs_f64();
    let elapsed = match spec.duration {
        Some(d) => d.as_secs_f64(),
        None => match (stats.started, stats.finished) {
            (Some(s), Some(f)) => f.duration_since(s).as_secs_f64(),
            _ => wall,
        },
    };
    let us = |q: f64| stats.hist.value_at_quantile(q) as f64 / 1000.0;
    // Late replies cost the server CPU too, so they count for CPU per request.
    let served = (stats.completed + stats.late).max(1) as f64;
    let server_cpu = delta(before.server, after.server);
    let client_cpu = delta(before.client, after.client).unwrap_or(0.0);
    let threads = args.threads.clamp(1, args.conns.max(1)) as f64;
    Report {
        target: args.target,
        workload: args.workload,
        url: args.url.clone(),
        conns: args.conns,
        pipeline: args.pipeline,
        threads: args.threads,
        value_size: args.value_size,
        sessions: args.sessions,
        setup_secs,
        elapsed_secs: elapsed,
        requests: stats.completed,
        errors: stats.errors,
        first_error: stats.first_error.clone(),
        full_checks: stats.full_checks,
        rps: stats.completed as f64 / elapsed.max(1e-9),
        latency_us: Latency {
            p50: us(0.5),
            p90: us(0.9),
            p99: us(0.99),
            p999: us(0.999),
            max: stats.hist.max() as f64 / 1000.0,
            mean: stats.hist.mean() / 1000.0,
        },
        server_cpu_us_per_req: server_cpu.map(|c| c * 1e6 / served),
        server_cpu_util: server_cpu.map(|c| c / wall.max(1e-9)),
        client_cpu_util_per_thread: client_cpu / wall.max(1e-9) / threads,
        client_cpu_us_per_req: client_cpu * 1e6 / served,
    }
}

fn empty_report(args: &Args, setup_secs: f64) -> Report {
    Report {
        target: args.target,
        workload: args.workload,
        url: args.url.clone(),
        conns: args.conns,
        pipeline: args.pipeline,
        threads: args.threads,
        value_size: args.value_size,
        sessions: args.sessions,
        setup_secs,
        elapsed_secs: 0.0,
        requests: 0,
        errors: 0,
        first_error: None,
        full_checks: 0,
        rps: 0.0,
        latency_us: Latency {
            p50: 0.0,
            p90: 0.0,
            p99: 0.0,
            p999: 0.0,
            max: 0.0,
            mean: 0.0,
        },
        server_cpu_us_per_req: None,
        server_cpu_util: None,
        client_cpu_util_per_thread: 0.0,
        client_cpu_us_per_req: 0.0,
    }
}

fn print_report(r: &Report, json: bool) {
    if json {
        match serde_json::to_string(r) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("sessiondb-bench: cannot render the report: {e}"),
        }
        return;
    }
    println!(
        "{:?} {:?} conns={} pipeline={} threads={} value={}B sessions={} (setup {:.2}s)",
        r.target,
        r.workload,
        r.conns,
        r.pipeline,
        r.threads,
        r.value_size,
        r.sessions,
        r.setup_secs
    );
    println!(
        "  {} requests in {:.2}s: {:.0} req/s, {} errors",
        r.requests, r.elapsed_secs, r.rps, r.errors
    );
    let l = &r.latency_us;
    println!(
        "  latency us: p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  mean {:.1}",
        l.p50, l.p90, l.p99, l.p999, l.max, l.mean
    );
    if let (Some(per), Some(util)) = (r.server_cpu_us_per_req, r.server_cpu_util) {
        println!(
            "  server CPU: {per:.2} us/request, {:.0}% of a core",
            util * 100.0
        );
    }
    println!(
        "  generator CPU: {:.2} us/request, {:.0}% per thread",
        r.client_cpu_us_per_req,
        r.client_cpu_util_per_thread * 100.0
    );
    if r.full_checks > 0 {
        println!("  replies verified by a full parse: {}", r.full_checks);
    }
    if let Some(e) = &r.first_error {
        println!("  first error: {e}");
    }
}
