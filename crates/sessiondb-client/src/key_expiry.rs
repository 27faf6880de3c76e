//! Deadlines of single keys of a session (docs/PROTOCOL.md E9): writes with a `ttl`,
//! `SH_KEY_TTL` and `SH_KEY_REMAINING`.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::client::{list, object, Client};
use crate::error::{Error, Result};
use crate::reply::take_object;

impl Client {
    /// Sets keys in a session, overwriting, and gives the keys named in `ttl` a deadline that
    /// many seconds (≥ 1) from now; every `ttl` key must be one of `keys` (else status 41).
    /// Keys written without a `ttl` lose any deadline they had.
    ///
    /// ```no_run
    /// # async fn demo(client: sessiondb_client::Client, tkn: u64) -> sessiondb_client::Result<()> {
    /// let keys = serde_json::json!({"user": "ann", "otp": "123456"});
    /// client.sh_set_with_ttl(tkn, keys, [("otp", 300)]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn sh_set_with_ttl<K: AsRef<str>>(
        &self,
        tkn: u64,
        keys: impl Serialize,
        ttl: impl IntoIterator<Item = (K, u64)>,
    ) -> Result<()> {
        self.write_with_ttl("SH_SET", tkn, keys, ttl).await
    }

    /// Adds keys that do not exist yet, and gives those of them named in `ttl` a deadline; a key
    /// that already exists keeps its value and its deadline.
    pub async fn sh_add_with_ttl<K: AsRef<str>>(
        &self,
        tkn: u64,
        keys: impl Serialize,
        ttl: impl IntoIterator<Item = (K, u64)>,
    ) -> Result<()> {
        self.write_with_ttl("SH_ADD", tkn, keys, ttl).await
    }

    /// Sets (`Some(seconds)`, ≥ 1) or removes (`None`) the deadlines of keys a session holds;
    /// returns how many of the named keys it holds.
    pub async fn sh_key_ttl<K: AsRef<str>>(
        &self,
        tkn: u64,
        keys: impl IntoIterator<Item = (K, Option<u64>)>,
    ) -> Result<u64> {
        let keys: Map<String, Value> = keys
            .into_iter()
            .map(|(k, secs)| (k.as_ref().to_owned(), secs.map_or(Value::Null, Value::from)))
            .collect();
        let body = self
            .call_ok("SH_KEY_TTL", json!({ "tkn": tkn, "keys": keys }))
            .await?;
        crate::reply::get_u64(&body, "cnt")
    }

    /// Whole seconds left for each named key the session holds (`None`: no deadline); keys it
    /// does not hold are left out.
    pub async fn sh_key_remaining<K: AsRef<str>>(
        &self,
        tkn: u64,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<HashMap<String, Option<u64>>> {
        let mut body = self
            .call_ok(
                "SH_KEY_REMAINING",
                json!({ "tkn": tkn, "keys": list(keys) }),
            )
            .await?;
        take_object(&mut body, "keys")?
            .into_iter()
            .map(|(k, v)| match (&v, v.as_u64()) {
                (Value::Null, _) => Ok((k, None)),
                (_, Some(secs)) => Ok((k, Some(secs))),
                _ => Err(Error::Protocol(format!(
                    "SH_KEY_REMAINING_RSP: `{k}` is {v}"
                ))),
            })
            .collect()
    }

    async fn write_with_ttl<K: AsRef<str>>(
        &self,
        command: &str,
        tkn: u64,
        keys: impl Serialize,
        ttl: impl IntoIterator<Item = (K, u64)>,
    ) -> Result<()> {
        let ttl: Map<String, Value> = ttl
            .into_iter()
            .map(|(k, secs)| (k.as_ref().to_owned(), Value::from(secs)))
            .collect();
        let body = json!({ "tkn": tkn, "keys": object(keys)?, "ttl": ttl });
        self.call_ok(command, body).await.map(drop)
    }
}
