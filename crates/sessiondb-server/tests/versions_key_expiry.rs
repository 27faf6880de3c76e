//! Session versions (docs/PROTOCOL.md E10) with per-key expiry (E9) through the real server: the
//! E9 commands check and report versions like every command naming a session, setting or
//! removing a key's deadline is a change, and so is the key's expiry when its deadline comes.

mod common;

use std::time::{Duration, Instant};

use common::{exact, request, token, TestServer, Ws};

/// Sends each request and checks its exact reply, in order.
async fn exact_all(ws: &mut Ws, pairs: &[(String, &str)]) {
    for (req, reply) in pairs {
        exact(ws, req, reply).await;
    }
}

#[tokio::test]
async fn key_deadline_commands_check_and_report_the_version() {
    let (_server, mut ws) = TestServer::start_connected().await;
    let t = token(&request(&mut ws, r#"{"SH_NEW":{}}"#).await);
    let set = |body: &str| format!(r#"{{"SH_SET":{{"tkn":{t},{body}}}}}"#);
    let add = |body: &str| format!(r#"{{"SH_ADD":{{"tkn":{t},{body}}}}}"#);
    let key_ttl = |body: &str| format!(r#"{{"SH_KEY_TTL":{{"tkn":{t},{body}}}}}"#);
    let remaining = |body: &str| format!(r#"{{"SH_KEY_REMAINING":{{"tkn":{t},{body}}}}}"#);
    exact_all(
        &mut ws,
        &[
            // A write with `ttl` is one change, its deadlines included.
            (
                set(r#""keys":{"otp":"1","user":"ann"},"ttl":{"otp":300},"withVer":true"#),
                r#"{"SH_SET_RSP":{"st":1,"ver":2}}"#,
            ),
            (
                add(r#""keys":{"otp":"2","csrf":"c"},"ttl":{"csrf":60},"ifVer":2"#),
                r#"{"SH_ADD_RSP":{"st":1,"ver":3}}"#,
            ),
            // An add that adds nothing changes nothing, deadlines neither.
            (
                add(r#""keys":{"otp":"2"},"ttl":{"otp":5},"ifVer":3"#),
                r#"{"SH_ADD_RSP":{"st":1,"ver":3}}"#,
            ),
            (
                set(r#""keys":{"user":"bob"},"ttl":{"user":5},"ifVer":2"#),
                r#"{"SH_SET_RSP":{"st":190,"ver":3}}"#,
            ),
            // Setting or removing a deadline is a change; a mismatch changes nothing.
            (
                key_ttl(r#""keys":{"otp":null},"ifVer":2"#),
                r#"{"SH_KEY_TTL_RSP":{"st":190,"ver":3}}"#,
            ),
            (
                key_ttl(r#""keys":{"otp":null},"ifVer":3"#),
                r#"{"SH_KEY_TTL_RSP":{"st":1,"cnt":1,"ver":4}}"#,
            ),
            // No key found: nothing changed.
            (
                key_ttl(r#""keys":{"gone":5},"withVer":true"#),
                r#"{"SH_KEY_TTL_RSP":{"st":1,"cnt":0,"ver":4}}"#,
            ),
            (
                remaining(r#""keys":["otp","user"],"withVer":true"#),
                r#"{"SH_KEY_REMAINING_RSP":{"st":1,"keys":{"otp":null,"user":null},"ver":4}}"#,
            ),
            (
                remaining(r#""keys":["otp"],"ifVer":3"#),
                r#"{"SH_KEY_REMAINING_RSP":{"st":190,"ver":4}}"#,
            ),
            // The mismatched SH_SET above left `user` as it was, without a deadline.
            (
                format!(r#"{{"SH_GET":{{"tkn":{t},"keys":["user"],"ifVer":4}}}}"#),
                r#"{"SH_GET_RSP":{"st":1,"keys":{"user":"ann"},"ver":4}}"#,
            ),
            // Without the version members, the replies of E9 as they were.
            (
                key_ttl(r#""keys":{"user":600}"#),
                r#"{"SH_KEY_TTL_RSP":{"st":1,"cnt":1}}"#,
            ),
            (
                remaining(r#""keys":["otp"]"#),
                r#"{"SH_KEY_REMAINING_RSP":{"st":1,"keys":{"otp":null}}}"#,
            ),
            (
                format!(r#"{{"SH_INFO":{{"tkn":{t},"withVer":true}}}}"#),
                &format!(
                    r#"{{"SH_INFO_RSP":{{"st":1,"tkn":{t},"shared":false,"keyCnt":3,"expires":false,"ver":5}}}}"#
                ),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn version_members_are_validated_before_the_values_of_ttl() {
    let (_server, mut ws) = TestServer::start_connected().await;
    let t = token(&request(&mut ws, r#"{"SH_NEW":{}}"#).await);
    exact_all(
        &mut ws,
        &[
            // `withVer` is part of the generic pass, which ends before `ttl`'s values are read.
            (
                format!(
                    r#"{{"SH_SET":{{"tkn":{t},"keys":{{"a":1}},"ttl":{{"a":0}},"withVer":1}}}}"#
                ),
                r#"{"SH_SET_RSP":{"st":41}}"#,
            ),
            (
                format!(
                    r#"{{"SH_SET":{{"tkn":{t},"keys":{{"a":1}},"ttl":{{"a":0}},"withVer":true}}}}"#
                ),
                r#"{"SH_SET_RSP":{"st":42}}"#,
            ),
            (
                format!(r#"{{"SH_ADD":{{"tkn":{t},"keys":{{"a":1}},"ttl":{{"b":5}},"ifVer":1}}}}"#),
                r#"{"SH_ADD_RSP":{"st":41}}"#,
            ),
            (
                format!(r#"{{"SH_KEY_TTL":{{"tkn":{t},"keys":{{"a":0}},"withVer":"x"}}}}"#),
                r#"{"SH_KEY_TTL_RSP":{"st":41}}"#,
            ),
            (
                format!(r#"{{"SH_KEY_TTL":{{"tkn":{t},"keys":{{"a":0}},"withVer":false}}}}"#),
                r#"{"SH_KEY_TTL_RSP":{"st":42}}"#,
            ),
            (
                format!(r#"{{"SH_KEY_REMAINING":{{"tkn":{t},"keys":["a"],"ifVer":-1}}}}"#),
                r#"{"SH_KEY_REMAINING_RSP":{"st":41}}"#,
            ),
            // An unknown session is 100 whatever the version members.
            (
                r#"{"SH_KEY_TTL":{"tkn":12345,"keys":{"a":5},"ifVer":1}}"#.to_owned(),
                r#"{"SH_KEY_TTL_RSP":{"st":100}}"#,
            ),
            // Nothing was written by any of them.
            (
                format!(r#"{{"SH_COUNT":{{"tkn":{t},"withVer":true}}}}"#),
                r#"{"SH_COUNT_RSP":{"st":1,"cnt":0,"ver":1}}"#,
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_keys_expiry_bumps_the_version_once() {
    let (_server, mut ws) = TestServer::start_connected().await;
    let ws = &mut ws;
    let a = token(&request(ws, r#"{"SH_NEW":{}}"#).await);
    let b = token(&request(ws, r#"{"SH_NEW":{}}"#).await);
    exact_all(
        ws,
        &[
            (
                format!(
                    r#"{{"SH_SET":{{"tkn":{a},"keys":{{"otp":1,"user":2}},"ttl":{{"otp":1}},"withVer":true}}}}"#
                ),
                r#"{"SH_SET_RSP":{"st":1,"ver":2}}"#,
            ),
            (
                format!(r#"{{"SH_SET":{{"tkn":{b},"keys":{{"otp":1,"csrf":2,"user":3}}}}}}"#),
                r#"{"SH_SET_RSP":{"st":1}}"#,
            ),
            (
                format!(r#"{{"SH_KEY_TTL":{{"tkn":{b},"keys":{{"otp":1,"csrf":1}},"ifVer":2}}}}"#),
                r#"{"SH_KEY_TTL_RSP":{"st":1,"cnt":2,"ver":3}}"#,
            ),
        ],
    )
    .await;
    // Both deadlines were armed before the last reply, for 1 s: wait past them.
    let armed = Instant::now();
    tokio::time::sleep_until((armed + Duration::from_millis(1100)).into()).await;
    exact_all(
        ws,
        &[
            (
                format!(r#"{{"SH_GET":{{"tkn":{a},"keys":["otp","user"],"withVer":true}}}}"#),
                r#"{"SH_GET_RSP":{"st":1,"keys":{"user":2},"ver":3}}"#,
            ),
            // Two keys due at once are one change, counted once.
            (
                format!(
                    r#"{{"SH_GET":{{"tkn":{b},"keys":["otp","csrf","user"],"withVer":true}}}}"#
                ),
                r#"{"SH_GET_RSP":{"st":1,"keys":{"user":3},"ver":4}}"#,
            ),
            (
                format!(r#"{{"SH_GET":{{"tkn":{a},"keys":["otp"],"ifVer":3}}}}"#),
                r#"{"SH_GET_RSP":{"st":1,"keys":{},"ver":3}}"#,
            ),
            (
                format!(r#"{{"SH_COUNT":{{"tkn":{b},"ifVer":4}}}}"#),
                r#"{"SH_COUNT_RSP":{"st":1,"cnt":1,"ver":4}}"#,
            ),
        ],
    )
    .await;
}
