//! docs/PROTOCOL.md Appendix B: every envelope and dispatch vector that needs no socket
//! (binary frames, invalid UTF-8 and the size limit are the transport's and tested there).

mod common;

use common::{parse, Harness};

fn nested_set(arrays: usize) -> String {
    format!(
        r#"{{"KV_SET":{{"keys":{{"v":{}{}}}}}}}"#,
        "[".repeat(arrays),
        "]".repeat(arrays)
    )
}

#[test]
fn binary_message_is_opcode_invalid() {
    let h = Harness::new();
    let mut out = Vec::new();
    h.service.handle_binary(&mut out);
    assert_eq!(
        parse(&String::from_utf8_lossy(&out)),
        parse(r#"{"ERR":{"st":2}}"#)
    );
}

#[test]
fn invalid_json_is_err_3() {
    let mut h = Harness::new();
    for msg in [
        r#"{"KV_SET":"#,
        "",
        r#"{"KV_COUNT":{}} {"KV_COUNT":{}}"#,
        r#"{"KV_COUNT":{}} // comment"#,
        r#"{"KV_SET":{"keys":{"v":1e400}}}"#,
        "\u{feff}{\"KV_COUNT\":{}}",
        r#"{"KV_SET":{"keys":{"v":"\ud800"}}}"#,
        r#"{"KV_SET":{"keys":{"v":NaN}}}"#,
        r#"{"KV_SET":{"keys":{"v":[1,]}}}"#,
    ] {
        h.expect(msg, r#"{"ERR":{"st":3}}"#);
    }
}

#[test]
fn nesting_depth_limit_is_exactly_128() {
    let mut h = Harness::new();
    h.expect(&nested_set(125), r#"{"KV_SET_RSP":{"st":1}}"#);
    h.expect(&nested_set(126), r#"{"ERR":{"st":3}}"#);
    // The accepted value was stored and comes back unchanged.
    let got = h.send(r#"{"KV_GET":{"keys":["v"]}}"#);
    let inner = format!("{}{}", "[".repeat(125), "]".repeat(125));
    assert_eq!(
        got,
        format!(r#"{{"KV_GET_RSP":{{"st":1,"keys":{{"v":{inner}}}}}}}"#)
    );
}

#[test]
fn envelope_shape_errors() {
    let mut h = Harness::new();
    for msg in [
        "[]",
        "5",
        "{}",
        r#"{"KV_COUNT":{},"KV_KEYS":{}}"#,
        "null",
        r#""KV_COUNT""#,
    ] {
        h.expect(msg, r#"{"ERR":{"st":13}}"#);
    }
    h.expect(r#"{"KV_SET":[]}"#, r#"{"KV_SET_RSP":{"st":13}}"#);
    h.expect(r#"{"KV_NOPE":null}"#, r#"{"KV_NOPE_RSP":{"st":13}}"#);
    h.expect(r#"{"KVSET":{}}"#, r#"{"KVSET_RSP":{"st":13}}"#);
    // Step 5 comes before step 6: a non-object body of a name without `_` is still 13 on C_RSP.
    h.expect(r#"{"KVSET":1}"#, r#"{"KVSET_RSP":{"st":13}}"#);
}

#[test]
fn unknown_commands_route_by_prefix() {
    let mut h = Harness::new();
    for msg in [
        r#"{"KV_NOPE":{}}"#,
        r#"{"KV_SETQ":{"keys":{}}}"#,
        r#"{"KV_":{}}"#,
        r#"{"KV_ADDQ":{}}"#,
        r#"{"KV_FIND":{}}"#,
        r#"{"KV_UPDATE":{}}"#,
        r#"{"KV_ARR_APPEND":{}}"#,
    ] {
        h.expect(msg, r#"{"ERR":{"st":10}}"#);
    }
    h.expect(r#"{"SH_NOPE":{}}"#, r#"{"SH_NOPE_RSP":{"st":10}}"#);
    h.expect(r#"{"SH_UPDATE":{}}"#, r#"{"SH_UPDATE_RSP":{"st":10}}"#);
    h.expect(r#"{"FOO_BAR":{}}"#, r#"{"FOO_BAR_RSP":{"st":10}}"#);
    h.expect(r#"{"BAZ_QUX":{}}"#, r#"{"BAZ_QUX_RSP":{"st":10}}"#);
    h.expect(r#"{"OARR_CREATE":{}}"#, r#"{"OARR_CREATE_RSP":{"st":10}}"#);
    h.expect(r#"{"SV_OTHER":{}}"#, r#"{"SV_OTHER_RSP":{"st":10}}"#);
    h.expect(r#"{"kv_set":{}}"#, r#"{"kv_set_RSP":{"st":10}}"#);
    h.expect(r#"{"Sh_NEW":{}}"#, r#"{"Sh_NEW_RSP":{"st":10}}"#);
    // The reply name is the received name, JSON-escaped.
    let got = h.send(r#"{"X_\"q\"\u00e9\n":{}}"#);
    assert_eq!(got, "{\"X_\\\"q\\\"é\\n_RSP\":{\"st\":10}}");
    assert_eq!(parse(&got), parse(r#"{"X_\"q\"é\n_RSP":{"st":10}}"#));
}

#[test]
fn unknown_members_are_ignored_and_null_is_wrong_type() {
    let mut h = Harness::new();
    h.expect(
        r#"{"KV_COUNT":{"tkn":5,"anything":[1]}}"#,
        r#"{"KV_COUNT_RSP":{"st":1,"cnt":0}}"#,
    );
    h.expect(r#"{"KV_SET":{"keys":null}}"#, r#"{"KV_SET_RSP":{"st":41}}"#);
}

#[test]
fn sh_new_duration_must_be_a_uint() {
    let mut h = Harness::new();
    for d in [
        "10.0",
        r#""10""#,
        "-1",
        "-0",
        "1e3",
        "18446744073709551616",
        "null",
    ] {
        h.expect(
            &format!(r#"{{"SH_NEW":{{"expiry":{{"duration":{d}}}}}}}"#),
            r#"{"SH_NEW_RSP":{"st":41}}"#,
        );
    }
    let reply = h.json(r#"{"SH_NEW":{"expiry":{"duration":18446744073709551615}}}"#);
    assert_eq!(common::reply_st(&reply, "SH_NEW_RSP"), 1, "{reply}");
    assert!(reply["SH_NEW_RSP"]["tkn"].as_u64().is_some_and(|t| t != 0));
    assert_eq!(reply["SH_NEW_RSP"].as_object().map(|o| o.len()), Some(2));
}

#[test]
fn sh_exists_skips_items_that_are_not_uints() {
    let mut h = Harness::new();
    h.expect(
        r#"{"SH_EXISTS":{"tkns":[0,-1,1.5,"7"]}}"#,
        r#"{"SH_EXISTS_RSP":{"st":1,"exist":[]}}"#,
    );
}

#[test]
fn requests_run_in_order() {
    let mut h = Harness::new();
    h.expect(
        r#"{"KV_SET":{"keys":{"a":1}}}"#,
        r#"{"KV_SET_RSP":{"st":1}}"#,
    );
    h.expect(
        r#"{"KV_GET":{"keys":["a"]}}"#,
        r#"{"KV_GET_RSP":{"st":1,"keys":{"a":1}}}"#,
    );
    h.expect(r#"{"KV_COUNT":{}}"#, r#"{"KV_COUNT_RSP":{"st":1,"cnt":1}}"#);
}

#[test]
fn stored_object_member_order_is_kept() {
    let mut h = Harness::new();
    h.expect(
        r#"{"KV_SET":{"keys":{"o":{"b":1,"a":2}}}}"#,
        r#"{"KV_SET_RSP":{"st":1}}"#,
    );
    let got = h.send(r#"{"KV_GET":{"keys":["o"]}}"#);
    assert_eq!(got, r#"{"KV_GET_RSP":{"st":1,"keys":{"o":{"b":1,"a":2}}}}"#);
}
