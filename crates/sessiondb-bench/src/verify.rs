//! Verification of sessiondb's JSON replies without building a document tree.
//!
//! The reply is walked once with serde visitors: the envelope's single member must carry the
//! expected `<CMD>_RSP` name, `st` must be 1, and the members the operation depends on (`tkn`,
//! `keys` with exactly the keys asked for and values of the stored size) must be present.

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// What one reply must contain.
#[derive(Debug)]
pub struct Expect<'a> {
    /// The reply's member name, e.g. `SH_GET_RSP`.
    pub name: &'a str,
    /// For reads: the keys the reply's `keys` object must hold, each exactly once.
    pub keys: Option<&'a [String]>,
    /// Length of every value's string (the benchmark stores strings of one size).
    pub value_len: usize,
    /// For `SH_END`: the token the reply must echo.
    pub tkn: Option<u64>,
    /// For `SH_NEW`: the reply must carry a non-zero token, which is returned.
    pub wants_token: bool,
}

/// Checks `text` against `expect`; returns the new token for `SH_NEW`.
pub fn check_ws_reply(text: &[u8], expect: &Expect<'_>) -> Result<Option<u64>, String> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let body = EnvelopeSeed(expect)
        .deserialize(&mut de)
        .and_then(|body| de.end().map(|()| body))
        .map_err(|e| format!("{e} in {}", String::from_utf8_lossy(text)))?;
    let fail = |why: &str| Err(format!("{why} in {}", String::from_utf8_lossy(text)));
    if body.st != Some(1) {
        return fail("status is not 1");
    }
    if let Some(want) = expect.tkn {
        if body.tkn != Some(want) {
            return fail("wrong tkn");
        }
    }
    if let Some(keys) = expect.keys {
        if body.keys_found != Some(keys.len()) {
            return fail("not every key asked for was returned");
        }
    }
    if expect.wants_token {
        return match body.tkn {
            Some(t) if t != 0 => Ok(Some(t)),
            _ => fail("no token"),
        };
    }
    Ok(None)
}

/// The members of a reply body the verifier looks at.
#[derive(Debug, Default)]
struct Body {
    st: Option<u64>,
    tkn: Option<u64>,
    /// Number of expected keys found in `keys` (`None` when the member is absent).
    keys_found: Option<usize>,
}

/// A string that borrows from the input when it has no escapes.
struct Text<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

struct EnvelopeSeed<'e, 'a>(&'e Expect<'a>);

impl<'de> DeserializeSeed<'de> for EnvelopeSeed<'_, '_> {
    type Value = Body;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Body, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EnvelopeSeed<'_, '_> {
    type Value = Body;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an object with the single member {}", self.0.name)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Body, A::Error> {
        use serde::de::Error;
        let Some(Text(name)) = map.next_key::<Text<'de>>()? else {
            return Err(A::Error::custom("empty reply object"));
        };
        if name != self.0.name {
            return Err(A::Error::custom(format!(
                "reply {name}, expected {}",
                self.0.name
            )));
        }
        let body = map.next_value_seed(BodySeed(self.0))?;
        if map.next_key::<IgnoredAny>()?.is_some() {
            return Err(A::Error::custom("reply object has more than one member"));
        }
        Ok(body)
    }
}

struct BodySeed<'e, 'a>(&'e Expect<'a>);

