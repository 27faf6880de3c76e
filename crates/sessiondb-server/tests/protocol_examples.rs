//! docs/PROTOCOL.md's worked examples, run end to end through the socket: the §10 sequence, the
//! §11 sequence, and each command's error replies.

mod common;

use common::{script, TestServer};

/// §10: the KV_ examples in order, from an empty store (persistence enabled).
#[tokio::test]
async fn section_10_kv_examples_in_order() {
    let (_server, mut ws) = TestServer::start_connected().await;
    script(
        &mut ws,
        &[
            (
                r#"{"KV_SET":{"keys":{"user:1":{"name":"Ann","age":31},"visits":7}}}"#,
                r#"{"KV_SET_RSP":{"st":1}}"#,
            ),
            (
                r#"{"KV_ADD":{"keys":{"visits":100,"theme":"dark"}}}"#,
                r#"{"KV_ADD_RSP":{"st":1}}"#,
            ),
            (
                r#"{"KV_GET":{"keys":["user:1","visits","nope",5,"visits"]}}"#,
                r#"{"KV_GET_RSP":{"st":1,"keys":{"user:1":{"name":"Ann","age":31},"visits":7}}}"#,
            ),
            (
                r#"{"KV_GET":{"keys":["theme"]}}"#,
                r#"{"KV_GET_RSP":{"st":1,"keys":{"theme":"dark"}}}"#,
            ),
            (
                r#"{"KV_RMV":{"keys":["theme","nope"]}}"#,
                r#"{"KV_RMV_RSP":{"st":1}}"#,
            ),
            (r#"{"KV_RMV":{"keys":[]}}"#, r#"{"KV_RMV_RSP":{"st":42}}"#),
            (
                r#"{"KV_CONTAINS":{"keys":["visits","nope","user:1","visits"]}}"#,
                r#"{"KV_CONTAINS_RSP":{"st":1,"contains":["visits","user:1","visits"]}}"#,
            ),
            (r#"{"KV_COUNT":{}}"#, r#"{"KV_COUNT_RSP":{"st":1,"cnt":2}}"#),
            (
                r#"{"KV_KEYS":{}}"#,
                r#"{"KV_KEYS_RSP":{"st":1,"keys":{"$set":["user:1","visits"]}}}"#,
            ),
            (
                r#"{"KV_CLEAR_SET":{"keys":{"a":1,"b":[true,null]}}}"#,
                r#"{"KV_CLEAR_SET_RSP":{"st":1,"cnt":2}}"#,
            ),
            (r#"{"KV_CLEAR":{}}"#, r#"{"KV_CLEAR_RSP":{"st":1,"cnt":2}}"#),
            (r#"{"KV_CLEAR":{}}"#, r#"{"KV_CLEAR_RSP":{"st":1,"cnt":0}}"#),
            (
                r#"{"KV_SET":{"keys":{"sku:1":{"price":9.5},"sku:2":{"price":12}}}}"#,
                r#"{"KV_SET_RSP":{"st":1}}"#,
            ),
            (
                r#"{"KV_SAVE":{"name":"shop-1"}}"#,
                r#"{"KV_SAVE_RSP":{"st":121,"name":"shop-1","duration":"$any"}}"#,
            ),
            (
                r#"{"KV_SAVE":{"name":"../etc"}}"#,
                r#"{"KV_SAVE_RSP":{"st":41}}"#,
            ),
            (r#"{"KV_CLEAR":{}}"#, r#"{"KV_CLEAR_RSP":{"st":1,"cnt":2}}"#),
            (
                r#"{"KV_LOAD":{"name":"shop-1"}}"#,
                r#"{"KV_LOAD_RSP":{"st":141,"name":"shop-1","duration":"$any","sessions":0,"keys":2}}"#,
            ),
            (
                r#"{"KV_GET":{"keys":["sku:1","sku:2"]}}"#,
                r#"{"KV_GET_RSP":{"st":1,"keys":{"sku:1":{"price":9.5},"sku:2":{"price":12}}}}"#,
            ),
            (
                r#"{"KV_LOAD":{"name":"no-such-set"}}"#,
                r#"{"KV_LOAD_RSP":{"st":142,"name":"no-such-set"}}"#,
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn kv_error_replies() {
    let (_server, mut ws) = TestServer::start_connected().await;
    script(
        &mut ws,
        &[
            (r#"{"KV_SET":{}}"#, r#"{"KV_SET_RSP":{"st":26}}"#),
            (r#"{"KV_SET":{"keys":null}}"#, r#"{"KV_SET_RSP":{"st":41}}"#),
            (r#"{"KV_ADD":{"keys":[]}}"#, r#"{"KV_ADD_RSP":{"st":41}}"#),
            (r#"{"KV_GET":{"keys":{}}}"#, r#"{"KV_GET_RSP":{"st":41}}"#),
            (r#"{"KV_GET":{}}"#, r#"{"KV_GET_RSP":{"st":26}}"#),
            (r#"{"KV_RMV":{}}"#, r#"{"KV_RMV_RSP":{"st":26}}"#),
            (
                r#"{"KV_CONTAINS":{"keys":"a"}}"#,
                r#"{"KV_CONTAINS_RSP":{"st":41}}"#,
            ),
            (
                r#"{"KV_CLEAR_SET":{}}"#,
                r#"{"KV_CLEAR_SET_RSP":{"st":26}}"#,
            ),
            (r#"{"KV_SAVE":{}}"#, r#"{"KV_SAVE_RSP":{"st":26}}"#),
            (r#"{"KV_SAVE":{"name":5}}"#, r#"{"KV_SAVE_RSP":{"st":41}}"#),
            (
                r#"{"KV_LOAD":{"name":".hidden"}}"#,
                r#"{"KV_LOAD_RSP":{"st":41}}"#,
            ),
            (
                r#"{"KV_COUNT":{"tkn":5,"anything":[1]}}"#,
                r#"{"KV_COUNT_RSP":{"st":1,"cnt":0}}"#,
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn saves_answer_14_when_persistence_is_off() {
    let server = TestServer::start_with(|c| c.persist = false).await;
    let mut ws = server.connect().await;
    script(&mut ws, &common::SAVES_WITHOUT_PERSISTENCE).await;
    // SV_INFO may carry more members (§12); check the ones every server sends.
    let info = common::request(&mut ws, r#"{"SV_INFO":{}}"#).await;
    let body = &info["SV_INFO_RSP"];
    assert_eq!(body["st"], 1, "{info}");
    assert_eq!(body["persistEnabled"], false, "{info}");
    assert_eq!(body["serverVersion"], sessiondb_server::VERSION, "{info}");
}

/// §11: the SH_ examples in order, from a server with no sessions. Tokens are random, so the
/// script binds `$T1`, `$T2`, … from the replies; the shared token is fixed by §8.3.
#[tokio::test]
async fn section_11_session_examples_in_order() {
    let (_server, mut ws) = TestServer::start_connected().await;
    let vars = script(
        &mut ws,
        &[
            // 11.1
            (r#"{"SH_NEW":{}}"#, r#"{"SH_NEW_RSP":{"st":1,"tkn":"$T1"}}"#),
            (
                r#"{"SH_NEW":{"name":"basket-77","expiry":{"duration":600,"deleteSession":true,"extendOnSetAdd":true}}}"#,
                r#"{"SH_NEW_RSP":{"st":1,"tkn":"$T2","name":"basket-77"}}"#,
            ),
            (
                r#"{"SH_NEW":{"name":"settings","shared":true}}"#,
                r#"{"SH_NEW_RSP":{"st":1,"tkn":15900886249489855254,"name":"settings"}}"#,
            ),
            (
                r#"{"SH_NEW":{"name":"settings","shared":true}}"#,
                r#"{"SH_NEW_RSP":{"st":103,"name":"settings"}}"#,
            ),
            (
                r#"{"SH_NEW":{"expiry":{"deleteSession":1}}}"#,
                r#"{"SH_NEW_RSP":{"st":41}}"#,
            ),
            (r#"{"SH_NEW":{"expiry":{}}}"#, r#"{"SH_NEW_RSP":{"st":26}}"#),
            (r#"{"SH_NEW":{"shared":true}}"#, r#"{"SH_NEW_RSP":{"st":26}}"#),
            (
                r#"{"SH_NEW":{"shared":true,"name":""}}"#,
                r#"{"SH_NEW_RSP":{"st":42}}"#,
            ),
            // 11.2
            (
                r#"{"SH_OPEN":{"name":"settings"}}"#,
                r#"{"SH_OPEN_RSP":{"st":1,"tkn":15900886249489855254,"name":"settings"}}"#,
            ),
            (
                r#"{"SH_OPEN":{"name":"nobody"}}"#,
                r#"{"SH_OPEN_RSP":{"st":102,"tkn":null,"name":"nobody"}}"#,
            ),
            (r#"{"SH_OPEN":{"name":""}}"#, r#"{"SH_OPEN_RSP":{"st":42}}"#),
            // 11.3
            (
                r#"{"SH_SET":{"tkn":$T1,"keys":{"a":10,"b":"x"}}}"#,
                r#"{"SH_SET_RSP":{"st":1}}"#,
            ),
            (
                r#"{"SH_ADD":{"tkn":$T1,"keys":{"a":99,"c":[1,2]}}}"#,
                r#"{"SH_ADD_RSP":{"st":1}}"#,
            ),
            (
                r#"{"SH_GET":{"tkn":$T1,"keys":["a","c","zz"]}}"#,
                r#"{"SH_GET_RSP":{"st":1,"keys":{"a":10,"c":[1,2]}}}"#,
            ),
            (
                r#"{"KV_GET":{"keys":["a"]}}"#,
                r#"{"KV_GET_RSP":{"st":1,"keys":{}}}"#,
            ),
            (
                r#"{"SH_CONTAINS":{"tkn":$T1,"keys":["a","q","c"]}}"#,
                r#"{"SH_CONTAINS_RSP":{"st":1,"contains":["a","c"]}}"#,
            ),
            (
                r#"{"SH_COUNT":{"tkn":$T1}}"#,
                r#"{"SH_COUNT_RSP":{"st":1,"cnt":3}}"#,
            ),
            (
                r#"{"SH_KEYS":{"tkn":$T1}}"#,
                r#"{"SH_KEYS_RSP":{"st":1,"keys":{"$set":["a","b","c"]}}}"#,
            ),
            (
                r#"{"SH_RMV":{"tkn":$T1,"keys":["c"]}}"#,
                r#"{"SH_RMV_RSP":{"st":1}}"#,
            ),
            (
                r#"{"SH_RMV":{"tkn":$T1,"keys":[]}}"#,
                r#"{"SH_RMV_RSP":{"st":42}}"#,
            ),
            (
                r#"{"SH_CLEAR_SET":{"tkn":$T1,"keys":{"z":1}}}"#,
                r#"{"SH_CLEAR_SET_RSP":{"st":1,"cnt":2}}"#,
            ),
            (
                r#"{"SH_CLEAR":{"tkn":$T1}}"#,
                r#"{"SH_CLEAR_RSP":{"st":1,"cnt":1}}"#,
            ),
            (
                r#"{"SH_SET":{"tkn":1234,"keys":{"a":1}}}"#,
                r#"{"SH_SET_RSP":{"st":100}}"#,
            ),
            (
                r#"{"SH_SET":{"keys":{"a":1}}}"#,
                r#"{"SH_SET_RSP":{"st":100}}"#,
            ),
            (
                r#"{"SH_SET":{"tkn":"$T1","keys":{"a":1}}}"#,
                r#"{"SH_SET_RSP":{"st":100}}"#,
            ),
            (r#"{"SH_SET":{"tkn":1234}}"#, r#"{"SH_SET_RSP":{"st":26}}"#),
            (r#"{"SH_COUNT":{}}"#, r#"{"SH_COUNT_RSP":{"st":100}}"#),
            // Extension of T2 (600 s, extendOnSetAdd).
            (
                r#"{"SH_SET":{"tkn":$T2,"keys":{"item":1}}}"#,
                r#"{"SH_SET_RSP":{"st":1}}"#,
            ),
            (
                r#"{"SH_INFO":{"tkn":$T2}}"#,
                r#"{"SH_INFO_RSP":{"st":1,"tkn":"$T2","shared":false,"keyCnt":1,"expires":true,
                    "name":"basket-77","expiry":{"duration":600,"remaining":{"$in":[599,600]},
                    "deleteSession":true,"extendOnSetAdd":true,"extendOnGet":false}}}"#,
            ),
            // 11.4
            (
                r#"{"SH_END":{"tkn":$T2}}"#,
                r#"{"SH_END_RSP":{"st":1,"tkn":"$T2"}}"#,
            ),
            (
                r#"{"SH_END":{"tkn":$T2}}"#,
                r#"{"SH_END_RSP":{"st":100,"tkn":"$T2"}}"#,
            ),
            (r#"{"SH_END":{}}"#, r#"{"SH_END_RSP":{"st":100}}"#),
            // 11.5
            (
                r#"{"SH_EXISTS":{"tkns":[$T1,$T2,15900886249489855254,"x"]}}"#,
                r#"{"SH_EXISTS_RSP":{"st":1,"exist":["$T1",15900886249489855254]}}"#,
            ),
            (
                r#"{"SH_EXISTS":{"tkns":[0,-1,1.5,"7"]}}"#,
                r#"{"SH_EXISTS_RSP":{"st":1,"exist":[]}}"#,
            ),
            // 11.6
            (
                r#"{"SH_INFO":{"tkn":$T1}}"#,
                r#"{"SH_INFO_RSP":{"st":1,"tkn":"$T1","shared":false,"keyCnt":0,"expires":false}}"#,
            ),
            (
                r#"{"SH_INFO":{"tkn":15900886249489855254}}"#,
                r#"{"SH_INFO_RSP":{"st":1,"tkn":15900886249489855254,"shared":true,"keyCnt":0,
                    "expires":false,"name":"settings"}}"#,
            ),
            (
                r#"{"SH_NEW":{"expiry":{"duration":10,"extendOnGet":true}}}"#,
                r#"{"SH_NEW_RSP":{"st":1,"tkn":"$T3"}}"#,
            ),
            (
                r#"{"SH_INFO":{"tkn":$T3}}"#,
                r#"{"SH_INFO_RSP":{"st":1,"tkn":"$T3","shared":false,"keyCnt":0,"expires":true,
                    "expiry":{"duration":10,"remaining":{"$in":[9,10]},"deleteSession":false,
                    "extendOnSetAdd":false,"extendOnGet":true}}}"#,
            ),
            (
                r#"{"SH_INFO":{"tkn":1234}}"#,
                r#"{"SH_INFO_RSP":{"st":100,"tkn":1234,"shared":null,"keyCnt":null}}"#,
            ),
            (r#"{"SH_INFO":{"tkn":"abc"}}"#, r#"{"SH_INFO_RSP":{"st":100}}"#),
            (r#"{"SH_INFO":{}}"#, r#"{"SH_INFO_RSP":{"st":13}}"#),
            (
                r#"{"SH_INFO":{"tkn":$T1,"x":1}}"#,
                r#"{"SH_INFO_RSP":{"st":13}}"#,
            ),
            // 11.7
            (
                r#"{"SH_SET":{"tkn":15900886249489855254,"keys":{"theme":"dark"}}}"#,
                r#"{"SH_SET_RSP":{"st":1}}"#,
            ),
            (
                r#"{"SH_INFO_ALL":{}}"#,
                r#"{"SH_INFO_ALL_RSP":{"st":1,"totalSessions":3,"totalKeys":1}}"#,
            ),
            // 11.8
            (r#"{"SH_END_ALL":{}}"#, r#"{"SH_END_ALL_RSP":{"st":1,"cnt":3}}"#),
            (
                r#"{"SH_INFO_ALL":{}}"#,
                r#"{"SH_INFO_ALL_RSP":{"st":1,"totalSessions":0,"totalKeys":0}}"#,
            ),
            // 11.9
            (r#"{"SH_NEW":{}}"#, r#"{"SH_NEW_RSP":{"st":1,"tkn":"$T4"}}"#),
            (
                r#"{"SH_SET":{"tkn":$T4,"keys":{"a":10,"b":"x"}}}"#,
                r#"{"SH_SET_RSP":{"st":1}}"#,
            ),
            (
                r#"{"SH_SAVE":{"name":"sessions-1"}}"#,
                r#"{"SH_SAVE_RSP":{"st":121,"name":"sessions-1","duration":"$any"}}"#,
            ),
            (
                r#"{"SH_SAVE":{"name":"sel","tkns":[]}}"#,
                r#"{"SH_SAVE_RSP":{"st":42}}"#,
            ),
            (
                r#"{"SH_SAVE":{"name":"sel","tkns":[123,"a"]}}"#,
                r#"{"SH_SAVE_RSP":{"st":41}}"#,
            ),
            // 11.10
            (r#"{"SH_END_ALL":{}}"#, r#"{"SH_END_ALL_RSP":{"st":1,"cnt":1}}"#),
            (
                r#"{"SH_LOAD":{"name":"sessions-1"}}"#,
                r#"{"SH_LOAD_RSP":{"st":141,"name":"sessions-1","sessions":1,"keys":2}}"#,
            ),
            (
                r#"{"SH_GET":{"tkn":$T4,"keys":["a","b"]}}"#,
                r#"{"SH_GET_RSP":{"st":1,"keys":{"a":10,"b":"x"}}}"#,
            ),
            (
                r#"{"SH_LOAD":{"name":"sessions-1"}}"#,
                r#"{"SH_LOAD_RSP":{"st":141,"name":"sessions-1","sessions":0,"keys":0}}"#,
            ),
            (
                r#"{"SH_LOAD":{"name":"nope"}}"#,
                r#"{"SH_LOAD_RSP":{"st":142,"name":"nope"}}"#,
            ),
            (r#"{"SH_LOAD":{"name":2}}"#, r#"{"SH_LOAD_RSP":{"st":41}}"#),
        ],
    )
    .await;
    assert_ne!(vars["$T1"], vars["$T2"]);
}

/// §8.3 test vectors through SH_NEW and SH_OPEN.
#[tokio::test]
async fn shared_session_tokens_follow_the_test_vectors() {
    let (_server, mut ws) = TestServer::start_connected().await;
    for (name, tkn) in [
        ("settings", 15900886249489855254u64),
        ("config", 16293854323119613365),
        ("café", 3519951774017562329),
        ("team/42", 2556186590011935489),
    ] {
        let new = format!(r#"{{"SH_NEW":{{"name":"{name}","shared":true}}}}"#);
        let want = format!(r#"{{"SH_NEW_RSP":{{"st":1,"tkn":{tkn},"name":"{name}"}}}}"#);
        let open = format!(r#"{{"SH_OPEN":{{"name":"{name}"}}}}"#);
        let opened = format!(r#"{{"SH_OPEN_RSP":{{"st":1,"tkn":{tkn},"name":"{name}"}}}}"#);
        script(&mut ws, &[(&new, &want), (&open, &opened)]).await;
    }
    // A non-shared session with a shared name's label is not found by SH_OPEN.
    script(
        &mut ws,
        &[
            (
                r#"{"SH_NEW":{"name":"label-only"}}"#,
                r#"{"SH_NEW_RSP":{"st":1,"tkn":"$T","name":"label-only"}}"#,
            ),
            (
                r#"{"SH_OPEN":{"name":"label-only"}}"#,
                r#"{"SH_OPEN_RSP":{"st":102,"tkn":null,"name":"label-only"}}"#,
            ),
        ],
    )
    .await;
}
