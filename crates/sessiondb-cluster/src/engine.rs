//! [`RedisEngine`]: the service's [`RemoteEngine`] on a Redis backend. Each command becomes one
//! invocation of the session script on one slot; its reply becomes the [`Outcome`] the
//! embedded engine would give.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::{Script, Value as Resp};
use sessiondb_core::{token, Command, Entries, Expiry, Keys, Outcome, SessionInfo, Token};
use sessiondb_service::{Answer, EngineFuture, RemoteEngine, Status, Unsupported};

use crate::backend::Backend;
use crate::layout::{data_key, meta_key, KV_KEY};
use crate::reply::{self, Malformed};
use crate::scan;

/// The script every command runs (EVALSHA, loaded into a node the first time it lacks it).
static SESSION_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("session.lua")));

/// The longest one script call may take before its request answers 1000: a master that died
/// leaves its slots unserved until the cluster fails over, and a request must not hang meanwhile.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Fresh tokens drawn for one `SH_NEW` before giving up: a collision of random 64-bit tokens is
/// already unlikely once.
const NEW_TOKEN_TRIES: usize = 8;

/// The engine of backend mode.
#[derive(Clone)]
pub struct RedisEngine {
    backend: Backend,
}

impl RedisEngine {
    /// An engine on `backend`.
    pub fn new(backend: Backend) -> Self {
        Self { backend }
    }
}

/// One script invocation: its keys (one session's, or the top-level hash), operation and
/// arguments.
struct Call {
    keys: Vec<String>,
    args: Vec<String>,
}

impl Call {
    fn session(tkn: Token, op: &str) -> Self {
        Self {
            keys: vec![meta_key(tkn), data_key(tkn)],
            args: vec![op.to_owned()],
        }
    }

    fn kv(op: &str) -> Self {
        Self {
            keys: vec![KV_KEY.to_owned()],
            args: vec![op.to_owned()],
        }
    }

    fn entries(mut self, entries: &Entries<'_>) -> Self {
        for (k, v) in entries {
            self.args.push(k.to_string());
            self.args.push(v.as_json().to_owned());
        }
        self
    }

    fn names(mut self, keys: &Keys<'_>) -> Self {
        self.args.extend(keys.iter().map(|k| k.to_string()));
        self
    }

    /// Runs the script: `None` when the session is not live, else the reply's items.
    async fn run(&self, backend: &Backend, now_ms: u64) -> Result<Option<Vec<Resp>>, Failure> {
        let mut invocation = SESSION_SCRIPT.prepare_invoke();
        for key in &self.keys {
            invocation.key(key);
        }
        invocation.arg(now_ms);
        for arg in &self.args {
            invocation.arg(arg);
        }
        let mut conn = backend.clone();
        let call = invocation.invoke_async::<Resp>(&mut conn);
        let reply = tokio::time::timeout(CALL_TIMEOUT, call)
            .await
            .map_err(|_| Failure::Timeout)??;
        Ok(reply::live(reply)?)
    }
}

/// Why a command got no answer from the backend.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
    #[error(transparent)]
    Malformed(#[from] Malformed),
    #[error("the backend did not answer in time")]
    Timeout,
}

/// How a script's live reply becomes the outcome.
enum Then {
    Done,
    Count,
    Values(Vec<String>),
    Contains,
    KeyList,
    Ended,
    Info,
}

impl Then {
    /// The outcome of a live reply's `items` for the session `tkn` (0 for the top-level keys).
    fn outcome(self, tkn: Token, items: &[Resp]) -> Result<Outcome, Malformed> {
        Ok(match self {
            Self::Done => Outcome::Done,
            Self::Count => Outcome::Count(reply::int(items, 0)?),
            Self::Values(keys) => reply::values(&keys, reply::array(items, 0)?)?,
            Self::Contains => reply::contains(reply::array(items, 0)?)?,
            Self::KeyList => reply::key_list(reply::array(items, 0)?)?,
            Self::Ended => Outcome::Ended { tkn },
            Self::Info => Outcome::Info(Box::new(info(tkn, items)?)),
        })
    }
}

/// The `info` operation's items as `SH_INFO`'s session.
fn info(tkn: Token, items: &[Resp]) -> Result<SessionInfo, Malformed> {
    let flag = |i| reply::int(items, i).map(|n| n == 1);
    let duration_secs = reply::int(items, 3)?;
    let expiry = Expiry {
        duration_secs,
        delete_session: flag(4)?,
        extend_on_get: flag(5)?,
        extend_on_set_add: flag(6)?,
    };
    Ok(SessionInfo {
        tkn,
        shared: flag(0)?,
        key_count: reply::int(items, 1)?,
        name: match items.get(2) {
            Some(Resp::Int(0)) | Some(Resp::Nil) => None,
            _ => reply::text(items, 2)?,
        },
        expiry: (duration_secs > 0)
            .then(|| reply::int(items, 7).map(|left| (expiry, left)))
            .transpose()?,
        // Owners are not kept in backend mode yet: SH_NEW with `owner` answers 14.
        owner: None,
    })
}

