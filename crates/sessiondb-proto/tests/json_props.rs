//! `sessiondb_core::json` against `serde_json`: every document serde_json writes parses, and
//! re-serialises to a document serde_json reads as the same value.

use proptest::prelude::*;
use serde_json::Value as J;
use sessiondb_core::json::{self, Json};

fn arb_json() -> impl Strategy<Value = J> {
    let leaf = prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        any::<u64>().prop_map(J::from),
        any::<i64>().prop_map(J::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(J::from),
        any::<String>().prop_map(J::String),
        "[\\u{0}-\\u{1f}\"\\\\/a-z\\u{e9}\\u{1f600}]{0,8}".prop_map(J::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(J::Array),
            prop::collection::vec((any::<String>(), inner), 0..8)
                .prop_map(|members| J::Object(members.into_iter().collect())),
        ]
    })
}

fn minify(text: &str) -> String {
    match json::parse(text) {
        Ok(v) => {
            let mut out = String::new();
            v.write_minified(&mut out);
            out
        }
        Err(e) => panic!("rejected valid JSON ({e}): {text}"),
    }
}

proptest! {
    #[test]
    fn round_trips_through_serde_json(v in arb_json()) {
        for text in [serde_json::to_string(&v), serde_json::to_string_pretty(&v)] {
            let text = text.map_err(|e| TestCaseError::fail(e.to_string()))?;
            let ours = minify(&text);
            let back: J = serde_json::from_str(&ours)
                .map_err(|e| TestCaseError::fail(format!("{e}: {ours}")))?;
            // Compared with serde_json's reading of the same text: its default float parser is
            // not exact, but both read the same number literals, which we copy verbatim.
            let expected: J = serde_json::from_str(&text)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&back, &expected);
            // Minified output is a fixed point.
            prop_assert_eq!(minify(&ours), ours.clone());
        }
    }

    #[test]
    fn strings_decode_like_serde_json(s in any::<String>()) {
        let text = serde_json::to_string(&s).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let parsed = json::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(parsed.as_str(), Some(s.as_str()));
        let mut out = Vec::new();
        json::write_str(&s, &mut out);
        let back: String = serde_json::from_slice(&out)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, s);
    }

    #[test]
    fn arbitrary_text_never_panics(s in "[\\[\\]{}\",:0-9eE.+\\-a-z\\\\ ]{0,40}") {
        // Whatever it decides, it must agree with serde_json on acceptance for these inputs,
        // except for serde_json's different depth counting (not reachable at this size).
        let ours = json::parse(&s).is_ok();
        let theirs = serde_json::from_str::<J>(&s).is_ok();
        prop_assert_eq!(ours, theirs, "{:?}", s);
    }
}

#[test]
fn member_order_is_kept() {
    let text = r#"{"z":1,"a":{"y":[],"b":null},"m":"x"}"#;
    assert_eq!(minify(text), text);
    let parsed = json::parse(text).ok();
    let keys: Vec<&str> = parsed
        .as_ref()
        .and_then(Json::as_object)
        .map(|m| m.iter().map(|(k, _)| &**k).collect())
        .unwrap_or_default();
    assert_eq!(keys, ["z", "a", "m"]);
}
