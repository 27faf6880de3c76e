//! [`SessiondbStore`]: tower-sessions' `SessionStore` on a sessiondb client.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{json, Map, Value};
use sessiondb_client::{Client, ClientOptions, Reply, Status};
use time::OffsetDateTime;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_core::session_store::{Error, Result};
use tower_sessions_core::SessionStore;

use crate::naming::{record_token, session_name};
use crate::rearm::{plan, Armed, Plan};
use crate::stored::{self, DATA, EXPIRES_AT};

/// The prefix of the session names [`SessiondbStore::new`] uses.
pub const DEFAULT_NAMESPACE: &str = "tower-sessions:";

/// How many fresh ids `create` tries before it gives up: 128-bit random ids do not collide, so
/// running out means the server refuses every new session for another reason.
const CREATE_ATTEMPTS: usize = 8;

/// A tower-sessions store keeping each record in its own sessiondb session.
///
/// The record of id `ID` lives in the shared session named `<namespace><ID>` (the cookie value
/// after the namespace, [`DEFAULT_NAMESPACE`] unless [`SessiondbStore::with_namespace`] says
/// otherwise), under the keys `data` and `expiresAt`. The session is created with
/// `deleteSession`, so sessiondb deletes it at the record's expiry date; nothing needs sweeping.
/// Each operation is one round trip: the store derives the session's token from its name, as the
/// server does, and pipelines the commands an operation needs.
///
/// ```no_run
/// use tower_sessions::SessionManagerLayer;
/// use tower_sessions_sessiondb_store::{Client, ClientOptions, SessiondbStore};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let client = Client::connect_with("ws://127.0.0.1:1987", ClientOptions::default()).await?;
/// let layer = SessionManagerLayer::new(SessiondbStore::new(client));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SessiondbStore {
    client: Client,
    namespace: Arc<str>,
}

impl fmt::Debug for SessiondbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessiondbStore")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl SessiondbStore {
    /// A store on `client` naming its sessions `tower-sessions:<id>`.
    pub fn new(client: Client) -> SessiondbStore {
        SessiondbStore {
            client,
            namespace: DEFAULT_NAMESPACE.into(),
        }
    }

    /// Connects to the server at `url` with [`ClientOptions::default`] (timeouts and
    /// reconnection) and makes a store on that client.
    pub async fn connect(
        url: &str,
    ) -> std::result::Result<SessiondbStore, sessiondb_client::Error> {
        let client = Client::connect_with(url, ClientOptions::default()).await?;
        Ok(SessiondbStore::new(client))
    }

    /// Names sessions `<namespace><id>` instead, so that several applications can share one
    /// server without seeing each other's sessions.
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> SessiondbStore {
        self.namespace = namespace.into().into();
        self
    }

    /// The client the store sends its commands on.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The token of the session holding the record of `id` (whether or not it exists), for
    /// looking at it with the client, the CLI or the admin console.
    pub fn token(&self, id: &Id) -> u64 {
        record_token(&self.namespace, id)
    }

    /// Sends `requests` one after another on the connection and returns their replies in order.
    async fn pipeline<const N: usize>(&self, requests: [Value; N]) -> Result<[Reply; N]> {
        let mut pending = Vec::with_capacity(N);
        for request in requests {
            let sent = self.client.send_text(request.to_string()).await;
            pending.push(sent.map_err(|e| failure("request", e))?);
        }
        let mut replies = Vec::with_capacity(N);
        for reply in pending {
            let text = reply.await.map_err(|e| failure("request", e))?;
            replies.push(Reply::parse(&text).map_err(|e| failure("reply", e))?);
        }
        replies
            .try_into()
            .map_err(|_| Error::Backend("sessiondb: a reply is missing".into()))
    }

    /// The `SH_NEW` that creates the session of `id`, expiring in `secs` seconds.
    fn sh_new(&self, id: &Id, secs: u64, extend: bool) -> Value {
        json!({"SH_NEW": {
            "name": session_name(&self.namespace, id),
            "shared": true,
            "expiry": {
                "duration": secs,
                "deleteSession": true,
                "extendOnSetAdd": extend,
                "extendOnGet": false,
            },
        }})
    }
}

/// A client failure as tower-sessions' backend error, naming what failed and the status.
fn failure(what: &str, e: sessiondb_client::Error) -> Error {
    Error::Backend(format!("sessiondb {what}: {e}"))
}

/// `reply`'s body when its status is Ok, or the failure naming the status.
fn ok(reply: Reply) -> Result<Map<String, Value>> {
    let command = reply.name.trim_end_matches("_RSP").to_owned();
    reply
        .expect_status(Status::OK)
        .map_err(|e| failure(&command, e))
}

