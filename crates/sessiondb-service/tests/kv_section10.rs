//! docs/PROTOCOL.md §10: the KV_ examples, in the order the document runs them, plus each command's
//! error replies.

mod common;

use common::{as_set, Harness};
use serde_json::json;

#[test]
fn section_10_examples_in_order() {
    let mut h = Harness::new();
    h.expect(
        r#"{"KV_SET":{"keys":{"user:1":{"name":"Ann","age":31},"visits":7}}}"#,
        r#"{"KV_SET_RSP":{"st":1}}"#,
    );
    h.expect(
        r#"{"KV_ADD":{"keys":{"visits":100,"theme":"dark"}}}"#,
        r#"{"KV_ADD_RSP":{"st":1}}"#,
    );
    h.expect(
        r#"{"KV_GET":{"keys":["user:1","visits","nope",5,"visits"]}}"#,
        r#"{"KV_GET_RSP":{"st":1,"keys":{"user:1":{"name":"Ann","age":31},"visits":7}}}"#,
    );
    // The add kept visits at 7 and added theme.
    h.expect(
        r#"{"KV_GET":{"keys":["theme"]}}"#,
        r#"{"KV_GET_RSP":{"st":1,"keys":{"theme":"dark"}}}"#,
    );
    h.expect(
        r#"{"KV_RMV":{"keys":["theme","nope"]}}"#,
        r#"{"KV_RMV_RSP":{"st":1}}"#,
    );
    h.expect(r#"{"KV_RMV":{"keys":[]}}"#, r#"{"KV_RMV_RSP":{"st":42}}"#);
    h.expect(
        r#"{"KV_CONTAINS":{"keys":["visits","nope","user:1","visits"]}}"#,
        r#"{"KV_CONTAINS_RSP":{"st":1,"contains":["visits","user:1","visits"]}}"#,
    );
    h.expect(r#"{"KV_COUNT":{}}"#, r#"{"KV_COUNT_RSP":{"st":1,"cnt":2}}"#);
    let keys = h.json(r#"{"KV_KEYS":{}}"#);
    assert_eq!(common::reply_st(&keys, "KV_KEYS_RSP"), 1);
    assert_eq!(
        as_set(&keys["KV_KEYS_RSP"]["keys"]),
        as_set(&serde_json::json!(["user:1", "visits"]))
    );
    h.expect(
        r#"{"KV_CLEAR_SET":{"keys":{"a":1,"b":[true,null]}}}"#,
        r#"{"KV_CLEAR_SET_RSP":{"st":1,"cnt":2}}"#,
    );
    h.expect(r#"{"KV_CLEAR":{}}"#, r#"{"KV_CLEAR_RSP":{"st":1,"cnt":2}}"#);
    h.expect(r#"{"KV_CLEAR":{}}"#, r#"{"KV_CLEAR_RSP":{"st":1,"cnt":0}}"#);
    h.expect(
        r#"{"KV_SET":{"keys":{"sku:1":{"price":9.5},"sku:2":{"price":12}}}}"#,
        r#"{"KV_SET_RSP":{"st":1}}"#,
    );
    let saved = h.json(r#"{"KV_SAVE":{"name":"shop-1"}}"#);
    assert_timed(&saved, "KV_SAVE_RSP", json!({"st":121,"name":"shop-1"}));
    h.expect(
        r#"{"KV_SAVE":{"name":"../etc"}}"#,
        r#"{"KV_SAVE_RSP":{"st":41}}"#,
    );
    h.expect(r#"{"KV_CLEAR":{}}"#, r#"{"KV_CLEAR_RSP":{"st":1,"cnt":2}}"#);
    let loaded = h.json(r#"{"KV_LOAD":{"name":"shop-1"}}"#);
    assert_timed(
        &loaded,
        "KV_LOAD_RSP",
        json!({"st":141,"name":"shop-1","sessions":0,"keys":2}),
    );
    h.expect(
        r#"{"KV_GET":{"keys":["sku:1","sku:2"]}}"#,
        r#"{"KV_GET_RSP":{"st":1,"keys":{"sku:1":{"price":9.5},"sku:2":{"price":12}}}}"#,
    );
    h.expect(
        r#"{"KV_LOAD":{"name":"no-such-set"}}"#,
        r#"{"KV_LOAD_RSP":{"st":142,"name":"no-such-set"}}"#,
    );
}

/// A reply equal to `expected` plus a uint `duration` (milliseconds, value not predictable).
fn assert_timed(reply: &serde_json::Value, name: &str, mut expected: serde_json::Value) {
    let duration = reply[name]["duration"].as_u64();
    assert!(duration.is_some(), "{reply}");
    expected["duration"] = json!(duration);
    assert_eq!(reply, &json!({ name: expected }));
}

#[test]
fn keys_parameter_errors() {
    let mut h = Harness::new();
    for cmd in ["KV_SET", "KV_ADD", "KV_CLEAR_SET"] {
        h.expect(
            &format!(r#"{{"{cmd}":{{}}}}"#),
            &format!(r#"{{"{cmd}_RSP":{{"st":26}}}}"#),
        );
        for bad in ["[]", "\"x\"", "1", "null", "true"] {
            h.expect(
                &format!(r#"{{"{cmd}":{{"keys":{bad}}}}}"#),
                &format!(r#"{{"{cmd}_RSP":{{"st":41}}}}"#),
            );
        }
        h.expect(
            &format!(r#"{{"{cmd}":{{"keys":{{}}}}}}"#),
            &format!(r#"{{"{cmd}_RSP":{{"st":1}}}}"#).replace(
                r#""st":1}"#,
                if cmd == "KV_CLEAR_SET" {
                    r#""st":1,"cnt":0}"#
                } else {
                    r#""st":1}"#
                },
            ),
        );
    }
    for cmd in ["KV_GET", "KV_CONTAINS", "KV_RMV"] {
        h.expect(
            &format!(r#"{{"{cmd}":{{}}}}"#),
            &format!(r#"{{"{cmd}_RSP":{{"st":26}}}}"#),
        );
        for bad in ["{}", "\"x\"", "1", "null"] {
            h.expect(
                &format!(r#"{{"{cmd}":{{"keys":{bad}}}}}"#),
                &format!(r#"{{"{cmd}_RSP":{{"st":41}}}}"#),
            );
        }
    }
    h.expect(
        r#"{"KV_GET":{"keys":[]}}"#,
        r#"{"KV_GET_RSP":{"st":1,"keys":{}}}"#,
    );
    h.expect(
        r#"{"KV_CONTAINS":{"keys":[]}}"#,
        r#"{"KV_CONTAINS_RSP":{"st":1,"contains":[]}}"#,
    );
    // Only non-strings: not empty, so it succeeds and removes nothing.
    h.expect(
        r#"{"KV_RMV":{"keys":[1,null]}}"#,
        r#"{"KV_RMV_RSP":{"st":1}}"#,
    );
    h.expect(r#"{"KV_KEYS":{}}"#, r#"{"KV_KEYS_RSP":{"st":1,"keys":[]}}"#);
}

#[test]
fn values_and_keys_round_trip_exactly() {
    let mut h = Harness::new();
    h.expect(
        r#"{"KV_SET":{"keys":{"big":18446744073709551615,"neg":-9223372036854775808,"f":1.0,"e":1e-7,"s":"\u00e9\"\n\u0000","":{"z":[],"a":{}},"k\"\\\u0001":true}}}"#,
        r#"{"KV_SET_RSP":{"st":1}}"#,
    );
    let got = h.send(r#"{"KV_GET":{"keys":["big","neg","f","e","s","","k\"\\\u0001"]}}"#);
    let v = common::parse(&got);
    let keys = &v["KV_GET_RSP"]["keys"];
    assert_eq!(keys["big"].as_u64(), Some(u64::MAX));
    assert_eq!(keys["neg"].as_i64(), Some(i64::MIN));
    assert_eq!(keys["s"].as_str(), Some("é\"\n\u{0}"));
    assert_eq!(keys["k\"\\\u{1}"], serde_json::json!(true));
    // Number literals keep their form; stored objects keep member order, whitespace-free.
    assert!(got.contains(r#""f":1.0"#), "{got}");
    assert!(got.contains(r#""e":1e-7"#), "{got}");
    assert!(got.contains(r#""":{"z":[],"a":{}}"#), "{got}");
}

#[test]
fn whitespace_in_values_is_minified() {
    let mut h = Harness::new();
    h.expect(
        "{ \"KV_SET\" : { \"keys\" : { \"o\" : { \"b\" : [ 1 , 2 ] ,\n\t\"a\" : \" x \" } } } }",
        r#"{"KV_SET_RSP":{"st":1}}"#,
    );
    assert_eq!(
        h.send(r#"{"KV_GET":{"keys":["o"]}}"#),
        r#"{"KV_GET_RSP":{"st":1,"keys":{"o":{"b":[1,2],"a":" x "}}}}"#
    );
}

#[test]
fn saves_are_disabled_before_any_other_check() {
    let mut h = Harness::with_persist(false);
    h.expect(r#"{"KV_SAVE":{}}"#, r#"{"KV_SAVE_RSP":{"st":14}}"#);
    h.expect(r#"{"KV_SAVE":{"name":1}}"#, r#"{"KV_SAVE_RSP":{"st":14}}"#);
    h.expect(
        r#"{"KV_SAVE":{"name":"ok"}}"#,
        r#"{"KV_SAVE_RSP":{"st":14}}"#,
    );
    // Loads work whether persistence is on or off.
    h.expect(
        r#"{"KV_LOAD":{"name":"missing"}}"#,
        r#"{"KV_LOAD_RSP":{"st":142,"name":"missing"}}"#,
    );
}

#[test]
fn dataset_name_checks() {
    let mut h = Harness::new();
    for cmd in ["KV_SAVE", "KV_LOAD", "SH_LOAD", "SH_SAVE"] {
        h.expect(
            &format!(r#"{{"{cmd}":{{}}}}"#),
            &format!(r#"{{"{cmd}_RSP":{{"st":26}}}}"#),
        );
        for bad in [
            "2",
            "null",
            r#""""#,
            r#""../etc""#,
            r#"".hidden""#,
            r#""a..b""#,
            r#""a/b""#,
            r#""a b""#,
            r#""é""#,
            r#""a\\b""#,
        ] {
            h.expect(
                &format!(r#"{{"{cmd}":{{"name":{bad}}}}}"#),
                &format!(r#"{{"{cmd}_RSP":{{"st":41}}}}"#),
            );
        }
        let long = "a".repeat(129);
        h.expect(
            &format!(r#"{{"{cmd}":{{"name":"{long}"}}}}"#),
            &format!(r#"{{"{cmd}_RSP":{{"st":41}}}}"#),
        );
    }
}
