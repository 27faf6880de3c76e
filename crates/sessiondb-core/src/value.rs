//! Stored values: validated, minified JSON text.

use std::sync::Arc;

/// One stored JSON value as validated, minified JSON text (object member order preserved).
///
/// Commands carry values to store as `Value`s; top-level keys and sessions with many keys keep
/// them so (cloning a long one is a reference-count increment), while small sessions copy the
/// text into their packed block (`session::Packed`). Gets hand out the text itself
/// (`ValueSink`). Only the protocol layer (and dataset loading) creates values, after validating
/// the JSON.
///
/// Short texts (most values: numbers, flags, short strings) are kept in place, so that parsing
/// a request allocates nothing per value: a write of many keys costs its one vector of entries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Value(Text);

/// The longest text kept in place: what fits beside a length byte in the space of a shared one.
const INLINE_MAX: usize = 22;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Text {
    /// Up to [`INLINE_MAX`] bytes, the first `len` of `bytes`.
    Inline { len: u8, bytes: [u8; INLINE_MAX] },
    /// Longer text, shared by reference count.
    Shared(Arc<str>),
}

impl Value {
    /// Wraps JSON text that the caller has already validated and minified.
    pub fn from_json_unchecked(json: &str) -> Self {
        if json.len() <= INLINE_MAX {
            let mut bytes = [0; INLINE_MAX];
            bytes[..json.len()].copy_from_slice(json.as_bytes());
            Self(Text::Inline {
                len: json.len() as u8,
                bytes,
            })
        } else {
            Self(Text::Shared(Arc::from(json)))
        }
    }

    /// The JSON text.
    pub fn as_json(&self) -> &str {
        match &self.0 {
            // Copied whole from a `str`, so always UTF-8; checked because the crate has no
            // `unsafe` (a few instructions for at most 22 bytes).
            Text::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Text::Shared(text) => text,
        }
    }

    /// Bytes of JSON text.
    pub fn len(&self) -> usize {
        match &self.0 {
            Text::Inline { len, .. } => usize::from(*len),
            Text::Shared(text) => text.len(),
        }
    }

    /// True for the empty string (never a valid value; present for clippy's `len_without_is_empty`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of the value's own heap block (0 when kept in place), for memory accounting.
    pub fn heap_len(&self) -> usize {
        Self::heap_len_for(self.len())
    }

    /// Bytes of the heap block of a value of `len` bytes of text (0 when kept in place).
    pub fn heap_len_for(len: usize) -> usize {
        if len <= INLINE_MAX {
            0
        } else {
            // The text after the block's two reference counts.
            2 * std::mem::size_of::<usize>() + len
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_texts_are_kept_in_place_and_long_ones_shared() {
        for json in ["1", "\"\"", "{\"a\":[1,2,{}]}", &"7".repeat(INLINE_MAX)] {
            let v = Value::from_json_unchecked(json);
            assert!(matches!(v.0, Text::Inline { .. }), "{json}");
            assert_eq!((v.as_json(), v.len(), v.heap_len()), (json, json.len(), 0));
        }
        let long = format!("\"{}\"", "é".repeat(INLINE_MAX));
        let v = Value::from_json_unchecked(&long);
        assert!(matches!(v.0, Text::Shared(_)));
        assert_eq!((v.as_json(), v.len()), (long.as_str(), long.len()));
        assert_eq!(v.heap_len(), 16 + long.len());
        // The same text compares and hashes the same whichever way it was made.
        assert_eq!(v, Value::from_json_unchecked(&long));
        assert_eq!(v.clone(), v);
        assert_ne!(
            Value::from_json_unchecked("1"),
            Value::from_json_unchecked("2")
        );
        // A value costs a shared one's space.
        assert_eq!(std::mem::size_of::<Value>(), 24);
    }
}
