//! Journal compaction under write load, killed with SIGKILL while a compaction is writing its
//! snapshot, with the real binary and `--fsync always`: after a restart every acknowledged write
//! is there, and nothing that was never sent. Bounded: three rounds on one data directory, each
//! killed at the first snapshot in progress seen after a different warm-up.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::binary::{start, Running};
use common::{connect_url, present, send, Ws, HANG_GUARD};

/// Padding of every value: large records grow the journal quickly, so compactions come often
/// and their snapshots take long enough to be caught in progress.
const PAD: usize = 400;

/// What one writer knows: its session, how many writes were acknowledged and how many sent.
#[derive(Debug, Default, Clone)]
struct Progress {
    tkn: u64,
    acked: usize,
    sent: usize,
}

fn value(i: usize) -> String {
    format!("\"{i}-{}\"", "x".repeat(PAD))
}

/// Writes `k<i>: "<i>-xxx…"` into its own session until the connection breaks.
async fn writer(mut ws: Ws, progress: Arc<Mutex<Progress>>) {
    send(&mut ws, r#"{"SH_NEW":{}}"#).await;
    let Some(tkn) = reply(&mut ws).await.and_then(|r| {
        let v: serde_json::Value = serde_json::from_str(&r).ok()?;
        v["SH_NEW_RSP"]["tkn"].as_u64()
    }) else {
        return;
    };
    progress.lock().expect("lock").tkn = tkn;
    for i in 0usize.. {
        let msg = format!(
            r#"{{"SH_SET":{{"tkn":{tkn},"keys":{{"k{i}":{}}}}}}}"#,
            value(i)
        );
        progress.lock().expect("lock").sent = i + 1;
        if futures_util::SinkExt::send(&mut ws, tokio_tungstenite::tungstenite::Message::text(msg))
            .await
            .is_err()
        {
            return;
        }
        match reply(&mut ws).await {
            Some(t) => {
                assert_eq!(t, r#"{"SH_SET_RSP":{"st":1}}"#);
                progress.lock().expect("lock").acked = i + 1;
            }
            None => return,
        }
    }
}

/// The next text reply, or `None` once the connection is gone.
async fn reply(ws: &mut Ws) -> Option<String> {
    match futures_util::StreamExt::next(ws).await {
        Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) => Some(t.as_str().to_owned()),
        _ => None,
    }
}

/// True while a compaction is writing its snapshot (`snap-<index>.tmp` exists).
fn compacting(data: &Path) -> bool {
    std::fs::read_dir(data.join(".journal"))
        .map(|entries| {
            entries.filter_map(Result::ok).any(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with("snap-") && name.ends_with(".tmp")
            })
        })
        .unwrap_or(false)
}

/// Waits until `writing()` (every writer has an acknowledged write, so a loaded machine cannot
/// make a round kill before anything was written), then polls for a compaction in progress after
/// `warm_up` and kills the server. Returns whether the kill landed while one was seen.
fn kill_during_compaction(
    server: Running,
    data: &Path,
    warm_up: Duration,
    writing: impl Fn() -> bool,
) -> bool {
    let deadline = Instant::now() + HANG_GUARD;
    while !writing() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(warm_up);
    let deadline = Instant::now() + HANG_GUARD;
    while Instant::now() < deadline {
        if compacting(data) {
            server.kill9();
            return true;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    server.kill9();
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_during_compaction_loses_no_acknowledged_write_with_fsync_always() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut all: Vec<Progress> = Vec::new();
    for (round, warm_up_ms) in [200u64, 600, 1000].into_iter().enumerate() {
        // Compact whenever the segments outgrow the last snapshot.
        let server = start(
            &data,
            &["--fsync", "always", "--journal-compact-bytes", "1"],
        );
        let url = server.url();
        let mut progress = Vec::new();
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let p = Arc::new(Mutex::new(Progress::default()));
            tasks.push(tokio::spawn(writer(
                connect_url(&url).await,
                Arc::clone(&p),
            )));
            progress.push(p);
        }
        let killed_mid_compaction = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&killed_mid_compaction);
        let dir_for_kill = data.clone();
        let watched = progress.clone();
        let writing = move || watched.iter().all(|p| p.lock().expect("lock").acked > 0);
        tokio::task::spawn_blocking(move || {
            let hit = kill_during_compaction(
                server,
                &dir_for_kill,
                Duration::from_millis(warm_up_ms),
                writing,
            );
            flag.store(hit, Ordering::Release);
        })
        .await
        .expect("killer");
        for t in tasks {
            t.await.expect("writer task");
        }
        assert!(
            killed_mid_compaction.load(Ordering::Acquire),
            "round {round}: no compaction was seen in progress"
        );
        let progress: Vec<Progress> = progress
            .iter()
            .map(|p| p.lock().expect("lock").clone())
            .collect();
        assert!(
            progress.iter().map(|p| p.acked).sum::<usize>() > 0,
            "round {round}: writes were acknowledged"
        );
        all.extend(progress.into_iter().filter(|p| p.tkn != 0));

        // Recovery after the kill: no repair needed, every acknowledged write there.
        let server = start(&data, &["--fsync", "always"]);
        let mut ws = connect_url(&server.url()).await;
        for p in &all {
            let found = present(&mut ws, p.tkn, p.sent + 5, value).await;
            assert!(
                found.len() >= p.acked,
                "round {round}: {} of {} acknowledged writes survived",
                found.len(),
                p.acked
            );
            assert_eq!(found[..p.acked], (0..p.acked).collect::<Vec<_>>()[..]);
            assert!(
                found.len() <= p.sent,
                "round {round}: a write never sent appeared"
            );
        }
        server.kill9();
    }
}