/// Whole seconds from now to `expiry_date`, rounded up; `None` once it has passed.
fn seconds_left(expiry_date: OffsetDateTime) -> Option<u64> {
    let millis = (expiry_date - OffsetDateTime::now_utc()).whole_milliseconds();
    let secs = u64::try_from(millis)
        .ok()
        .filter(|&m| m > 0)?
        .div_ceil(1000);
    Some(secs)
}

/// The expiry settings in an `SH_INFO_RSP` body; `None` for a session that never expires.
fn armed(info: &Map<String, Value>) -> Option<Armed> {
    let expiry = info.get("expiry")?;
    Some(Armed {
        duration: expiry.get("duration")?.as_u64()?,
        extends: expiry.get("extendOnSetAdd")?.as_bool()?,
        remaining: expiry.get("remaining")?.as_u64()?,
    })
}

#[async_trait]
impl SessionStore for SessiondbStore {
    /// Creates the session named after the record's id together with the record; on a name
    /// collision (`SessionNewFail`, 103) draws a new id and tries again. The record is written
    /// with `SH_ADD`, pipelined after the `SH_NEW`, so when the `SH_NEW` collides it leaves the
    /// other record as it was.
    async fn create(&self, record: &mut Record) -> Result<()> {
        let Some(secs) = seconds_left(record.expiry_date) else {
            return Ok(()); // already expired: sessiondb would delete it at once
        };
        for _ in 0..CREATE_ATTEMPTS {
            let tkn = self.token(&record.id);
            let add = json!({"SH_ADD": {"tkn": tkn, "keys": stored::encode(record)?}});
            let [new, add] = self
                .pipeline([self.sh_new(&record.id, secs, true), add])
                .await?;
            if new.status() == Status::SESSION_NEW_FAIL {
                record.id = Id::default();
                continue;
            }
            ok(new)?;
            ok(add)?;
            return Ok(());
        }
        Err(Error::Backend(format!(
            "sessiondb SH_NEW: {} for {CREATE_ATTEMPTS} fresh ids in a row",
            Status::SESSION_NEW_FAIL
        )))
    }

    /// Replaces the record of an existing session and moves the session's deadline to the
    /// record's expiry date (see the crate docs). Like tower-sessions' Redis store, a save never
    /// brings back a session that was deleted or has expired in the meantime.
    async fn save(&self, record: &Record) -> Result<()> {
        let Some(secs) = seconds_left(record.expiry_date) else {
            return self.delete(&record.id).await;
        };
        let tkn = self.token(&record.id);
        let keys = stored::encode(record)?;
        let [info, set] = self
            .pipeline([
                json!({"SH_INFO": {"tkn": tkn}}),
                json!({"SH_SET": {"tkn": tkn, "keys": keys}}),
            ])
            .await?;
        if info.status() == Status::SESSION_NOT_EXIST {
            return Ok(());
        }
        let info = ok(info)?;
        ok(set)?;
        let Plan::Recreate { extend } = plan(armed(&info), secs) else {
            return Ok(());
        };
        // A load that runs between the SH_END and the SH_NEW finds no session; this happens only
        // when the kind of expiry changes, at most twice per session.
        let [end, new, set] = self
            .pipeline([
                json!({"SH_END": {"tkn": tkn}}),
                self.sh_new(&record.id, secs, extend),
                json!({"SH_SET": {"tkn": tkn, "keys": keys}}),
            ])
            .await?;
        if end.status() != Status::SESSION_NOT_EXIST {
            ok(end)?;
        }
        // 103: a concurrent save of the same id recreated it first; the SH_SET went there.
        if new.status() != Status::SESSION_NEW_FAIL {
            ok(new)?;
        }
        ok(set).map(drop)
    }

    /// The record of `id`, or `None` when its session does not exist or its date has passed.
    async fn load(&self, id: &Id) -> Result<Option<Record>> {
        let tkn = self.token(id);
        let [get] = self
            .pipeline([json!({"SH_GET": {"tkn": tkn, "keys": [DATA, EXPIRES_AT]}})])
            .await?;
        if get.status() == Status::SESSION_NOT_EXIST {
            return Ok(None);
        }
        let mut body = ok(get)?;
        let keys = match body.remove("keys") {
            Some(Value::Object(keys)) => keys,
            _ => return Err(Error::Decode("SH_GET_RSP has no keys object".into())),
        };
        let record = stored::decode(*id, keys)?;
        // Deadlines are whole seconds, so the session may outlive the date by less than one.
        Ok(record.filter(|r| r.expiry_date > OffsetDateTime::now_utc()))
    }

    /// Ends the session of `id`; a session that no longer exists is not an error.
    async fn delete(&self, id: &Id) -> Result<()> {
        let [end] = self
            .pipeline([json!({"SH_END": {"tkn": self.token(id)}})])
            .await?;
        if end.status() == Status::SESSION_NOT_EXIST {
            return Ok(());
        }
        ok(end).map(drop)
    }
}
