//! A damaged journal at startup, with the real binary: a torn last record is cut with a warning
//! and the server starts (also when an empty newer segment follows it); damage with valid records
//! after it makes it refuse to start naming file and offset, unless `--repair`, which skips the
//! damaged bytes (moved beside the journal), keeps every valid record and logs what it skipped.

mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use common::binary::{Exited, Running};
use common::{connect_url, request, token};
use sessiondb_core::persist::journal::header::HEADER_LEN;

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
        .find(|p| {
            fs::metadata(p)
                .map(|m| m.len() > HEADER_LEN as u64)
                .unwrap_or(false)
        })
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

/// Appends half a record to the segment holding the writes (a write cut short by a crash), then
/// checks that the server starts, warns about the torn record and serves all 20 sessions.
async fn starts_after_a_torn_tail(data: &Path, tokens: &[u64]) {
    let seg = only_segment(data);
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(&seg)
        .expect("open");
    f.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, 6, 9])
        .expect("append half a record");
    drop(f);
    let server = start(data, &[]).expect("a torn tail must not stop the start");
    let log = &server.startup_log;
    assert!(log.iter().any(|l| l.contains("torn record")), "{log:?}");
    assert_eq!(live(&server, tokens).await, 20);
    server.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_tail_is_cut_with_a_warning_and_the_server_starts() {
    let (_dir, data, tokens) = populated(20).await;
    starts_after_a_torn_tail(&data, &tokens).await;
}

/// Byte ranges of the records of a segment (after its header), from their length fields.
fn record_ranges(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut at = HEADER_LEN;
    let mut out = Vec::new();
    while at < bytes.len() {
        let len = u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        out.push(at..at + 8 + len as usize);
        at += 8 + len as usize;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_tail_before_an_empty_newer_segment_is_cut_and_the_server_starts() {
    let (_dir, data, tokens) = populated(20).await;
    // A clean start and stop leaves a header-only segment after the one holding the writes.
    let server = start(&data, &[]).expect("clean start");
    server.terminate().await;
    starts_after_a_torn_tail(&data, &tokens).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corruption_in_the_middle_refuses_to_start_unless_repair() {
    let (_dir, data, tokens) = populated(20).await;
    let seg = only_segment(&data);
    let mut bytes = fs::read(&seg).expect("read");
    // Each session is two records, SH_NEW's then SH_SET's: damage the tenth session's first.
    let ranges = record_ranges(&bytes);
    assert_eq!(ranges.len(), 40);
    let damaged = ranges[20].clone();
    bytes[damaged.start + 9] ^= 0x5a;
    fs::write(&seg, &bytes).expect("write");
    let Exited { code, log } = match start(&data, &[]) {
        // Dropping the server kills it.
        Ok(server) => panic!(
            "the server started on a corrupt journal: {:#?}",
            server.startup_log
        ),
        Err(e) => e,
    };
    assert_eq!(code, 1);
    let text = log.join("\n");
    let file = seg.display().to_string();
    assert!(
        text.contains("corrupt")
            && text.contains("--repair")
            && text.contains(&file)
            && text.contains(&format!("at byte {}", damaged.start)),
        "{text}"
    );
    let server = start(&data, &["--repair"]).expect("--repair starts");
    let log = &server.startup_log;
    let skipped = format!("skipped_bytes={}", damaged.len());
    assert!(
        log.iter().any(|l| l.contains("--repair")
            && l.contains(&skipped)
            && l.contains("skipped_records=1")),
        "{log:?}"
    );
    let quarantine = seg.with_file_name(format!(
        "{}.damaged-{}",
        seg.file_name().and_then(|n| n.to_str()).expect("name"),
        damaged.start
    ));
    assert_eq!(
        fs::read(&quarantine).expect("quarantine"),
        bytes[damaged.clone()]
    );
    // Only the damaged session is gone: every record after the damage was kept.
    assert_eq!(live(&server, &tokens).await, 19);
    assert_eq!(live(&server, &tokens[10..11]).await, 0);
    server.kill9();
    // After the repair the journal is clean: a plain start works and keeps the survivors.
    let server = start(&data, &[]).expect("clean start after repair");
    assert_eq!(live(&server, &tokens).await, 19);
    server.kill9();
}
