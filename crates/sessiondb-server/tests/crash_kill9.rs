//! Crash safety with a real child process: concurrent writers record every acknowledged write,
//! the server is killed with SIGKILL at varying moments, restarted on the same data directory,
//! and every acknowledged write must be there — and nothing that was never sent.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::binary::{spawn, start, Running};
use common::{connect_url, present, request, token, Ws, HANG_GUARD};
use tokio::task::JoinHandle;

/// What one writer knows: its session, the last write acknowledged (with when) and the last
/// write sent.
#[derive(Debug, Default, Clone)]
struct Progress {
    tkn: u64,
    acked: Vec<Instant>,
    sent: usize,
}

/// Writes `k<i>: i` into its own session until the connection breaks.
async fn writer(mut ws: Ws, progress: Arc<Mutex<Progress>>) {
    let tkn = token(&request(&mut ws, r#"{"SH_NEW":{}}"#).await);
    progress.lock().expect("lock").tkn = tkn;
    for i in 0usize.. {
        let msg = format!(r#"{{"SH_SET":{{"tkn":{tkn},"keys":{{"k{i}":{i}}}}}}}"#);
        progress.lock().expect("lock").sent = i + 1;
        if futures_util::SinkExt::send(&mut ws, tokio_tungstenite::tungstenite::Message::text(msg))
            .await
            .is_err()
        {
            return;
        }
        match futures_util::StreamExt::next(&mut ws).await {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) => {
                assert_eq!(t.as_str(), r#"{"SH_SET_RSP":{"st":1}}"#);
                progress.lock().expect("lock").acked.push(Instant::now());
            }
            _ => return,
        }
    }
}

/// Like [`writer`], with `depth` requests in flight: sends `depth` writes, then reads their
/// replies, so each batch of the server holds several of them.
async fn pipelined_writer(ws: Ws, depth: usize, progress: Arc<Mutex<Progress>>) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let (mut tx, mut rx) = ws.split();
    let tkn = match tx.send(Message::text(r#"{"SH_NEW":{}}"#)).await {
        Ok(()) => match rx.next().await {
            Some(Ok(Message::Text(t))) => {
                token(&serde_json::from_str(t.as_str()).expect("SH_NEW reply is JSON"))
            }
            other => panic!("SH_NEW got {other:?}"),
        },
        Err(e) => panic!("SH_NEW not sent: {e}"),
    };
    progress.lock().expect("lock").tkn = tkn;
    for first in (0usize..).step_by(depth) {
        for i in first..first + depth {
            let msg = format!(r#"{{"SH_SET":{{"tkn":{tkn},"keys":{{"k{i}":{i}}}}}}}"#);
            progress.lock().expect("lock").sent = i + 1;
            // Queued, not flushed: the batch goes out as one write.
            if tx.feed(Message::text(msg)).await.is_err() {
                return;
            }
        }
        if tx.flush().await.is_err() {
            return;
        }
        for _ in 0..depth {
            match rx.next().await {
                Some(Ok(Message::Text(t))) => {
                    assert_eq!(t.as_str(), r#"{"SH_SET_RSP":{"st":1}}"#);
                    progress.lock().expect("lock").acked.push(Instant::now());
                }
                _ => return,
            }
        }
    }
}

/// Runs `writers` writers against a fresh server, kills it after `kill_after`, and returns
/// what each writer saw.
async fn run_and_kill(
    data: &Path,
    mode: &str,
    writers: usize,
    depth: usize,
    kill_after: Duration,
) -> Vec<Progress> {
    let server = start(data, &["--fsync", mode]);
    let (progress, tasks) = start_writers(&server, writers, depth).await;
    // On a loaded machine the writers may take longer than `kill_after` to get going, so the
    // kill moment counts from the first acknowledged write of every writer.
    let deadline = Instant::now() + HANG_GUARD;
    while Instant::now() < deadline
        && progress
            .iter()
            .any(|p| p.lock().expect("lock").acked.is_empty())
    {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(kill_after).await;
    server.kill9();
    finish_writers(progress, tasks).await
}

/// Starts `writers` writers with `depth` writes in flight each (1: one at a time).
async fn start_writers(
    server: &Running,
    writers: usize,
    depth: usize,
) -> (Vec<Arc<Mutex<Progress>>>, Vec<JoinHandle<()>>) {
    let mut progress = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let p = Arc::new(Mutex::new(Progress::default()));
        let ws = connect_url(&server.url()).await;
        let mine = Arc::clone(&p);
        tasks.push(if depth == 1 {
            tokio::spawn(writer(ws, mine))
        } else {
            tokio::spawn(pipelined_writer(ws, depth, mine))
        });
        progress.push(p);
    }
    (progress, tasks)
}

/// Waits for the writers to stop (their connections broke) and returns what each saw.
async fn finish_writers(
    progress: Vec<Arc<Mutex<Progress>>>,
    tasks: Vec<JoinHandle<()>>,
) -> Vec<Progress> {
    for t in tasks {
        t.await.expect("writer task");
    }
    progress
        .iter()
        .map(|p| p.lock().expect("lock").clone())
        .collect()
}

/// Restarts the server on `data` and checks that every acknowledged write of `all` is there,
/// in order, and nothing that was never sent; `what` names the run in failures.
async fn check_recovered(data: &Path, extra: &[&str], all: &[Progress], what: &str) {
    let server = start(data, extra);
    let mut ws = connect_url(&server.url()).await;
    let (mut acked_total, mut lost) = (0, 0);
    for p in all {
        let found = present(&mut ws, p.tkn, p.sent + 5, |i| i.to_string()).await;
        assert!(
            found.len() <= p.sent,
            "{what}: a write that was never sent appeared"
        );
        // Writes are a prefix of what was sent.
        assert_eq!(found, (0..found.len()).collect::<Vec<_>>(), "{what}");
        acked_total += p.acked.len();
        lost += p.acked.len().saturating_sub(found.len());
    }
    assert_eq!(
        lost, 0,
        "{what}: {lost} of {acked_total} acknowledged writes lost"
    );
    server.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsync_always_keeps_every_acknowledged_write_across_kill9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    // Different kill moments; the data directory carries over, so later rounds also recover
    // what earlier rounds wrote (and compaction is forced by a tiny threshold in round 2).
    let mut all: Vec<Progress> = Vec::new();
    for (round, kill_ms) in [137u64, 411, 809].into_iter().enumerate() {
        let progress = run_and_kill(&data, "always", 8, 1, Duration::from_millis(kill_ms)).await;
        assert!(
            progress.iter().all(|p| p.tkn != 0),
            "round {round}: every writer started"
        );
        assert!(
            progress.iter().map(|p| p.acked.len()).sum::<usize>() > 0,
            "round {round}: writes were acknowledged"
        );
        all.extend(progress);
        let extra: &[&str] = if round == 1 {
            &["--journal-compact-bytes", "1"]
        } else {
            &[]
        };
        let server = start(&data, &[&["--fsync", "always"], extra].concat());
        let mut ws = connect_url(&server.url()).await;
        for p in &all {
            let found = present(&mut ws, p.tkn, p.sent + 5, |i| i.to_string()).await;
            let acked = p.acked.len();
            // Every acknowledged write is there; beyond that at most the one in flight.
            assert!(
                found.len() >= acked,
                "round {round}: {} of {acked} acknowledged writes survived",
                found.len()
            );
            assert_eq!(
                found[..acked],
                (0..acked).collect::<Vec<_>>()[..],
                "round {round}"
            );
            assert!(
                found.len() <= p.sent,
                "round {round}: a write that was never sent appeared"
            );
        }
        server.kill9();
    }
}

/// In every fsync mode a reply leaves only once its records are in the journal file, so a
/// killed process (the file survives it in the page cache) loses no acknowledged write. 16
/// writers with 16 writes in flight each, killed at several moments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsync_everysec_and_no_keep_every_acknowledged_write_across_kill9() {
    for mode in ["everysec", "no"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let mut all: Vec<Progress> = Vec::new();
        for (round, kill_ms) in [233u64, 617, 1103].into_iter().enumerate() {
            let progress = run_and_kill(&data, mode, 16, 16, Duration::from_millis(kill_ms)).await;
            assert!(
                progress.iter().map(|p| p.acked.len()).sum::<usize>() > 0,
                "{mode} round {round}: writes were acknowledged"
            );
            all.extend(progress);
            let what = format!("{mode} round {round}");
            check_recovered(&data, &["--fsync", mode], &all, &what).await;
        }
    }
}

/// A journal write that fails (here: the file-size limit, as a full disk would) stops the server
/// with status 70 before the replies waiting for that write leave, so nothing acknowledged is
/// lost either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_journal_write_exits_70_without_losing_acknowledged_writes() {
    for mode in ["everysec", "no", "always"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        // `ulimit -f` is in KiB: writes past 1 MiB fail with EFBIG (SIGXFSZ ignored, so the
        // write returns the error instead of killing the process).
        let mut cmd = Command::new("bash");
        cmd.args([
            "-c",
            r#"trap '' XFSZ; ulimit -f 1024; exec "$0" "$@""#,
            env!("CARGO_BIN_EXE_sessiondb"),
            "--port",
            "0",
            "--log-level",
            "info",
            "--fsync",
            mode,
            "--data-dir",
        ])
        .arg(&data)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        let mut server = spawn(&mut cmd).unwrap_or_else(|e| panic!("did not start: {e:?}"));
        let (progress, tasks) = start_writers(&server, 16, 16).await;
        let (code, log) = tokio::task::block_in_place(|| server.wait_exit());
        assert_eq!(code, 70, "{mode}: exit status; log: {log:?}");
        assert!(
            log.iter().any(|l| l.contains("journal write failed")),
            "{mode}: {log:?}"
        );
        let progress = finish_writers(progress, tasks).await;
        assert!(
            progress.iter().map(|p| p.acked.len()).sum::<usize>() > 0,
            "{mode}: writes were acknowledged"
        );
        // Recovery cuts the torn record the failed write left.
        check_recovered(&data, &["--fsync", mode], &progress, mode).await;
    }
}
