//! Strict RFC 8259 JSON (`PROTOCOL.md` §3.3): the one parser used for requests and data files.
//!
//! The parser is zero-copy where it can be: strings without escapes and number literals borrow
//! from the input text; object member order is kept. It rejects everything §3.3 rejects: a BOM,
//! trailing data, comments, `NaN`/`Infinity`, control characters inside strings, unpaired UTF-16
//! surrogates, numbers whose magnitude overflows an IEEE-754 double, and nesting deeper than
//! [`MAX_DEPTH`].
//!
//! Four parts: the tree ([`Json`], built by [`parse`]), the pull reader ([`Pull`], which reads a
//! document piece by piece without a tree), the scanner both run (`scan`: the §3.3 rules, in one
//! place), and writing (`write`: [`write_str`] and the [`Sink`]s it writes to).
//!
//! Both readers stay: the pull reader is what the hot requests and the data files need (no
//! tree to build and drop), and the tree is what validating any other request needs (members
//! looked up by name, in the protocol's order). They cannot disagree on what is valid JSON,
//! since both run the one scanner.

mod pull;
mod scan;
mod write;

use std::borrow::Cow;

use crate::value::Value;

pub use pull::Pull;
use scan::Parser;
pub(crate) use write::find_special;
pub use write::{write_str, Sink};

/// Deepest nesting accepted: a scalar has depth 0, a container 1 + the largest depth of its members.
pub const MAX_DEPTH: usize = 128;

/// One parsed JSON value, borrowing from the text it was parsed from where possible.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as its (valid, finite) literal text.
    Number(&'a str),
    /// A string, unescaped; borrowed when the source had no escapes.
    String(Cow<'a, str>),
    /// An array.
    Array(Vec<Json<'a>>),
    /// An object, members in source order.
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

/// Why a text is not acceptable JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// The text ended inside a value (or was empty).
    #[error("unexpected end of JSON text")]
    UnexpectedEnd,
    /// A byte that cannot start or continue a value here.
    #[error("unexpected character at byte {0}")]
    Unexpected(usize),
    /// Something other than whitespace follows the value.
    #[error("trailing data at byte {0}")]
    TrailingData(usize),
    /// A raw control character (U+0000..U+001F) inside a string.
    #[error("control character in string at byte {0}")]
    ControlCharacter(usize),
    /// An unknown escape or a malformed `\u` escape.
    #[error("invalid escape at byte {0}")]
    InvalidEscape(usize),
    /// A `\u` escape that leaves a UTF-16 surrogate unpaired.
    #[error("unpaired surrogate at byte {0}")]
    UnpairedSurrogate(usize),
    /// A number whose magnitude is too large for an IEEE-754 double.
    #[error("number out of range at byte {0}")]
    NumberOutOfRange(usize),
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("nesting deeper than {MAX_DEPTH} at byte {0}")]
    TooDeep(usize),
}

/// Parses exactly one JSON value, optionally surrounded by whitespace, under §3.3's rules.
pub fn parse(text: &str) -> Result<Json<'_>, JsonError> {
    let mut p = Parser {
        src: text,
        bytes: text.as_bytes(),
        pos: 0,
    };
    p.skip_ws();
    let value = p.value(0)?;
    p.skip_ws();
    if p.pos != p.bytes.len() {
        return Err(JsonError::TrailingData(p.pos));
    }
    Ok(value)
}

impl<'a> Json<'a> {
    /// Writes the value as minified JSON: no whitespace, member order kept, strings re-escaped
    /// minimally, number literals copied verbatim (they are valid and parse to the same double).
    pub fn write_minified(&self, out: &mut String) {
        self.write_to(out);
    }

