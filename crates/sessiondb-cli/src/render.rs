//! Checking a reply's status and showing a successful reply readably.

use std::collections::HashMap;

use serde_json::value::RawValue;
use serde_json::Value;
use sessiondb_client::{Error, Reply};

use crate::command::{Render, Request};

/// Checks the reply to `request` and returns its readable form, or the failure as an error.
pub fn outcome(request: &Request, reply_text: &str) -> Result<String, Error> {
    let reply = Reply::parse(reply_text)?;
    let body = reply.expect_status(request.success)?;
    let field = |k: &str| body.get(k).map(scalar).unwrap_or_default();
    Ok(match &request.render {
        Render::Ok => "OK".to_owned(),
        Render::Token => field("tkn"),
        Render::Count => field("cnt"),
        Render::Saved => format!("saved {} in {} ms", field("name"), field("duration")),
        Render::Loaded => format!(
            "loaded {}: {} sessions, {} keys",
            field("name"),
            field("sessions"),
            field("keys")
        ),
        Render::Lines(member) => match body.get(*member) {
            Some(Value::Array(items)) => items.iter().map(scalar).collect::<Vec<_>>().join("\n"),
            _ => String::new(),
        },
        Render::Members => body
            .iter()
            .filter(|(k, _)| k.as_str() != "st")
            .map(|(k, v)| format!("{k}: {}", scalar(v)))
            .collect::<Vec<_>>()
            .join("\n"),
        Render::Values(keys) => values(reply_text, keys)?,
    })
}

/// Shows strings without quotes and everything else as compact JSON.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `key: value` per requested key, in request order, with values' text exactly as the server sent
/// it (so stored objects show their members in stored order); `(nil)` for keys that do not exist.
fn values(reply_text: &str, keys: &[String]) -> Result<String, Error> {
    let bad = |e: serde_json::Error| Error::Protocol(format!("cannot read keys: {e}"));
    let outer: HashMap<String, HashMap<String, Box<RawValue>>> =
        serde_json::from_str(reply_text).map_err(bad)?;
    let found: HashMap<String, Box<RawValue>> = match outer.values().next() {
        Some(body) => match body.get("keys") {
            Some(raw) => serde_json::from_str(raw.get()).map_err(bad)?,
            None => HashMap::new(),
        },
        None => HashMap::new(),
    };
    let mut seen = std::collections::HashSet::new();
    let lines: Vec<String> = keys
        .iter()
        .filter(|k| seen.insert(k.as_str()))
        .map(|k| match found.get(k) {
            Some(v) => format!("{k}: {}", v.get()),
            None => format!("{k}: (nil)"),
        })
        .collect();
    Ok(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::parse;

    fn run(line: &str, reply: &str) -> Result<String, Error> {
        let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        outcome(&parse(&words, None).unwrap(), reply)
    }

    #[test]
    fn readable_forms() {
        assert_eq!(
            run(
                "sh new",
                r#"{"SH_NEW_RSP":{"st":1,"tkn":16351792548006066062}}"#
            )
            .unwrap(),
            "16351792548006066062"
        );
        assert_eq!(
            run("kv set a=1", r#"{"KV_SET_RSP":{"st":1}}"#).unwrap(),
            "OK"
        );
        assert_eq!(
            run(
                "sh get 5 name o age name",
                r#"{"SH_GET_RSP":{"keys":{"o":{"b":1,"a":2},"name":"Alice"},"st":1}}"#
            )
            .unwrap(),
            "name: \"Alice\"\no: {\"b\":1,\"a\":2}\nage: (nil)"
        );
        assert_eq!(
            run("kv keys", r#"{"KV_KEYS_RSP":{"st":1,"keys":["a","b"]}}"#).unwrap(),
            "a\nb"
        );
        assert_eq!(
            run(
                "kv save s1",
                r#"{"KV_SAVE_RSP":{"st":121,"name":"s1","duration":3}}"#
            )
            .unwrap(),
            "saved s1 in 3 ms"
        );
        assert_eq!(
            run(
                "sh info-all",
                r#"{"SH_INFO_ALL_RSP":{"st":1,"totalSessions":3,"totalKeys":1}}"#
            )
            .unwrap(),
            "totalKeys: 1\ntotalSessions: 3"
        );
    }

    #[test]
    fn failures_name_the_status() {
        let e = run("sh get 5 a", r#"{"SH_GET_RSP":{"st":100}}"#).unwrap_err();
        assert_eq!(e.to_string(), "SessionNotExist (100)");
        // A save answered 1 is not a success: saves succeed with 121.
        assert!(run("kv save s1", r#"{"KV_SAVE_RSP":{"st":1}}"#).is_err());
        let e = run("kv count", r#"{"ERR":{"st":10}}"#).unwrap_err();
        assert_eq!(e.to_string(), "CommandNotExist (10)");
    }
}
