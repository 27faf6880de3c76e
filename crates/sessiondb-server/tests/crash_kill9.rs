//! Crash safety with a real child process: concurrent writers record every acknowledged write,
//! the server is killed with SIGKILL at varying moments, restarted on the same data directory,
//! and every acknowledged write must be there — and nothing that was never sent.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::binary::start;
use common::{connect_url, request, token, Ws};

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

/// Runs `writers` writers against a fresh server, kills it after `kill_after`, and returns
/// what each writer saw and when the kill happened.
async fn run_and_kill(
    data: &Path,
    mode: &str,
    writers: usize,
    kill_after: Duration,
) -> (Vec<Progress>, Instant) {
    let server = start(data, &["--fsync", mode]);
    let mut progress = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let p = Arc::new(Mutex::new(Progress::default()));
        let ws = connect_url(&server.url()).await;
        tasks.push(tokio::spawn(writer(ws, Arc::clone(&p))));
        progress.push(p);
    }
    tokio::time::sleep(kill_after).await;
    server.kill9();
    let killed = Instant::now();
    for t in tasks {
        t.await.expect("writer task");
    }
    let progress = progress
        .iter()
        .map(|p| p.lock().expect("lock").clone())
        .collect();
    (progress, killed)
}

/// The writes `0..upto` of session `tkn` present after recovery (by index).
async fn present(ws: &mut Ws, tkn: u64, upto: usize) -> Vec<usize> {
    let keys: Vec<String> = (0..upto).map(|i| format!("\"k{i}\"")).collect();
    let reply = request(
        ws,
        &format!(
            r#"{{"SH_GET":{{"tkn":{tkn},"keys":[{}]}}}}"#,
            keys.join(",")
        ),
    )
    .await;
    let got = reply["SH_GET_RSP"]["keys"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut found: Vec<usize> = got
        .iter()
        .map(|(k, v)| {
            let i: usize = k[1..].parse().expect("key index");
            assert_eq!(v.as_u64(), Some(i as u64), "value of {k}");
            i
        })
        .collect();
    found.sort_unstable();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsync_always_keeps_every_acknowledged_write_across_kill9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    // Different kill moments; the data directory carries over, so later rounds also recover
    // what earlier rounds wrote (and compaction is forced by a tiny threshold in round 2).
    let mut all: Vec<Progress> = Vec::new();
    for (round, kill_ms) in [137u64, 411, 809].into_iter().enumerate() {
        let (progress, _) = run_and_kill(&data, "always", 8, Duration::from_millis(kill_ms)).await;
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
            let found = present(&mut ws, p.tkn, p.sent + 5).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsync_everysec_loses_at_most_the_last_second_across_kill9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (progress, killed) = run_and_kill(&data, "everysec", 8, Duration::from_millis(1700)).await;
    let server = start(&data, &[]);
    let mut ws = connect_url(&server.url()).await;
    for p in &progress {
        let found = present(&mut ws, p.tkn, p.sent + 5).await;
        assert!(
            found.len() <= p.sent,
            "a write that was never sent appeared"
        );
        // Writes are a prefix; whatever is missing was acknowledged within ~1 s of the kill.
        assert_eq!(found, (0..found.len()).collect::<Vec<_>>());
        if let Some(first_lost) = p.acked.get(found.len()) {
            let age = killed.duration_since(*first_lost);
            assert!(
                age <= Duration::from_millis(1500),
                "lost a write acknowledged {age:?} before the kill"
            );
        }
    }
    server.kill9();
}
