//! Session versions and compare-and-set (docs/PROTOCOL.md E10) through the real server: the exact
//! reply of every command with `ifVer` and `withVer`, the validation order, which changes count a
//! version and which do not, and many clients doing read-modify-write on one session.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{exact, request, token, TestServer, Ws};

/// A new session without expiry; its token.
async fn new_session(ws: &mut Ws, body: &str) -> u64 {
    token(&request(ws, &format!(r#"{{"SH_NEW":{body}}}"#)).await)
}

#[tokio::test]
async fn every_command_naming_a_session_reports_and_checks_the_version() {
    let (_server, mut ws) = TestServer::start_connected().await;
    let t = new_session(&mut ws, "{}").await;
    let ws = &mut ws;
    // A fresh session is at version 1; reads report it without changing it.
    exact(
        ws,
        &format!(r#"{{"SH_GET":{{"tkn":{t},"keys":["n"],"withVer":true}}}}"#),
        r#"{"SH_GET_RSP":{"st":1,"keys":{},"ver":1}}"#,
    )
    .await;
    exact(
        ws,
        &format!(r#"{{"SH_SET":{{"tkn":{t},"keys":{{"n":1}},"ifVer":1}}}}"#),
        r#"{"SH_SET_RSP":{"st":1,"ver":2}}"#,
    )
    .await;
    // The same write again: its version is gone, nothing changes.
    exact(
        ws,
        &format!(r#"{{"SH_SET":{{"tkn":{t},"keys":{{"n":99}},"ifVer":1}}}}"#),
        r#"{"SH_SET_RSP":{"st":190,"ver":2}}"#,
    )
    .await;
    exact(
        ws,
        &format!(r#"{{"SH_GET":{{"tkn":{t},"keys":["n"],"ifVer":2}}}}"#),
        r#"{"SH_GET_RSP":{"st":1,"keys":{"n":1},"ver":2}}"#,
    )
    .await;
    exact(
        ws,
        &format!(r#"{{"SH_GET":{{"tkn":{t},"keys":["n"],"ifVer":1}}}}"#),
        r#"{"SH_GET_RSP":{"st":190,"ver":2}}"#,
    )
    .await;
    // An add of a key that exists changes nothing and counts nothing; a new key counts.
    exact(
        ws,
        &format!(r#"{{"SH_ADD":{{"tkn":{t},"keys":{{"n":5}},"withVer":true}}}}"#),
        r#"{"SH_ADD_RSP":{"st":1,"ver":2}}"#,
    )
    .await;
    exact(
        ws,
        &format!(r#"{{"SH_ADD":{{"tkn":{t},"keys":{{"m":5}},"ifVer":2}}}}"#),
        r#"{"SH_ADD_RSP":{"st":1,"ver":3}}"#,
    )
    .await;
    exact(
        ws,
        &format!(r#"{{"SH_CONTAINS":{{"tkn":{t},"keys":["m","x"],"withVer":true}}}}"#),
        r#"{"SH_CONTAINS_RSP":{"st":1,"contains":["m"],"ver":3}}"#,
    )
    .await;
    exact(
        ws,
        &format!(r#"{{"SH_COUNT":{{"tkn":{t},"ifVer":3}}}}"#),
        r#"{"SH_COUNT_RSP":{"st":1,"cnt":2,"ver":3}}"#,
    )
    .await;
    exact(
        ws,
        &format!(r#"{{"SH_KEYS":{{"tkn":{t},"withVer":true}}}}"#),
        r#"{"SH_KEYS_RSP":{"st":1,"keys":["n","m"],"ver":3}}"#,
    )
    .await;
    // Removing an absent key counts nothing; removing a present one counts.
    exact(
        ws,
        &format!(r#"{{"SH_RMV":{{"tkn":{t},"keys":["x"],"withVer":true}}}}"#),
        r#"{"SH_RMV_RSP":{"st":1,"ver":3}}"#,
    )
    .await;
    exact(
        ws,
        &format!(r#"{{"SH_RMV":{{"tkn":{t},"keys":["m"],"ifVer":3}}}}"#),
        r#"{"SH_RMV_RSP":{"st":1,"ver":4}}"#,
    )
    .await;
    exact(
        ws,
        &format!(r#"{{"SH_CLEAR_SET":{{"tkn":{t},"keys":{{"a":1}},"ifVer":4}}}}"#),
        r#"{"SH_CLEAR_SET_RSP":{"st":1,"cnt":1,"ver":5}}"#,
    )
    .await;
    exact(
        ws,
        &format!(r#"{{"SH_CLEAR":{{"tkn":{t},"ifVer":5}}}}"#),
        r#"{"SH_CLEAR_RSP":{"st":1,"cnt":1,"ver":6}}"#,
    )
    .await;
    // Clearing an empty session changes nothing.
    exact(
        ws,
        &format!(r#"{{"SH_CLEAR":{{"tkn":{t},"withVer":true}}}}"#),
        r#"{"SH_CLEAR_RSP":{"st":1,"cnt":0,"ver":6}}"#,
    )
    .await;
    exact(
        ws,
        &format!(r#"{{"SH_INFO":{{"tkn":{t},"withVer":true}}}}"#),
        &format!(
            r#"{{"SH_INFO_RSP":{{"st":1,"tkn":{t},"shared":false,"keyCnt":0,"expires":false,"ver":6}}}}"#
        ),
    )
    .await;
    exact(
        ws,
        &format!(r#"{{"SH_INFO":{{"tkn":{t},"ifVer":5}}}}"#),
        r#"{"SH_INFO_RSP":{"st":190,"ver":6}}"#,
    )
    .await;
    // `withVer:false` is the same as leaving it out: the base protocol's reply.
    exact(
        ws,
        &format!(r#"{{"SH_SET":{{"tkn":{t},"keys":{{"b":2}},"withVer":false}}}}"#),
        r#"{"SH_SET_RSP":{"st":1}}"#,
    )
    .await;
    exact(
        ws,
        &format!(r#"{{"SH_END":{{"tkn":{t},"ifVer":6}}}}"#),
        r#"{"SH_END_RSP":{"st":190,"ver":7}}"#,
    )
    .await;
    exact(
        ws,
        &format!(r#"{{"SH_END":{{"tkn":{t},"ifVer":7}}}}"#),
        &format!(r#"{{"SH_END_RSP":{{"st":1,"tkn":{t},"ver":7}}}}"#),
    )
    .await;
    // A session that does not exist is answered as the base protocol says, without `ver`.
    exact(
        ws,
        &format!(r#"{{"SH_END":{{"tkn":{t},"ifVer":7}}}}"#),
        &format!(r#"{{"SH_END_RSP":{{"st":100,"tkn":{t}}}}}"#),
    )
    .await;
    exact(
        ws,
        &format!(r#"{{"SH_GET":{{"tkn":{t},"keys":[],"withVer":true}}}}"#),
        r#"{"SH_GET_RSP":{"st":100}}"#,
    )
    .await;
    exact(
        ws,
        &format!(r#"{{"SH_INFO":{{"tkn":{t},"ifVer":1}}}}"#),
        &format!(r#"{{"SH_INFO_RSP":{{"st":100,"tkn":{t},"shared":null,"keyCnt":null}}}}"#),
    )
    .await;
}

#[tokio::test]
async fn a_mismatch_changes_nothing_and_extensions_count_no_version() {
    let (_server, mut ws) = TestServer::start_connected().await;
    let body = r#"{"expiry":{"duration":100,"extendOnGet":true,"extendOnSetAdd":true}}"#;
    let t = new_session(&mut ws, body).await;
    let ws = &mut ws;
    // Extensions never count a version.
    exact(
        ws,
        &format!(r#"{{"SH_GET":{{"tkn":{t},"keys":[],"withVer":true}}}}"#),
        r#"{"SH_GET_RSP":{"st":1,"keys":{},"ver":1}}"#,
    )
    .await;
    exact(
        ws,
        &format!(r#"{{"SH_SET":{{"tkn":{t},"keys":{{"a":1}},"ifVer":9}}}}"#),
        r#"{"SH_SET_RSP":{"st":190,"ver":1}}"#,
    )
    .await;
    exact(
        ws,
        &format!(r#"{{"SH_KEYS":{{"tkn":{t}}}}}"#),
        r#"{"SH_KEYS_RSP":{"st":1,"keys":[]}}"#,
    )
    .await;
    // A version far beyond any is not an error: it never matches.
    exact(
        ws,
        &format!(r#"{{"SH_CLEAR":{{"tkn":{t},"ifVer":18446744073709551615}}}}"#),
        r#"{"SH_CLEAR_RSP":{"st":190,"ver":1}}"#,
    )
    .await;
}

#[tokio::test]
async fn the_version_members_are_validated_in_byte_order() {
    let (_server, mut ws) = TestServer::start_connected().await;
    let t = new_session(&mut ws, "{}").await;
    let ws = &mut ws;
    for (req, want) in [
        // `ifVer` comes before `keys`, `withVer` after it.
        (
            format!(r#"{{"SH_SET":{{"tkn":{t},"ifVer":"3"}}}}"#),
            r#"{"SH_SET_RSP":{"st":41}}"#,
        ),
        (
            format!(r#"{{"SH_SET":{{"tkn":{t},"withVer":1}}}}"#),
            r#"{"SH_SET_RSP":{"st":26}}"#,
        ),
        (
            format!(r#"{{"SH_SET":{{"tkn":{t},"keys":{{}},"withVer":1}}}}"#),
            r#"{"SH_SET_RSP":{"st":41}}"#,
        ),
        (
            format!(r#"{{"SH_GET":{{"tkn":{t},"keys":{{}},"ifVer":-1}}}}"#),
            r#"{"SH_GET_RSP":{"st":41}}"#,
        ),
        (
            format!(r#"{{"SH_GET":{{"tkn":{t},"keys":{{}},"ifVer":1}}}}"#),
            r#"{"SH_GET_RSP":{"st":41}}"#,
        ),
        (
            format!(r#"{{"SH_RMV":{{"tkn":{t},"keys":[],"withVer":null}}}}"#),
            r#"{"SH_RMV_RSP":{"st":41}}"#,
        ),
        (
            format!(r#"{{"SH_RMV":{{"tkn":{t},"keys":[],"withVer":true}}}}"#),
            r#"{"SH_RMV_RSP":{"st":42}}"#,
        ),
        (
            format!(r#"{{"SH_COUNT":{{"tkn":{t},"ifVer":1.0}}}}"#),
            r#"{"SH_COUNT_RSP":{"st":41}}"#,
        ),
        (
            format!(r#"{{"SH_END":{{"tkn":{t},"withVer":"yes"}}}}"#),
            r#"{"SH_END_RSP":{"st":41}}"#,
        ),
        // Validation comes before the lookup: no session, still 41.
        (
            r#"{"SH_CLEAR":{"tkn":1,"ifVer":true}}"#.to_owned(),
            r#"{"SH_CLEAR_RSP":{"st":41}}"#,
        ),
        // SH_INFO: the version members do not count towards its one member.
        (
            r#"{"SH_INFO":{"withVer":true}}"#.to_owned(),
            r#"{"SH_INFO_RSP":{"st":13}}"#,
        ),
        (
            format!(r#"{{"SH_INFO":{{"tkn":{t},"x":1,"withVer":true}}}}"#),
            r#"{"SH_INFO_RSP":{"st":13}}"#,
        ),
        (
            format!(r#"{{"SH_INFO":{{"tkn":{t},"ifVer":"1"}}}}"#),
            r#"{"SH_INFO_RSP":{"st":41}}"#,
        ),
        (
            format!(r#"{{"SH_INFO":{{"x":{t},"ifVer":1}}}}"#),
            r#"{"SH_INFO_RSP":{"st":100}}"#,
        ),
    ] {
        exact(ws, &req, want).await;
    }
    // Nothing above changed the session.
    exact(
        ws,
        &format!(r#"{{"SH_COUNT":{{"tkn":{t},"ifVer":1}}}}"#),
        r#"{"SH_COUNT_RSP":{"st":1,"cnt":0,"ver":1}}"#,
    )
    .await;
}

#[tokio::test]
async fn an_expiry_that_wipes_keys_counts_a_version() {
    let (_server, mut ws) = TestServer::start_connected().await;
    let t = new_session(&mut ws, r#"{"expiry":{"duration":1}}"#).await;
    let ws = &mut ws;
    exact(
        ws,
        &format!(r#"{{"SH_SET":{{"tkn":{t},"keys":{{"a":1}},"withVer":true}}}}"#),
        r#"{"SH_SET_RSP":{"st":1,"ver":2}}"#,
    )
    .await;
    // Past the one-second deadline (a short real duration; §9.4 makes it exact on access).
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    exact(
        ws,
        &format!(r#"{{"SH_COUNT":{{"tkn":{t},"withVer":true}}}}"#),
        r#"{"SH_COUNT_RSP":{"st":1,"cnt":0,"ver":3}}"#,
    )
    .await;
}

/// Reads `n` with its version, writes `n + 1` under `ifVer`, retrying on 190 until a write is
/// acknowledged. Returns how many attempts lost the race.
async fn increment(ws: &mut Ws, t: u64) -> u64 {
    let mut lost = 0;
    loop {
        let read = request(
            ws,
            &format!(r#"{{"SH_GET":{{"tkn":{t},"keys":["n"],"withVer":true}}}}"#),
        )
        .await;
        let body = &read["SH_GET_RSP"];
        let (n, ver) = (
            body["keys"]["n"].as_u64().expect("counter"),
            body["ver"].as_u64().expect("version"),
        );
        let write = request(
            ws,
            &format!(
                r#"{{"SH_SET":{{"tkn":{t},"keys":{{"n":{}}},"ifVer":{ver}}}}}"#,
                n + 1
            ),
        )
        .await;
        match write["SH_SET_RSP"]["st"].as_u64() {
            Some(1) => {
                assert_eq!(write["SH_SET_RSP"]["ver"], ver + 1, "{write}");
                return lost;
            }
            Some(190) => lost += 1,
            other => panic!("SH_SET replied {other:?}: {write}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_clients_incrementing_with_if_ver_lose_no_update() {
    const CLIENTS: u64 = 50;
    const EACH: u64 = 20;
    let server = TestServer::start().await;
    let mut ws = server.connect().await;
    let t = new_session(&mut ws, "{}").await;
    exact(
        &mut ws,
        &format!(r#"{{"SH_SET":{{"tkn":{t},"keys":{{"n":0}}}}}}"#),
        r#"{"SH_SET_RSP":{"st":1}}"#,
    )
    .await;
    let acknowledged = Arc::new(AtomicU64::new(0));
    let conflicts = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let url = server.url("/");
        let (acknowledged, conflicts) = (acknowledged.clone(), conflicts.clone());
        tasks.push(tokio::spawn(async move {
            let mut ws = common::connect_url(&url).await;
            for _ in 0..EACH {
                conflicts.fetch_add(increment(&mut ws, t).await, Ordering::Relaxed);
                acknowledged.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        task.await.expect("client task");
    }
    let total = acknowledged.load(Ordering::Relaxed);
    assert_eq!(total, CLIENTS * EACH);
    // Every acknowledged increment is in the counter, and each counted exactly one version.
    exact(
        &mut ws,
        &format!(r#"{{"SH_GET":{{"tkn":{t},"keys":["n"],"withVer":true}}}}"#),
        &format!(
            r#"{{"SH_GET_RSP":{{"st":1,"keys":{{"n":{total}}},"ver":{}}}}}"#,
            total + 2
        ),
    )
    .await;
    eprintln!(
        "{total} increments, {} lost races retried",
        conflicts.load(Ordering::Relaxed)
    );
}
