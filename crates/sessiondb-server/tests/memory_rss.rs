//! Resident memory of a real `sessiondb` process, read from `/proc`: `--max-memory` holds what
//! it says for every shape of data (tiny keys, large values, many small sessions), and one big
//! request costs a bounded multiple of its own size on top of what it stores, given back when its
//! session ends.
//!
//! Each case runs its own server process, so the figures are that process's alone; the test
//! prints them (`--nocapture`). Sizes are small enough for the debug build.

mod common;

use common::binary::Running;
use common::{connect_url, recv_json, send, Ws};
use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// The `--max-memory` of the fill cases.
const LIMIT: u64 = 32 << 20;

/// How far the RSS growth of a filled server may be from [`LIMIT`], either way: the accounting
/// charges what storing really costs, neither half of it nor twice.
const TOLERANCE: f64 = 0.2;

/// Requests sent before their replies are read, during a fill.
const DEPTH: usize = 8;

/// Starts the binary without persistence (the journal's buffers would be part of the figure)
/// and with `extra` arguments, on a fresh data directory returned with it (bind it first).
fn start(extra: &[&str]) -> (tempfile::TempDir, Running) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut args = vec!["--no-persist"];
    args.extend_from_slice(extra);
    let server = common::binary::start(&dir.path().join("data"), &args);
    (dir, server)
}

/// A server with `--max-memory` [`LIMIT`], a connection to it, and its RSS once warmed up.
async fn limited() -> (tempfile::TempDir, Running, Ws, u64) {
    let limit = LIMIT.to_string();
    let (dir, server) = start(&["--max-memory", &limit]);
    let mut ws = connect_url(&server.url()).await;
    warm_up(&mut ws).await;
    let rss = server.resident_bytes();
    (dir, server, ws, rss)
}

