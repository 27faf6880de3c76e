//! Many and hostile clients: concurrency without leaks between sessions, clients that vanish
//! mid-pipeline, clients that never read their replies (docs/PROTOCOL.md §2.4).

mod common;

use common::{expect, expect_info_all, pipeline, request, token, TestServer};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_connections_each_see_only_their_own_sessions() {
    let server = TestServer::start().await;
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let url = server.url("/");
        tasks.push(tokio::spawn(async move {
            let mut ws = common::connect_url(&url).await;
            let t = token(&request(&mut ws, r#"{"SH_NEW":{}}"#).await);
            for round in 0..10u32 {
                expect(
                    &mut ws,
                    &format!(
                        r#"{{"SH_SET":{{"tkn":{t},"keys":{{"owner":{i},"round":{round}}}}}}}"#
                    ),
                    r#"{"SH_SET_RSP":{"st":1}}"#,
                )
                .await;
                expect(
                    &mut ws,
                    &format!(r#"{{"SH_GET":{{"tkn":{t},"keys":["owner","round"]}}}}"#),
                    &format!(
                        r#"{{"SH_GET_RSP":{{"st":1,"keys":{{"owner":{i},"round":{round}}}}}}}"#
                    ),
                )
                .await;
            }
            expect(
                &mut ws,
                &format!(r#"{{"SH_COUNT":{{"tkn":{t}}}}}"#),
                r#"{"SH_COUNT_RSP":{"st":1,"cnt":2}}"#,
            )
            .await;
            t
        }));
    }
    let mut tokens = Vec::new();
    for task in tasks {
        tokens.push(task.await.expect("client task"));
    }
    tokens.sort_unstable();
    tokens.dedup();
    assert_eq!(tokens.len(), 200, "tokens must be distinct");
    let mut ws = server.connect().await;
    expect_info_all(&mut ws, 200, 400).await;
}

#[tokio::test]
async fn client_vanishing_mid_pipeline_leaves_the_server_fine() {
    let server = TestServer::start().await;
    let mut observer = server.connect().await;
    {
        let mut ws = server.connect().await;
        pipeline(
            &mut ws,
            (0..500).map(|i| Message::text(format!(r#"{{"KV_SET":{{"keys":{{"k{i}":{i}}}}}}}"#))),
        )
        .await;
        // Dropped here without a closing handshake, replies unread.
    }
    // Its connection task ends, and everyone else is served as before.
    common::wait_for_connections(&mut observer, 1).await;
    let count = request(&mut observer, r#"{"KV_COUNT":{}}"#).await;
    let cnt = count["KV_COUNT_RSP"]["cnt"].as_u64().expect("cnt");
    assert!(cnt <= 500, "{count}");
    expect(
        &mut observer,
        r#"{"KV_SET":{"keys":{"after":true}}}"#,
        r#"{"KV_SET_RSP":{"st":1}}"#,
    )
    .await;
}

/// Resident memory of this process (the server runs in it), in bytes.
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages");
    pages * 4096
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_that_never_reads_is_not_read_and_others_are_served() {
    let server = TestServer::start().await;
    let mut slow = server.connect().await;
    // A 512 KiB value: 2,000 replies to it would be 1 GiB if the server kept producing them.
    let big = "v".repeat(512 * 1024);
    expect(
        &mut slow,
        &format!(r#"{{"KV_SET":{{"keys":{{"big":"{big}"}}}}}}"#),
        r#"{"KV_SET_RSP":{"st":1}}"#,
    )
    .await;
    let baseline = resident_bytes();
    pipeline(
        &mut slow,
        (0..2000).map(|_| Message::text(r#"{"KV_GET":{"keys":["big"]}}"#)),
    )
    .await;

    let mut other = server.connect().await;
    for i in 0..200 {
        expect(
            &mut other,
            &format!(r#"{{"KV_SET":{{"keys":{{"n":{i}}}}}}}"#),
            r#"{"KV_SET_RSP":{"st":1}}"#,
        )
        .await;
        expect(
            &mut other,
            r#"{"KV_GET":{"keys":["n"]}}"#,
            &format!(r#"{{"KV_GET_RSP":{{"st":1,"keys":{{"n":{i}}}}}}}"#),
        )
        .await;
    }
    // Socket buffers hold a few MiB of replies; the server itself holds at most one batch.
    let grown = resident_bytes().saturating_sub(baseline);
    assert!(
        grown < 256 << 20,
        "memory grew by {} MiB while a client did not read",
        grown >> 20
    );
    // Shutdown does not wait for the stuck client to read.
    drop(other);
    server.shutdown().await.expect("run returned an error");
    drop(slow);
}
