//! Writing JSON text: [`write_str`] escapes a string minimally into any [`Sink`].

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
/// of reading and writing a request's names (the measurement is in BENCHMARKS.md).
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

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::json::tests::ok;
    use crate::json::Json;

    #[test]
    fn write_str_escapes_control_characters() {
        let mut out = Vec::new();
        write_str("a\"b\\c\u{0}d\u{1b}é", &mut out);
        assert_eq!(out, "\"a\\\"b\\\\c\\u0000d\\u001bé\"".as_bytes());
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
