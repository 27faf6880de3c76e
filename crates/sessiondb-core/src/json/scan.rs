//! The scanner behind both [`super::parse`] and [`super::Pull`]: every §3.3 rule (strings and
//! their escapes, numbers and their range, literals, nesting depth) is checked here, once.

use std::borrow::Cow;

use super::{find_special, write_str, Json, JsonError, Sink, MAX_DEPTH};

/// A position in a JSON text being read.
pub(super) struct Parser<'a> {
    pub(super) src: &'a str,
    pub(super) bytes: &'a [u8],
    pub(super) pos: usize,
}

impl<'a> Parser<'a> {
    pub(super) fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    pub(super) fn peek(&self) -> Result<u8, JsonError> {
        self.bytes
            .get(self.pos)
            .copied()
            .ok_or(JsonError::UnexpectedEnd)
    }

    /// Parses one value starting at `pos` (no leading whitespace). `depth` is the nesting level
    /// of the enclosing container (0 at top level).
    pub(super) fn value(&mut self, depth: usize) -> Result<Json<'a>, JsonError> {
        match self.peek()? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => Ok(Json::String(self.string()?)),
            b'-' | b'0'..=b'9' => self.number(),
            b't' => self.literal("true", Json::Bool(true)),
            b'f' => self.literal("false", Json::Bool(false)),
            b'n' => self.literal("null", Json::Null),
            _ => Err(JsonError::Unexpected(self.pos)),
        }
    }

    /// Like [`Parser::value`], writing the value minified to `out` instead of building it:
    /// the same checks in the same order, the same text as [`Json::write_to`].
    pub(super) fn copy_value<S: Sink + ?Sized>(
        &mut self,
        depth: usize,
        out: &mut S,
    ) -> Result<(), JsonError> {
        let (open, close) = match self.peek()? {
            b'{' => (b'{', b'}'),
            b'[' => (b'[', b']'),
            b'"' => {
                write_str(&self.string()?, out);
                return Ok(());
            }
            _ => {
                return match self.value(depth)? {
                    Json::Number(n) => {
                        out.put(n);
                        Ok(())
                    }
                    scalar => {
                        scalar.write_to(out);
                        Ok(())
                    }
                };
            }
        };
        let depth = depth + 1;
        if depth > MAX_DEPTH {
            return Err(JsonError::TooDeep(self.pos));
        }
        self.pos += 1;
        self.skip_ws();
        out.put_ascii(open);
        if self.peek()? == close {
            self.pos += 1;
            out.put_ascii(close);
            return Ok(());
        }
        loop {
            if open == b'{' {
                if self.peek()? != b'"' {
                    return Err(JsonError::Unexpected(self.pos));
                }
                write_str(&self.string()?, out);
                self.skip_ws();
                if self.peek()? != b':' {
                    return Err(JsonError::Unexpected(self.pos));
                }
                self.pos += 1;
                self.skip_ws();
                out.put_ascii(b':');
            }
            self.copy_value(depth, out)?;
            self.skip_ws();
            match self.peek()? {
                b',' => {
                    self.pos += 1;
                    self.skip_ws();
                    out.put_ascii(b',');
                }
                b if b == close => {
                    self.pos += 1;
                    out.put_ascii(close);
                    return Ok(());
                }
                _ => return Err(JsonError::Unexpected(self.pos)),
            }
        }
    }

    pub(super) fn literal(&mut self, word: &str, value: Json<'a>) -> Result<Json<'a>, JsonError> {
        let end = self.pos + word.len();
        match self.bytes.get(self.pos..end) {
            Some(s) if s == word.as_bytes() => {
                self.pos = end;
                Ok(value)
            }
            Some(_) => Err(JsonError::Unexpected(self.pos)),
            None if word.as_bytes().starts_with(&self.bytes[self.pos..]) => {
                Err(JsonError::UnexpectedEnd)
            }
            None => Err(JsonError::Unexpected(self.pos)),
        }
    }

    pub(super) fn array(&mut self, depth: usize) -> Result<Json<'a>, JsonError> {
        if depth > MAX_DEPTH {
            return Err(JsonError::TooDeep(self.pos));
        }
        self.pos += 1; // '['
        self.skip_ws();
        let mut items = Vec::new();
        if self.peek()? == b']' {
            self.pos += 1;
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value(depth)?);
            self.skip_ws();
            match self.peek()? {
                b',' => {
                    self.pos += 1;
                    self.skip_ws();
                }
                b']' => {
                    self.pos += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(JsonError::Unexpected(self.pos)),
            }
        }
    }

    pub(super) fn object(&mut self, depth: usize) -> Result<Json<'a>, JsonError> {
        if depth > MAX_DEPTH {
            return Err(JsonError::TooDeep(self.pos));
        }
        self.pos += 1; // '{'
        self.skip_ws();
        let mut members = Vec::new();
        if self.peek()? == b'}' {
            self.pos += 1;
            return Ok(Json::Object(members));
        }
        loop {
            if self.peek()? != b'"' {
                return Err(JsonError::Unexpected(self.pos));
            }
            let key = self.string()?;
            self.skip_ws();
            if self.peek()? != b':' {
                return Err(JsonError::Unexpected(self.pos));
            }
            self.pos += 1;
            self.skip_ws();
            let value = self.value(depth)?;
            members.push((key, value));
            self.skip_ws();
            match self.peek()? {
                b',' => {
                    self.pos += 1;
                    self.skip_ws();
                }
                b'}' => {
                    self.pos += 1;
                    return Ok(Json::Object(members));
                }
                _ => return Err(JsonError::Unexpected(self.pos)),
            }
        }
    }

    /// Parses a string starting at its opening quote.
    pub(super) fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        self.pos += 1; // '"'
        let start = self.pos;
        // Fast path: no escape, so the string is borrowed.
        if self.skip_to_quote_or_escape()? == b'"' {
            let s = &self.src[start..self.pos];
            self.pos += 1;
            return Ok(Cow::Borrowed(s));
        }
        self.escaped_string(start)
    }

    /// The rest of a string that started at `start` and holds an escape at `pos`: decoded into
    /// an owned string. Kept out of line so that the common escape-free string stays small.
    #[cold]
    #[inline(never)]
    pub(super) fn escaped_string(&mut self, start: usize) -> Result<Cow<'a, str>, JsonError> {
        // The text so far is copied once, then each run between escapes.
        let mut owned = String::with_capacity(self.pos - start + 16);
        owned.push_str(&self.src[start..self.pos]);
        loop {
            self.escape(&mut owned)?;
            let run_start = self.pos;
            let end = self.skip_to_quote_or_escape()?;
            owned.push_str(&self.src[run_start..self.pos]);
            if end == b'"' {
                self.pos += 1;
                return Ok(Cow::Owned(owned));
            }
        }
    }

    /// Moves `pos` to the next `"` or `\` of the string being read and returns that byte; a raw
    /// control character before it, or the end of the text, is an error.
    pub(super) fn skip_to_quote_or_escape(&mut self) -> Result<u8, JsonError> {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        let i = find_special(rest).ok_or(JsonError::UnexpectedEnd)?;
        self.pos += i;
        match rest[i] {
            b @ (b'"' | b'\\') => Ok(b),
            _ => Err(JsonError::ControlCharacter(self.pos)),
        }
    }

    /// Decodes one escape sequence starting at its backslash.
    pub(super) fn escape(&mut self, out: &mut String) -> Result<(), JsonError> {
        let at = self.pos;
        self.pos += 1; // '\'
        let c = match self.peek()? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                self.pos += 1;
                let unit = self.hex4()?;
                let c = match unit {
                    0xD800..=0xDBFF => {
                        // A high surrogate must be followed at once by `\u` + a low surrogate.
                        if self.bytes.get(self.pos) != Some(&b'\\')
                            || self.bytes.get(self.pos + 1) != Some(&b'u')
                        {
                            return Err(JsonError::UnpairedSurrogate(at));
                        }
                        self.pos += 2;
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(JsonError::UnpairedSurrogate(at));
                        }
                        let cp = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                        char::from_u32(cp).ok_or(JsonError::InvalidEscape(at))?
                    }
                    0xDC00..=0xDFFF => return Err(JsonError::UnpairedSurrogate(at)),
                    _ => char::from_u32(unit).ok_or(JsonError::InvalidEscape(at))?,
                };
                out.push(c);
                return Ok(());
            }
            _ => return Err(JsonError::InvalidEscape(at)),
        };
        self.pos += 1;
        out.push(c);
        Ok(())
    }

    /// Reads exactly four hex digits.
    pub(super) fn hex4(&mut self) -> Result<u32, JsonError> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .ok_or(JsonError::UnexpectedEnd)?;
        let mut v = 0u32;
        for &d in digits {
            let n = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return Err(JsonError::InvalidEscape(self.pos)),
            };
            v = v * 16 + u32::from(n);
        }
        self.pos += 4;
        Ok(v)
    }

    pub(super) fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, finite as a double.
    pub(super) fn number(&mut self) -> Result<Json<'a>, JsonError> {
        let start = self.pos;
        if self.bytes.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        let int_digits = match self.peek()? {
            b'0' => {
                self.pos += 1;
                1
            }
            b'1'..=b'9' => self.digits(),
            _ => return Err(JsonError::Unexpected(self.pos)),
        };
        let mut plain_integer = true;
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            plain_integer = false;
            if self.digits() == 0 {
                return Err(self.end_or_unexpected());
            }
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.pos) {
            self.pos += 1;
            plain_integer = false;
            if let Some(b'+' | b'-') = self.bytes.get(self.pos) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.end_or_unexpected());
            }
        }
        let literal = &self.src[start..self.pos];
        // f64::MAX is about 1.8e308: an integer of at most 308 digits is always finite, so the
        // common case skips the float parse. Anything else is checked by parsing it.
        if !(plain_integer && int_digits <= 308) {
            let finite = literal.parse::<f64>().map(f64::is_finite).unwrap_or(false);
            if !finite {
                return Err(JsonError::NumberOutOfRange(start));
            }
        }
        Ok(Json::Number(literal))
    }

    pub(super) fn end_or_unexpected(&self) -> JsonError {
        if self.pos >= self.bytes.len() {
            JsonError::UnexpectedEnd
        } else {
            JsonError::Unexpected(self.pos)
        }
    }
}
