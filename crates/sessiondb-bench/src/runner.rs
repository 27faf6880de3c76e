//! Connections and threads: each thread runs a single-threaded tokio runtime with its share of
//! the connections; each connection keeps its flows' requests in flight, writes every batch with
//! one syscall and parses replies in place.

use crate::codec::{Codec, EchoCodec, RespCodec, WsCodec};
use crate::driver::{Driver, Phase, Table, Workload};
use crate::ws;
use anyhow::{anyhow, bail, Context, Result};
use hdrhistogram::Histogram;
use std::collections::VecDeque;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The protocol the generator speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// sessiondb over WebSocket.
    Ws,
    /// Redis over RESP2.
    Resp,
    /// A WebSocket echo server (the transport floor): each reply must equal its request.
    Echo,
}

/// Where to connect: `host:port` plus, for WebSocket, the request path.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `host:port` as given in the URL (also the `Host` header).
    pub authority: String,
    /// Request path for the WebSocket upgrade.
    pub path: String,
}

impl Endpoint {
    /// Parses `ws://host:port/path`, `redis://host:port` or `tcp://host:port`.
    pub fn parse(url: &str) -> Result<Self> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| anyhow!("URL {url} has no scheme"))?;
        if !["ws", "redis", "tcp"].contains(&scheme) {
            bail!("unsupported URL scheme {scheme} (ws, redis or tcp)");
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if !authority.contains(':') {
            bail!("URL {url} needs an explicit port");
        }
        Ok(Self {
            authority: authority.to_owned(),
            path: path.to_owned(),
        })
    }
}

/// Everything a phase needs to run.
#[derive(Clone)]
pub struct PhaseSpec {
    /// What to connect to and how.
    pub target: Target,
    /// Where.
    pub endpoint: Endpoint,
    /// Which phase.
    pub phase: Phase,
    /// The workload (decides what setup creates and what the timed phase asks).
    pub workload: Workload,
    /// Handles of pre-created sessions.
    pub table: Table,
    /// Connections in total, spread over the threads.
    pub conns: usize,
    /// Flows (requests in flight) per connection.
    pub pipeline: usize,
    /// Threads, each with its own runtime.
    pub threads: usize,
    /// Bytes per stored value.
    pub value_size: usize,
    /// Stop issuing requests after this long (timed phase).
    pub duration: Option<Duration>,
    /// Stop after this many requests in total (split over the connections).
    pub requests: Option<u64>,
}

/// What a connection (and, merged, a phase) measured.
pub struct Stats {
    /// Replies received inside the measuring window.
    pub completed: u64,
    /// Replies outside the measurement: received after the window closed, or to clean-up
    /// requests (still verified, not counted as throughput).
    pub late: u64,
    /// Replies that failed verification.
    pub errors: u64,
    /// The first verification failure, to show the user.
    pub first_error: Option<String>,
    /// Replies that got the sessiondb codec's full check ([`crate::codec::Codec::full_checks`]).
    pub full_checks: u64,
    /// Latency of each completed request, in nanoseconds.
    pub hist: Histogram<u64>,
    /// When the measuring window started.
    pub started: Option<Instant>,
    /// When the last reply arrived.
    pub finished: Option<Instant>,
}

impl Stats {
    fn new() -> Result<Self> {
        Ok(Self {
            completed: 0,
            late: 0,
            errors: 0,
            first_error: None,
            full_checks: 0,
            hist: Histogram::new_with_bounds(1, 3_600_000_000_000, 3)?,
            started: None,
            finished: None,
        })
    }

    fn merge(&mut self, other: Stats) -> Result<()> {
        self.completed += other.completed;
        self.late += other.late;
        self.errors += other.errors;
        self.full_checks += other.full_checks;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.hist.add(&other.hist)?;
        self.started = min_opt(self.started, other.started);
        self.finished = self.finished.max(other.finished);
        Ok(())
    }
}

