//! Accept loop and connection threads, generic over the connection [`Handler`], and the
//! server's own use of them with the background expiry sweep.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use sessiondb_service::Service;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::{debug, error, info, warn};

use crate::config::Config;
use crate::connection::{self, ConnectionSettings, Handler};
use crate::metrics::Metrics;
use crate::policies::ConnectionPolicies;
use crate::service_handler::ServiceHandler;
use crate::shutdown::wait_shutdown;
use crate::stats::Stats;

/// How often expired sessions are reclaimed (PROTOCOL.md §9.4 asks for within 1 s).
const SWEEP_INTERVAL: Duration = Duration::from_millis(100);
/// Pause after a failed accept (typically out of file descriptors) so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// The runtime the acceptor runs on. With connection threads it only accepts (and, in the
/// server, sweeps and serves metrics), so one thread is enough; with `--threads 0`
/// (`connections_here`) connections are served on it too, so it is multi-threaded.
pub fn acceptor_runtime(connections_here: bool) -> std::io::Result<tokio::runtime::Runtime> {
    if connections_here {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    }
    .enable_all()
    .build()
}

/// Some connection threads panicked (their connections ended with them).
#[derive(Debug, thiserror::Error)]
#[error("{0} connection thread(s) panicked")]
pub struct ThreadsPanicked(pub usize);

/// Runs the server's accept loop and expiry sweep until `shutdown`, then closes every
/// connection and waits for them (and for any save they are running) to finish.
pub(crate) async fn serve_service(
    listener: TcpListener,
    config: &Config,
    service: Arc<Service>,
    stats: Arc<Stats>,
    policies: ConnectionPolicies,
    shutdown: impl Future<Output = ()>,
) -> Result<(), crate::ServerError> {
    let metrics = Arc::clone(&policies.metrics);
    let (stop_tx, stop_rx) = watch::channel(false);
    let sweeper = tokio::spawn(sweep_loop(service.clone(), metrics, stop_rx));
    let handler = Arc::new(ServiceHandler {
        service,
        stats,
        policies,
    });
    let threads = config.threads.unwrap_or_else(available_cores);
    let settings = ConnectionSettings::from_config(config);
    if let Err(e) = serve(listener, handler, settings, threads, shutdown).await {
        error!(error = %e, "connection threads failed");
    }
    // The sweep stops with the connections.
    let _ = stop_tx.send(true);
    if let Err(e) = sweeper.await {
        error!(error = %e, "expiry sweep task failed");
    }
    info!("shutdown complete");
    Ok(())
}

/// Accepts connections on `listener` and serves each with `handler` until `shutdown`, then
/// closes every connection with 1001 and waits for them. `threads` connection threads each run
/// a current-thread runtime; with 0 the connections run on the caller's runtime.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    settings: ConnectionSettings,
    threads: usize,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ThreadsPanicked> {
    let (stop_tx, stop_rx) = watch::channel(false);
    // Every connection task holds a sender; `recv` returns `None` once all of them are gone.
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let mut workers = Workers::start(threads, &handler, settings, &stop_rx, &done_tx);

    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // Without connection threads (or if the chosen one is gone), the
                    // connection runs here.
                    if let Some((stream, peer)) = workers.hand_over(stream, peer) {
                        tokio::spawn(connection::serve(
                            stream,
                            peer,
                            handler.clone(),
                            settings,
                            stop_rx.clone(),
                            done_tx.clone(),
                        ));
                    }
                }
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                }
            },
        }
    }

    drop(listener);
    info!("shutting down: no new connections; closing open ones");
    // Ignoring the error is right: it only means no receiver is left to tell.
    let _ = stop_tx.send(true);
    let threads = workers.finish();
    drop(done_tx);
    let _ = done_rx.recv().await;
    // The threads end once their connections have; joining them is a blocking call.
    let joined = tokio::task::spawn_blocking(move || {
        threads
            .into_iter()
            .map(JoinHandle::join)
            .filter(Result::is_err)
            .count()
    })
    .await;
    match joined {
        Ok(0) => Ok(()),
        Ok(panicked) => Err(ThreadsPanicked(panicked)),
        Err(e) => {
            error!(error = %e, "joining connection threads failed");
            Ok(())
        }
    }
}

/// Cores this process may run on (its CPU affinity), at least 1.
fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A connection handed to a connection thread. The socket leaves the accepting runtime's
/// reactor and joins the thread's.
type Handoff = (std::net::TcpStream, SocketAddr);

/// Thread per core: each connection thread runs a single-threaded runtime serving the
/// connections it is handed, round-robin, so a connection's wake-ups stay on one thread and
/// there is no work-stealing scheduler to pay for on every request (BENCHMARKS.md item 7).
struct Workers {
    senders: Vec<mpsc::UnboundedSender<Handoff>>,
    threads: Vec<JoinHandle<()>>,
    next: usize,
}

