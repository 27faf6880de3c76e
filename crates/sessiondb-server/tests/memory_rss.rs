//! Resident memory of a real `sessiondb` process, read from `/proc`: one big request costs a
//! bounded multiple of its own size on top of what it stores, given back when its session ends.
//!
//! Each case runs its own server process, so the figures are that process's alone; the test
//! prints them (`--nocapture`). Sizes are small enough for the debug build.

mod common;

use common::binary::Running;
use common::{connect_url, recv_json, send};
use serde_json::Value;

/// Starts the binary without persistence (the journal's buffers would be part of the figure)
/// and with `extra` arguments, on a fresh data directory returned with it (bind it first).
fn start(extra: &[&str]) -> (tempfile::TempDir, Running) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut args = vec!["--no-persist"];
    args.extend_from_slice(extra);
    let server = common::binary::start(&dir.path().join("data"), &args);
    (dir, server)
}

/// The `st` of a reply (`{"NAME_RSP":{"st":N,...}}`).
fn status(reply: &Value) -> u64 {
    reply
        .as_object()
        .and_then(|o| o.values().next())
        .and_then(|body| body["st"].as_u64())
        .unwrap_or_else(|| panic!("no st in {reply}"))
}

/// Keys in the big request.
const BIG_KEYS: u64 = 1_000_000;

#[tokio::test]
async fn one_big_sh_set_costs_a_bounded_multiple_and_is_given_back() {
    let (_dir, server) = start(&["--max-message-bytes", "16777216"]);
    let mut ws = connect_url(&server.url()).await;
    send(&mut ws, r#"{"SH_NEW":{}}"#).await;
    let tkn = common::token(&recv_json(&mut ws).await);
    // 1,000,000 keys of up to 5 hex digits, each with a one-byte value: about 9.9 MB.
    let mut message = format!(r#"{{"SH_SET":{{"tkn":{tkn},"keys":{{"#);
    for i in 0..BIG_KEYS {
        if i > 0 {
            message.push(',');
        }
        message.push_str(&format!("\"{i:x}\":1"));
    }
    message.push_str("}}}");
    let size = message.len() as u64;
    let before = server.resident_bytes();
    send(&mut ws, &message).await;
    drop(message);
    let reply = recv_json(&mut ws).await;
    assert_eq!(status(&reply), 1, "{reply}");
    let peak = server.peak_resident_bytes();
    let stored = server.resident_bytes();
    send(&mut ws, &format!(r#"{{"SH_END":{{"tkn":{tkn}}}}}"#)).await;
    assert_eq!(status(&recv_json(&mut ws).await), 1);
    let after = server.resident_bytes();
    let mib = |b: u64| b as f64 / f64::from(1 << 20);
    println!(
        "SH_SET of {BIG_KEYS} keys, {:.1} MiB: RSS before {:.1} MiB, peak {:.1}, with the keys \
         stored {:.1}, after SH_END {:.1}",
        mib(size),
        mib(before),
        mib(peak),
        mib(stored),
        mib(after)
    );
    // Stored: a million keys at about 100 bytes each (their text, table slot and allocation).
    assert!(
        stored.saturating_sub(before) <= 12 * size,
        "storing the keys took {:.1} MiB (want ≤ 12 × the request's {:.1} MiB)",
        mib(stored.saturating_sub(before)),
        mib(size)
    );
    // Ending the session gives the memory back to the OS.
    assert!(
        after.saturating_sub(before) <= size,
        "{:.1} MiB still resident after SH_END (want ≤ the request's {:.1} MiB)",
        mib(after.saturating_sub(before)),
        mib(size)
    );
}