fn min_opt(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Runs one phase on `spec.threads` threads; `on_start` runs once every connection is open,
/// just before the first request (the caller samples CPU counters there).
pub fn run_phase(spec: &PhaseSpec, on_start: impl FnOnce()) -> Result<Stats> {
    let threads = spec.threads.clamp(1, spec.conns.max(1));
    let barrier = Arc::new(Barrier::new(threads + 1));
    let mut handles = Vec::with_capacity(threads);
    for t in 0..threads {
        // Connections and the request budget are dealt round-robin over threads.
        let conn_ids: Vec<usize> = (t..spec.conns).step_by(threads).collect();
        let spec = spec.clone();
        let barrier = barrier.clone();
        handles.push(std::thread::spawn(move || {
            run_thread(&spec, &conn_ids, &barrier)
        }));
    }
    barrier.wait();
    on_start();
    let mut total = Stats::new()?;
    let mut failure = None;
    for h in handles {
        match h.join() {
            Ok(Ok(stats)) => total.merge(stats)?,
            Ok(Err(e)) => failure = failure.or(Some(e)),
            Err(_) => failure = failure.or(Some(anyhow!("a generator thread panicked"))),
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(total),
    }
}

fn run_thread(spec: &PhaseSpec, conn_ids: &[usize], barrier: &Barrier) -> Result<Stats> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Connect first, so connection setup is not part of the measurement; the barrier is passed
    // even on failure so the other threads are not left waiting.
    let connected = rt.block_on(async {
        let mut conns = Vec::with_capacity(conn_ids.len());
        for &id in conn_ids {
            conns.push((id, connect(spec).await?));
        }
        Ok::<_, anyhow::Error>(conns)
    });
    barrier.wait();
    let conns = connected?;
    let start = Instant::now();
    let deadline = spec.duration.map(|d| start + d);
    rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for (id, (stream, leftover)) in conns {
            let budget = spec.requests.map(|r| share(r, spec.conns, id));
            let driver = Driver::new(
                spec.phase.clone(),
                spec.workload,
                spec.table.clone(),
                spec.target == Target::Ws,
                spec.pipeline,
                id as u64,
            );
            let value = crate::op::make_value(spec.value_size);
            let limits = Limits {
                start,
                deadline,
                budget,
                pipeline: spec.pipeline,
            };
            match spec.target {
                Target::Ws => {
                    let codec = WsCodec::new(value, id as u64);
                    set.spawn(drive(stream, leftover, codec, driver, limits));
                }
                Target::Echo => {
                    let codec = EchoCodec::new(value, id as u64);
                    set.spawn(drive(stream, leftover, codec, driver, limits));
                }
                Target::Resp => {
                    let codec = RespCodec::new(value);
                    set.spawn(drive(stream, leftover, codec, driver, limits));
                }
            }
        }
        let mut total = Stats::new()?;
        while let Some(joined) = set.join_next().await {
            total.merge(joined.context("connection task failed")??)?;
        }
        Ok(total)
    })
}

/// This connection's part of `total` requests split over `conns` connections.
fn share(total: u64, conns: usize, id: usize) -> u64 {
    let conns = conns.max(1) as u64;
    total / conns + u64::from((id as u64) < total % conns)
}

async fn connect(spec: &PhaseSpec) -> Result<(TcpStream, Vec<u8>)> {
    let mut stream = TcpStream::connect(&spec.endpoint.authority)
        .await
        .with_context(|| format!("connecting to {}", spec.endpoint.authority))?;
    stream.set_nodelay(true)?;
    let leftover = match spec.target {
        Target::Ws | Target::Echo => {
            ws::handshake(&mut stream, &spec.endpoint.authority, &spec.endpoint.path).await?
        }
        Target::Resp => Vec::new(),
    };
    Ok((stream, leftover))
}

/// When a connection stops issuing requests.
struct Limits {
    start: Instant,
    deadline: Option<Instant>,
    budget: Option<u64>,
    pipeline: usize,
}

/// One request in flight: its flow, what it asked, when it was sent, and whether it is part of
/// the measurement (clean-up requests after the window are not).
type InFlight = (usize, crate::op::Op, Instant, bool);

