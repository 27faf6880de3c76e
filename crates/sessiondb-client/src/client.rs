//! The `Client` handle and one typed method per command of docs/PROTOCOL.md.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::conn::Conn;
use crate::error::{Error, Result, Status};
use crate::options::ClientOptions;
use crate::reply::{get_bool, get_string, get_strings, get_u64, get_u64s, take_object, Reply};
use crate::types::{
    Expiry, ExpiryInfo, IfVer, LoadInfo, SaveInfo, ServerInfo, SessionInfo, SessionOptions,
    SessionTotals,
};

/// A connection to a sessiondb server.
///
/// Cloning is cheap and every clone shares the one connection; requests from all clones and tasks
/// are pipelined on it and each caller gets its own reply. The connection closes when the last
/// clone is dropped.
///
/// **Reconnection and timeouts** depend on how the client was made. [`Client::connect`] makes a
/// plain client: no timeouts, and once the connection drops, requests in flight and every later
/// request fail with [`Error::Disconnected`]. [`Client::connect_with`] and [`ClientOptions`] add a
/// request timeout ([`Error::Timeout`]) and reconnection, which works like redis-rs's
/// `ConnectionManager`: requests in flight when the connection breaks fail with
/// [`Error::Disconnected`] (they may or may not have run, and are never sent again), and the next
/// request opens a new connection, with backoff, and goes through it. Authentication given with
/// [`Client::sv_auth`] is repeated on each new connection; credentials in the URL are sent at every
/// connect anyway.
///
/// ```no_run
/// use sessiondb_client::{Client, ClientOptions};
/// # async fn demo() -> sessiondb_client::Result<()> {
/// let client = Client::connect_with("ws://127.0.0.1:1987", ClientOptions::default()).await?;
/// // Survives a server restart: a request cut off fails, the next one reconnects.
/// let n = client.kv_count().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

/// What every clone shares: the current connection and how to replace it.
struct Inner {
    url: String,
    options: ClientOptions,
    conn: Mutex<Conn>,
    /// Held while a new connection is being opened, so concurrent requests open only one.
    reconnecting: tokio::sync::Mutex<()>,
    reconnects: AtomicU64,
    /// The secret last accepted by `SV_AUTH`, sent again on each new connection.
    secret: Mutex<Option<String>>,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Poisoning only means a panic elsewhere mid-update of a plain value, which stays usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Inner {
    fn current(&self) -> Conn {
        locked(&self.conn).clone()
    }

    /// The open connection, or a new one when reconnection is on and the current one has closed.
    async fn connection(&self) -> Result<Conn> {
        let conn = self.current();
        let Some(backoff) = self.options.reconnect else {
            return Ok(conn);
        };
        if conn.is_connected() {
            return Ok(conn);
        }
        let _one_at_a_time = self.reconnecting.lock().await;
        let conn = self.current();
        if conn.is_connected() {
            return Ok(conn); // another request reconnected while this one waited
        }
        let mut failed = 0;
        loop {
            match self.open().await {
                Ok(conn) => {
                    *locked(&self.conn) = conn.clone();
                    self.reconnects.fetch_add(1, Ordering::Relaxed);
                    return Ok(conn);
                }
                Err(e) => {
                    failed += 1;
                    if failed >= backoff.attempts {
                        return Err(e);
                    }
                    tokio::time::sleep(backoff.delay(failed)).await;
                }
            }
        }
    }

    /// Opens a connection within the connect timeout and authenticates it as the last one was.
    async fn open(&self) -> Result<Conn> {
        let conn = with_timeout(self.options.connect_timeout, Conn::open(&self.url))
            .await
            .map_err(Error::ConnectTimeout)??;
        let secret = locked(&self.secret).clone();
        if let Some(secret) = secret {
            let text = json!({"SV_AUTH": {"secret": secret}}).to_string();
            let reply = with_timeout(self.options.request_timeout, conn.enqueue(text).await?)
                .await
                .map_err(Error::Timeout)?
                .unwrap_or(Err(Error::Disconnected))?;
            Reply::parse(&reply)?.expect_status(Status::OK)?;
        }
        Ok(conn)
    }
}

/// Awaits `f` for at most `limit`; `Err(limit)` when it took longer.
async fn with_timeout<F: Future>(
    limit: Option<Duration>,
    f: F,
) -> std::result::Result<F::Output, Duration> {
    match limit {
        Some(limit) => tokio::time::timeout(limit, f).await.map_err(|_| limit),
        None => Ok(f.await),
    }
}

impl Client {
    /// Connects to `url`, for example `ws://127.0.0.1:1987`, without timeouts or reconnection (see
    /// [`Client::connect_with`] for those). On a server that requires authentication, put the
    /// secret in the URL as a password (`ws://any:SECRET@host:1987`, sent as HTTP Basic at the
    /// upgrade) or call [`Client::sv_auth`] first.
    ///
    /// ```no_run
    /// # async fn demo() -> sessiondb_client::Result<()> {
    /// let client = sessiondb_client::Client::connect("ws://127.0.0.1:1987").await?;
    /// println!("server {}", client.sv_info().await?.server_version);
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str) -> Result<Client> {
        Client::connect_with(url, ClientOptions::plain()).await
    }

