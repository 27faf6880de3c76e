//! A damaged journal at startup, with the real binary: a torn last record is cut with a warning
//! and the server starts; corruption in the middle makes it refuse to start with a clear error,
//! unless `--repair`, which cuts the journal there and reports how much was dropped.

mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use common::binary::{Exited, Running};
use common::{connect_url, request, token};

/// Starts the binary with `--fsync always` on `data`, or returns how it exited instead.
fn start(data: &Path, extra: &[&str]) -> Result<Running, Exited> {
    common::binary::spawn(
        common::binary::command(data)
            .args(["--log-level", "info", "--fsync", "always"])
            .args(extra),
    )
}

/// Writes `n` single-key sessions through a server, kills it with SIGKILL, returns the tokens.
async fn populate(data: &Path, n: usize) -> Vec<u64> {
    let server = start(data, &[]).expect("first start");
    let mut ws = connect_url(&server.url()).await;
    let mut tokens = Vec::new();
    for i in 0..n {
        let tkn = token(&request(&mut ws, r#"{"SH_NEW":{}}"#).await);
        request(
            &mut ws,
            &format!(r#"{{"SH_SET":{{"tkn":{tkn},"keys":{{"i":{i}}}}}}}"#),
        )
        .await;
        tokens.push(tkn);
    }
    server.kill9();
    tokens
}

/// A fresh data directory (inside the returned temporary one) after [`populate`] wrote `n`
/// sessions, and their tokens.
async fn populated(n: usize) -> (tempfile::TempDir, PathBuf, Vec<u64>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let tokens = populate(&data, n).await;
    (dir, data, tokens)
}

/// The journal segment holding the records.
fn only_segment(data: &Path) -> PathBuf {
    let mut segs: Vec<PathBuf> = fs::read_dir(data.join(".journal"))
        .expect("journal dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("seg-"))
        })
        .collect();
    segs.sort();
    // The last start created an empty segment after the one holding the writes.
    segs.into_iter()
        .find(|p| fs::metadata(p).map(|m| m.len() > 8).unwrap_or(false))
        .expect("a segment with records")
}

async fn live(server: &Running, tokens: &[u64]) -> usize {
    let mut ws = connect_url(&server.url()).await;
    let list: Vec<String> = tokens.iter().map(u64::to_string).collect();
    let reply = request(
        &mut ws,
        &format!(r#"{{"SH_EXISTS":{{"tkns":[{}]}}}}"#, list.join(",")),
    )
    .await;
    reply["SH_EXISTS_RSP"]["exist"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_tail_is_cut_with_a_warning_and_the_server_starts() {
    let (_dir, data, tokens) = populated(20).await;
    let seg = only_segment(&data);
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(&seg)
        .expect("open");
    f.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, 6, 9])
        .expect("append half a record");
    drop(f);
    let server = start(&data, &[]).expect("a torn tail must not stop the start");
    let log = &server.startup_log;
    assert!(log.iter().any(|l| l.contains("torn record")), "{log:?}");
    assert_eq!(live(&server, &tokens).await, 20);
    server.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corruption_in_the_middle_refuses_to_start_unless_repair() {
    let (_dir, data, tokens) = populated(20).await;
    let seg = only_segment(&data);
    let mut bytes = fs::read(&seg).expect("read");
    // Damage a byte in the middle of the log (records follow it).
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    fs::write(&seg, &bytes).expect("write");
    let Exited { code, log } = match start(&data, &[]) {
        // Dropping the server kills it.
        Ok(server) => panic!(
            "the server started on a corrupt journal: {:#?}",
            server.startup_log
        ),
        Err(e) => e,
    };
    assert_ne!(code, 0);
    let text = log.join("\n");
    assert!(
        text.contains("corrupt") && text.contains("--repair"),
        "{text}"
    );
    let server = start(&data, &["--repair"]).expect("--repair starts");
    let log = &server.startup_log;
    assert!(
        log.iter()
            .any(|l| l.contains("--repair") && l.contains("dropped_bytes")),
        "{log:?}"
    );
    let survivors = live(&server, &tokens).await;
    assert!(
        survivors > 0 && survivors < 20,
        "{survivors} sessions survived the cut"
    );
    server.kill9();
    // After the repair the journal is clean: a plain start works and keeps the survivors.
    let server = start(&data, &[]).expect("clean start after repair");
    assert_eq!(live(&server, &tokens).await, survivors);
    server.kill9();
}
