//! [`Pull`]: reading one JSON document piece by piece, without a tree.

use std::borrow::Cow;

use super::scan::Parser;
use super::{Json, JsonError, Sink};

/// A pull parser: the caller reads one document piece by piece, in order, without a [`Json`]
/// tree. It runs the tree parser's own code, so every piece is held to §3.3 exactly as
/// [`parse`] holds it; a caller that reads a whole document and sees [`Pull::at_end`] has
/// validated what [`parse`] would accept. Each read skips whitespace first; any error leaves the
/// position unspecified (callers give up on the document).
pub struct Pull<'a> {
    p: Parser<'a>,
}

impl<'a> Pull<'a> {
    /// A reader at the start of `text`.
    pub fn new(text: &'a str) -> Self {
        Self {
            p: Parser {
                src: text,
                bytes: text.as_bytes(),
                pos: 0,
            },
        }
    }

    /// Consumes the structural byte `b` (`{`, `}`, `[`, `]`, `:` or `,`) if it comes next.
    pub fn eat(&mut self, b: u8) -> bool {
        self.p.skip_ws();
        if self.p.bytes.get(self.p.pos) == Some(&b) {
            self.p.pos += 1;
            true
        } else {
            false
        }
    }

    /// Reads a string if one comes next (`Ok(None)` and nothing consumed otherwise).
    pub fn string(&mut self) -> Result<Option<Cow<'a, str>>, JsonError> {
        self.p.skip_ws();
        if self.p.bytes.get(self.p.pos) != Some(&b'"') {
            return Ok(None);
        }
        self.p.string().map(Some)
    }

    /// Reads one value (enclosing container at nesting level `depth`) and returns its minified
    /// text, as [`Pull::value_to`] writes it. A string with no escape is already its own minified
    /// text (the writer escapes only quotes, backslashes and control characters, none of which it
    /// holds), so it is returned straight from the source without a copy; anything else is
    /// minified into `scratch`, which is sized once to what is left of the text.
    pub fn value_text<'s>(
        &mut self,
        depth: usize,
        scratch: &'s mut String,
    ) -> Result<&'s str, JsonError>
    where
        'a: 's,
    {
        self.p.skip_ws();
        let start = self.p.pos;
        if self.p.bytes.get(start) == Some(&b'"') {
            if let Cow::Borrowed(_) = self.p.string()? {
                return Ok(self.p.src.get(start..self.p.pos).unwrap_or_default());
            }
            self.p.pos = start;
        }
        if scratch.capacity() == 0 {
            scratch.reserve(self.remaining());
        }
        scratch.clear();
        self.p.copy_value(depth, scratch)?;
        Ok(scratch)
    }

    /// Reads a scalar (string, number, `true`, `false`, `null`) if one comes next; `Ok(None)` and
    /// nothing consumed before a container.
    pub fn scalar(&mut self) -> Result<Option<Json<'a>>, JsonError> {
        self.p.skip_ws();
        match self.p.peek()? {
            b'{' | b'[' => Ok(None),
            // Depth is irrelevant to a scalar.
            _ => self.p.value(0).map(Some),
        }
    }

    /// Reads one value of any kind whose enclosing container is at nesting level `depth` (0 for
    /// a document's root value), writing it minified to `out`: the same text [`Json::write_to`]
    /// writes for the tree [`parse`] would build.
    pub fn value_to<S: Sink + ?Sized>(
        &mut self,
        depth: usize,
        out: &mut S,
    ) -> Result<(), JsonError> {
        self.p.skip_ws();
        self.p.copy_value(depth, out)
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.p.bytes.len().saturating_sub(self.p.pos)
    }

    /// Whether only whitespace is left.
    pub fn at_end(&mut self) -> bool {
        self.p.skip_ws();
        self.p.pos == self.p.bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;
    use crate::json::tests::nested_arrays;

    /// What [`Pull::value_to`] makes of `text` read as one document: its minified text, or
    /// `None` where it rejects it (or leaves trailing data).
    fn pulled(text: &str) -> Option<String> {
        let mut pull = Pull::new(text);
        let mut out = String::new();
        pull.value_to(0, &mut out).ok()?;
        pull.at_end().then_some(out)
    }

    #[test]
    fn pull_accepts_and_minifies_exactly_what_the_tree_does() {
        let docs = [
            "",
            " { \"a\" : [ 1 , -2.5e3 , true , false , null , \"x\\u0041\\n\" ] , \"b\" : { } } ",
            "[]",
            "[ ]",
            "{\"k\":\"\\ud83d\\ude00\\/\"}",
            "{\"KV_COUNT\":{}} {\"KV_COUNT\":{}}",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{1:1}",
            "[1 2]",
            "01",
            "1e400",
            "[1e309]",
            "-0.0e-5",
            "\"a\u{1}b\"",
            "\"\\ud800\\u0041\"",
            "\"\\udc00\"",
            "\"\\x\"",
            "\u{feff}{}",
            "truex",
            "nul",
            "\"unterminated",
            "{\"a\":[1,{\"b\":[2,\"c\"]}],\"d\":\"\u{e9}\"}",
        ];
        for text in docs {
            let tree = parse(text).ok().map(|j| {
                let mut s = String::new();
                j.write_to(&mut s);
                s
            });
            assert_eq!(pulled(text), tree, "{text:?}");
        }
    }

    #[test]
    fn pull_depth_is_counted_as_the_tree_counts_it() {
        assert!(pulled(&nested_arrays(128)).is_some());
        assert!(pulled(&nested_arrays(129)).is_none());
        assert!(pulled(&nested_arrays(1_000_000)).is_none());
        // A value read inside an envelope at nesting 3, as a request's stored values are.
        let value_at_3 = |n: usize| {
            let text = nested_arrays(n);
            let mut pull = Pull::new(&text);
            let mut out = String::new();
            pull.value_to(3, &mut out).is_ok() && pull.at_end()
        };
        assert!(value_at_3(125));
        assert!(!value_at_3(126));
    }

    #[test]
    fn pull_reads_pieces_in_order() {
        let mut pull = Pull::new(r#" { "tkn" : 12 , "keys" : [ "a\"b" ] } "#);
        assert!(pull.eat(b'{'));
        assert!(!pull.eat(b'}'));
        assert_eq!(pull.string(), Ok(Some(Cow::Borrowed("tkn"))));
        assert!(pull.eat(b':'));
        assert_eq!(pull.scalar(), Ok(Some(Json::Number("12"))));
        assert!(pull.eat(b','));
        assert_eq!(pull.string(), Ok(Some(Cow::Borrowed("keys"))));
        assert!(pull.eat(b':'));
        assert_eq!(pull.scalar(), Ok(None));
        assert_eq!(pull.string(), Ok(None));
        assert!(pull.eat(b'['));
        assert_eq!(pull.string(), Ok(Some(Cow::Owned("a\"b".to_owned()))));
        assert!(pull.eat(b']'));
        assert!(!pull.at_end());
        assert!(pull.eat(b'}'));
        assert!(pull.at_end());
    }

    #[test]
    fn value_text_is_what_value_to_writes() {
        let plain = [r#""abc""#, r#"  "é €😀 /""#, r#""""#];
        let other = [
            r#""a\"b""#,
            r#""\u0041""#,
            " 12",
            "[1, 2]",
            "{ \"a\" : null }",
            "true",
        ];
        let mut scratch = String::new();
        for text in plain.iter().chain(&other) {
            let mut pull = Pull::new(text);
            let got = pull.value_text(0, &mut scratch).expect("valid").to_owned();
            assert_eq!(Some(got), pulled(text), "{text:?}");
            assert!(pull.at_end(), "{text:?}");
        }
        // A plain string is borrowed from the source: scratch is not even allocated.
        let mut fresh = String::new();
        let text = r#""abc""#;
        let got = Pull::new(text).value_text(0, &mut fresh).expect("valid");
        assert_eq!(got.as_ptr(), text.as_ptr());
        assert_eq!(fresh.capacity(), 0);
        // Broken values are errors, as value_to reports them.
        for text in ["\"open", "\"a\u{1}b\"", "[1,", "1e400"] {
            assert!(
                Pull::new(text).value_text(0, &mut scratch).is_err(),
                "{text:?}"
            );
        }
    }
}
