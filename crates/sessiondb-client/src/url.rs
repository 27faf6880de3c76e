//! Credentials in the URL: `ws://user:SECRET@host:1987/` becomes HTTP Basic authentication at the
//! upgrade, as docs/PROTOCOL.md §2.6 allows.

/// Splits `url` into the URL without its user info and the `Authorization` header value, if the
/// URL carries `user:password@` (percent-escapes in it are decoded first).
pub(crate) fn split_credentials(url: &str) -> (String, Option<String>) {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return (url.to_owned(), None);
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return (url.to_owned(), None);
    };
    let userinfo = percent_decode(&authority[..at]);
    let stripped = format!("{}{}", &url[..scheme_end], &rest[at + 1..]);
    (stripped, Some(format!("Basic {}", base64(&userinfo))))
}

fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// Standard base64 with padding (RFC 4648 §4).
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }

    #[test]
    fn credentials_are_moved_into_a_header() {
        assert_eq!(
            split_credentials("ws://127.0.0.1:1987"),
            ("ws://127.0.0.1:1987".to_owned(), None)
        );
        assert_eq!(
            split_credentials("ws://user:s3cret@host:1987/x?y=1"),
            (
                "ws://host:1987/x?y=1".to_owned(),
                Some(format!("Basic {}", base64(b"user:s3cret")))
            )
        );
        // '@' inside the path is not user info; an escaped '@' in the secret is decoded.
        assert_eq!(split_credentials("ws://h/a@b").1, None);
        assert_eq!(
            split_credentials("ws://u:p%40ss%zz@h").1,
            Some(format!("Basic {}", base64(b"u:p@ss%zz")))
        );
    }
}
