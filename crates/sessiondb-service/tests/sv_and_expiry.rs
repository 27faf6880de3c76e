//! docs/PROTOCOL.md §12 (SV_INFO), §2.6 (SV_AUTH with authentication off) and the §9.8 timing
//! example on a manual clock.

mod common;

use common::{reply_st, Harness};
use serde_json::json;

#[test]
fn sv_info_reports_counts_and_transport_figures() {
    let mut h = Harness::new();
    h.expect(
        r#"{"SV_INFO":{}}"#,
        r#"{"SV_INFO_RSP":{"st":1,"serverVersion":"0.1.0","persistEnabled":true,"uptimeSecs":42,"sessions":0,"keys":0,"connections":3}}"#,
    );
    let t = h.new_session(r#"{"SH_NEW":{}}"#);
    h.expect_st(
        &format!(r#"{{"SH_SET":{{"tkn":{t},"keys":{{"a":1,"b":2}}}}}}"#),
        "SH_SET_RSP",
        1,
    );
    h.expect_st(r#"{"KV_SET":{"keys":{"x":1}}}"#, "KV_SET_RSP", 1);
    // Unknown members are ignored.
    h.expect(
        r#"{"SV_INFO":{"x":[1]}}"#,
        r#"{"SV_INFO_RSP":{"st":1,"serverVersion":"0.1.0","persistEnabled":true,"uptimeSecs":42,"sessions":1,"keys":3,"connections":3}}"#,
    );
    let mut off = Harness::with_persist(false);
    let v = off.json(r#"{"SV_INFO":{}}"#);
    assert_eq!(v["SV_INFO_RSP"]["persistEnabled"], json!(false));
}

#[test]
fn sv_auth_with_authentication_off() {
    let mut h = Harness::new();
    h.expect(
        r#"{"SV_AUTH":{"secret":"anything"}}"#,
        r#"{"SV_AUTH_RSP":{"st":1}}"#,
    );
    h.expect(r#"{"SV_AUTH":{}}"#, r#"{"SV_AUTH_RSP":{"st":26}}"#);
    h.expect(
        r#"{"SV_AUTH":{"secret":1}}"#,
        r#"{"SV_AUTH_RSP":{"st":41}}"#,
    );
    h.expect(r#"{"SV_AUTH":[]}"#, r#"{"SV_AUTH_RSP":{"st":13}}"#);
}

#[test]
fn timing_example_keys_expire_and_session_rearms() {
    let mut h = Harness::new();
    let t = h.new_session(r#"{"SH_NEW":{"expiry":{"duration":2}}}"#);
    h.expect_st(
        &format!(r#"{{"SH_SET":{{"tkn":{t},"keys":{{"a":1,"b":2,"c":3}}}}}}"#),
        "SH_SET_RSP",
        1,
    );
    h.clock.advance(1_900);
    h.expect(
        &format!(r#"{{"SH_COUNT":{{"tkn":{t}}}}}"#),
        r#"{"SH_COUNT_RSP":{"st":1,"cnt":3}}"#,
    );
    h.clock.advance(200); // t = 2.1 s
    let info = h.json(&format!(r#"{{"SH_INFO":{{"tkn":{t}}}}}"#));
    assert_eq!(reply_st(&info, "SH_INFO_RSP"), 1, "{info}");
    let body = &info["SH_INFO_RSP"];
    assert_eq!(body["keyCnt"], json!(0));
    assert_eq!(body["expires"], json!(true));
    let remaining = body["expiry"]["remaining"].as_u64();
    assert!(matches!(remaining, Some(1 | 2)), "{info}");
}

#[test]
fn timing_example_with_delete_session() {
    let mut h = Harness::new();
    let t = h.new_session(r#"{"SH_NEW":{"expiry":{"duration":2,"deleteSession":true}}}"#);
    h.clock.advance(1_999);
    h.expect(
        &format!(r#"{{"SH_EXISTS":{{"tkns":[{t}]}}}}"#),
        &format!(r#"{{"SH_EXISTS_RSP":{{"st":1,"exist":[{t}]}}}}"#),
    );
    h.clock.advance(1); // exactly at the deadline: due
    h.expect(
        &format!(r#"{{"SH_GET":{{"tkn":{t},"keys":["a"]}}}}"#),
        r#"{"SH_GET_RSP":{"st":100}}"#,
    );
    h.expect(
        &format!(r#"{{"SH_EXISTS":{{"tkns":[{t}]}}}}"#),
        r#"{"SH_EXISTS_RSP":{"st":1,"exist":[]}}"#,
    );
    h.expect(
        &format!(r#"{{"SH_INFO":{{"tkn":{t}}}}}"#),
        &format!(r#"{{"SH_INFO_RSP":{{"st":100,"tkn":{t},"shared":null,"keyCnt":null}}}}"#),
    );
}

#[test]
fn extend_on_get_rearms_and_sweep_reclaims() {
    let mut h = Harness::new();
    let t = h.new_session(
        r#"{"SH_NEW":{"expiry":{"duration":2,"deleteSession":true,"extendOnGet":true}}}"#,
    );
    h.clock.advance(1_500);
    h.expect(
        &format!(r#"{{"SH_GET":{{"tkn":{t},"keys":[]}}}}"#),
        r#"{"SH_GET_RSP":{"st":1,"keys":{}}}"#,
    );
    h.clock.advance(1_500); // 3.0 s: past the first deadline, before the extended one (3.5 s)
    h.expect_st(
        &format!(r#"{{"SH_COUNT":{{"tkn":{t}}}}}"#),
        "SH_COUNT_RSP",
        1,
    );
    h.clock.advance(600);
    assert_eq!(h.service.sweep_expired(), 1);
    h.expect(
        r#"{"SH_INFO_ALL":{}}"#,
        r#"{"SH_INFO_ALL_RSP":{"st":1,"totalSessions":0,"totalKeys":0}}"#,
    );
}
