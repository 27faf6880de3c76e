//! Per-key expiry end to end (docs/PROTOCOL.md E9): exact replies and validation order, a key
//! gone at its deadline with short real durations (assertions that need the deadline not to
//! have passed yet are guarded by the client's clock, the server's clock too), and deadlines
//! that hold across kill -9 and a restart.

mod common;

use std::time::{Duration, Instant};

use common::binary::start;
use common::{connect_url, expect, request, saves, script, token, TestServer, Ws};

#[tokio::test]
async fn replies_and_validation_order_are_exact() {
    let (_server, mut ws) = TestServer::start_connected().await;
    script(
        &mut ws,
        &[
            (r#"{"SH_NEW":{}}"#, r#"{"SH_NEW_RSP":{"st":1,"tkn":"$T"}}"#),
            (
                r#"{"SH_SET":{"tkn":$T,"keys":{"user":"ann","otp":"123456"},"ttl":{"otp":300}}}"#,
                r#"{"SH_SET_RSP":{"st":1}}"#,
            ),
            (
                r#"{"SH_KEY_REMAINING":{"tkn":$T,"keys":["otp","user","nope",7,"otp"]}}"#,
                r#"{"SH_KEY_REMAINING_RSP":{"st":1,"keys":{"otp":{"$in":[299,300]},"user":null}}}"#,
            ),
            (
                r#"{"SH_ADD":{"tkn":$T,"keys":{"otp":"999999","csrf":"n1"},"ttl":{"otp":5,"csrf":60}}}"#,
                r#"{"SH_ADD_RSP":{"st":1}}"#,
            ),
            (
                r#"{"SH_GET":{"tkn":$T,"keys":["otp","csrf"]}}"#,
                r#"{"SH_GET_RSP":{"st":1,"keys":{"otp":"123456","csrf":"n1"}}}"#,
            ),
            (
                r#"{"SH_KEY_REMAINING":{"tkn":$T,"keys":["otp","csrf"]}}"#,
                r#"{"SH_KEY_REMAINING_RSP":{"st":1,"keys":{"otp":{"$in":[299,300]},"csrf":{"$in":[59,60]}}}}"#,
            ),
            (
                r#"{"SH_KEY_TTL":{"tkn":$T,"keys":{"otp":null,"user":7200,"gone":60}}}"#,
                r#"{"SH_KEY_TTL_RSP":{"st":1,"cnt":2}}"#,
            ),
            (
                r#"{"SH_KEY_REMAINING":{"tkn":$T,"keys":["otp","user"]}}"#,
                r#"{"SH_KEY_REMAINING_RSP":{"st":1,"keys":{"otp":null,"user":{"$in":[7199,7200]}}}}"#,
            ),
            // SH_SET without `ttl` is the base command, and drops the deadline of what it writes.
            (
                r#"{"SH_SET":{"tkn":$T,"keys":{"user":"bob"}}}"#,
                r#"{"SH_SET_RSP":{"st":1}}"#,
            ),
            (
                r#"{"SH_KEY_REMAINING":{"tkn":$T,"keys":["user","csrf"]}}"#,
                r#"{"SH_KEY_REMAINING_RSP":{"st":1,"keys":{"user":null,"csrf":{"$in":[59,60]}}}}"#,
            ),
            (
                r#"{"SH_INFO":{"tkn":$T}}"#,
                r#"{"SH_INFO_RSP":{"st":1,"tkn":"$T","shared":false,"expires":false,"keyCnt":3}}"#,
            ),
            // Validation: the generic pass in byte order (`keys` before `ttl`), then the `ttl`
            // members, all before the session lookup.
            (
                r#"{"SH_SET":{"tkn":1,"ttl":{"a":1}}}"#,
                r#"{"SH_SET_RSP":{"st":26}}"#,
            ),
            (
                r#"{"SH_SET":{"tkn":1,"keys":[],"ttl":[]}}"#,
                r#"{"SH_SET_RSP":{"st":41}}"#,
            ),
            (
                r#"{"SH_SET":{"tkn":1,"keys":{"a":1},"ttl":[]}}"#,
                r#"{"SH_SET_RSP":{"st":41}}"#,
            ),
            (
                r#"{"SH_SET":{"tkn":1,"keys":{"a":1},"ttl":{"a":"5"}}}"#,
                r#"{"SH_SET_RSP":{"st":41}}"#,
            ),
            (
                r#"{"SH_SET":{"tkn":1,"keys":{"a":1},"ttl":{"a":null}}}"#,
                r#"{"SH_SET_RSP":{"st":41}}"#,
            ),
            (
                r#"{"SH_ADD":{"tkn":1,"keys":{"a":1},"ttl":{"a":0}}}"#,
                r#"{"SH_ADD_RSP":{"st":42}}"#,
            ),
            // A value of the wrong type is found before a key outside `keys`.
            (
                r#"{"SH_SET":{"tkn":1,"keys":{"a":1},"ttl":{"b":5,"a":-1}}}"#,
                r#"{"SH_SET_RSP":{"st":41}}"#,
            ),
            (
                r#"{"SH_SET":{"tkn":1,"keys":{"a":1},"ttl":{"b":5,"a":0}}}"#,
                r#"{"SH_SET_RSP":{"st":42}}"#,
            ),
            (
                r#"{"SH_SET":{"tkn":$T,"keys":{"a":1},"ttl":{"b":5}}}"#,
                r#"{"SH_SET_RSP":{"st":41}}"#,
            ),
            (
                r#"{"SH_SET":{"tkn":1,"keys":{"a":1},"ttl":{"a":5}}}"#,
                r#"{"SH_SET_RSP":{"st":100}}"#,
            ),
            (r#"{"SH_KEY_TTL":{"tkn":$T}}"#, r#"{"SH_KEY_TTL_RSP":{"st":26}}"#),
            (
                r#"{"SH_KEY_TTL":{"tkn":$T,"keys":["a"]}}"#,
                r#"{"SH_KEY_TTL_RSP":{"st":41}}"#,
            ),
            (
                r#"{"SH_KEY_TTL":{"tkn":$T,"keys":{"a":true}}}"#,
                r#"{"SH_KEY_TTL_RSP":{"st":41}}"#,
            ),
            (
                r#"{"SH_KEY_TTL":{"tkn":1,"keys":{"a":0}}}"#,
                r#"{"SH_KEY_TTL_RSP":{"st":42}}"#,
            ),
            (
                r#"{"SH_KEY_TTL":{"tkn":1,"keys":{"a":5}}}"#,
                r#"{"SH_KEY_TTL_RSP":{"st":100}}"#,
            ),
            (
                r#"{"SH_KEY_TTL":{"tkn":$T,"keys":{}}}"#,
                r#"{"SH_KEY_TTL_RSP":{"st":1,"cnt":0}}"#,
            ),
            (
                r#"{"SH_KEY_REMAINING":{"tkn":$T}}"#,
                r#"{"SH_KEY_REMAINING_RSP":{"st":26}}"#,
            ),
            (
                r#"{"SH_KEY_REMAINING":{"tkn":$T,"keys":{}}}"#,
                r#"{"SH_KEY_REMAINING_RSP":{"st":41}}"#,
            ),
            (
                r#"{"SH_KEY_REMAINING":{"keys":["a"]}}"#,
                r#"{"SH_KEY_REMAINING_RSP":{"st":100}}"#,
            ),
            (
                r#"{"SH_KEY_REMAINING":{"tkn":$T,"keys":[]}}"#,
                r#"{"SH_KEY_REMAINING_RSP":{"st":1,"keys":{}}}"#,
            ),
        ],
    )
    .await;
}

/// `SH_COUNT` of `t`; if the reply came less than `within` after `since` (so a deadline armed
/// after `since` for `within` cannot have passed), asserts it is `cnt`.
async fn count_unless_late(ws: &mut Ws, t: u64, cnt: u64, since: Instant, within: Duration) {
    let got = request(ws, &format!(r#"{{"SH_COUNT":{{"tkn":{t}}}}}"#)).await;
    if since.elapsed() < within {
        assert_eq!(got, serde_json::json!({"SH_COUNT_RSP":{"st":1,"cnt":cnt}}));
    }
}

#[tokio::test]
async fn a_key_is_gone_at_its_deadline_and_leaves_every_count() {
    let (_server, mut ws) = TestServer::start_connected().await;
    let t = token(&request(&mut ws, r#"{"SH_NEW":{}}"#).await);
    let before = Instant::now();
    expect(
        &mut ws,
        &format!(r#"{{"SH_SET":{{"tkn":{t},"keys":{{"otp":1,"user":2}},"ttl":{{"otp":1}}}}}}"#),
        r#"{"SH_SET_RSP":{"st":1}}"#,
    )
    .await;
    count_unless_late(&mut ws, t, 2, before, Duration::from_secs(1)).await;
    // The deadline is at most 1 s after `before` plus the round trip; wait past it.
    tokio::time::sleep_until((before + Duration::from_millis(1100)).into()).await;
    for (req, reply) in [
        (
            format!(r#"{{"SH_GET":{{"tkn":{t},"keys":["otp","user"]}}}}"#),
            r#"{"SH_GET_RSP":{"st":1,"keys":{"user":2}}}"#.to_owned(),
        ),
        (
            format!(r#"{{"SH_CONTAINS":{{"tkn":{t},"keys":["otp","user"]}}}}"#),
            r#"{"SH_CONTAINS_RSP":{"st":1,"contains":["user"]}}"#.to_owned(),
        ),
        (
            format!(r#"{{"SH_INFO":{{"tkn":{t}}}}}"#),
            format!(
                r#"{{"SH_INFO_RSP":{{"st":1,"tkn":{t},"shared":false,"expires":false,"keyCnt":1}}}}"#
            ),
        ),
        (
            format!(r#"{{"SH_KEY_REMAINING":{{"tkn":{t},"keys":["otp"]}}}}"#),
            r#"{"SH_KEY_REMAINING_RSP":{"st":1,"keys":{}}}"#.to_owned(),
        ),
    ] {
        expect(&mut ws, &req, &reply).await;
    }
    common::expect_info_all(&mut ws, 1, 1).await;
    let info = request(&mut ws, r#"{"SV_INFO":{}}"#).await;
    assert_eq!(info["SV_INFO_RSP"]["keys"], 1, "{info}");
}

#[tokio::test]
async fn sv_info_drops_a_due_key_that_no_command_touched() {
    let (_server, mut ws) = TestServer::start_connected().await;
    let t = token(&request(&mut ws, r#"{"SH_NEW":{}}"#).await);
    let before = Instant::now();
    expect(
        &mut ws,
        &format!(r#"{{"SH_ADD":{{"tkn":{t},"keys":{{"a":1,"b":2}},"ttl":{{"a":1,"b":1}}}}}}"#),
        r#"{"SH_ADD_RSP":{"st":1}}"#,
    )
    .await;
    let info = request(&mut ws, r#"{"SH_INFO_ALL":{}}"#).await;
    if before.elapsed() < Duration::from_secs(1) {
        assert_eq!(info["SH_INFO_ALL_RSP"]["totalKeys"], 2, "{info}");
    }
    tokio::time::sleep_until((before + Duration::from_millis(1100)).into()).await;
    common::expect_info_all(&mut ws, 1, 0).await;
}

#[tokio::test]
async fn key_deadlines_hold_across_kill9_and_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = start(&data, &["--fsync", "always"]);
    let mut ws = connect_url(&server.url()).await;
    let t = token(&request(&mut ws, r#"{"SH_NEW":{}}"#).await);
    let before = Instant::now();
    expect(
        &mut ws,
        &format!(
            r#"{{"SH_SET":{{"tkn":{t},"keys":{{"otp":1,"csrf":2,"user":3}},"ttl":{{"otp":1,"csrf":3600}}}}}}"#
        ),
        r#"{"SH_SET_RSP":{"st":1}}"#,
    )
    .await;
    expect(
        &mut ws,
        &format!(r#"{{"SH_KEY_TTL":{{"tkn":{t},"keys":{{"user":7200}}}}}}"#),
        r#"{"SH_KEY_TTL_RSP":{"st":1,"cnt":1}}"#,
    )
    .await;
    expect(
        &mut ws,
        &format!(r#"{{"SH_KEY_TTL":{{"tkn":{t},"keys":{{"user":null}}}}}}"#),
        r#"{"SH_KEY_TTL_RSP":{"st":1,"cnt":1}}"#,
    )
    .await;
    drop(ws);
    server.kill9();

    let server = start(&data, &["--fsync", "always"]);
    let mut ws = connect_url(&server.url()).await;
    // Past the short deadline, by the wall clock, whatever the restart took.
    tokio::time::sleep_until((before + Duration::from_millis(1100)).into()).await;
    let reply = request(
        &mut ws,
        &format!(r#"{{"SH_KEY_REMAINING":{{"tkn":{t},"keys":["otp","csrf","user"]}}}}"#),
    )
    .await;
    let keys = &reply["SH_KEY_REMAINING_RSP"]["keys"];
    assert_eq!(keys.as_object().map(|k| k.len()), Some(2), "{reply}");
    assert_eq!(keys["user"], serde_json::Value::Null, "{reply}");
    let csrf = keys["csrf"].as_u64().unwrap_or(0);
    // Armed for 3600 s before the crash: less is left now, by about the time that passed.
    let passed = before.elapsed().as_secs() + 1;
    assert!(csrf < 3600 && csrf + passed >= 3599, "{reply}");
    expect(
        &mut ws,
        &format!(r#"{{"SH_COUNT":{{"tkn":{t}}}}}"#),
        r#"{"SH_COUNT_RSP":{"st":1,"cnt":2}}"#,
    )
    .await;
    drop(ws);
    server.kill9();
}

#[tokio::test]
async fn a_dataset_keeps_key_deadlines_and_sessions_without_them_as_before() {
    let server = TestServer::start().await;
    let root = server.dir.path().join("data");
    let mut ws = server.connect().await;
    let saved_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let vars = script(
        &mut ws,
        &[
            (r#"{"SH_NEW":{}}"#, r#"{"SH_NEW_RSP":{"st":1,"tkn":"$T1"}}"#),
            (
                r#"{"SH_SET":{"tkn":$T1,"keys":{"user":"ann","otp":"123456"},"ttl":{"otp":300}}}"#,
                r#"{"SH_SET_RSP":{"st":1}}"#,
            ),
            (r#"{"SH_NEW":{}}"#, r#"{"SH_NEW_RSP":{"st":1,"tkn":"$T2"}}"#),
            (
                r#"{"SH_SET":{"tkn":$T2,"keys":{"a":1}}}"#,
                r#"{"SH_SET_RSP":{"st":1}}"#,
            ),
            (
                r#"{"SH_SAVE":{"name":"ttl","tkns":[$T1]}}"#,
                r#"{"SH_SAVE_RSP":{"st":121,"name":"ttl","duration":"$any"}}"#,
            ),
            (
                r#"{"SH_SAVE":{"name":"plain","tkns":[$T2]}}"#,
                r#"{"SH_SAVE_RSP":{"st":121,"name":"plain","duration":"$any"}}"#,
            ),
            (r#"{"SH_END_ALL":{}}"#, r#"{"SH_END_ALL_RSP":{"st":1,"cnt":2}}"#),
            (
                r#"{"SH_LOAD":{"name":"ttl"}}"#,
                r#"{"SH_LOAD_RSP":{"st":141,"name":"ttl","sessions":1,"keys":2}}"#,
            ),
            (
                r#"{"SH_KEY_REMAINING":{"tkn":$T1,"keys":["otp","user"]}}"#,
                r#"{"SH_KEY_REMAINING_RSP":{"st":1,"keys":{"otp":{"$in":[297,298,299]},"user":null}}}"#,
            ),
        ],
    )
    .await;
    let (t1, t2) = (vars["$T1"].as_u64(), vars["$T2"].as_u64());
    let data = |name: &str| {
        let dir = saves(&root, name);
        assert_eq!(dir.len(), 1, "{dir:?}");
        std::fs::read_to_string(dir[0].join("data/0")).expect("data file")
    };
    // A session without key deadlines is written exactly as the base protocol says.
    let plain = data("plain");
    assert_eq!(
        plain,
        format!(
            r#"[{{"keys":{{"a":1}},"sh":{{"tkn":{},"shared":false,"expiry":{{"duration":0,"deleteSession":false,"extendOnSetAdd":false,"extendOnGet":false}}}}}}]"#,
            t2.unwrap_or(0)
        )
    );
    let with_ttl: serde_json::Value = serde_json::from_str(&data("ttl")).expect("json");
    assert_eq!(with_ttl[0]["sh"]["tkn"].as_u64(), t1);
    let deadline = with_ttl[0]["keyDeadlines"]["otp"].as_u64().unwrap_or(0);
    assert!(
        deadline >= saved_at + 300_000 && deadline < saved_at + 310_000,
        "{with_ttl}"
    );
    assert_eq!(
        with_ttl[0]["keyDeadlines"].as_object().map(|d| d.len()),
        Some(1)
    );
    server.shutdown().await.expect("shutdown");
}
