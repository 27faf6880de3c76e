//! `parse::fast_request` (the tree-free path for hot commands) gives exactly the request the
//! full path gives, takes the plain shapes, and leaves everything else to the full path.

use sessiondb_core::json;
use sessiondb_proto::parse::{fast_request, parse_request};
use sessiondb_proto::request::{Action, Request};

/// The request as comparable text: name, kind, command, and the context's key names by index.
fn describe(req: &Request<'_>) -> String {
    match &req.action {
        Action::Engine { cmd, ctx } => {
            let names: Vec<Option<&str>> = (0..8).map(|i| ctx.keys.get(i)).collect();
            format!(
                "{} {:?} {cmd:?} name={:?} version={:?} names={names:?}",
                req.name, req.kind, ctx.name, ctx.version
            )
        }
        other => format!("{} {:?} {other:?}", req.name, req.kind),
    }
}

/// The full path's request, or `None` where it rejects the message.
fn full(msg: &str) -> Option<String> {
    let root = json::parse(msg).ok()?;
    let mut scratch = String::new();
    parse_request(&root, true, &mut scratch)
        .ok()
        .map(|r| describe(&r))
}

fn fast(msg: &str) -> Option<String> {
    let mut scratch = String::new();
    fast_request(msg, &mut scratch).map(|r| describe(&r))
}

#[test]
fn plain_hot_shapes_take_the_fast_path_with_the_same_request() {
    let taken = [
        r#"{"SH_GET":{"tkn":12,"keys":["a","b"]}}"#,
        r#"{"SH_GET":{"keys":["a","b","a"],"tkn":12}}"#,
        r#" { "SH_GET" : { "tkn" : 12 , "keys" : [ ] } } "#,
        r#"{"SH_GET":{"tkn":"12","keys":["a"]}}"#,
        r#"{"SH_GET":{"tkn":-1,"keys":["a"]}}"#,
        r#"{"SH_GET":{"tkn":1.5,"keys":["a"]}}"#,
        r#"{"SH_GET":{"tkn":null,"keys":["a"]}}"#,
        r#"{"SH_GET":{"keys":["a"]}}"#,
        r#"{"KV_GET":{"keys":["x","y"]}}"#,
        r#"{"SH_SET":{"tkn":7,"keys":{"a":"v","b":{ "n" : 1, "s":[1, 2,3] },"c":null}}}"#,
        r#"{"SH_SET":{"tkn":7,"keys":{}}}"#,
        r#"{"SH_SET":{"tkn":7,"keys":{"a":1,"a":2}}}"#,
        r#"{"SH_SET":{"tkn":7,"keys":{"e\u0301":"\u00e9\ud83d\ude00\/","t":true,"f":-0.5e+3}}}"#,
        r#"{"SH_ADD":{"tkn":7,"keys":{"a":[]}}}"#,
        r#"{"SH_CLEAR_SET":{"keys":{"a":"x"},"tkn":7}}"#,
        r#"{"KV_SET":{"keys":{"a":"v"}}}"#,
        r#"{"KV_ADD":{"keys":{"a":{"b":{"c":[[[]]]}}}}}"#,
        r#"{"KV_CLEAR_SET":{"keys":{}}}"#,
        r#"{"SH_END":{"tkn":12}}"#,
        r#"{"SH_END":{"tkn":"12"}}"#,
        r#"{"SH_END":{"tkn":null}}"#,
        r#"{"SH_NEW":{}}"#,
        r#" {"SH_NEW":{}} "#,
        r#"{"SH_NEW":{"expiry":{"duration":60,"deleteSession":true}}}"#,
        r#"{"SH_NEW":{"expiry":{"extendOnGet":true,"duration":5,"extendOnSetAdd":false,"deleteSession":false}}}"#,
        r#"{"SH_NEW":{"expiry":{"duration":0,"deleteSession":true}}}"#,
        r#"{"SH_NEW":{"name":"basket","expiry":{"duration":1}}}"#,
        r#"{"SH_NEW":{"name":"","shared":false}}"#,
        r#"{"SH_NEW":{"name":"orders","shared":true}}"#,
        r#"{ "SH_NEW" : { "shared" : true , "name" : "x" } }"#,
    ];
    for msg in taken {
        let got = fast(msg);
        assert!(got.is_some(), "{msg} should take the fast path");
        assert_eq!(got, full(msg), "{msg}");
    }
}