/// Stores a little of every shape and removes it again, so that what the server allocates once
/// (buffers, the allocator's first pages of each size, its threads' first work) is part of the
/// baseline rather than counted as stored data.
async fn warm_up(ws: &mut Ws) {
    let mut counter = 0;
    let long = string_value(1024);
    send(ws, r#"{"SH_NEW":{}}"#).await;
    let tkn = common::token(&recv_json(ws).await);
    let mut requests = Vec::new();
    for _ in 0..4 {
        requests.push(format!(
            r#"{{"SH_SET":{{"tkn":{tkn},"keys":{}}}}}"#,
            keys_object(&mut counter, 1000, "1")
        ));
        requests.push(format!(
            r#"{{"KV_SET":{{"keys":{}}}}}"#,
            keys_object(&mut counter, 32, &long)
        ));
    }
    requests.push(format!(r#"{{"SH_END":{{"tkn":{tkn}}}}}"#));
    requests.push(r#"{"KV_CLEAR":{}}"#.to_owned());
    for reply in pipelined(ws, &requests).await {
        assert_eq!(status(&reply), 1, "warm-up: {reply}");
    }
}

/// The `st` of a reply (`{"NAME_RSP":{"st":N,...}}`).
fn status(reply: &Value) -> u64 {
    reply
        .as_object()
        .and_then(|o| o.values().next())
        .and_then(|body| body["st"].as_u64())
        .unwrap_or_else(|| panic!("no st in {reply}"))
}

/// Sends every request, then reads as many replies.
async fn pipelined(ws: &mut Ws, requests: &[String]) -> Vec<Value> {
    for r in requests {
        send(ws, r).await;
    }
    let mut replies = Vec::with_capacity(requests.len());
    for _ in requests {
        replies.push(recv_json(ws).await);
    }
    replies
}

/// Sends batches from `next` until a reply is 170 (the limit); any other failure fails the
/// test. Returns how many requests succeeded.
async fn fill_until_limit(ws: &mut Ws, mut next: impl FnMut() -> String) -> usize {
    let mut done = 0;
    loop {
        let batch: Vec<String> = (0..DEPTH).map(|_| next()).collect();
        for reply in pipelined(ws, &batch).await {
            match status(&reply) {
                1 => done += 1,
                170 => return done,
                _ => panic!("unexpected reply during the fill: {reply}"),
            }
        }
    }
}

/// A `keys` object of `n` members named from `counter` (8 hex digits each, so all distinct),
/// each with the JSON value `value`.
fn keys_object(counter: &mut u64, n: usize, value: &str) -> String {
    let mut out = String::from("{");
    for i in 0..n {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!("\"{:08x}\":{value}", *counter));
        *counter += 1;
    }
    out.push('}');
    out
}

/// A JSON string value of `len` bytes of text, quotes included.
fn string_value(len: usize) -> String {
    format!("\"{}\"", "x".repeat(len - 2))
}

/// Prints the case's figures and checks the growth against the limit.
fn assert_growth_near_limit(case: &str, server: &Running, before: u64, requests: usize) {
    let after = server.resident_bytes();
    let grown = after.saturating_sub(before);
    let ratio = grown as f64 / LIMIT as f64;
    println!(
        "{case}: {requests} requests accepted; RSS {} → {} KiB, grown {} KiB = {ratio:.2} × the \
         limit of {} KiB",
        before >> 10,
        after >> 10,
        grown >> 10,
        LIMIT >> 10
    );
    assert!(
        (1.0 - TOLERANCE..=1.0 + TOLERANCE).contains(&ratio),
        "{case}: RSS grew {ratio:.2} × --max-memory (want within {TOLERANCE} of 1)"
    );
}

#[tokio::test]
async fn max_memory_holds_with_tiny_top_level_keys() {
    let (_dir, server, mut ws, before) = limited().await;
    let mut counter = 0;
    let n = fill_until_limit(&mut ws, || {
        format!(
            r#"{{"KV_SET":{{"keys":{}}}}}"#,
            keys_object(&mut counter, 1000, "1")
        )
    })
    .await;
    assert_growth_near_limit("tiny top-level keys", &server, before, n);
}

#[tokio::test]
async fn max_memory_holds_with_tiny_keys_in_one_session() {
    let (_dir, server, mut ws, before) = limited().await;
    send(&mut ws, r#"{"SH_NEW":{}}"#).await;
    let tkn = common::token(&recv_json(&mut ws).await);
    let mut counter = 0;
    let n = fill_until_limit(&mut ws, || {
        format!(
            r#"{{"SH_SET":{{"tkn":{tkn},"keys":{}}}}}"#,
            keys_object(&mut counter, 1000, "1")
        )
    })
    .await;
    assert_growth_near_limit("tiny keys in one session", &server, before, n);
}

#[tokio::test]
async fn max_memory_holds_with_many_small_sessions() {
    let (_dir, server, mut ws, before) = limited().await;
    let mut counter = 0;
    let mut accepted = 0;
    'fill: loop {
        let news: Vec<String> = (0..500).map(|_| r#"{"SH_NEW":{}}"#.to_owned()).collect();
        let mut sets = Vec::new();
        for reply in pipelined(&mut ws, &news).await {
            match status(&reply) {
                1 => sets.push(format!(
                    r#"{{"SH_SET":{{"tkn":{},"keys":{}}}}}"#,
                    common::token(&reply),
                    keys_object(&mut counter, 2, "\"20-byte-value-text\"")
                )),
                170 => break 'fill,
                _ => panic!("unexpected SH_NEW reply: {reply}"),
            }
        }
        for reply in pipelined(&mut ws, &sets).await {
            match status(&reply) {
                1 => accepted += 1,
                170 => break 'fill,
                _ => panic!("unexpected SH_SET reply: {reply}"),
            }
        }
    }
    assert_growth_near_limit("sessions of 2 keys", &server, before, accepted);
}

#[tokio::test]
async fn max_memory_holds_with_1_kib_values() {
    let (_dir, server, mut ws, before) = limited().await;
    let value = string_value(1024);
    let mut counter = 0;
    let n = fill_until_limit(&mut ws, || {
        format!(
            r#"{{"KV_SET":{{"keys":{}}}}}"#,
            keys_object(&mut counter, 32, &value)
        )
    })
    .await;
    assert_growth_near_limit("1 KiB top-level values", &server, before, n);
}

#[tokio::test]
async fn max_memory_holds_with_100_kib_values_in_sessions() {
    let (_dir, server, mut ws, before) = limited().await;
    let value = string_value(100 << 10);
    let mut counter = 0;
    let mut accepted = 0;
    'fill: loop {
        send(&mut ws, r#"{"SH_NEW":{}}"#).await;
        let created = recv_json(&mut ws).await;
        if status(&created) == 170 {
            break;
        }
        let tkn = common::token(&created);
        let sets: Vec<String> = (0..4)
            .map(|_| {
                format!(
                    r#"{{"SH_SET":{{"tkn":{tkn},"keys":{}}}}}"#,
                    keys_object(&mut counter, 1, &value)
                )
            })
            .collect();
        for reply in pipelined(&mut ws, &sets).await {
            match status(&reply) {
                1 => accepted += 1,
                170 => break 'fill,
                _ => panic!("unexpected SH_SET reply: {reply}"),
            }
        }
    }
    assert_growth_near_limit("100 KiB session values", &server, before, accepted);
}

/// Keys in the big request.
const BIG_KEYS: u64 = 1_000_000;

/// How long the big request's reply may take before the test gives up (a hang guard): a
/// million keys take the debug build a while on a busy machine.
const BIG_REPLY_GUARD: std::time::Duration = std::time::Duration::from_secs(180);

/// The next reply, parsed, waiting up to [`BIG_REPLY_GUARD`] for it.
async fn recv_slow_reply(ws: &mut Ws) -> Value {
    loop {
        let next = tokio::time::timeout(BIG_REPLY_GUARD, ws.next())
            .await
            .expect("no reply within the hang guard");
        match next {
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(text.as_str()).expect("reply is JSON")
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a text reply, got {other:?}"),
        }
    }
}

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
    let reply = recv_slow_reply(&mut ws).await;
    assert_eq!(status(&reply), 1, "{reply}");
    let peak = server.peak_resident_bytes();
    // One more round trip: the connection has dropped the request by the time it answers.
    send(&mut ws, &format!(r#"{{"SH_COUNT":{{"tkn":{tkn}}}}}"#)).await;
    let count = recv_json(&mut ws).await;
    assert_eq!(
        count["SH_COUNT_RSP"]["cnt"].as_u64(),
        Some(BIG_KEYS),
        "{count}"
    );
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
    // What the request holds beyond what it stores: its frame, its text and its parsed form.
    // Its parsed form is one vector of 48-byte entries (key and value, neither allocated apart),
    // and its frame holds its text.
    let transient = peak.saturating_sub(stored);
    let bound = 48 * BIG_KEYS + 2 * size;
    assert!(
        transient <= bound,
        "the request took {:.1} MiB beyond what it stored (want ≤ 48 bytes per key + twice its \
         {:.1} MiB = {:.1} MiB)",
        mib(transient),
        mib(size),
        mib(bound)
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
