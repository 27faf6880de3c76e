//! The stored form of a record: two keys of its session, `data` (the record's data as one JSON
//! object) and `expiresAt` (its expiry date in Unix milliseconds).
//!
//! The data is one value rather than one key per entry so that a save replaces it whole, with
//! one `SH_SET` that also re-arms the session, and entries removed in the application vanish.

use serde_json::{json, Map, Value};
use time::OffsetDateTime;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_core::session_store::Error;

/// The session key holding the record's data.
pub(crate) const DATA: &str = "data";
/// The session key holding the record's expiry date.
pub(crate) const EXPIRES_AT: &str = "expiresAt";

/// The `keys` object of the `SH_SET` / `SH_ADD` that stores `record`.
pub(crate) fn encode(record: &Record) -> Result<Value, Error> {
    let data = serde_json::to_value(&record.data).map_err(|e| Error::Encode(e.to_string()))?;
    let millis = record.expiry_date.unix_timestamp_nanos() / 1_000_000;
    let millis = i64::try_from(millis).map_err(|_| {
        Error::Encode(format!(
            "expiry date {} is out of range",
            record.expiry_date
        ))
    })?;
    Ok(json!({ DATA: data, EXPIRES_AT: millis }))
}

/// The record of `id` from the `keys` of an `SH_GET_RSP`; `None` when the session holds no
/// record (it was created but not yet written, or is not one of ours).
pub(crate) fn decode(id: Id, mut keys: Map<String, Value>) -> Result<Option<Record>, Error> {
    let (Some(data), Some(expires_at)) = (keys.remove(DATA), keys.remove(EXPIRES_AT)) else {
        return Ok(None);
    };
    let data = serde_json::from_value(data).map_err(|e| Error::Decode(format!("data: {e}")))?;
    let millis = expires_at
        .as_i64()
        .ok_or_else(|| Error::Decode(format!("{EXPIRES_AT} is not an integer: {expires_at}")))?;
    let expiry_date = OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .map_err(|e| Error::Decode(format!("{EXPIRES_AT}: {e}")))?;
    Ok(Some(Record {
        id,
        data,
        expiry_date,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn record() -> Record {
        Record {
            id: Id(7),
            data: [
                ("user".to_owned(), json!("ann")),
                ("n".to_owned(), json!(3)),
            ]
            .into_iter()
            .collect(),
            expiry_date: OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
        }
    }

    #[test]
    fn a_record_round_trips_to_the_millisecond() {
        let keys = encode(&record()).unwrap();
        assert_eq!(
            keys,
            json!({"data": {"user": "ann", "n": 3}, "expiresAt": 1_800_000_000_000i64})
        );
        let Value::Object(keys) = keys else {
            panic!("keys is an object")
        };
        assert_eq!(decode(Id(7), keys).unwrap(), Some(record()));
    }

    #[test]
    fn a_session_without_a_record_is_no_record() {
        assert_eq!(decode(Id(7), Map::new()).unwrap(), None);
    }

    #[test]
    fn damaged_records_are_decode_errors() {
        let Value::Object(keys) = json!({"data": [1], "expiresAt": 5}) else {
            unreachable!()
        };
        assert!(matches!(decode(Id(7), keys), Err(Error::Decode(_))));
        let Value::Object(keys) = json!({"data": {}, "expiresAt": "soon"}) else {
            unreachable!()
        };
        let err = decode(Id(7), keys).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Decoding failed with: expiresAt is not an integer: \"soon\""
        );
    }
}