#[test]
fn everything_else_is_left_to_the_full_path() {
    let deep = |n: usize| {
        format!(
            r#"{{"KV_SET":{{"keys":{{"v":{}{}}}}}}}"#,
            "[".repeat(n),
            "]".repeat(n)
        )
    };
    let left = [
        // A key's deadline (E9) is read by the full path only.
        r#"{"SH_SET":{"tkn":7,"keys":{"a":1},"ttl":{"a":5}}}"#,
        r#"{"SH_ADD":{"ttl":{"a":5},"tkn":7,"keys":{"a":1}}}"#,
        // Not valid JSON: the full path answers 3.
        r#"{"SH_GET":{"tkn":12,"keys":["a","b"]}"#,
        r#"{"SH_GET":{"tkn":12,"keys":["a","b"]}} x"#,
        r#"{"SH_GET":{"tkn":12,"keys":["a",]}}"#,
        r#"{"SH_GET":{"tkn":01,"keys":["a"]}}"#,
        r#"{"SH_SET":{"tkn":7,"keys":{"a":1e400}}}"#,
        r#"{"SH_SET":{"tkn":7,"keys":{"a":"\ud800"}}}"#,
        "{\"SH_SET\":{\"tkn\":7,\"keys\":{\"a\":\"x\u{1}\"}}}",
        "\u{feff}{\"KV_GET\":{\"keys\":[]}}",
        &deep(126),
        // Valid JSON in a shape the fast path does not read.
        r#"{"SH_GET":{"tkn":12}}"#,
        r#"{"SH_GET":{}}"#,
        r#"{"SH_GET":{"tkn":12,"keys":["a",1,"b"]}}"#,
        r#"{"SH_GET":{"tkn":12,"keys":["\u0061"]}}"#,
        r#"{"SH_GET":{"tkn":12,"keys":{"a":1}}}"#,
        r#"{"SH_GET":{"tkn":12,"tkn":13,"keys":["a"]}}"#,
        r#"{"SH_GET":{"tkn":12,"keys":["a"],"keys":["b"]}}"#,
        r#"{"SH_GET":{"tkn":[12],"keys":["a"]}}"#,
        r#"{"SH_GET":{"tkn":12,"keys":["a"],"extra":1}}"#,
        r#"{"KV_GET":{"tkn":12,"keys":["a"]}}"#,
        r#"{"SH_SET":{"tkn":7,"keys":[]}}"#,
        r#"{"SH_GET":{"tkn":12,"keys":["a"]},"KV_COUNT":{}}"#,
        r#"{"SH\u005fGET":{"tkn":12,"keys":["a"]}}"#,
        r#"{"SH_GET":[]}"#,
        r#"{"SH_COUNT":{"tkn":12}}"#,
        r#"["SH_GET"]"#,
        r#"{"SH_END":{}}"#,
        r#"{"SH_END":{"tkn":12,"tkn":13}}"#,
        r#"{"SH_END":{"tkn":12,"keys":["a"]}}"#,
        r#"{"SH_END":{"tkn":12,"other":1}}"#,
        r#"{"SH_NEW":{"expiry":{}}}"#,
        r#"{"SH_NEW":{"expiry":{"deleteSession":true}}}"#,
        r#"{"SH_NEW":{"expiry":{"duration":-1}}}"#,
        r#"{"SH_NEW":{"expiry":{"duration":"5"}}}"#,
        r#"{"SH_NEW":{"expiry":{"duration":5,"deleteSession":1}}}"#,
        r#"{"SH_NEW":{"expiry":{"duration":5,"duration":6}}}"#,
        r#"{"SH_NEW":{"expiry":{"duration":5,"extendOnGet":true,"extendOnGet":false}}}"#,
        r#"{"SH_NEW":{"expiry":{"duration":5,"other":true}}}"#,
        r#"{"SH_NEW":{"expiry":5}}"#,
        r#"{"SH_NEW":{"expiry":{"duration":5},"expiry":{"duration":6}}}"#,
        r#"{"SH_NEW":{"shared":true}}"#,
        r#"{"SH_NEW":{"shared":true,"name":""}}"#,
        r#"{"SH_NEW":{"shared":"yes","name":"x"}}"#,
        r#"{"SH_NEW":{"name":7}}"#,
        r#"{"SH_NEW":{"name":"\u0061"}}"#,
        r#"{"SH_NEW":{"name":"a","name":"b"}}"#,
        r#"{"SH_NEW":{"tkn":1}}"#,
    ];
    for msg in left {
        assert_eq!(fast(msg), None, "{msg} must be left to the full path");
    }
    // Depth is judged as the full path judges it: 125 nested arrays fit under a stored key.
    assert_eq!(fast(&deep(125)), full(&deep(125)));
    assert!(fast(&deep(125)).is_some());
}

/// Bodies built from fragments of right and wrong members (repeats and unknown members
/// included): wherever the fast path answers, it answers as the full path does.
mod mixed_bodies {
    use super::{fast, full};
    use proptest::prelude::*;

    const EXPIRY_MEMBERS: &[&str] = &[
        r#""duration":0"#,
        r#""duration":5"#,
        r#""duration":-1"#,
        r#""duration":"5""#,
        r#""deleteSession":true"#,
        r#""deleteSession":1"#,
        r#""extendOnGet":false"#,
        r#""extendOnSetAdd":true"#,
        r#""other":1"#,
    ];
    const MEMBERS: &[&str] = &[
        r#""name":"n""#,
        r#""name":"""#,
        r#""name":7"#,
        r#""shared":true"#,
        r#""shared":false"#,
        r#""shared":null"#,
        r#""tkn":3"#,
        r#""tkn":"3""#,
        r#""keys":["a"]"#,
        r#""keys":{"a":1}"#,
        r#""expiry":7"#,
    ];

    fn body() -> impl Strategy<Value = String> {
        let expiry = prop::collection::vec(prop::sample::select(EXPIRY_MEMBERS), 0..4)
            .prop_map(|m| format!(r#""expiry":{{{}}}"#, m.join(",")));
        let member = prop_oneof![
            prop::sample::select(MEMBERS).prop_map(str::to_owned),
            expiry
        ];
        prop::collection::vec(member, 0..4).prop_map(|m| m.join(","))
    }

    proptest! {
        #[test]
        fn fast_answers_agree_with_the_full_path(
            name in prop::sample::select(&["SH_NEW", "SH_END", "SH_GET", "SH_SET"][..]),
            body in body(),
        ) {
            let msg = format!(r#"{{"{name}":{{{body}}}}}"#);
            if let Some(got) = fast(&msg) {
                prop_assert_eq!(Some(got), full(&msg), "{}", msg);
            }
        }
    }
}