impl Workers {
    /// Starts `n` connection threads (none for 0). A thread that cannot be started is left
    /// out, with an error logged: its share is served by the others.
    fn start<H: Handler>(
        n: usize,
        handler: &Arc<H>,
        settings: ConnectionSettings,
        stop: &watch::Receiver<bool>,
        done: &mpsc::Sender<()>,
    ) -> Self {
        let mut workers = Self {
            senders: Vec::with_capacity(n),
            threads: Vec::with_capacity(n),
            next: 0,
        };
        for i in 0..n {
            let (tx, rx) = mpsc::unbounded_channel();
            let (handler, stop, done) = (handler.clone(), stop.clone(), done.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("sessiondb-conn-{i}"))
                .spawn(move || connection_thread(rx, handler, settings, stop, done));
            match spawned {
                Ok(thread) => {
                    workers.senders.push(tx);
                    workers.threads.push(thread);
                }
                Err(e) => error!(error = %e, "cannot start a connection thread"),
            }
        }
        workers
    }

    /// Hands a connection to the next thread; gives it back if there is none to take it.
    fn hand_over(
        &mut self,
        stream: TcpStream,
        peer: SocketAddr,
    ) -> Option<(TcpStream, SocketAddr)> {
        let std_stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                debug!(%peer, error = %e, "cannot hand the connection over");
                return None;
            }
        };
        let mut handoff = (std_stream, peer);
        while !self.senders.is_empty() {
            let i = self.next % self.senders.len();
            self.next = self.next.wrapping_add(1);
            match self.senders[i].send(handoff) {
                Ok(()) => return None,
                Err(mpsc::error::SendError(back)) => {
                    // That thread's runtime is gone; stop handing it connections.
                    error!("connection thread {i} is gone; serving its share elsewhere");
                    self.senders.swap_remove(i);
                    handoff = back;
                }
            }
        }
        let (std_stream, peer) = handoff;
        match TcpStream::from_std(std_stream) {
            Ok(stream) => Some((stream, peer)),
            Err(e) => {
                debug!(%peer, error = %e, "cannot serve the connection");
                None
            }
        }
    }

    /// Stops handing out connections (each thread ends once its connections have) and
    /// returns the threads to join.
    fn finish(self) -> Vec<JoinHandle<()>> {
        drop(self.senders);
        self.threads
    }
}

/// Body of a connection thread: serves what it is handed until the accept loop is done, then
/// until its connections have closed.
fn connection_thread<H: Handler>(
    mut handed: mpsc::UnboundedReceiver<Handoff>,
    handler: Arc<H>,
    settings: ConnectionSettings,
    stop: watch::Receiver<bool>,
    done: mpsc::Sender<()>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        // Dropping `handed` makes the accept loop serve this thread's share itself.
        Err(e) => return error!(error = %e, "cannot start a connection thread's runtime"),
    };
    runtime.block_on(async move {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                next = handed.recv() => {
                    let Some((std_stream, peer)) = next else { break };
                    match TcpStream::from_std(std_stream) {
                        Ok(stream) => {
                            conns.spawn(connection::serve(
                                stream,
                                peer,
                                handler.clone(),
                                settings,
                                stop.clone(),
                                done.clone(),
                            ));
                        }
                        Err(e) => debug!(%peer, error = %e, "cannot serve the connection"),
                    }
                }
                // Reaps finished connections so the set does not grow with every one served.
                Some(joined) = conns.join_next(), if !conns.is_empty() => {
                    if let Err(e) = joined {
                        error!(error = %e, "connection task failed");
                    }
                }
            }
        }
        while let Some(joined) = conns.join_next().await {
            if let Err(e) = joined {
                error!(error = %e, "connection task failed");
            }
        }
    });
}

/// Calls the service's sweep every [`SWEEP_INTERVAL`] on a blocking thread, so a large
/// sweep never holds up connections sharing this worker.
async fn sweep_loop(service: Arc<Service>, metrics: Arc<Metrics>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(SWEEP_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = wait_shutdown(&mut stop) => break,
            _ = tick.tick() => {
                let d = service.clone();
                match tokio::task::spawn_blocking(move || d.sweep_expired()).await {
                    Ok(0) => {}
                    Ok(n) => {
                        metrics.sessions_expired(u64::try_from(n).unwrap_or(u64::MAX));
                        debug!(sessions = n, "expired sessions reclaimed");
                    }
                    Err(e) => error!(error = %e, "expiry sweep failed"),
                }
            }
        }
    }
}
