//! Ending the server (PROTOCOL.md §2.5): the process signals that start it, and the signal
//! every connection waits on.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio::sync::watch;
use tracing::{info, warn};

/// Completes on the first SIGINT (Ctrl-C) or SIGTERM.
pub async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => info!("SIGINT received, shutting down"),
                    _ = term.recv() => info!("SIGTERM received, shutting down"),
                }
            }
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the server");
                ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    ctrl_c().await;
}

async fn ctrl_c() {
    if let Err(e) = tokio::signal::ctrl_c().await {
        // Without a signal handler the server can only be killed; wait forever rather than
        // shutting down at once.
        warn!(error = %e, "cannot listen for SIGINT");
        std::future::pending::<()>().await;
    }
    info!("SIGINT received, shutting down");
}

/// Completes once shutdown has been signalled (or the signalling side is gone).
pub(crate) async fn wait_shutdown(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// The server's shutdown signal as one future kept for a connection's whole life and polled by
/// every wait (`&mut shutdown` in a `select!`). Every branch that sees it complete returns at
/// once, so it is never polled after completing.
///
/// It is polled several times per request (each read, each write), so a poll is made cheap:
/// building a fresh wait on the watch channel each time registered and dropped a waiter, and
/// even re-polling one kept wait takes the channel's waiter lock, a measurable part of every
/// request (BENCHMARKS.md). Once the wait has registered this task's waker,
/// a poll from the same task only checks the channel's version, one atomic load.
pub struct Shutdown {
    /// Not marked as seen by anything, so `has_changed` is true from the first signal on.
    stop: watch::Receiver<bool>,
    wait: Pin<Box<dyn Future<Output = ()> + Send>>,
    /// The waker the pending `wait` holds.
    registered: Option<Waker>,
}

/// A [`Shutdown`] that completes once `stop` turns true (or its sender is gone).
pub fn shutdown_signal(stop: watch::Receiver<bool>) -> Shutdown {
    let mut waiting = stop.clone();
    Shutdown {
        stop,
        wait: Box::pin(async move { wait_shutdown(&mut waiting).await }),
        registered: None,
    }
}

impl Future for Shutdown {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let unchanged = matches!(this.stop.has_changed(), Ok(false));
        if unchanged
            && this
                .registered
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
        {
            // Nothing was signalled and the waiting wait would wake this same task.
            return Poll::Pending;
        }
        let poll = this.wait.as_mut().poll(cx);
        if poll.is_pending() {
            this.registered = Some(cx.waker().clone());
        }
        poll
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shutdown_is_pending_until_signalled_then_ready_on_the_cheap_path_too() {
        let (tx, rx) = watch::channel(false);
        let mut shutdown = shutdown_signal(rx);
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        // The first poll registers; later polls from the same waker take the version check.
        for _ in 0..3 {
            assert!(Pin::new(&mut shutdown).poll(&mut cx).is_pending());
        }
        assert!(shutdown.registered.is_some());
        tx.send(true).expect("receiver alive");
        assert!(Pin::new(&mut shutdown).poll(&mut cx).is_ready());
    }

    #[test]
    fn shutdown_completes_when_the_sender_is_gone_or_was_signalled_before() {
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        let (tx, rx) = watch::channel(false);
        let mut shutdown = shutdown_signal(rx);
        assert!(Pin::new(&mut shutdown).poll(&mut cx).is_pending());
        drop(tx);
        assert!(Pin::new(&mut shutdown).poll(&mut cx).is_ready());

        let (tx, mut rx) = watch::channel(false);
        tx.send(true).expect("receiver alive");
        // Marked as seen, so only the value (not the version) says it was signalled.
        assert!(*rx.borrow_and_update());
        let mut shutdown = shutdown_signal(rx);
        assert!(Pin::new(&mut shutdown).poll(&mut cx).is_ready());
    }

    #[tokio::test]
    async fn shutdown_wakes_a_task_waiting_on_it() {
        let (tx, rx) = watch::channel(false);
        let (polled_tx, polled_rx) = tokio::sync::oneshot::channel();
        let mut shutdown = shutdown_signal(rx);
        let waiter = tokio::spawn(async move {
            // Polled (and left pending) several times from this task before the signal.
            for _ in 0..3 {
                tokio::select! {
                    biased;
                    () = &mut shutdown => return false,
                    () = tokio::task::yield_now() => {}
                }
            }
            let _ = polled_tx.send(());
            (&mut shutdown).await;
            true
        });
        polled_rx.await.expect("waiter polled");
        tx.send(true).expect("receiver alive");
        assert!(waiter.await.expect("task ran"));
    }
}
