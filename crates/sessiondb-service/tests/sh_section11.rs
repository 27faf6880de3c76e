//! docs/PROTOCOL.md §11: the SH_ examples, in the order the document runs them (random tokens are
//! captured from replies), plus validation order and the special failure forms.

mod common;

use common::{as_set, reply_st, Harness};
use serde_json::json;

const TS: u64 = 15900886249489855254; // shared "settings" (§8.3 test vector)

#[test]
fn section_11_examples_in_order() {
    let mut h = Harness::new();

    // 11.1 SH_NEW
    let t1 = h.new_session(r#"{"SH_NEW":{}}"#);
    let reply = h.json(
        r#"{"SH_NEW":{"name":"basket-77","expiry":{"duration":600,"deleteSession":true,"extendOnSetAdd":true}}}"#,
    );
    assert_eq!(reply_st(&reply, "SH_NEW_RSP"), 1);
    assert_eq!(reply["SH_NEW_RSP"]["name"], json!("basket-77"));
    assert_eq!(reply["SH_NEW_RSP"].as_object().map(|o| o.len()), Some(3));
    let t2 = reply["SH_NEW_RSP"]["tkn"].as_u64().unwrap_or(0);
    assert!(t2 != 0 && t2 != t1);
    h.expect(
        r#"{"SH_NEW":{"name":"settings","shared":true}}"#,
        &format!(r#"{{"SH_NEW_RSP":{{"st":1,"tkn":{TS},"name":"settings"}}}}"#),
    );
    h.expect(
        r#"{"SH_NEW":{"name":"settings","shared":true}}"#,
        r#"{"SH_NEW_RSP":{"st":103,"name":"settings"}}"#,
    );
    h.expect(
        r#"{"SH_NEW":{"expiry":{"deleteSession":1}}}"#,
        r#"{"SH_NEW_RSP":{"st":41}}"#,
    );
    h.expect(r#"{"SH_NEW":{"expiry":{}}}"#, r#"{"SH_NEW_RSP":{"st":26}}"#);
    h.expect(
        r#"{"SH_NEW":{"shared":true}}"#,
        r#"{"SH_NEW_RSP":{"st":26}}"#,
    );
    h.expect(
        r#"{"SH_NEW":{"shared":true,"name":""}}"#,
        r#"{"SH_NEW_RSP":{"st":42}}"#,
    );

    // 11.2 SH_OPEN
    h.expect(
        r#"{"SH_OPEN":{"name":"settings"}}"#,
        &format!(r#"{{"SH_OPEN_RSP":{{"st":1,"tkn":{TS},"name":"settings"}}}}"#),
    );
    h.expect(
        r#"{"SH_OPEN":{"name":"nobody"}}"#,
        r#"{"SH_OPEN_RSP":{"st":102,"tkn":null,"name":"nobody"}}"#,
    );
    h.expect(r#"{"SH_OPEN":{"name":""}}"#, r#"{"SH_OPEN_RSP":{"st":42}}"#);

    // 11.3 session key commands
    let ex = |h: &mut Harness, req: String, rsp: &str| h.expect(&req, rsp);
    ex(
        &mut h,
        format!(r#"{{"SH_SET":{{"tkn":{t1},"keys":{{"a":10,"b":"x"}}}}}}"#),
        r#"{"SH_SET_RSP":{"st":1}}"#,
    );
    ex(
        &mut h,
        format!(r#"{{"SH_ADD":{{"tkn":{t1},"keys":{{"a":99,"c":[1,2]}}}}}}"#),
        r#"{"SH_ADD_RSP":{"st":1}}"#,
    );
    ex(
        &mut h,
        format!(r#"{{"SH_GET":{{"tkn":{t1},"keys":["a","c","zz"]}}}}"#),
        r#"{"SH_GET_RSP":{"st":1,"keys":{"a":10,"c":[1,2]}}}"#,
    );
    h.expect(
        r#"{"KV_GET":{"keys":["a"]}}"#,
        r#"{"KV_GET_RSP":{"st":1,"keys":{}}}"#,
    );
    ex(
        &mut h,
        format!(r#"{{"SH_CONTAINS":{{"tkn":{t1},"keys":["a","q","c"]}}}}"#),
        r#"{"SH_CONTAINS_RSP":{"st":1,"contains":["a","c"]}}"#,
    );
    ex(
        &mut h,
        format!(r#"{{"SH_COUNT":{{"tkn":{t1}}}}}"#),
        r#"{"SH_COUNT_RSP":{"st":1,"cnt":3}}"#,
    );
    let keys = h.json(&format!(r#"{{"SH_KEYS":{{"tkn":{t1}}}}}"#));
    assert_eq!(reply_st(&keys, "SH_KEYS_RSP"), 1);
    assert_eq!(
        as_set(&keys["SH_KEYS_RSP"]["keys"]),
        as_set(&json!(["a", "b", "c"]))
    );
    ex(
        &mut h,
        format!(r#"{{"SH_RMV":{{"tkn":{t1},"keys":["c"]}}}}"#),
        r#"{"SH_RMV_RSP":{"st":1}}"#,
    );
    ex(
        &mut h,
        format!(r#"{{"SH_RMV":{{"tkn":{t1},"keys":[]}}}}"#),
        r#"{"SH_RMV_RSP":{"st":42}}"#,
    );
    ex(
        &mut h,
        format!(r#"{{"SH_CLEAR_SET":{{"tkn":{t1},"keys":{{"z":1}}}}}}"#),
        r#"{"SH_CLEAR_SET_RSP":{"st":1,"cnt":2}}"#,
    );
    ex(
        &mut h,
        format!(r#"{{"SH_CLEAR":{{"tkn":{t1}}}}}"#),
        r#"{"SH_CLEAR_RSP":{"st":1,"cnt":1}}"#,
    );
    h.expect(
        r#"{"SH_SET":{"tkn":1234,"keys":{"a":1}}}"#,
        r#"{"SH_SET_RSP":{"st":100}}"#,
    );
    h.expect(
        r#"{"SH_SET":{"keys":{"a":1}}}"#,
        r#"{"SH_SET_RSP":{"st":100}}"#,
    );
    ex(
        &mut h,
        format!(r#"{{"SH_SET":{{"tkn":"{t1}","keys":{{"a":1}}}}}}"#),
        r#"{"SH_SET_RSP":{"st":100}}"#,
    );
    h.expect(r#"{"SH_SET":{"tkn":1234}}"#, r#"{"SH_SET_RSP":{"st":26}}"#);
    h.expect(r#"{"SH_COUNT":{}}"#, r#"{"SH_COUNT_RSP":{"st":100}}"#);

    // Extension: T2 has extendOnSetAdd with duration 600.
    ex(
        &mut h,
        format!(r#"{{"SH_SET":{{"tkn":{t2},"keys":{{"k":1}}}}}}"#),
        r#"{"SH_SET_RSP":{"st":1}}"#,
    );
    let info = h.json(&format!(r#"{{"SH_INFO":{{"tkn":{t2}}}}}"#));
    let remaining = info["SH_INFO_RSP"]["expiry"]["remaining"].as_u64();
    assert!(matches!(remaining, Some(599 | 600)), "{info}");

    // 11.4 SH_END
    ex(
        &mut h,
        format!(r#"{{"SH_END":{{"tkn":{t2}}}}}"#),
        &format!(r#"{{"SH_END_RSP":{{"st":1,"tkn":{t2}}}}}"#),
    );
    ex(
        &mut h,
        format!(r#"{{"SH_END":{{"tkn":{t2}}}}}"#),
        &format!(r#"{{"SH_END_RSP":{{"st":100,"tkn":{t2}}}}}"#),
    );
    h.expect(r#"{"SH_END":{}}"#, r#"{"SH_END_RSP":{"st":100}}"#);

    // 11.5 SH_EXISTS
    ex(
        &mut h,
        format!(r#"{{"SH_EXISTS":{{"tkns":[{t1},{t2},{TS},"x"]}}}}"#),
        &format!(r#"{{"SH_EXISTS_RSP":{{"st":1,"exist":[{t1},{TS}]}}}}"#),
    );

    // 11.6 SH_INFO
    ex(
        &mut h,
        format!(r#"{{"SH_INFO":{{"tkn":{t1}}}}}"#),
        &format!(
            r#"{{"SH_INFO_RSP":{{"st":1,"tkn":{t1},"shared":false,"keyCnt":0,"expires":false}}}}"#
        ),
    );
    ex(
        &mut h,
        format!(r#"{{"SH_INFO":{{"tkn":{TS}}}}}"#),
        &format!(
            r#"{{"SH_INFO_RSP":{{"st":1,"tkn":{TS},"shared":true,"keyCnt":0,"expires":false,"name":"settings"}}}}"#
        ),
    );
    let t3 = h.new_session(r#"{"SH_NEW":{"expiry":{"duration":10,"extendOnGet":true}}}"#);
    let info = h.json(&format!(r#"{{"SH_INFO":{{"tkn":{t3}}}}}"#));
    let remaining = info["SH_INFO_RSP"]["expiry"]["remaining"]
        .as_u64()
        .unwrap_or(99);
    assert!(remaining == 9 || remaining == 10, "{info}");
    assert_eq!(
        info,
        json!({"SH_INFO_RSP":{"st":1,"tkn":t3,"shared":false,"keyCnt":0,"expires":true,
            "expiry":{"duration":10,"remaining":remaining,"deleteSession":false,
                      "extendOnSetAdd":false,"extendOnGet":true}}})
    );
    h.expect(
        r#"{"SH_INFO":{"tkn":1234}}"#,
        r#"{"SH_INFO_RSP":{"st":100,"tkn":1234,"shared":null,"keyCnt":null}}"#,
    );
    h.expect(
        r#"{"SH_INFO":{"tkn":"abc"}}"#,
        r#"{"SH_INFO_RSP":{"st":100}}"#,
    );
    h.expect(r#"{"SH_INFO":{}}"#, r#"{"SH_INFO_RSP":{"st":13}}"#);
    ex(
        &mut h,
        format!(r#"{{"SH_INFO":{{"tkn":{t1},"x":1}}}}"#),
        r#"{"SH_INFO_RSP":{"st":13}}"#,
    );

    // 11.7 SH_INFO_ALL
    ex(
        &mut h,
        format!(r#"{{"SH_SET":{{"tkn":{TS},"keys":{{"theme":"dark"}}}}}}"#),
        r#"{"SH_SET_RSP":{"st":1}}"#,
    );
    h.expect(
        r#"{"SH_INFO_ALL":{}}"#,
        r#"{"SH_INFO_ALL_RSP":{"st":1,"totalSessions":3,"totalKeys":1}}"#,
    );

    // 11.8 SH_END_ALL
    h.expect(
        r#"{"SH_END_ALL":{}}"#,
        r#"{"SH_END_ALL_RSP":{"st":1,"cnt":3}}"#,
    );
    h.expect(
        r#"{"SH_INFO_ALL":{}}"#,
        r#"{"SH_INFO_ALL_RSP":{"st":1,"totalSessions":0,"totalKeys":0}}"#,
    );

    // 11.9 SH_SAVE
    let t4 = h.new_session(r#"{"SH_NEW":{}}"#);
    ex(
        &mut h,
        format!(r#"{{"SH_SET":{{"tkn":{t4},"keys":{{"a":10,"b":"x"}}}}}}"#),
        r#"{"SH_SET_RSP":{"st":1}}"#,
    );
    let saved = h.json(r#"{"SH_SAVE":{"name":"sessions-1"}}"#);
    assert_eq!(reply_st(&saved, "SH_SAVE_RSP"), 121, "{saved}");
    assert!(
        saved["SH_SAVE_RSP"]["duration"].as_u64().is_some(),
        "{saved}"
    );
    assert_eq!(saved["SH_SAVE_RSP"]["name"], json!("sessions-1"));
    assert_eq!(saved["SH_SAVE_RSP"].as_object().map(|o| o.len()), Some(3));
    h.expect(
        r#"{"SH_SAVE":{"name":"sel","tkns":[]}}"#,
        r#"{"SH_SAVE_RSP":{"st":42}}"#,
    );
    h.expect(
        r#"{"SH_SAVE":{"name":"sel","tkns":[123,"a"]}}"#,
        r#"{"SH_SAVE_RSP":{"st":41}}"#,
    );

    // 11.10 SH_LOAD
    h.expect(
        r#"{"SH_END_ALL":{}}"#,
        r#"{"SH_END_ALL_RSP":{"st":1,"cnt":1}}"#,
    );
    h.expect(
        r#"{"SH_LOAD":{"name":"sessions-1"}}"#,
        r#"{"SH_LOAD_RSP":{"st":141,"name":"sessions-1","sessions":1,"keys":2}}"#,
    );
    ex(
        &mut h,
        format!(r#"{{"SH_GET":{{"tkn":{t4},"keys":["a","b"]}}}}"#),
        r#"{"SH_GET_RSP":{"st":1,"keys":{"a":10,"b":"x"}}}"#,
    );
    h.expect(
        r#"{"SH_LOAD":{"name":"sessions-1"}}"#,
        r#"{"SH_LOAD_RSP":{"st":141,"name":"sessions-1","sessions":0,"keys":0}}"#,
    );
    h.expect(
        r#"{"SH_LOAD":{"name":"nope"}}"#,
        r#"{"SH_LOAD_RSP":{"st":142,"name":"nope"}}"#,
    );
    h.expect(r#"{"SH_LOAD":{"name":2}}"#, r#"{"SH_LOAD_RSP":{"st":41}}"#);
}

#[test]
fn sh_new_validation_order() {
    let mut h = Harness::new();
    let e = |h: &mut Harness, body: &str, st: u64| {
        h.expect_st(&format!(r#"{{"SH_NEW":{body}}}"#), "SH_NEW_RSP", st)
    };
    // Generic pass: expiry, name, shared (ascending byte order), first failure wins.
    e(&mut h, r#"{"expiry":1,"name":2,"shared":3}"#, 41);
    e(&mut h, r#"{"expiry":null}"#, 41);
    e(&mut h, r#"{"name":2,"shared":true}"#, 41);
    e(&mut h, r#"{"shared":"yes"}"#, 41);
    // The generic pass runs before the expiry members: a bad `shared` beats a missing duration.
    e(&mut h, r#"{"expiry":{},"shared":1}"#, 41);
    // Expiry members: deleteSession, duration, extendOnGet, extendOnSetAdd.
    e(&mut h, r#"{"expiry":{"deleteSession":1}}"#, 41);
    e(&mut h, r#"{"expiry":{"extendOnGet":1}}"#, 26);
    e(&mut h, r#"{"expiry":{"duration":5,"extendOnGet":1}}"#, 41);
    e(
        &mut h,
        r#"{"expiry":{"duration":5,"extendOnSetAdd":null}}"#,
        41,
    );
    // Expiry checks come before the shared-name rule.
    e(&mut h, r#"{"expiry":{},"shared":true}"#, 26);
    e(
        &mut h,
        r#"{"expiry":{"duration":-1},"shared":true,"name":""}"#,
        41,
    );
    e(&mut h, r#"{"shared":true,"name":""}"#, 42);
    // Non-shared: an empty name is a label; `shared:false` needs no name.
    h.expect_st(r#"{"SH_NEW":{"name":""}}"#, "SH_NEW_RSP", 1);
    h.expect_st(r#"{"SH_NEW":{"shared":false}}"#, "SH_NEW_RSP", 1);
    // Duration 0 never expires, and its flags are discarded.
    let t = h.new_session(r#"{"SH_NEW":{"expiry":{"duration":0,"deleteSession":true}}}"#);
    h.expect(
        &format!(r#"{{"SH_INFO":{{"tkn":{t}}}}}"#),
        &format!(
            r#"{{"SH_INFO_RSP":{{"st":1,"tkn":{t},"shared":false,"keyCnt":0,"expires":false}}}}"#
        ),
    );
}

#[test]
fn shared_tokens_follow_the_test_vectors() {
    let mut h = Harness::new();
    for (name, tkn) in [
        ("settings", 15900886249489855254u64),
        ("config", 16293854323119613365),
        ("café", 3519951774017562329),
        ("team/42", 2556186590011935489),
    ] {
        h.expect(
            &format!(r#"{{"SH_NEW":{{"name":"{name}","shared":true}}}}"#),
            &format!(r#"{{"SH_NEW_RSP":{{"st":1,"tkn":{tkn},"name":"{name}"}}}}"#),
        );
    }
    // The name is the string after unescaping.
    h.expect(
        r#"{"SH_OPEN":{"name":"caf\u00e9"}}"#,
        r#"{"SH_OPEN_RSP":{"st":1,"tkn":3519951774017562329,"name":"café"}}"#,
    );
    // A non-shared session holding a derived token is not found by SH_OPEN... and a
    // non-shared name does not derive the token.
    let t = h.new_session(r#"{"SH_NEW":{"name":"plain"}}"#);
    h.expect(
        r#"{"SH_OPEN":{"name":"plain"}}"#,
        r#"{"SH_OPEN_RSP":{"st":102,"tkn":null,"name":"plain"}}"#,
    );
    let info = h.json(&format!(r#"{{"SH_INFO":{{"tkn":{t}}}}}"#));
    assert_eq!(info["SH_INFO_RSP"]["name"], json!("plain"));
}

#[test]
fn session_commands_validate_before_lookup() {
    let mut h = Harness::new();
    for (cmd, st) in [
        ("SH_SET", 26),
        ("SH_ADD", 26),
        ("SH_CLEAR_SET", 26),
        ("SH_GET", 26),
        ("SH_CONTAINS", 26),
        ("SH_RMV", 26),
        ("SH_COUNT", 100),
        ("SH_KEYS", 100),
        ("SH_CLEAR", 100),
        ("SH_END", 100),
    ] {
        h.expect_st(
            &format!(r#"{{"{cmd}":{{"tkn":1234}}}}"#),
            &format!("{cmd}_RSP"),
            st,
        );
    }
    h.expect(
        r#"{"SH_SET":{"tkn":1,"keys":[]}}"#,
        r#"{"SH_SET_RSP":{"st":41}}"#,
    );
    h.expect(
        r#"{"SH_GET":{"tkn":1,"keys":{}}}"#,
        r#"{"SH_GET_RSP":{"st":41}}"#,
    );
    h.expect(
        r#"{"SH_RMV":{"tkn":1,"keys":[]}}"#,
        r#"{"SH_RMV_RSP":{"st":42}}"#,
    );
    h.expect(
        r#"{"SH_GET":{"tkn":1,"keys":[]}}"#,
        r#"{"SH_GET_RSP":{"st":100}}"#,
    );
    // Token 0 is a uint that names no session.
    h.expect(
        r#"{"SH_END":{"tkn":0}}"#,
        r#"{"SH_END_RSP":{"st":100,"tkn":0}}"#,
    );
    h.expect(
        r#"{"SH_INFO":{"tkn":0}}"#,
        r#"{"SH_INFO_RSP":{"st":100,"tkn":0,"shared":null,"keyCnt":null}}"#,
    );
    h.expect(r#"{"SH_END":{"tkn":-5}}"#, r#"{"SH_END_RSP":{"st":100}}"#);
    h.expect(r#"{"SH_INFO":{"x":1}}"#, r#"{"SH_INFO_RSP":{"st":100}}"#);
    h.expect(r#"{"SH_EXISTS":{}}"#, r#"{"SH_EXISTS_RSP":{"st":26}}"#);
    h.expect(
        r#"{"SH_EXISTS":{"tkns":{}}}"#,
        r#"{"SH_EXISTS_RSP":{"st":41}}"#,
    );
    h.expect(r#"{"SH_OPEN":{}}"#, r#"{"SH_OPEN_RSP":{"st":26}}"#);
    h.expect(r#"{"SH_OPEN":{"name":1}}"#, r#"{"SH_OPEN_RSP":{"st":41}}"#);
}

#[test]
fn get_and_contains_map_indices_back_to_names() {
    let mut h = Harness::new();
    let t = h.new_session(r#"{"SH_NEW":{}}"#);
    h.expect(
        &format!(r#"{{"SH_SET":{{"tkn":{t},"keys":{{"a":1,"b\n":{{"y":2,"x":1}}}}}}}}"#),
        r#"{"SH_SET_RSP":{"st":1}}"#,
    );
    // Non-string items shift indices; duplicates appear once in GET and every time in CONTAINS.
    let got = h.send(&format!(
        r#"{{"SH_GET":{{"tkn":{t},"keys":[1,"b\n",null,"a","b\n","zz"]}}}}"#
    ));
    let v = common::parse(&got);
    assert_eq!(
        v,
        json!({"SH_GET_RSP":{"st":1,"keys":{"a":1,"b\n":{"y":2,"x":1}}}})
    );
    assert!(got.contains(r#"{"y":2,"x":1}"#), "{got}");
    h.expect(
        &format!(r#"{{"SH_CONTAINS":{{"tkn":{t},"keys":[true,"a","q","b\n","a"]}}}}"#),
        r#"{"SH_CONTAINS_RSP":{"st":1,"contains":["a","b\n","a"]}}"#,
    );
}

#[test]
fn sh_save_checks_in_order() {
    let mut off = Harness::with_persist(false);
    off.expect(r#"{"SH_SAVE":{"tkns":[]}}"#, r#"{"SH_SAVE_RSP":{"st":14}}"#);
    let mut h = Harness::new();
    let e = |h: &mut Harness, body: &str, st: u64| {
        h.expect_st(&format!(r#"{{"SH_SAVE":{body}}}"#), "SH_SAVE_RSP", st)
    };
    e(&mut h, r#"{"tkns":1}"#, 26);
    e(&mut h, r#"{"name":1,"tkns":1}"#, 41);
    e(&mut h, r#"{"name":"../x","tkns":1}"#, 41);
    e(&mut h, r#"{"name":"../x","tkns":[]}"#, 41);
    e(&mut h, r#"{"name":"ok","tkns":[]}"#, 42);
    e(&mut h, r#"{"name":"ok","tkns":[1,-1]}"#, 41);
    e(&mut h, r#"{"name":"ok","tkns":[1,null]}"#, 41);
}