async fn drive<C: Codec>(
    mut stream: TcpStream,
    mut rbuf: Vec<u8>,
    mut codec: C,
    mut driver: Driver,
    limits: Limits,
) -> Result<Stats> {
    let mut stats = Stats::new()?;
    stats.started = Some(limits.start);
    let mut inflight: VecDeque<InFlight> = VecDeque::with_capacity(limits.pipeline);
    let mut wbuf = Vec::with_capacity(4096);
    rbuf.reserve(64 * 1024);
    let mut rpos = 0;
    let mut issued = 0u64;
    let may_issue = |issued: u64, now: Instant| {
        limits.deadline.is_none_or(|d| now < d) && limits.budget.is_none_or(|b| issued < b)
    };

    let now = Instant::now();
    for flow in 0..limits.pipeline {
        if !may_issue(issued, now) {
            break;
        }
        if let Some(op) = driver.next(flow) {
            codec.encode(&op, &mut wbuf);
            inflight.push_back((flow, op, now, true));
            issued += 1;
        }
    }

    // Set when the buffer ends in a partial reply, so more must be read before parsing on.
    let mut need_more = false;
    while !inflight.is_empty() {
        if !wbuf.is_empty() {
            stream.write_all(&wbuf).await?;
            wbuf.clear();
        }
        if rpos == rbuf.len() {
            rbuf.clear();
            rpos = 0;
            need_more = true;
        } else if need_more {
            // Keep the partial reply's bytes at the front and read more after them.
            rbuf.drain(..rpos);
            rpos = 0;
        }
        if need_more {
            read_more(&mut stream, &mut rbuf, inflight.len()).await?;
        }
        let now = Instant::now();
        let in_window = limits.deadline.is_none_or(|d| now <= d);
        need_more = false;
        while let Some(&(flow, op, sent, measured)) = inflight.front() {
            let (verdict, used) = codec.reply(&rbuf[rpos..], &op, &mut wbuf)?;
            rpos += used;
            let Some(verdict) = verdict else {
                if used == 0 {
                    need_more = true;
                    break;
                }
                continue;
            };
            inflight.pop_front();
            if measured && in_window {
                stats.completed += 1;
                let nanos = u64::try_from(now.duration_since(sent).as_nanos()).unwrap_or(u64::MAX);
                stats.hist.saturating_record(nanos.max(1));
            } else {
                stats.late += 1;
            }
            if let Err(why) = &verdict {
                stats.errors += 1;
                stats.first_error.get_or_insert_with(|| why.clone());
            }
            driver.done(flow, &op, &verdict);
            let (next, measured) = if may_issue(issued, now) {
                (driver.next(flow), true)
            } else {
                (driver.cleanup(flow), false)
            };
            if let Some(next) = next {
                codec.encode(&next, &mut wbuf);
                inflight.push_back((flow, next, now, measured));
                issued += u64::from(measured);
            }
        }
        stats.finished = Some(now);
    }
    stats.full_checks = codec.full_checks();
    Ok(stats)
}

async fn read_more(stream: &mut TcpStream, rbuf: &mut Vec<u8>, outstanding: usize) -> Result<()> {
    if rbuf.capacity() - rbuf.len() < 4096 {
        rbuf.reserve(64 * 1024);
    }
    if stream.read_buf(rbuf).await? == 0 {
        bail!("server closed the connection with {outstanding} replies outstanding");
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let e = Endpoint::parse("ws://127.0.0.1:1987/x?y=1").unwrap();
        assert_eq!(
            (e.authority.as_str(), e.path.as_str()),
            ("127.0.0.1:1987", "/x?y=1")
        );
        let e = Endpoint::parse("redis://[::1]:6379").unwrap();
        assert_eq!((e.authority.as_str(), e.path.as_str()), ("[::1]:6379", "/"));
        assert!(Endpoint::parse("127.0.0.1:1987").is_err());
        assert!(Endpoint::parse("http://h:1").is_err());
        assert!(Endpoint::parse("ws://h/").is_err());
    }

    #[test]
    fn budget_shares_add_up() {
        let total: u64 = (0..7).map(|id| share(100, 7, id)).sum();
        assert_eq!(total, 100);
        assert_eq!(share(5, 10, 9), 0);
    }
}
