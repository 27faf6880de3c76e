//! The asynchronous engine path: an engine that answers over the network (a Redis Cluster, say).
//!
//! The embedded [`crate::Engine`] answers in place; a [`RemoteEngine`] returns a future, and the
//! service hands the transport a [`Handled::Pending`] reply that it awaits on the connection's
//! task, as it awaits deferred disk work, so later replies on that connection keep their order.
//! Requests are validated and rejected exactly as in embedded mode before an engine sees them.

use std::future::Future;
use std::pin::Pin;

use sessiondb_core::{Command, Outcome};
use sessiondb_proto::parse;
use sessiondb_proto::render::{self, ServerInfo};
use sessiondb_proto::request::{Action, Rejection, ReplyName, Request};
use sessiondb_proto::{Kind, ReplyHead, Status};

use crate::Handled;

/// A boxed future an engine returns; it owns what it needs, since it outlives the request.
pub type EngineFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// One reply still being produced: its bytes and its status.
pub type PendingReply = EngineFuture<(Vec<u8>, Status)>;

/// What an engine that answers over the network provides. Its futures never fail: a backend
/// failure is an [`Outcome`] of its own choosing or [`RemoteEngine::failed`]'s status.
pub trait RemoteEngine: Send + Sync + 'static {
    /// Starts one validated command at `now_ms`. `Err` means the engine does not support the
    /// command (yet): the reply gets [`Status::CommandDisabled`] at once.
    fn execute(&self, cmd: Command<'_>, now_ms: u64) -> Result<EngineFuture<Answer>, Unsupported>;

    /// Live sessions, and top-level keys plus the keys of live sessions (`SV_INFO`), as
    /// [`Outcome::Stats`]. `Err`: not supported (yet), `SV_INFO` answers
    /// [`Status::CommandDisabled`].
    fn counts(&self, now_ms: u64) -> Result<EngineFuture<Answer>, Unsupported>;
}

/// What a remote engine answered.
#[derive(Debug)]
pub enum Answer {
    /// The command ran; render this outcome as the embedded engine's would be.
    Outcome(Outcome),
    /// The backend failed (unreachable, a failover under way, …); the engine has logged why and
    /// the reply carries this status (normally [`Status::Unknown`]).
    Failed(Status),
}

/// The command is one the remote engine does not run (yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsupported;

/// Runs an engine command on `remote`: the reply is rendered once the answer arrives, from the
/// request parsed again (the future must own its message, not borrow it).
pub(crate) fn engine_call(
    remote: &dyn RemoteEngine,
    msg: &str,
    persist_enabled: bool,
    cmd: Command<'_>,
    reply: (&str, Kind),
    now_ms: u64,
    out: &mut Vec<u8>,
) -> (Handled, ReplyHead) {
    let (name, kind) = reply;
    let Ok(answer) = remote.execute(cmd, now_ms) else {
        return unsupported(name, kind, out);
    };
    let msg = msg.to_owned();
    let finish = move |outcome: &Outcome, out: &mut Vec<u8>| {
        let mut scratch = String::new();
        let mut tree = None;
        match parse::message(&msg, persist_enabled, &mut scratch, &mut tree) {
            Ok(Request {
                name,
                kind,
                action: Action::Engine { ctx, .. },
            }) => render::outcome(out, name, kind, &ctx, outcome).status,
            // Parsing is deterministic: the message parsed as this command before.
            _ => {
                render::rejection(
                    out,
                    Rejection {
                        name: ReplyName::Err,
                        status: Status::Unknown,
                        kind: None,
                    },
                )
                .status
            }
        }
    };
    pending(answer, name, kind, finish)
}

/// `SV_INFO` on `remote`: the counts come from the backend, the rest from `info` as it was
/// when the request arrived.
pub(crate) fn sv_info(
    remote: &dyn RemoteEngine,
    name: &str,
    info: ServerInfo<'static>,
    now_ms: u64,
    out: &mut Vec<u8>,
) -> (Handled, ReplyHead) {
    let cmd = name.to_owned();
    let finish = move |outcome: &Outcome, out: &mut Vec<u8>| {
        let (sessions, keys) = match outcome {
            Outcome::Stats { sessions, keys } => (*sessions, *keys),
            _ => (0, 0),
        };
        let info = ServerInfo {
            sessions,
            keys,
            ..info
        };
        render::sv_info(out, &cmd, &info).status
    };
    match remote.counts(now_ms) {
        Ok(answer) => pending(answer, name, Kind::SvInfo, finish),
        Err(Unsupported) => unsupported(name, Kind::SvInfo, out),
    }
}

/// The reply to a command the remote engine does not run (yet).
pub(crate) fn unsupported(name: &str, kind: Kind, out: &mut Vec<u8>) -> (Handled, ReplyHead) {
    let written =
        render::ReplyWriter::new(out, ReplyName::Rsp(name), Status::CommandDisabled).finish();
    (Handled::Replied, ReplyHead::written(Some(kind), written))
}

/// The pending reply to command `name`: `finish` renders the outcome, a failure its status.
fn pending(
    answer: EngineFuture<Answer>,
    name: &str,
    kind: Kind,
    finish: impl FnOnce(&Outcome, &mut Vec<u8>) -> Status + Send + 'static,
) -> (Handled, ReplyHead) {
    let name = name.to_owned();
    let reply: PendingReply = Box::pin(async move {
        let mut out = Vec::new();
        let status = match answer.await {
            Answer::Outcome(outcome) => finish(&outcome, &mut out),
            Answer::Failed(status) => {
                render::ReplyWriter::new(&mut out, ReplyName::Rsp(&name), status)
                    .finish()
                    .status
            }
        };
        (out, status)
    });
    (Handled::Pending(reply), ReplyHead::deferred(kind))
}
