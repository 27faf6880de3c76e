//! Expiry end to end with short real durations (docs/PROTOCOL.md §9). Assertions that depend on a
//! deadline not having passed yet are guarded by the client's own clock, which is the server's
//! clock too (same machine), so they cannot fail because the machine was slow.

mod common;

use std::time::{Duration, Instant};

use common::{expect, expect_sh_set, request, token, TestServer, Ws};

/// Asks `SH_COUNT` of session `t` and, if the reply came less than `within` after `since`
/// (so the deadline cannot have passed yet), asserts it is exactly a count of `cnt`.
async fn count_unless_late(ws: &mut Ws, t: u64, cnt: u64, since: Instant, within: Duration) {
    let got = request(ws, &format!(r#"{{"SH_COUNT":{{"tkn":{t}}}}}"#)).await;
    if since.elapsed() < within {
        assert_eq!(got, serde_json::json!({"SH_COUNT_RSP":{"st":1,"cnt":cnt}}));
    }
}

/// Sleeps until `at`.
async fn sleep_until(at: Instant) {
    tokio::time::sleep_until(at.into()).await;
}

#[tokio::test]
async fn delete_session_true_is_gone_after_the_deadline() {
    let (_server, mut ws) = TestServer::start_connected().await;
    let before = Instant::now();
    let t = token(
        &request(
            &mut ws,
            r#"{"SH_NEW":{"expiry":{"duration":1,"deleteSession":true}}}"#,
        )
        .await,
    );
    expect_sh_set(&mut ws, t, r#"{"a":1}"#).await;
    count_unless_late(&mut ws, t, 1, before, Duration::from_secs(1)).await;
    // The deadline is at most 1 s after `before` plus the SH_NEW round trip; wait past it.
    sleep_until(before + Duration::from_millis(1100)).await;
    expect(
        &mut ws,
        &format!(r#"{{"SH_GET":{{"tkn":{t},"keys":["a"]}}}}"#),
        r#"{"SH_GET_RSP":{"st":100}}"#,
    )
    .await;
    expect(
        &mut ws,
        &format!(r#"{{"SH_EXISTS":{{"tkns":[{t}]}}}}"#),
        r#"{"SH_EXISTS_RSP":{"st":1,"exist":[]}}"#,
    )
    .await;
    expect(
        &mut ws,
        &format!(r#"{{"SH_INFO":{{"tkn":{t}}}}}"#),
        &format!(r#"{{"SH_INFO_RSP":{{"st":100,"tkn":{t},"shared":null,"keyCnt":null}}}}"#),
    )
    .await;
    common::expect_info_all(&mut ws, 0, 0).await;
}

#[tokio::test]
async fn delete_session_false_is_emptied_and_rearmed() {
    let (_server, mut ws) = TestServer::start_connected().await;
    let before = Instant::now();
    let t = token(&request(&mut ws, r#"{"SH_NEW":{"expiry":{"duration":1}}}"#).await);
    expect_sh_set(&mut ws, t, r#"{"a":1,"b":2,"c":3}"#).await;
    count_unless_late(&mut ws, t, 3, before, Duration::from_secs(1)).await;
    sleep_until(before + Duration::from_millis(1100)).await;
    let info = request(&mut ws, &format!(r#"{{"SH_INFO":{{"tkn":{t}}}}}"#)).await;
    let body = &info["SH_INFO_RSP"];
    assert_eq!(body["st"], 1, "{info}");
    assert_eq!(body["keyCnt"], 0, "{info}");
    assert_eq!(body["expires"], true, "{info}");
    let remaining = body["expiry"]["remaining"].as_u64().expect("remaining");
    assert!(remaining <= 1, "{info}");
    // The session is usable again after being emptied.
    expect_sh_set(&mut ws, t, r#"{"z":1}"#).await;
    expect(
        &mut ws,
        &format!(r#"{{"SH_EXISTS":{{"tkns":[{t}]}}}}"#),
        &format!(r#"{{"SH_EXISTS_RSP":{{"st":1,"exist":[{t}]}}}}"#),
    )
    .await;
}

#[tokio::test]
async fn extend_on_get_moves_the_deadline() {
    let (_server, mut ws) = TestServer::start_connected().await;
    let t = token(
        &request(
            &mut ws,
            r#"{"SH_NEW":{"expiry":{"duration":2,"deleteSession":true,"extendOnGet":true}}}"#,
        )
        .await,
    );
    // The original deadline is at most 2 s after this instant.
    let created = Instant::now();
    expect_sh_set(&mut ws, t, r#"{"a":1}"#).await;
    sleep_until(created + Duration::from_millis(1000)).await;
    // The deadline moves to at least 2 s after this request is sent.
    let extended_at = Instant::now();
    expect(
        &mut ws,
        &format!(r#"{{"SH_GET":{{"tkn":{t},"keys":["nothing"]}}}}"#),
        r#"{"SH_GET_RSP":{"st":1,"keys":{}}}"#,
    )
    .await;
    sleep_until(created + Duration::from_millis(2100)).await;
    // Past the original deadline, before the extended one: still there.
    count_unless_late(&mut ws, t, 1, extended_at, Duration::from_secs(2)).await;
}

#[tokio::test]
async fn sh_info_remaining_counts_down_from_duration() {
    let (_server, mut ws) = TestServer::start_connected().await;
    let before = Instant::now();
    let t = token(&request(&mut ws, r#"{"SH_NEW":{"expiry":{"duration":10}}}"#).await);
    let info = request(&mut ws, &format!(r#"{{"SH_INFO":{{"tkn":{t}}}}}"#)).await;
    let remaining = info["SH_INFO_RSP"]["expiry"]["remaining"]
        .as_u64()
        .expect("remaining");
    assert!(remaining <= 10, "{info}");
    if before.elapsed() < Duration::from_secs(1) {
        assert!(remaining >= 9, "{info}");
    }
}
