//! Session owners (docs/PROTOCOL.md E11) through the real server: `owner` on `SH_NEW`, `SH_INFO`,
//! `SH_OWNER_LIST` and `SH_OWNER_END` with their exact replies and validation, the index as
//! sessions end and expire, and `SH_OWNER_END` racing `SH_NEW` from other clients.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{exact, request, token, TestServer, Ws};

async fn new_owned(ws: &mut Ws, owner: &str, extra: &str) -> u64 {
    token(&request(ws, &format!(r#"{{"SH_NEW":{{"owner":"{owner}"{extra}}}}}"#)).await)
}

/// The tokens `SH_OWNER_LIST` lists for `owner`.
async fn listed(ws: &mut Ws, owner: &str) -> Vec<u64> {
    let reply = request(ws, &format!(r#"{{"SH_OWNER_LIST":{{"owner":"{owner}"}}}}"#)).await;
    let body = &reply["SH_OWNER_LIST_RSP"];
    assert_eq!(body["st"], 1, "{reply}");
    body["tkns"]
        .as_array()
        .expect("tkns")
        .iter()
        .map(|t| t.as_u64().expect("token"))
        .collect()
}

/// The tokens of `tkns` that `SH_EXISTS` finds.
async fn existing(ws: &mut Ws, tkns: &[u64]) -> Vec<u64> {
    let list: Vec<String> = tkns.iter().map(u64::to_string).collect();
    let reply = request(
        ws,
        &format!(r#"{{"SH_EXISTS":{{"tkns":[{}]}}}}"#, list.join(",")),
    )
    .await;
    reply["SH_EXISTS_RSP"]["exist"]
        .as_array()
        .expect("exist")
        .iter()
        .map(|t| t.as_u64().expect("token"))
        .collect()
}

#[tokio::test]
async fn owners_are_created_shown_listed_and_ended_with_exact_replies() {
    let (_server, mut ws) = TestServer::start_connected().await;
    let ws = &mut ws;
    let a = new_owned(ws, "alice", "").await;
    let b = new_owned(ws, "alice", r#","name":"tab""#).await;
    let c = new_owned(ws, "bob", "").await;
    exact(
        ws,
        &format!(r#"{{"SH_INFO":{{"tkn":{a}}}}}"#),
        &format!(
            r#"{{"SH_INFO_RSP":{{"st":1,"tkn":{a},"shared":false,"keyCnt":0,"expires":false,"owner":"alice"}}}}"#
        ),
    )
    .await;
    exact(
        ws,
        &format!(r#"{{"SH_INFO":{{"tkn":{b},"withVer":true}}}}"#),
        &format!(
            r#"{{"SH_INFO_RSP":{{"st":1,"tkn":{b},"shared":false,"keyCnt":0,"expires":false,"name":"tab","owner":"alice","ver":1}}}}"#
        ),
    )
    .await;
    let mut alice = [a, b];
    alice.sort_unstable();
    exact(
        ws,
        r#"{"SH_OWNER_LIST":{"owner":"alice"}}"#,
        &format!(
            r#"{{"SH_OWNER_LIST_RSP":{{"st":1,"owner":"alice","tkns":[{},{}]}}}}"#,
            alice[0], alice[1]
        ),
    )
    .await;
    exact(
        ws,
        r#"{"SH_OWNER_LIST":{"owner":"nobody"}}"#,
        r#"{"SH_OWNER_LIST_RSP":{"st":1,"owner":"nobody","tkns":[]}}"#,
    )
    .await;
    // An escaped owner is unescaped once, and echoed escaped.
    let quoted = token(&request(ws, r#"{"SH_NEW":{"owner":"a\"b\u00e9"}}"#).await);
    exact(
        ws,
        r#"{"SH_OWNER_LIST":{"owner":"a\"bé"}}"#,
        &format!(r#"{{"SH_OWNER_LIST_RSP":{{"st":1,"owner":"a\"bé","tkns":[{quoted}]}}}}"#),
    )
    .await;
    exact(
        ws,
        r#"{"SH_OWNER_END":{"owner":"alice"}}"#,
        r#"{"SH_OWNER_END_RSP":{"st":1,"owner":"alice","cnt":2}}"#,
    )
    .await;
    assert_eq!(existing(ws, &[a, b, c]).await, vec![c]);
    exact(
        ws,
        r#"{"SH_OWNER_LIST":{"owner":"alice"}}"#,
        r#"{"SH_OWNER_LIST_RSP":{"st":1,"owner":"alice","tkns":[]}}"#,
    )
    .await;
    exact(
        ws,
        r#"{"SH_OWNER_END":{"owner":"alice"}}"#,
        r#"{"SH_OWNER_END_RSP":{"st":1,"owner":"alice","cnt":0}}"#,
    )
    .await;
    // Sessions without an owner are never listed, and SH_INFO stays the base protocol's.
    let plain = token(&request(ws, r#"{"SH_NEW":{}}"#).await);
    exact(
        ws,
        &format!(r#"{{"SH_INFO":{{"tkn":{plain}}}}}"#),
        &format!(
            r#"{{"SH_INFO_RSP":{{"st":1,"tkn":{plain},"shared":false,"keyCnt":0,"expires":false}}}}"#
        ),
    )
    .await;
    assert_eq!(listed(ws, "bob").await, vec![c]);
}

#[tokio::test]
async fn owner_validation_statuses() {
    let (_server, mut ws) = TestServer::start_connected().await;
    let ws = &mut ws;
    let longest = "o".repeat(256);
    let too_long = "o".repeat(257);
    for (req, want) in [
        (
            r#"{"SH_NEW":{"owner":7}}"#.to_owned(),
            r#"{"SH_NEW_RSP":{"st":41}}"#,
        ),
        (
            r#"{"SH_NEW":{"owner":null}}"#.to_owned(),
            r#"{"SH_NEW_RSP":{"st":41}}"#,
        ),
        (
            r#"{"SH_NEW":{"owner":""}}"#.to_owned(),
            r#"{"SH_NEW_RSP":{"st":42}}"#,
        ),
        (
            format!(r#"{{"SH_NEW":{{"owner":"{too_long}"}}}}"#),
            r#"{"SH_NEW_RSP":{"st":42}}"#,
        ),
        // Byte order of the generic pass: `name` before `owner` before `shared`.
        (
            r#"{"SH_NEW":{"owner":1,"name":2}}"#.to_owned(),
            r#"{"SH_NEW_RSP":{"st":41}}"#,
        ),
        (
            r#"{"SH_NEW":{"owner":"","shared":1}}"#.to_owned(),
            r#"{"SH_NEW_RSP":{"st":41}}"#,
        ),
        // The expiry members before the owner's size; the size before the shared-name rule.
        (
            r#"{"SH_NEW":{"owner":"","expiry":{}}}"#.to_owned(),
            r#"{"SH_NEW_RSP":{"st":26}}"#,
        ),
        (
            r#"{"SH_NEW":{"owner":"","shared":true}}"#.to_owned(),
            r#"{"SH_NEW_RSP":{"st":42}}"#,
        ),
        (
            r#"{"SH_NEW":{"owner":"x","shared":true}}"#.to_owned(),
            r#"{"SH_NEW_RSP":{"st":26}}"#,
        ),
        (
            r#"{"SH_OWNER_LIST":{}}"#.to_owned(),
            r#"{"SH_OWNER_LIST_RSP":{"st":26}}"#,
        ),
        (
            r#"{"SH_OWNER_LIST":{"owner":["a"]}}"#.to_owned(),
            r#"{"SH_OWNER_LIST_RSP":{"st":41}}"#,
        ),
        (
            r#"{"SH_OWNER_LIST":{"owner":""}}"#.to_owned(),
            r#"{"SH_OWNER_LIST_RSP":{"st":42}}"#,
        ),
        (
            r#"{"SH_OWNER_END":{}}"#.to_owned(),
            r#"{"SH_OWNER_END_RSP":{"st":26}}"#,
        ),
        (
            r#"{"SH_OWNER_END":{"owner":false}}"#.to_owned(),
            r#"{"SH_OWNER_END_RSP":{"st":41}}"#,
        ),
        (
            format!(r#"{{"SH_OWNER_END":{{"owner":"{too_long}"}}}}"#),
            r#"{"SH_OWNER_END_RSP":{"st":42}}"#,
        ),
        (
            r#"{"SH_OWNER_END":[]}"#.to_owned(),
            r#"{"SH_OWNER_END_RSP":{"st":13}}"#,
        ),
    ] {
        exact(ws, &req, want).await;
    }
    let t = new_owned(ws, &longest, "").await;
    assert_eq!(listed(ws, &longest).await, vec![t]);
    exact(
        ws,
        r#"{"SH_INFO_ALL":{}}"#,
        r#"{"SH_INFO_ALL_RSP":{"st":1,"totalSessions":1,"totalKeys":0}}"#,
    )
    .await;
}

#[tokio::test]
async fn the_index_follows_ends_expiries_and_end_all() {
    let (_server, mut ws) = TestServer::start_connected().await;
    let ws = &mut ws;
    let kept = new_owned(ws, "carol", "").await;
    let ended = new_owned(ws, "carol", "").await;
    let expiring = new_owned(
        ws,
        "carol",
        r#","expiry":{"duration":1,"deleteSession":true}"#,
    )
    .await;
    let wiped = new_owned(ws, "carol", r#","expiry":{"duration":1}"#).await;
    exact(
        ws,
        &format!(r#"{{"SH_END":{{"tkn":{ended}}}}}"#),
        &format!(r#"{{"SH_END_RSP":{{"st":1,"tkn":{ended}}}}}"#),
    )
    .await;
    // Past the deadline: the deleted session is never listed again (whether or not the sweep
    // has met it yet); the wiped one lives on, empty.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let mut want = vec![kept, wiped];
    want.sort_unstable();
    assert_eq!(listed(ws, "carol").await, want);
    assert_eq!(existing(ws, &[expiring]).await, Vec::<u64>::new());
    exact(
        ws,
        r#"{"SH_END_ALL":{}}"#,
        r#"{"SH_END_ALL_RSP":{"st":1,"cnt":2}}"#,
    )
    .await;
    assert_eq!(listed(ws, "carol").await, Vec::<u64>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_end_racing_new_leaves_no_session_created_before_it() {
    const CREATORS: usize = 4;
    // Bounded so that the checks stay below the server's guard against token probing: every
    // session looked up after its end counts as a miss.
    const EACH: usize = 100;
    const ROUNDS: usize = 15;
    let server = TestServer::start().await;
    // Tokens whose SH_NEW was acknowledged, in acknowledgement order.
    let acked = Arc::new(Mutex::new(Vec::<u64>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut creators = Vec::new();
    for _ in 0..CREATORS {
        let url = server.url("/");
        let (acked, stop) = (acked.clone(), stop.clone());
        creators.push(tokio::spawn(async move {
            let mut ws = common::connect_url(&url).await;
            for _ in 0..EACH {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let t = new_owned(&mut ws, "dave", "").await;
                acked.lock().expect("lock").push(t);
            }
        }));
    }
    let mut ender = server.connect().await;
    let mut checker = server.connect().await;
    // Sessions before this index were checked ended already (an ended session never returns).
    let mut checked = 0;
    let mut ended = 0;
    for _ in 0..ROUNDS {
        // Every session acknowledged before the call exists before it starts.
        let before: Vec<u64> = acked.lock().expect("lock")[checked..].to_vec();
        let reply = request(&mut ender, r#"{"SH_OWNER_END":{"owner":"dave"}}"#).await;
        assert_eq!(reply["SH_OWNER_END_RSP"]["st"], 1, "{reply}");
        ended += reply["SH_OWNER_END_RSP"]["cnt"].as_u64().expect("cnt");
        checked += before.len();
        let survivors = existing(&mut checker, &before).await;
        assert_eq!(
            survivors,
            Vec::<u64>::new(),
            "sessions created before it survive"
        );
        // Only this loop ends sessions and none expire, so every token listed exists.
        let listed_now = listed(&mut checker, "dave").await;
        assert_eq!(existing(&mut checker, &listed_now).await, listed_now);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for c in creators {
        c.await.expect("creator");
    }
    let listed_end = listed(&mut checker, "dave").await;
    assert_eq!(existing(&mut checker, &listed_end).await, listed_end);
    let all: Vec<u64> = acked.lock().expect("lock").clone();
    let reply = request(&mut ender, r#"{"SH_OWNER_END":{"owner":"dave"}}"#).await;
    assert_eq!(
        reply["SH_OWNER_END_RSP"]["cnt"],
        listed_end.len(),
        "{reply}"
    );
    ended += listed_end.len() as u64;
    // Every session was ended by exactly one of the calls.
    assert_eq!(ended, all.len() as u64);
    let mut last = server.connect().await;
    assert_eq!(
        existing(&mut last, &all[checked..]).await,
        Vec::<u64>::new()
    );
    assert_eq!(listed(&mut last, "dave").await, Vec::<u64>::new());
}