impl RedisEngine {
    /// Runs `call`, then `then` on its reply; a session that is not live answers `NoSession`.
    async fn single(&self, call: Call, tkn: Option<Token>, then: Then, now_ms: u64) -> Answer {
        answer(
            call.run(&self.backend, now_ms)
                .await
                .and_then(|items| match items {
                    Some(items) => Ok(then.outcome(tkn.unwrap_or_default(), &items)?),
                    None => Ok(Outcome::NoSession { tkn }),
                }),
        )
    }

    async fn sh_new(
        &self,
        expiry: Option<Expiry>,
        name: Option<String>,
        shared: bool,
        now_ms: u64,
    ) -> Answer {
        // docs/PROTOCOL.md §9.1: no expiry, or duration 0, never expires and drops the flags.
        let e = expiry.filter(|e| e.duration_secs > 0).unwrap_or_default();
        let bit = |b: bool| if b { "1" } else { "0" }.to_owned();
        let tries = if shared { 1 } else { NEW_TOKEN_TRIES };
        for _ in 0..tries {
            let tkn = match &name {
                Some(n) if shared => token::shared_token(n),
                _ => token::random_token(),
            };
            let mut call = Call::session(tkn, "new");
            call.args.extend([
                bit(shared),
                name.clone().unwrap_or_default(),
                e.duration_secs.to_string(),
                bit(e.delete_session),
                bit(e.extend_on_get),
                bit(e.extend_on_set_add),
                bit(name.is_some()),
            ]);
            match call.run(&self.backend, now_ms).await {
                Ok(Some(_)) => return Answer::Outcome(Outcome::Created { tkn }),
                Ok(None) if shared => return Answer::Outcome(Outcome::NameTaken),
                Ok(None) => continue,
                Err(e) => return answer(Err(e)),
            }
        }
        tracing::error!("SH_NEW: every token drawn names an existing session");
        Answer::Failed(Status::Unknown)
    }

    async fn sh_open(&self, name: String, now_ms: u64) -> Answer {
        let tkn = token::shared_token(&name);
        let call = Call::session(tkn, "open");
        answer(call.run(&self.backend, now_ms).await.and_then(|items| {
            let shared = match items {
                Some(items) => reply::int(&items, 0)? == 1,
                None => false,
            };
            Ok(if shared {
                Outcome::Opened { tkn }
            } else {
                Outcome::OpenFailed
            })
        }))
    }

    async fn sh_exists(&self, tkns: Vec<Token>, now_ms: u64) -> Answer {
        // One slot per token: the checks run concurrently, pipelined by the client.
        let checks = tkns.iter().map(|&t| async move {
            let live = Call::session(t, "exists")
                .run(&self.backend, now_ms)
                .await?;
            Ok::<_, Failure>(live.is_some().then_some(t))
        });
        let found = futures_util::future::join_all(checks).await;
        let mut live = Vec::new();
        for f in found {
            match f {
                Ok(Some(t)) => live.push(t),
                Ok(None) => {}
                Err(e) => return answer(Err(e)),
            }
        }
        Answer::Outcome(Outcome::Exist(live))
    }
}

/// The longest the `SCAN` of every master may take (each session's check has its own
/// [`CALL_TIMEOUT`]).
const WALK_TIMEOUT: Duration = Duration::from_secs(60);

/// Sessions checked concurrently while walking every master.
const WALK_BATCH: usize = 256;

impl RedisEngine {
    /// Runs `op` on every session of every master; the replies of those that were live.
    async fn every_session(&self, op: &str, now_ms: u64) -> Result<Vec<Vec<Resp>>, Failure> {
        let tokens = tokio::time::timeout(WALK_TIMEOUT, scan::tokens(&self.backend))
            .await
            .map_err(|_| Failure::Timeout)??;
        let mut live = Vec::new();
        for batch in tokens.chunks(WALK_BATCH) {
            let runs = batch
                .iter()
                .map(|&t| async move { Call::session(t, op).run(&self.backend, now_ms).await });
            for reply in futures_util::future::join_all(runs).await {
                live.extend(reply?);
            }
        }
        Ok(live)
    }

    /// Live sessions and the keys they hold, across every master.
    async fn session_totals(&self, now_ms: u64) -> Result<(u64, u64), Failure> {
        let mut keys = 0;
        let live = self.every_session("count", now_ms).await?;
        for items in &live {
            keys += reply::int(items, 0)?;
        }
        Ok((live.len() as u64, keys))
    }

    async fn info_all(&self, now_ms: u64) -> Answer {
        answer(
            self.session_totals(now_ms)
                .await
                .map(|(sessions, keys)| Outcome::InfoAll { sessions, keys }),
        )
    }

    async fn stats(&self, now_ms: u64) -> Answer {
        let stats = async {
            let (sessions, keys) = self.session_totals(now_ms).await?;
            let top = Call::kv("count").run(&self.backend, now_ms).await?;
            let top = reply::int(&top.ok_or(Malformed)?, 0)?;
            Ok(Outcome::Stats {
                sessions,
                keys: keys + top,
            })
        };
        answer(stats.await)
    }

