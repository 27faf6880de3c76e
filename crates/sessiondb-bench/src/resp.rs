//! Hand-written RESP2 client framing: commands out as arrays of bulk strings, replies parsed in
//! place from the read buffer.

use anyhow::{bail, Result};

/// Appends one command (an array of bulk strings) to `out`.
pub fn encode_command(args: &[&[u8]], out: &mut Vec<u8>) {
    out.push(b'*');
    push_decimal(args.len() as u64, out);
    out.extend_from_slice(b"\r\n");
    for arg in args {
        out.push(b'$');
        push_decimal(arg.len() as u64, out);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// Appends the decimal digits of `n` to `out` without allocating.
pub fn push_decimal(n: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Most array elements a reply may have: the generator only asks HMGET for two fields.
pub const MAX_ARRAY: usize = 4;

/// A parsed reply, reduced to what the verifier checks.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    /// `+OK` and other simple strings.
    Simple(&'a [u8]),
    /// `-ERR ...`.
    Error(&'a [u8]),
    /// `:n`.
    Integer(i64),
    /// `$n` bulk string, `None` for the null bulk string.
    Bulk(Option<&'a [u8]>),
    /// An array of bulk strings (at most [`MAX_ARRAY`]); `len` elements are valid.
    Array {
        /// Number of elements.
        len: usize,
        /// The elements; `None` for null bulk strings.
        items: [Option<&'a [u8]>; MAX_ARRAY],
    },
}

/// Parses one reply at the start of `buf`; `None` when it is not complete yet.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply<'_>, usize)>> {
    let Some((kind, line, mut used)) = take_line(buf) else {
        return Ok(None);
    };
    let reply = match kind {
        b'+' => Reply::Simple(line),
        b'-' => Reply::Error(line),
        b':' => Reply::Integer(parse_int(line)?),
        b'$' => match parse_bulk(parse_int(line)?, &buf[used..])? {
            Some((bulk, n)) => {
                used += n;
                Reply::Bulk(bulk)
            }
            None => return Ok(None),
        },
        b'*' => {
            let len = usize::try_from(parse_int(line)?).unwrap_or(0);
            if len > MAX_ARRAY {
                bail!("array reply of {len} elements is larger than any the generator asks for");
            }
            let mut items = [None; MAX_ARRAY];
            for item in items.iter_mut().take(len) {
                let Some((b'$', line, n)) = take_line(&buf[used..]) else {
                    if take_line(&buf[used..]).is_none() {
                        return Ok(None);
                    }
                    bail!("array element is not a bulk string");
                };
                used += n;
                match parse_bulk(parse_int(line)?, &buf[used..])? {
                    Some((bulk, n)) => {
                        used += n;
                        *item = bulk;
                    }
                    None => return Ok(None),
                }
            }
            Reply::Array { len, items }
        }
        other => bail!("unknown RESP type byte {other:#x}"),
    };
    Ok(Some((reply, used)))
}

/// Splits off the first CRLF-terminated line: (type byte, rest of line, bytes used).
fn take_line(buf: &[u8]) -> Option<(u8, &[u8], usize)> {
    let end = buf.windows(2).position(|w| w == b"\r\n")?;
    let (&kind, line) = buf[..end].split_first()?;
    Some((kind, line, end + 2))
}

/// A bulk string's body (`None` for null) and the bytes it took.
type Bulk<'a> = (Option<&'a [u8]>, usize);

/// Reads the body of a bulk string of length `len` (-1 = null) from `buf`.
fn parse_bulk(len: i64, buf: &[u8]) -> Result<Option<Bulk<'_>>> {
    if len < 0 {
        return Ok(Some((None, 0)));
    }
    let len = usize::try_from(len)?;
    if buf.len() < len + 2 {
        return Ok(None);
    }
    if &buf[len..len + 2] != b"\r\n" {
        bail!("bulk string not terminated by CRLF");
    }
    Ok(Some((Some(&buf[..len]), len + 2)))
}

fn parse_int(line: &[u8]) -> Result<i64> {
    Ok(std::str::from_utf8(line)?.parse()?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn encodes_commands_as_bulk_arrays() {
        let mut out = Vec::new();
        encode_command(&[b"HMGET", b"s:1", b"k0"], &mut out);
        assert_eq!(out, b"*3\r\n$5\r\nHMGET\r\n$3\r\ns:1\r\n$2\r\nk0\r\n");
    }

    #[test]
    fn decimal_formatting() {
        for n in [0u64, 7, 10, 12345, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(n, &mut out);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn parses_each_reply_type() {
        assert_eq!(
            parse_reply(b"+OK\r\n").unwrap(),
            Some((Reply::Simple(b"OK"), 5))
        );
        assert_eq!(
            parse_reply(b"-ERR x\r\n").unwrap(),
            Some((Reply::Error(b"ERR x"), 8))
        );
        assert_eq!(
            parse_reply(b":-2\r\n").unwrap(),
            Some((Reply::Integer(-2), 5))
        );
        assert_eq!(
            parse_reply(b"$3\r\nabc\r\n").unwrap(),
            Some((Reply::Bulk(Some(b"abc")), 9))
        );
        assert_eq!(
            parse_reply(b"$-1\r\n").unwrap(),
            Some((Reply::Bulk(None), 5))
        );
        let (reply, used) = parse_reply(b"*2\r\n$1\r\na\r\n$-1\r\n").unwrap().unwrap();
        assert_eq!(used, 16);
        assert_eq!(
            reply,
            Reply::Array {
                len: 2,
                items: [Some(&b"a"[..]), None, None, None]
            }
        );
    }

    #[test]
    fn incomplete_replies_wait_for_more() {
        for partial in [
            &b"+O"[..],
            b"$3\r\nab",
            b"*2\r\n$1\r\na\r\n",
            b"*2\r\n$1\r\na\r\n$1",
        ] {
            assert_eq!(parse_reply(partial).unwrap(), None, "{partial:?}");
        }
    }

    #[test]
    fn malformed_replies_are_errors() {
        assert!(parse_reply(b"?x\r\n").is_err());
        assert!(parse_reply(b":abc\r\n").is_err());
        assert!(parse_reply(b"$3\r\nabcde").is_err());
        assert!(parse_reply(b"*9\r\n").is_err());
    }
}
