//! Strict RFC 8259 JSON (`PROTOCOL.md` §3.3): the one parser used for requests and data files.
//!
//! The parser is zero-copy where it can be: strings without escapes and number literals borrow
//! from the input text; object member order is kept. It rejects everything §3.3 rejects: a BOM,
//! trailing data, comments, `NaN`/`Infinity`, control characters inside strings, unpaired UTF-16
//! surrogates, numbers whose magnitude overflows an IEEE-754 double, and nesting deeper than
//! [`MAX_DEPTH`].

use std::borrow::Cow;

use crate::value::Value;

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

/// Somewhere JSON text can be written: a `String` or a byte buffer.
pub trait Sink {
    /// Appends text.
    fn put(&mut self, s: &str);
    /// Appends one ASCII byte.
    fn put_ascii(&mut self, b: u8);
}

impl Sink for String {
    fn put(&mut self, s: &str) {
        self.push_str(s);
    }
    fn put_ascii(&mut self, b: u8) {
        self.push(char::from(b));
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, s: &str) {
        self.extend_from_slice(s.as_bytes());
    }
    fn put_ascii(&mut self, b: u8) {
        self.push(b);
    }
}

/// Writes `s` as a JSON string literal, escaping only what must be escaped (`"`, `\`, control
/// characters); everything else, non-ASCII included, is written as UTF-8.
pub fn write_str<S: Sink + ?Sized>(s: &str, out: &mut S) {
    out.put_ascii(b'"');
    let mut rest = s;
    // Runs without a special byte are copied whole; most strings are one such run.
    while let Some(i) = find_special(rest.as_bytes()) {
        let (run, tail) = rest.split_at(i);
        out.put(run);
        let b = tail.as_bytes()[0];
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            _ => "",
        };
        if short.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.put("\\u00");
            out.put_ascii(HEX[usize::from(b >> 4)]);
            out.put_ascii(HEX[usize::from(b & 0xf)]);
        } else {
            out.put(short);
        }
        // A special byte is ASCII, so one byte on is a char boundary.
        rest = &tail[1..];
    }
    out.put(rest);
    out.put_ascii(b'"');
}

/// Index of the first byte of `bytes` that a JSON string cannot hold as it is: `"`, `\` or a
/// control character (below 0x20).
///
/// Strings are scanned eight bytes at a time: a byte-by-byte loop was the largest single cost
/// of reading and writing a request's names (about 20 instructions per byte, callgrind).
pub(crate) fn find_special(bytes: &[u8]) -> Option<usize> {
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in chunks.by_ref() {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        if let Some(i) = first_special(word) {
            return Some(at + i);
        }
        at += 8;
    }
    // The tail (most names fit in it whole) is padded with spaces, which are not special.
    let tail = chunks.remainder();
    let mut word = [b' '; 8];
    word.get_mut(..tail.len())?.copy_from_slice(tail);
    first_special(word).map(|i| at + i)
}

/// [`find_special`] within one eight-byte word.
fn first_special(word: [u8; 8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // Flags (in its high bit) every byte of `v` below `n`; bits above a flagged byte may be
    // wrong (a borrow), so only the lowest flag is used. Bytes from 0x80 are never flagged.
    let below = |v: u64, n: u8| v.wrapping_sub(ONES * u64::from(n)) & !v & HIGHS;
    let v = u64::from_le_bytes(word);
    // A byte equal to `b` is a zero byte of `v ^ b`, that is, below 1.
    let hits = below(v ^ (ONES * u64::from(b'"')), 1)
        | below(v ^ (ONES * u64::from(b'\\')), 1)
        | below(v, 0x20);
    // Little-endian: the lowest flagged bit is the first such byte.
    (hits != 0).then(|| hits.trailing_zeros() as usize / 8)
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

struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Result<u8, JsonError> {
        self.bytes
            .get(self.pos)
            .copied()
            .ok_or(JsonError::UnexpectedEnd)
    }

    /// Parses one value starting at `pos` (no leading whitespace). `depth` is the nesting level
    /// of the enclosing container (0 at top level).
    fn value(&mut self, depth: usize) -> Result<Json<'a>, JsonError> {
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
    fn copy_value<S: Sink + ?Sized>(&mut self, depth: usize, out: &mut S) -> Result<(), JsonError> {
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

    fn literal(&mut self, word: &str, value: Json<'a>) -> Result<Json<'a>, JsonError> {
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

    fn array(&mut self, depth: usize) -> Result<Json<'a>, JsonError> {
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

    fn object(&mut self, depth: usize) -> Result<Json<'a>, JsonError> {
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
    fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
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
    fn escaped_string(&mut self, start: usize) -> Result<Cow<'a, str>, JsonError> {
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
    fn skip_to_quote_or_escape(&mut self) -> Result<u8, JsonError> {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        let i = find_special(rest).ok_or(JsonError::UnexpectedEnd)?;
        self.pos += i;
        match rest[i] {
            b @ (b'"' | b'\\') => Ok(b),
            _ => Err(JsonError::ControlCharacter(self.pos)),
        }
    }

    /// Decodes one escape sequence starting at its backslash.
    fn escape(&mut self, out: &mut String) -> Result<(), JsonError> {
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
    fn hex4(&mut self) -> Result<u32, JsonError> {
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

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, finite as a double.
    fn number(&mut self) -> Result<Json<'a>, JsonError> {
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

    fn end_or_unexpected(&self) -> JsonError {
        if self.pos >= self.bytes.len() {
            JsonError::UnexpectedEnd
        } else {
            JsonError::Unexpected(self.pos)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Json<'_> {
        match parse(text) {
            Ok(v) => v,
            Err(e) => panic!("{text:?} should parse: {e}"),
        }
    }

    fn minified(text: &str) -> String {
        let mut out = String::new();
        ok(text).write_minified(&mut out);
        out
    }

    fn nested_arrays(n: usize) -> String {
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
    fn write_str_escapes_control_characters() {
        let mut out = Vec::new();
        write_str("a\"b\\c\u{0}d\u{1b}é", &mut out);
        assert_eq!(out, "\"a\\\"b\\\\c\\u0000d\\u001bé\"".as_bytes());
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

    /// The byte-by-byte definition `find_special` must agree with.
    fn find_special_naive(bytes: &[u8]) -> Option<usize> {
        bytes
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
    }

    #[test]
    fn find_special_finds_the_first_special_byte_at_every_position() {
        // Every byte value at every offset of words and tails, after plain ASCII or after
        // non-ASCII (whose high bits must not be flagged), with a later special byte too (a
        // borrow from the first must not hide it or move it).
        for len in 0..20 {
            for fill in [b'a', 0xc3, 0x7f, 0x21, 0xff] {
                for at in 0..len {
                    for b in 0..=255u8 {
                        let mut bytes = vec![fill; len];
                        bytes[at] = b;
                        assert_eq!(
                            find_special(&bytes),
                            find_special_naive(&bytes),
                            "{bytes:?}"
                        );
                        if at + 1 < len {
                            bytes[len - 1] = b'"';
                            assert_eq!(
                                find_special(&bytes),
                                find_special_naive(&bytes),
                                "{bytes:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn find_special_matches_the_naive_scan(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            proptest::prop_assert_eq!(find_special(&bytes), find_special_naive(&bytes));
        }

        #[test]
        fn written_strings_parse_back_to_themselves(s in "\\PC*|[\\x00-\\x7f]*") {
            let mut out = String::new();
            write_str(&s, &mut out);
            proptest::prop_assert_eq!(ok(&out), Json::String(Cow::Owned(s)));
        }
    }
}