    async fn end_all(&self, now_ms: u64) -> Answer {
        let ended = self.every_session("end", now_ms).await;
        answer(ended.map(|live| Outcome::Count(live.len() as u64)))
    }
}

/// A backend failure is logged and answered with status 1000.
fn answer(result: Result<Outcome, Failure>) -> Answer {
    match result {
        Ok(outcome) => Answer::Outcome(outcome),
        Err(e) => {
            tracing::warn!(error = %e, "backend command failed");
            Answer::Failed(Status::Unknown)
        }
    }
}

/// A future that is already answered.
fn ready(outcome: Outcome) -> EngineFuture<Answer> {
    Box::pin(std::future::ready(Answer::Outcome(outcome)))
}

impl RemoteEngine for RedisEngine {
    fn execute(&self, cmd: Command<'_>, now_ms: u64) -> Result<EngineFuture<Answer>, Unsupported> {
        let engine = Arc::new(self.clone());
        let (call, tkn, then) = match cmd {
            Command::ShNew {
                expiry,
                name,
                shared,
            } => {
                let name = name.map(|n| n.into_owned());
                return Ok(Box::pin(async move {
                    engine.sh_new(expiry, name, shared, now_ms).await
                }));
            }
            Command::ShOpen { name } => {
                let name = name.into_owned();
                return Ok(Box::pin(async move { engine.sh_open(name, now_ms).await }));
            }
            Command::ShInfoAll => {
                return Ok(Box::pin(async move { engine.info_all(now_ms).await }));
            }
            Command::ShEndAll => {
                return Ok(Box::pin(async move { engine.end_all(now_ms).await }));
            }
            Command::Stats => {
                return Ok(Box::pin(async move { engine.stats(now_ms).await }));
            }
            Command::ShExists { tkns } => {
                return Ok(Box::pin(
                    async move { engine.sh_exists(tkns, now_ms).await },
                ));
            }
            Command::KvSet(e) => (Call::kv("set").entries(&e), None, Then::Done),
            Command::KvAdd(e) => (Call::kv("add").entries(&e), None, Then::Done),
            Command::KvGet(k) => (Call::kv("get").names(&k), None, Then::Values(owned(&k))),
            Command::KvRmv(k) => (Call::kv("rmv").names(&k), None, Then::Done),
            Command::KvContains(k) => (Call::kv("contains").names(&k), None, Then::Contains),
            Command::KvCount => (Call::kv("count"), None, Then::Count),
            Command::KvKeys => (Call::kv("keys"), None, Then::KeyList),
            Command::KvClear => (Call::kv("clear"), None, Then::Count),
            Command::KvClearSet(e) => (Call::kv("clearset").entries(&e), None, Then::Count),
            cmd => {
                let (tkn, op, then, entries, keys) = session_op(cmd)?;
                let Some(t) = tkn else {
                    return Ok(ready(Outcome::NoSession { tkn: None }));
                };
                let call = Call::session(t, op);
                let call = match (entries, keys) {
                    (Some(e), _) => call.entries(&e),
                    (_, Some(k)) => call.names(&k),
                    _ => call,
                };
                (call, tkn, then)
            }
        };
        Ok(Box::pin(async move {
            engine.single(call, tkn, then, now_ms).await
        }))
    }

    fn counts(&self, now_ms: u64) -> Result<EngineFuture<Answer>, Unsupported> {
        let engine = self.clone();
        Ok(Box::pin(async move { engine.stats(now_ms).await }))
    }
}

/// The parts of a command on one session: its token, the script's operation, how its reply
/// becomes the outcome, and its entries or key names.
type SessionOp<'c> = (
    Option<Token>,
    &'static str,
    Then,
    Option<Entries<'c>>,
    Option<Keys<'c>>,
);

fn session_op(cmd: Command<'_>) -> Result<SessionOp<'_>, Unsupported> {
    Ok(match cmd {
        Command::ShEnd { tkn } => (tkn, "end", Then::Ended, None, None),
        Command::ShInfo { tkn } => (tkn, "info", Then::Info, None, None),
        Command::ShSet { tkn, keys } => (tkn, "set", Then::Done, Some(keys), None),
        Command::ShAdd { tkn, keys } => (tkn, "add", Then::Done, Some(keys), None),
        Command::ShGet { tkn, keys } => (tkn, "get", Then::Values(owned(&keys)), None, Some(keys)),
        Command::ShRmv { tkn, keys } => (tkn, "rmv", Then::Done, None, Some(keys)),
        Command::ShContains { tkn, keys } => (tkn, "contains", Then::Contains, None, Some(keys)),
        Command::ShCount { tkn } => (tkn, "count", Then::Count, None, None),
        Command::ShKeys { tkn } => (tkn, "keys", Then::KeyList, None, None),
        Command::ShClear { tkn } => (tkn, "clear", Then::Count, None, None),
        Command::ShClearSet { tkn, keys } => (tkn, "clearset", Then::Count, Some(keys), None),
        // The others are not commands on one session.
        _ => return Err(Unsupported),
    })
}

/// Key names, owned, for turning values back into the outcome.
fn owned(keys: &Keys<'_>) -> Vec<String> {
    keys.iter().map(|k| k.to_string()).collect()
}