    /// [`Json::write_minified`] into any [`Sink`] (for example a reply byte buffer).
    pub fn write_to<S: Sink + ?Sized>(&self, out: &mut S) {
        match self {
            Json::Null => out.put("null"),
            Json::Bool(true) => out.put("true"),
            Json::Bool(false) => out.put("false"),
            Json::Number(n) => out.put(n),
            Json::String(s) => write_str(s, out),
            Json::Array(items) => {
                out.put_ascii(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.put_ascii(b',');
                    }
                    item.write_to(out);
                }
                out.put_ascii(b']');
            }
            Json::Object(members) => {
                out.put_ascii(b'{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.put_ascii(b',');
                    }
                    write_str(k, out);
                    out.put_ascii(b':');
                    v.write_to(out);
                }
                out.put_ascii(b'}');
            }
        }
    }

    /// The value as a stored [`Value`] (minified JSON text).
    pub fn to_value(&self) -> Value {
        let mut scratch = String::new();
        self.to_value_with(&mut scratch)
    }

    /// Like [`Json::to_value`], reusing `scratch` as the minification buffer so converting many
    /// values costs one buffer, not one per value.
    pub fn to_value_with(&self, scratch: &mut String) -> Value {
        match self {
            // Literals need no minification: skip the buffer.
            Json::Null => Value::from_json_unchecked("null"),
            Json::Bool(true) => Value::from_json_unchecked("true"),
            Json::Bool(false) => Value::from_json_unchecked("false"),
            Json::Number(n) => Value::from_json_unchecked(n),
            _ => {
                scratch.clear();
                self.write_to(scratch);
                Value::from_json_unchecked(scratch)
            }
        }
    }

    /// The value as a uint (`PROTOCOL.md` §6.1): a non-negative integer literal with no sign,
    /// fraction or exponent, at most 2^64−1.
    pub fn as_uint(&self) -> Option<u64> {
        let Json::Number(n) = self else { return None };
        let mut v: u64 = 0;
        for b in n.bytes() {
            if !b.is_ascii_digit() {
                return None; // '-', '.', 'e', 'E', '+'
            }
            v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        }
        // A parsed literal is never empty, but a hand-built one might be.
        if n.is_empty() {
            return None;
        }
        Some(v)
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// The bool, if this is `true` or `false`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The items, if this is an array.
    pub fn as_array(&self) -> Option<&[Json<'a>]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The members, if this is an object.
    pub fn as_object(&self) -> Option<&[(Cow<'a, str>, Json<'a>)]> {
        match self {
            Json::Object(members) => Some(members),
            _ => None,
        }
    }

    /// The first member named `key`, if this is an object that has one.
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.as_object()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn ok(text: &str) -> Json<'_> {
        match parse(text) {
            Ok(v) => v,
            Err(e) => panic!("{text:?} should parse: {e}"),
        }
    }

    pub(crate) fn minified(text: &str) -> String {
        let mut out = String::new();
        ok(text).write_minified(&mut out);
        out
    }

    pub(crate) fn nested_arrays(n: usize) -> String {
        format!("{}{}", "[".repeat(n), "]".repeat(n))
    }

    #[test]
    fn accepts_scalars_and_containers() {
        assert_eq!(ok("null"), Json::Null);
        assert_eq!(ok(" true "), Json::Bool(true));
        assert_eq!(ok("\t\r\nfalse\n"), Json::Bool(false));
        assert_eq!(ok("-0"), Json::Number("-0"));
        assert_eq!(ok("1.5e-3"), Json::Number("1.5e-3"));
        assert_eq!(ok("\"x\""), Json::String(Cow::Borrowed("x")));
        assert_eq!(ok("[]"), Json::Array(vec![]));
        assert_eq!(ok("{}"), Json::Object(vec![]));
        assert_eq!(
            ok(r#"{"b":1,"a":[2,{"c":null}]}"#).get("a"),
            Some(&Json::Array(vec![
                Json::Number("2"),
                Json::Object(vec![(Cow::Borrowed("c"), Json::Null)])
            ]))
        );
    }

    #[test]
    fn rejects_what_section_3_3_rejects() {
        let bad = [
            "",
            "   ",
            "{\"KV_SET\":",
            "{\"KV_COUNT\":{}} {\"KV_COUNT\":{}}",
            "{\"KV_COUNT\":{}} // comment",
            "/* c */ 1",
            "\u{feff}{}",
            "[1,]",
            "{\"a\":1,}",
            "NaN",
            "Infinity",
            "-Infinity",
            "01",
            "1.",
            ".5",
            "1e",
            "1e+",
            "+1",
            "--1",
            "'a'",
            "\"a\u{1}b\"",
            "\"tab\there\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
            "\"\\ud800x\"",
            "\"\\ud800\\n\"",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\u12g4\"",
            "1e400",
            "-1e400",
            "[1e309]",
            "tru",
            "nul",
            "truex",
            "{\"a\" 1}",
            "{1:1}",
            "[1 2]",
            "\"unterminated",
        ];
        for text in bad {
            assert!(parse(text).is_err(), "{text:?} should be rejected");
        }
    }

    #[test]
    fn overflow_is_judged_by_the_double_value() {
        assert!(parse(&format!("1{}", "0".repeat(400))).is_err());
        assert!(parse(&format!("-1{}", "0".repeat(400))).is_err());
        assert!(parse(&format!("1{}", "0".repeat(307))).is_ok()); // 1e307
        assert!(parse("1.7976931348623157e308").is_ok());
        assert!(parse("1e-400").is_ok()); // underflow to 0 is a valid double
        assert!(parse("0e999999").is_ok());
        assert!(parse(&format!("0.{}1", "0".repeat(500))).is_ok());
    }

    #[test]
    fn surrogate_pairs_decode() {
        assert_eq!(
            ok(r#""\ud83d\ude00""#),
            Json::String(Cow::Owned("😀".to_owned()))
        );
        assert_eq!(
            ok(r#""a\u00e9\n\/""#),
            Json::String(Cow::Owned("aé\n/".to_owned()))
        );
    }

    #[test]
    fn depth_boundary_matches_the_protocol_example() {
        let at = |n: usize| format!(r#"{{"KV_SET":{{"keys":{{"v":{}}}}}}}"#, nested_arrays(n));
        assert!(parse(&at(125)).is_ok());
        assert!(matches!(parse(&at(126)), Err(JsonError::TooDeep(_))));
        assert!(parse(&nested_arrays(128)).is_ok());
        assert!(parse(&nested_arrays(129)).is_err());
        // Far deeper input is rejected without exhausting the stack.
        assert!(parse(&nested_arrays(1_000_000)).is_err());
    }

    #[test]
    fn minified_output_keeps_order_and_escapes_minimally() {
        assert_eq!(
            minified(" { \"b\" : 1 , \"a\" : [ true , null , 1.0e2 ] } "),
            r#"{"b":1,"a":[true,null,1.0e2]}"#
        );
        assert_eq!(
            minified(r#""\u0041\u00e9\"\\\/\b\f\n\r\t\u0001\u001f""#),
            "\"Aé\\\"\\\\/\\b\\f\\n\\r\\t\\u0001\\u001f\""
        );
        assert_eq!(minified("\"\u{7f}\u{2028}\""), "\"\u{7f}\u{2028}\"");
    }

    #[test]
    fn uint_follows_section_6_1() {
        let uint = |t: &str| ok(t).as_uint();
        assert_eq!(uint("0"), Some(0));
        assert_eq!(uint("7"), Some(7));
        assert_eq!(uint("18446744073709551615"), Some(u64::MAX));
        for t in [
            "-1",
            "-0",
            "10.0",
            "1e3",
            "18446744073709551616",
            "99999999999999999999",
            "1E3",
            "\"10\"",
            "null",
        ] {
            assert_eq!(uint(t), None, "{t}");
        }
        assert_eq!(uint("1844674407370955161"), Some(1_844_674_407_370_955_161));
        // Hand-built numbers that no parse produces.
        for n in ["+5", "", "5 ", "0x5"] {
            assert_eq!(Json::Number(n).as_uint(), None, "{n:?}");
        }
    }

    #[test]
    fn to_value_is_minified_text() {
        assert_eq!(ok(" [ 1 , \"x\" ] ").to_value().as_json(), r#"[1,"x"]"#);
        assert_eq!(ok("-1.5E+3").to_value().as_json(), "-1.5E+3");
        assert_eq!(ok("null").to_value().as_json(), "null");
    }
}
