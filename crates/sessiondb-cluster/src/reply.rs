//! Turning the script's replies into [`Outcome`]s, exactly as the embedded engine answers.

use std::collections::HashSet;

use redis::Value as Resp;
use sessiondb_core::{Outcome, Value};

/// The script's reply: `None` when the session is not live, else what follows the leading 1.
pub fn live(reply: Resp) -> Result<Option<Vec<Resp>>, Malformed> {
    let Resp::Array(mut items) = reply else {
        return Err(Malformed);
    };
    if items.is_empty() {
        return Err(Malformed);
    }
    match items.remove(0) {
        Resp::Int(1) => Ok(Some(items)),
        Resp::Int(0) => Ok(None),
        _ => Err(Malformed),
    }
}

/// The script answered something it never sends (a script of another version, say).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the backend's script answered an unexpected reply")]
pub struct Malformed;

/// Item `i` as an integer.
pub fn int(items: &[Resp], i: usize) -> Result<u64, Malformed> {
    match items.get(i) {
        Some(Resp::Int(n)) => u64::try_from(*n).map_err(|_| Malformed),
        _ => Err(Malformed),
    }
}

/// Item `i` as text, `None` for nil.
pub fn text(items: &[Resp], i: usize) -> Result<Option<String>, Malformed> {
    match items.get(i) {
        Some(Resp::Nil) => Ok(None),
        Some(Resp::BulkString(b)) => String::from_utf8(b.clone())
            .map(Some)
            .map_err(|_| Malformed),
        Some(Resp::SimpleString(s)) => Ok(Some(s.clone())),
        _ => Err(Malformed),
    }
}

/// Item `i` as an array.
pub fn array(items: &[Resp], i: usize) -> Result<&[Resp], Malformed> {
    match items.get(i) {
        Some(Resp::Array(a)) => Ok(a),
        _ => Err(Malformed),
    }
}

/// `HMGET`'s answer for `keys` as the values outcome: each found key once, at its first
/// occurrence in the request.
pub fn values(keys: &[String], found: &[Resp]) -> Result<Outcome, Malformed> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        if let Some(json) = text(found, i)? {
            if seen.insert(key.as_str()) {
                out.push((i, Value::from_json_unchecked(&json)));
            }
        }
    }
    Ok(Outcome::Values(out))
}

/// `HEXISTS` answers, one per requested key, as the contains outcome.
pub fn contains(found: &[Resp]) -> Result<Outcome, Malformed> {
    let mut out = Vec::new();
    for i in 0..found.len() {
        if int(found, i)? == 1 {
            out.push(i);
        }
    }
    Ok(Outcome::Contains(out))
}

/// `HKEYS` as the key list outcome.
pub fn key_list(names: &[Resp]) -> Result<Outcome, Malformed> {
    let mut out = Vec::with_capacity(names.len());
    for i in 0..names.len() {
        out.push(text(names, i)?.ok_or(Malformed)?);
    }
    Ok(Outcome::KeyList(out))
}