    /// Connects to `url` with a connect timeout, a request timeout and reconnection as `options`
    /// say ([`ClientOptions::default`] has all three). The first connection is tried once: a
    /// wrong URL fails at once.
    pub async fn connect_with(url: &str, options: ClientOptions) -> Result<Client> {
        let conn = with_timeout(options.connect_timeout, Conn::open(url))
            .await
            .map_err(Error::ConnectTimeout)??;
        Ok(Client {
            inner: Arc::new(Inner {
                url: url.to_owned(),
                options,
                conn: Mutex::new(conn),
                reconnecting: tokio::sync::Mutex::new(()),
                reconnects: AtomicU64::new(0),
                secret: Mutex::new(None),
            }),
        })
    }

    /// How many times a new connection has replaced a closed one.
    pub fn reconnects(&self) -> u64 {
        self.inner.reconnects.load(Ordering::Relaxed)
    }

    /// Whether the connection is still open (it may still drop before the next request).
    pub fn is_connected(&self) -> bool {
        self.inner.current().is_connected()
    }

    /// Sends raw request text and returns the reply text exactly as the server sent it, whatever its
    /// status. The text must be one request; nothing is checked on the way out.
    ///
    /// ```no_run
    /// # async fn demo(client: sessiondb_client::Client) -> sessiondb_client::Result<()> {
    /// let reply = client.request_text(r#"{"KV_COUNT":{}}"#).await?;
    /// assert!(reply.contains("KV_COUNT_RSP"));
    /// # Ok(()) }
    /// ```
    pub async fn request_text(&self, text: impl Into<String>) -> Result<String> {
        self.send_text(text).await?.await
    }