impl<'de> DeserializeSeed<'de> for BodySeed<'_, '_> {
    type Value = Body;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Body, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for BodySeed<'_, '_> {
    type Value = Body;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a reply body object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Body, A::Error> {
        let mut body = Body::default();
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            match key.as_ref() {
                "st" => body.st = Some(map.next_value()?),
                "tkn" => body.tkn = map.next_value()?,
                "keys" if self.0.keys.is_some() => {
                    body.keys_found = Some(map.next_value_seed(KeysSeed(self.0))?);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(body)
    }
}

struct KeysSeed<'e, 'a>(&'e Expect<'a>);

impl<'de> DeserializeSeed<'de> for KeysSeed<'_, '_> {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for KeysSeed<'_, '_> {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a keys object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<usize, A::Error> {
        use serde::de::Error;
        let wanted = self.0.keys.unwrap_or_default();
        let mut seen = 0u64;
        while let Some((Text(key), Text(value))) = map.next_entry::<Text<'de>, Text<'de>>()? {
            let Some(i) = wanted.iter().position(|w| *w == key) else {
                return Err(A::Error::custom(format!("key {key} was not asked for")));
            };
            if seen & (1 << i) != 0 {
                return Err(A::Error::custom(format!("key {key} returned twice")));
            }
            if value.len() != self.0.value_len {
                return Err(A::Error::custom(format!(
                    "value of {key} has the wrong size"
                )));
            }
            seen |= 1 << i;
        }
        Ok(seen.count_ones() as usize)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn expect<'a>(name: &'a str, keys: Option<&'a [String]>) -> Expect<'a> {
        Expect {
            name,
            keys,
            value_len: 3,
            tkn: None,
            wants_token: false,
        }
    }

    #[test]
    fn accepts_members_in_any_order_and_extra_members() {
        let keys = ["a".to_owned(), "b".to_owned()];
        let e = expect("SH_GET_RSP", Some(&keys));
        let text = br#"{"SH_GET_RSP":{"keys":{"b":"xyz","a":"xyz"},"m":"x","st":1}}"#;
        assert_eq!(check_ws_reply(text, &e), Ok(None));
    }

    #[test]
    fn escaped_strings_are_compared_after_unescaping() {
        let keys = ["a".to_owned()];
        let e = expect("KV_GET_RSP", Some(&keys));
        let text = br#"{"KV_GET_RSP":{"st":1,"keys":{"\u0061":"x\u0079z"}}}"#;
        assert_eq!(check_ws_reply(text, &e), Ok(None));
    }

    #[test]
    fn rejects_wrong_name_status_keys_and_sizes() {
        let keys = ["a".to_owned(), "b".to_owned()];
        let e = expect("SH_GET_RSP", Some(&keys));
        for bad in [
            &br#"{"ERR":{"st":3}}"#[..],
            br#"{"SH_GET_RSP":{"st":100}}"#,
            br#"{"SH_GET_RSP":{"st":1,"keys":{"a":"xyz"}}}"#,
            br#"{"SH_GET_RSP":{"st":1,"keys":{"a":"xyz","c":"xyz"}}}"#,
            br#"{"SH_GET_RSP":{"st":1,"keys":{"a":"xyz","b":"xy"}}}"#,
            br#"{"SH_GET_RSP":{"st":1,"keys":{"a":"xyz","b":7}}}"#,
            br#"{"SH_GET_RSP":{"st":1,"keys":{"a":"xyz","b":"xyz"}},"X":{}}"#,
            br#"{"SH_GET_RSP":{"st":1,"keys":{"a":"xyz","b":"xyz"}}} x"#,
            br#"not json"#,
        ] {
            assert!(
                check_ws_reply(bad, &e).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn returns_the_new_token_and_checks_echoed_tokens() {
        let mut e = expect("SH_NEW_RSP", None);
        e.wants_token = true;
        assert_eq!(
            check_ws_reply(br#"{"SH_NEW_RSP":{"st":1,"tkn":18446744073709551615}}"#, &e),
            Ok(Some(u64::MAX))
        );
        assert!(check_ws_reply(br#"{"SH_NEW_RSP":{"st":1}}"#, &e).is_err());
        let mut e = expect("SH_END_RSP", None);
        e.tkn = Some(5);
        assert_eq!(
            check_ws_reply(br#"{"SH_END_RSP":{"st":1,"tkn":5}}"#, &e),
            Ok(None)
        );
        assert!(check_ws_reply(br#"{"SH_END_RSP":{"st":1,"tkn":6}}"#, &e).is_err());
    }
}
