//! Parsing replies and reading their members (docs/PROTOCOL.md §3.2, §16).

use serde_json::{Map, Value};

use crate::error::{Error, Result, Status};

/// A decoded reply: its name (`KV_GET_RSP`, `ERR`) and its body (always holds `st`).
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The reply's single member name.
    pub name: String,
    /// The reply's body object.
    pub body: Map<String, Value>,
}

impl Reply {
    /// Parses one reply message: a JSON object with exactly one member whose value is an object
    /// holding a uint `st`.
    pub fn parse(text: &str) -> Result<Reply> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| Error::Protocol(format!("reply is not JSON ({e})")))?;
        let Value::Object(outer) = value else {
            return Err(Error::Protocol("reply is not an object".into()));
        };
        if outer.len() != 1 {
            return Err(Error::Protocol(format!(
                "reply has {} members, expected 1",
                outer.len()
            )));
        }
        let Some((name, body)) = outer.into_iter().next() else {
            return Err(Error::Protocol("reply is empty".into()));
        };
        let Value::Object(body) = body else {
            return Err(Error::Protocol(format!("{name} body is not an object")));
        };
        if !body.get("st").is_some_and(Value::is_u64) {
            return Err(Error::Protocol(format!("{name} has no numeric st")));
        }
        Ok(Reply { name, body })
    }

    /// The reply's status.
    pub fn status(&self) -> Status {
        // `parse` guarantees `st` is a u64.
        Status(self.body.get("st").and_then(Value::as_u64).unwrap_or(0))
    }

    /// The server's optional human-readable message.
    pub fn message(&self) -> Option<&str> {
        self.body.get("m").and_then(Value::as_str)
    }

    /// Returns the body when the status is `success`, otherwise the failure as [`Error::Status`].
    pub fn expect_status(self, success: Status) -> Result<Map<String, Value>> {
        let status = self.status();
        if status == success {
            Ok(self.body)
        } else {
            Err(Error::Status {
                status,
                message: self.message().map(str::to_owned),
                reply: self.name,
            })
        }
    }
}

/// Reads a required uint member of a success body.
pub(crate) fn get_u64(body: &Map<String, Value>, key: &str) -> Result<u64> {
    body.get(key)
        .and_then(Value::as_u64)
        .ok_or_else(|| missing(key, "an unsigned integer"))
}

/// Reads a required bool member of a success body.
pub(crate) fn get_bool(body: &Map<String, Value>, key: &str) -> Result<bool> {
    body.get(key)
        .and_then(Value::as_bool)
        .ok_or_else(|| missing(key, "a bool"))
}

/// Reads a required string member of a success body.
pub(crate) fn get_string(body: &Map<String, Value>, key: &str) -> Result<String> {
    body.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| missing(key, "a string"))
}

/// Takes a required object member out of a success body.
pub(crate) fn take_object(body: &mut Map<String, Value>, key: &str) -> Result<Map<String, Value>> {
    match body.remove(key) {
        Some(Value::Object(map)) => Ok(map),
        _ => Err(missing(key, "an object")),
    }
}

/// Reads a required array of strings.
pub(crate) fn get_strings(body: &Map<String, Value>, key: &str) -> Result<Vec<String>> {
    let items = body
        .get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| missing(key, "an array"))?;
    items
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| missing(key, "an array of strings"))
}

/// Reads a required array of uints.
pub(crate) fn get_u64s(body: &Map<String, Value>, key: &str) -> Result<Vec<u64>> {
    let items = body
        .get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| missing(key, "an array"))?;
    items
        .iter()
        .map(Value::as_u64)
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| missing(key, "an array of unsigned integers"))
}

fn missing(key: &str, what: &str) -> Error {
    Error::Protocol(format!("member `{key}` is missing or not {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_success_with_big_token() {
        let r = Reply::parse(r#"{"SH_NEW_RSP":{"st":1,"tkn":16351792548006066062}}"#).unwrap();
        assert_eq!(r.name, "SH_NEW_RSP");
        assert_eq!(r.status(), Status::OK);
        let body = r.expect_status(Status::OK).unwrap();
        assert_eq!(get_u64(&body, "tkn").unwrap(), 16351792548006066062);
    }

    #[test]
    fn failure_becomes_status_error_with_message() {
        let r = Reply::parse(r#"{"KV_RMV_RSP":{"m":"keys is empty","st":42}}"#).unwrap();
        match r.expect_status(Status::OK) {
            Err(Error::Status {
                status,
                reply,
                message,
            }) => {
                assert_eq!(status, Status(42));
                assert_eq!(reply, "KV_RMV_RSP");
                assert_eq!(message.as_deref(), Some("keys is empty"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn err_reply_is_a_failure() {
        let r = Reply::parse(r#"{"ERR":{"st":10}}"#).unwrap();
        let e = r.expect_status(Status::OK).unwrap_err();
        assert_eq!(e.status(), Some(Status(10)));
    }

    #[test]
    fn save_success_is_121_not_1() {
        let text = r#"{"KV_SAVE_RSP":{"st":121,"name":"a","duration":3}}"#;
        assert!(Reply::parse(text)
            .unwrap()
            .expect_status(Status::SAVE_COMPLETE)
            .is_ok());
        assert!(Reply::parse(text)
            .unwrap()
            .expect_status(Status::OK)
            .is_err());
    }

    #[test]
    fn malformed_replies_are_protocol_errors() {
        for text in [
            "",
            "[1]",
            "{}",
            r#"{"A":{"st":1},"B":{"st":1}}"#,
            r#"{"A":5}"#,
            r#"{"A":{}}"#,
            r#"{"A":{"st":"1"}}"#,
            r#"{"A":{"st":-1}}"#,
        ] {
            assert!(
                matches!(Reply::parse(text), Err(Error::Protocol(_))),
                "{text:?} should be rejected"
            );
        }
    }

    #[test]
    fn member_readers_reject_wrong_types() {
        let body: Map<String, Value> =
            serde_json::from_str(r#"{"keys":["a",1],"tkns":[1,"x"],"cnt":-1,"name":5}"#).unwrap();
        assert!(get_strings(&body, "keys").is_err());
        assert!(get_u64s(&body, "tkns").is_err());
        assert!(get_u64(&body, "cnt").is_err());
        assert!(get_string(&body, "name").is_err());
        assert!(get_bool(&body, "absent").is_err());
    }
}