    /// Queues raw request text for sending and returns at once with a [`PendingReply`] that
    /// resolves to the reply text. Calls made one after another from one task are sent in that
    /// order, so a caller can pipeline many requests and then await their replies in order.
    ///
    /// ```no_run
    /// # async fn demo(client: sessiondb_client::Client) -> sessiondb_client::Result<()> {
    /// let mut pending = Vec::new();
    /// for i in 0..100 {
    ///     pending.push(client.send_text(format!(r#"{{"KV_SET":{{"keys":{{"k{i}":{i}}}}}}}"#)).await?);
    /// }
    /// for reply in pending {
    ///     assert_eq!(reply.await?, r#"{"KV_SET_RSP":{"st":1}}"#);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn send_text(&self, text: impl Into<String>) -> Result<PendingReply> {
        let conn = self.inner.connection().await?;
        let reply = conn.enqueue(text.into()).await?;
        let timeout = self
            .inner
            .options
            .request_timeout
            .map(|limit| (Box::pin(tokio::time::sleep(limit)), limit));
        Ok(PendingReply { reply, timeout })
    }

    /// Sends a request given as JSON and returns the whole reply object, whatever its status.
    ///
    /// ```no_run
    /// # async fn demo(client: sessiondb_client::Client) -> sessiondb_client::Result<()> {
    /// let reply = client.request(serde_json::json!({"SV_INFO": {}})).await?;
    /// assert_eq!(reply["SV_INFO_RSP"]["st"], 1);
    /// # Ok(()) }
    /// ```
    pub async fn request(&self, request: Value) -> Result<Value> {
        let text = self.request_text(request.to_string()).await?;
        serde_json::from_str(&text).map_err(|e| Error::Protocol(format!("reply is not JSON ({e})")))
    }

    /// Sends `{command: body}` and returns the reply body when its status is `success`.
    async fn call(
        &self,
        command: &str,
        body: Value,
        success: Status,
    ) -> Result<Map<String, Value>> {
        let mut envelope = Map::with_capacity(1);
        envelope.insert(command.to_owned(), body);
        let text = self
            .request_text(Value::Object(envelope).to_string())
            .await?;
        let reply = Reply::parse(&text)?;
        let expected = format!("{command}_RSP");
        if reply.name != expected && reply.name != "ERR" {
            return Err(Error::Protocol(format!(
                "got {} in reply to {command}",
                reply.name
            )));
        }
        reply.expect_status(success)
    }

    pub(crate) async fn call_ok(&self, command: &str, body: Value) -> Result<Map<String, Value>> {
        self.call(command, body, Status::OK).await
    }

    // ----- top-level keys (docs/PROTOCOL.md §10) -----

    /// Sets top-level keys, overwriting existing ones. `keys` must serialize to a JSON object.
    ///
    /// ```no_run
    /// # async fn demo(client: sessiondb_client::Client) -> sessiondb_client::Result<()> {
    /// client.kv_set(serde_json::json!({"visits": 7, "user:1": {"name": "Ann"}})).await?;
    /// # Ok(()) }
    /// ```
    pub async fn kv_set(&self, keys: impl Serialize) -> Result<()> {
        self.call_ok("KV_SET", json!({ "keys": object(keys)? }))
            .await
            .map(drop)
    }

    /// Adds top-level keys that do not exist yet; existing keys keep their values.
    pub async fn kv_add(&self, keys: impl Serialize) -> Result<()> {
        self.call_ok("KV_ADD", json!({ "keys": object(keys)? }))
            .await
            .map(drop)
    }

    /// Returns the values of the listed top-level keys that exist.
    ///
    /// ```no_run
    /// # async fn demo(client: sessiondb_client::Client) -> sessiondb_client::Result<()> {
    /// let values = client.kv_get(["visits", "nope"]).await?;
    /// assert!(values.get("nope").is_none());
    /// # Ok(()) }
    /// ```
    pub async fn kv_get<K: AsRef<str>>(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<Map<String, Value>> {
        let mut body = self
            .call_ok("KV_GET", json!({ "keys": list(keys) }))
            .await?;
        take_object(&mut body, "keys")
    }

    /// Removes top-level keys; `keys` must not be empty (status 42).
    pub async fn kv_rmv<K: AsRef<str>>(&self, keys: impl IntoIterator<Item = K>) -> Result<()> {
        self.call_ok("KV_RMV", json!({ "keys": list(keys) }))
            .await
            .map(drop)
    }

    /// Returns the listed top-level keys that exist, in request order, repeats kept.
    pub async fn kv_contains<K: AsRef<str>>(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<Vec<String>> {
        let body = self
            .call_ok("KV_CONTAINS", json!({ "keys": list(keys) }))
            .await?;
        get_strings(&body, "contains")
    }

    /// Number of top-level keys.
    pub async fn kv_count(&self) -> Result<u64> {
        get_u64(&self.call_ok("KV_COUNT", json!({})).await?, "cnt")
    }

    /// Every top-level key, in no particular order.
    pub async fn kv_keys(&self) -> Result<Vec<String>> {
        get_strings(&self.call_ok("KV_KEYS", json!({})).await?, "keys")
    }

    /// Deletes every top-level key; returns how many were deleted.
    pub async fn kv_clear(&self) -> Result<u64> {
        get_u64(&self.call_ok("KV_CLEAR", json!({})).await?, "cnt")
    }

    /// Replaces the whole top-level store with `keys`; returns how many keys were deleted.
    pub async fn kv_clear_set(&self, keys: impl Serialize) -> Result<u64> {
        let body = self
            .call_ok("KV_CLEAR_SET", json!({ "keys": object(keys)? }))
            .await?;
        get_u64(&body, "cnt")
    }

    /// Saves the top-level store as dataset `name`.
    pub async fn kv_save(&self, name: &str) -> Result<SaveInfo> {
        let body = self
            .call("KV_SAVE", json!({ "name": name }), Status::SAVE_COMPLETE)
            .await?;
        save_info(&body)
    }

    /// Loads dataset `name` into the top-level store, overwriting keys of the same name.
    pub async fn kv_load(&self, name: &str) -> Result<LoadInfo> {
        let body = self
            .call("KV_LOAD", json!({ "name": name }), Status::LOAD_COMPLETE)
            .await?;
        load_info(&body)
    }

    // ----- sessions (docs/PROTOCOL.md §11) -----

    /// Creates a session and returns its token.
    ///
    /// ```no_run
    /// # async fn demo(client: sessiondb_client::Client) -> sessiondb_client::Result<()> {
    /// use sessiondb_client::{Expiry, SessionOptions};
    /// let basket = client
    ///     .sh_new(SessionOptions::new().name("basket-77").expiry(Expiry::after(600).delete_session(true)))
    ///     .await?;
    /// client.sh_set(basket, serde_json::json!({"sku:1": 2})).await?;
    /// # Ok(()) }
    /// ```
    pub async fn sh_new(&self, options: SessionOptions) -> Result<u64> {
        get_u64(&self.call_ok("SH_NEW", options.to_json()).await?, "tkn")
    }

    /// Finds the live shared session named `name` and returns its token (status 102 if none).
    pub async fn sh_open(&self, name: &str) -> Result<u64> {
        get_u64(
            &self.call_ok("SH_OPEN", json!({ "name": name })).await?,
            "tkn",
        )
    }

    /// Sets keys in a session, overwriting existing ones. `keys` must serialize to a JSON object.
    pub async fn sh_set(&self, tkn: u64, keys: impl Serialize) -> Result<()> {
        self.call_ok("SH_SET", json!({ "tkn": tkn, "keys": object(keys)? }))
            .await
            .map(drop)
    }

    /// Adds keys that do not exist yet in a session.
    pub async fn sh_add(&self, tkn: u64, keys: impl Serialize) -> Result<()> {
        self.call_ok("SH_ADD", json!({ "tkn": tkn, "keys": object(keys)? }))
            .await
            .map(drop)
    }

    /// Returns the values of the listed keys that exist in a session.
    ///
    /// ```no_run
    /// # async fn demo(client: sessiondb_client::Client, tkn: u64) -> sessiondb_client::Result<()> {
    /// let values = client.sh_get(tkn, ["name", "age"]).await?;
    /// println!("{:?}", values.get("name"));
    /// # Ok(()) }
    /// ```
    pub async fn sh_get<K: AsRef<str>>(
        &self,
        tkn: u64,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<Map<String, Value>> {
        let mut body = self
            .call_ok("SH_GET", json!({ "tkn": tkn, "keys": list(keys) }))
            .await?;
        take_object(&mut body, "keys")
    }

    /// Removes keys from a session; `keys` must not be empty (status 42).
    pub async fn sh_rmv<K: AsRef<str>>(
        &self,
        tkn: u64,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<()> {
        self.call_ok("SH_RMV", json!({ "tkn": tkn, "keys": list(keys) }))
            .await
            .map(drop)
    }

    /// Returns the listed keys that exist in a session, in request order, repeats kept.
    pub async fn sh_contains<K: AsRef<str>>(
        &self,
        tkn: u64,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<Vec<String>> {
        let body = self
            .call_ok("SH_CONTAINS", json!({ "tkn": tkn, "keys": list(keys) }))
            .await?;
        get_strings(&body, "contains")
    }

    /// Number of keys in a session.
    pub async fn sh_count(&self, tkn: u64) -> Result<u64> {
        get_u64(
            &self.call_ok("SH_COUNT", json!({ "tkn": tkn })).await?,
            "cnt",
        )
    }

    /// Every key of a session, in no particular order.
    pub async fn sh_keys(&self, tkn: u64) -> Result<Vec<String>> {
        get_strings(
            &self.call_ok("SH_KEYS", json!({ "tkn": tkn })).await?,
            "keys",
        )
    }

    /// Deletes every key of a session (the session stays); returns how many were deleted.
    pub async fn sh_clear(&self, tkn: u64) -> Result<u64> {
        get_u64(
            &self.call_ok("SH_CLEAR", json!({ "tkn": tkn })).await?,
            "cnt",
        )
    }

    /// Replaces a session's keys with `keys`; returns how many keys were deleted.
    pub async fn sh_clear_set(&self, tkn: u64, keys: impl Serialize) -> Result<u64> {
        let body = self
            .call_ok("SH_CLEAR_SET", json!({ "tkn": tkn, "keys": object(keys)? }))
            .await?;
        get_u64(&body, "cnt")
    }

    /// Describes a session.
    pub async fn sh_info(&self, tkn: u64) -> Result<SessionInfo> {
        let body = self.call_ok("SH_INFO", json!({ "tkn": tkn })).await?;
        session_info(&body)
    }

    /// Re-arms session `tkn`'s deadline to now + its duration, where its settings allow that;
    /// returns whether it did.
    ///
    /// No command of the protocol sets or changes an existing session's expiry: duration and
    /// flags are fixed by `sh_new`. A deadline is re-armed only by `SH_GET` on a session created
    /// with `extendOnGet`, and by `SH_SET`/`SH_ADD` with `extendOnSetAdd`. This reads the
    /// settings with `sh_info`, then sends an empty `SH_GET` (or, failing that flag, an empty
    /// `SH_SET`), which changes no key. `Ok(false)`: the session never expires or has neither flag,
    /// and nothing was sent after `sh_info`. Fails with status 100 if the session does not exist.
    ///
    /// ```no_run
    /// # async fn demo(client: sessiondb_client::Client) -> sessiondb_client::Result<()> {
    /// use sessiondb_client::{Expiry, SessionOptions};
    /// let tkn = client
    ///     .sh_new(SessionOptions::new().expiry(Expiry::after(600).extend_on_get(true)))
    ///     .await?;
    /// assert!(client.sh_touch(tkn).await?); // 600 s from now again
    /// # Ok(()) }
    /// ```
    pub async fn sh_touch(&self, tkn: u64) -> Result<bool> {
        let settings = self.sh_info(tkn).await?.expiry.map(|e| e.settings);
        match settings {
            Some(e) if e.extend_on_get => {
                self.sh_get(tkn, Vec::<&str>::new()).await?;
                Ok(true)
            }
            Some(e) if e.extend_on_set_add => {
                self.sh_set(tkn, json!({})).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Number of live sessions and of keys in them.
    pub async fn sh_info_all(&self) -> Result<SessionTotals> {
        let body = self.call_ok("SH_INFO_ALL", json!({})).await?;
        Ok(SessionTotals {
            total_sessions: get_u64(&body, "totalSessions")?,
            total_keys: get_u64(&body, "totalKeys")?,
        })
    }

    /// Returns the tokens that name live sessions, in request order, repeats kept.
    pub async fn sh_exists(&self, tkns: &[u64]) -> Result<Vec<u64>> {
        let body = self.call_ok("SH_EXISTS", json!({ "tkns": tkns })).await?;
        get_u64s(&body, "exist")
    }

    /// Deletes a session and its keys at once.
    pub async fn sh_end(&self, tkn: u64) -> Result<()> {
        self.call_ok("SH_END", json!({ "tkn": tkn }))
            .await
            .map(drop)
    }

    // ----- versions and owners (docs/PROTOCOL.md E10, E11) -----

    /// Like [`Client::sh_get`], with the session's version its keys were read at: the version to
    /// pass to [`Client::sh_set_if_ver`].
    pub async fn sh_get_versioned<K: AsRef<str>>(
        &self,
        tkn: u64,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<(Map<String, Value>, u64)> {
        let mut body = self
            .call_ok(
                "SH_GET",
                json!({ "tkn": tkn, "keys": list(keys), "withVer": true }),
            )
            .await?;
        let ver = get_u64(&body, "ver")?;
        Ok((take_object(&mut body, "keys")?, ver))
    }

    /// Sets keys in a session only if it is still at version `ver`: a read-modify-write that
    /// never overwrites a change it did not see.
    ///
    /// ```no_run
    /// # async fn demo(client: sessiondb_client::Client, tkn: u64) -> sessiondb_client::Result<()> {
    /// use sessiondb_client::IfVer;
    /// loop {
    ///     let (keys, ver) = client.sh_get_versioned(tkn, ["visits"]).await?;
    ///     let visits = keys.get("visits").and_then(|v| v.as_u64()).unwrap_or(0);
    ///     let write = serde_json::json!({ "visits": visits + 1 });
    ///     if let IfVer::Written { .. } = client.sh_set_if_ver(tkn, write, ver).await? {
    ///         break;
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn sh_set_if_ver(&self, tkn: u64, keys: impl Serialize, ver: u64) -> Result<IfVer> {
        let body = json!({ "tkn": tkn, "keys": object(keys)?, "ifVer": ver });
        let text = self
            .request_text(json!({ "SH_SET": body }).to_string())
            .await?;
        let reply = Reply::parse(&text)?;
        if reply.name != "SH_SET_RSP" {
            return Err(Error::Protocol(format!(
                "got {} in reply to SH_SET",
                reply.name
            )));
        }
        if reply.status() == Status::VERSION_MISMATCH {
            return Ok(IfVer::Mismatch {
                current: get_u64(&reply.body, "ver")?,
            });
        }
        let body = reply.expect_status(Status::OK)?;
        Ok(IfVer::Written {
            ver: get_u64(&body, "ver")?,
        })
    }

    /// The live sessions of `owner`, ascending.
    pub async fn sh_owner_list(&self, owner: &str) -> Result<Vec<u64>> {
        let body = self
            .call_ok("SH_OWNER_LIST", json!({ "owner": owner }))
            .await?;
        get_u64s(&body, "tkns")
    }

    /// Ends every session of `owner` in one step ("log out everywhere"); returns how many.
    pub async fn sh_owner_end(&self, owner: &str) -> Result<u64> {
        get_u64(
            &self
                .call_ok("SH_OWNER_END", json!({ "owner": owner }))
                .await?,
            "cnt",
        )
    }

    /// Deletes every session; returns how many were deleted.
    pub async fn sh_end_all(&self) -> Result<u64> {
        get_u64(&self.call_ok("SH_END_ALL", json!({})).await?, "cnt")
    }

    /// Saves sessions as dataset `name`: all live sessions, or only those in `tkns` (must not be
    /// empty).
    pub async fn sh_save(&self, name: &str, tkns: Option<&[u64]>) -> Result<SaveInfo> {
        let body = match tkns {
            Some(tkns) => json!({ "name": name, "tkns": tkns }),
            None => json!({ "name": name }),
        };
        let body = self.call("SH_SAVE", body, Status::SAVE_COMPLETE).await?;
        save_info(&body)
    }

    /// Restores the sessions of dataset `name`; sessions whose token is live are skipped.
    pub async fn sh_load(&self, name: &str) -> Result<LoadInfo> {
        let body = self
            .call("SH_LOAD", json!({ "name": name }), Status::LOAD_COMPLETE)
            .await?;
        load_info(&body)
    }

    // ----- server (docs/PROTOCOL.md §12, §2.6) -----

    /// Describes the server.
    pub async fn sv_info(&self) -> Result<ServerInfo> {
        let mut body = self.call_ok("SV_INFO", json!({})).await?;
        let server_version = get_string(&body, "serverVersion")?;
        let persist_enabled = get_bool(&body, "persistEnabled")?;
        for known in ["st", "serverVersion", "persistEnabled"] {
            body.remove(known);
        }
        Ok(ServerInfo {
            server_version,
            persist_enabled,
            extra: body,
        })
    }

    /// Authenticates this connection with `secret` (status 201 if wrong). With reconnection on,
    /// each new connection is authenticated with it too.
    pub async fn sv_auth(&self, secret: &str) -> Result<()> {
        self.call_ok("SV_AUTH", json!({ "secret": secret })).await?;
        *locked(&self.inner.secret) = Some(secret.to_owned());
        Ok(())
    }
}

/// The reply to a request queued with [`Client::send_text`]: a future of the reply text, or
/// [`Error::Timeout`] once the client's request timeout has passed since it was queued.
///
/// Dropping it before it resolves discards the reply without disturbing other requests.
pub struct PendingReply {
    reply: tokio::sync::oneshot::Receiver<Result<String>>,
    timeout: Option<(Pin<Box<tokio::time::Sleep>>, Duration)>,
}

impl Future for PendingReply {
    type Output = Result<String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(r) = Pin::new(&mut self.reply).poll(cx) {
            return Poll::Ready(r.unwrap_or(Err(Error::Disconnected)));
        }
        if let Some((sleep, limit)) = &mut self.timeout {
            if sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(Error::Timeout(*limit)));
            }
        }
        Poll::Pending
    }
}

/// Serializes `keys` and checks it is a JSON object.
pub(crate) fn object(keys: impl Serialize) -> Result<Value> {
    match serde_json::to_value(keys) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(other) => Err(Error::InvalidArgument(format!(
            "keys must be a JSON object, not {other}"
        ))),
        Err(e) => Err(Error::InvalidArgument(format!(
            "keys cannot be serialized: {e}"
        ))),
    }
}

/// Turns key names into a JSON array of strings.
pub(crate) fn list<K: AsRef<str>>(keys: impl IntoIterator<Item = K>) -> Value {
    Value::Array(
        keys.into_iter()
            .map(|k| Value::String(k.as_ref().to_owned()))
            .collect(),
    )
}

fn save_info(body: &Map<String, Value>) -> Result<SaveInfo> {
    Ok(SaveInfo {
        name: get_string(body, "name")?,
        duration_ms: get_u64(body, "duration")?,
    })
}

fn load_info(body: &Map<String, Value>) -> Result<LoadInfo> {
    Ok(LoadInfo {
        name: get_string(body, "name")?,
        sessions: get_u64(body, "sessions")?,
        keys: get_u64(body, "keys")?,
        duration_ms: body.get("duration").and_then(Value::as_u64),
    })
}

fn session_info(body: &Map<String, Value>) -> Result<SessionInfo> {
    let expiry = if get_bool(body, "expires")? {
        let e = body
            .get("expiry")
            .and_then(Value::as_object)
            .ok_or_else(|| Error::Protocol("SH_INFO_RSP expires but has no expiry".into()))?;
        Some(ExpiryInfo {
            settings: Expiry {
                duration: get_u64(e, "duration")?,
                delete_session: get_bool(e, "deleteSession")?,
                extend_on_set_add: get_bool(e, "extendOnSetAdd")?,
                extend_on_get: get_bool(e, "extendOnGet")?,
            },
            remaining: get_u64(e, "remaining")?,
        })
    } else {
        None
    };
    Ok(SessionInfo {
        tkn: get_u64(body, "tkn")?,
        shared: get_bool(body, "shared")?,
        key_count: get_u64(body, "keyCnt")?,
        expiry,
        name: body.get("name").and_then(Value::as_str).map(str::to_owned),
        owner: body.get("owner").and_then(Value::as_str).map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_must_be_an_object() {
        assert_eq!(object(json!({"a": 1})).unwrap(), json!({"a": 1}));
        let mut m = std::collections::BTreeMap::new();
        m.insert("n", 5u64);
        assert_eq!(object(&m).unwrap(), json!({"n": 5}));
        assert!(matches!(object(json!([1])), Err(Error::InvalidArgument(_))));
        assert!(matches!(object(5), Err(Error::InvalidArgument(_))));
    }

    #[test]
    fn key_lists_are_string_arrays() {
        assert_eq!(list(["a", "b"]), json!(["a", "b"]));
        assert_eq!(list(vec![String::from("x")]), json!(["x"]));
        assert_eq!(list(Vec::<&str>::new()), json!([]));
    }

    #[test]
    fn session_options_render_only_what_is_set() {
        assert_eq!(SessionOptions::new().to_json(), json!({}));
        assert_eq!(
            SessionOptions::shared("settings").to_json(),
            json!({"name": "settings", "shared": true})
        );
        assert_eq!(
            SessionOptions::new()
                .name("b")
                .expiry(Expiry::after(60).delete_session(true).extend_on_get(true))
                .to_json(),
            json!({"name": "b", "expiry": {"duration": 60, "deleteSession": true,
                   "extendOnSetAdd": false, "extendOnGet": true}})
        );
    }

    #[test]
    fn session_info_with_and_without_expiry() {
        let body: Map<String, Value> = serde_json::from_str(
            r#"{"st":1,"tkn":9923391187364820995,"shared":false,"keyCnt":0,"expires":true,
                "expiry":{"duration":10,"remaining":9,"deleteSession":false,"extendOnSetAdd":false,"extendOnGet":true}}"#,
        )
        .unwrap();
        let info = session_info(&body).unwrap();
        assert_eq!(info.tkn, 9923391187364820995);
        assert_eq!(
            info.expiry,
            Some(ExpiryInfo {
                settings: Expiry::after(10).extend_on_get(true),
                remaining: 9
            })
        );
        assert_eq!(info.name, None);

        let body: Map<String, Value> = serde_json::from_str(
            r#"{"st":1,"tkn":15900886249489855254,"shared":true,"keyCnt":2,"expires":false,"name":"settings"}"#,
        )
        .unwrap();
        let info = session_info(&body).unwrap();
        assert!(info.shared);
        assert_eq!(info.key_count, 2);
        assert_eq!(info.expiry, None);
        assert_eq!(info.name.as_deref(), Some("settings"));
    }

    #[test]
    fn load_info_duration_is_optional() {
        let kv: Map<String, Value> = serde_json::from_str(
            r#"{"st":141,"name":"shop-1","duration":1,"sessions":0,"keys":2}"#,
        )
        .unwrap();
        assert_eq!(load_info(&kv).unwrap().duration_ms, Some(1));
        let sh: Map<String, Value> =
            serde_json::from_str(r#"{"st":141,"name":"s","sessions":1,"keys":2}"#).unwrap();
        let info = load_info(&sh).unwrap();
        assert_eq!((info.sessions, info.keys, info.duration_ms), (1, 2, None));
    }
}
