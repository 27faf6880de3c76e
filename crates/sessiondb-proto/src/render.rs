//! Replies as JSON bytes (`docs/PROTOCOL.md` §10–§12, Appendix A), written straight into the
//! connection's output buffer: stored values are already JSON text, and names are escaped with
//! [`write_str`]. Every function that completes a reply returns what it wrote ([`Written`]),
//! so nobody reads a reply back to learn its status.

use sessiondb_core::json::write_str;
use sessiondb_core::persist::save_load::Loaded;
use sessiondb_core::persist::{LoadError, SaveError, SaveKind};
use sessiondb_core::{Outcome, SessionInfo, ValueSink};

use crate::request::{Context, KeyNames, Kind, Rejection, ReplyName};
use crate::status::Status;

/// What a completed reply was, as data: whether it is named `ERR`, and its `st`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// The reply is named `ERR` (else `<command>_RSP`).
    pub err: bool,
    /// The reply's `st`.
    pub status: Status,
}

/// What was replied to one request, for the transport to count without reading the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyHead {
    /// Whether the reply is named `ERR` (else `<command>_RSP`, the command as received).
    pub err: bool,
    /// The command the request named; `None` when its name is none of the protocol's (or it
    /// had no name: invalid JSON, a malformed envelope, a binary message).
    pub kind: Option<Kind>,
    /// The reply's `st`; `None` for deferred work, whose reply does not exist yet (the work
    /// returns its status).
    pub status: Option<Status>,
}

impl ReplyHead {
    /// The head of a reply to a request naming `kind`, as [`Written`] describes it.
    pub fn written(kind: Option<Kind>, written: Written) -> Self {
        Self {
            err: written.err,
            kind,
            status: Some(written.status),
        }
    }

    /// The head of deferred work for `kind`: a `<command>_RSP` whose status comes later.
    pub fn deferred(kind: Kind) -> Self {
        Self {
            err: false,
            kind: Some(kind),
            status: None,
        }
    }
}

/// Writes one reply object: `{"<name>":{"st":N` on creation, then members, then `}}` on
/// [`ReplyWriter::finish`], which returns what was written.
pub struct ReplyWriter<'o> {
    out: &'o mut Vec<u8>,
    written: Written,
}

impl<'o> ReplyWriter<'o> {
    /// Starts a reply named `name` with status `status`.
    pub fn new(out: &'o mut Vec<u8>, name: ReplyName<'_>, status: Status) -> Self {
        match name {
            ReplyName::Err => out.extend_from_slice(br#"{"ERR""#),
            ReplyName::Rsp(cmd) => {
                out.push(b'{');
                write_str(cmd, out);
                // Reopen the literal to append the suffix inside the quotes.
                out.pop();
                out.extend_from_slice(br#"_RSP""#);
            }
        }
        out.extend_from_slice(br#":{"st":"#);
        write_uint(out, u64::from(status.code()));
        let written = Written {
            err: name == ReplyName::Err,
            status,
        };
        Self { out, written }
    }

    /// Starts a member; the caller writes its value into the returned buffer. Member names are
    /// protocol constants that need no escaping.
    pub fn member(&mut self, name: &str) -> &mut Vec<u8> {
        self.out.extend_from_slice(b",\"");
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    /// Adds a uint member.
    pub fn uint_member(&mut self, name: &str, v: u64) {
        write_uint(self.member(name), v);
    }

    /// Adds a string member.
    pub fn str_member(&mut self, name: &str, v: &str) {
        write_str(v, self.member(name));
    }

    /// Adds a bool member.
    pub fn bool_member(&mut self, name: &str, v: bool) {
        let text: &[u8] = if v { b"true" } else { b"false" };
        self.member(name).extend_from_slice(text);
    }

    /// Adds a `null` member.
    pub fn null_member(&mut self, name: &str) {
        self.member(name).extend_from_slice(b"null");
    }

    /// Closes the reply.
    pub fn finish(self) -> Written {
        self.out.extend_from_slice(b"}}");
        self.written
    }
}

/// Writes `v` in decimal.
pub fn write_uint(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// `{"<name>":{"st":N}}` for a request refused before execution.
pub fn rejection(out: &mut Vec<u8>, rej: Rejection<'_>) -> Written {
    ReplyWriter::new(out, rej.name, rej.status).finish()
}

/// `st` 1000: `ERR` for `KV_` commands, `<CMD>_RSP` otherwise (§4).
pub fn internal_failure(out: &mut Vec<u8>, cmd_name: &str, kind: Kind) -> Written {
    let name = if kind.is_kv() {
        ReplyName::Err
    } else {
        ReplyName::Rsp(cmd_name)
    };
    ReplyWriter::new(out, name, Status::Unknown).finish()
}

/// Writes a get's reply (`SH_GET`, `KV_GET`) while the engine hands it the values under its lock:
/// the header is written at the first value, each value is copied once from the store.
pub struct ValuesWriter<'o, 'c> {
    out: &'o mut Vec<u8>,
    start: usize,
    cmd_name: &'c str,
    kind: Kind,
    keys: &'c KeyNames<'c>,
    written: usize,
    /// The engine named an index the request did not have (an engine bug).
    bad_index: bool,
}

impl<'o, 'c> ValuesWriter<'o, 'c> {
    /// A writer appending to `out` for command `cmd_name` whose request keys are `keys`.
    pub fn new(
        out: &'o mut Vec<u8>,
        cmd_name: &'c str,
        kind: Kind,
        keys: &'c KeyNames<'c>,
    ) -> Self {
        let start = out.len();
        Self {
            out,
            start,
            cmd_name,
            kind,
            keys,
            written: 0,
            bad_index: false,
        }
    }

    /// `{"<name>_RSP":{"st":1,"keys":{`.
    fn open(&mut self) {
        let mut w = ReplyWriter::new(self.out, ReplyName::Rsp(self.cmd_name), Status::Ok);
        w.member("keys").push(b'{');
    }

    /// Completes the reply if `o` says the values were sent here, returning what was written;
    /// otherwise returns `None` with `out` as it was, for [`outcome`] to render `o`.
    pub fn finish(mut self, o: &Outcome) -> Option<Written> {
        let sent = match o {
            Outcome::ValuesSent(n) if matches!(self.kind, Kind::KvGet | Kind::ShGet) => *n,
            _ => {
                // Values with any other outcome would be an engine bug: drop them.
                self.out.truncate(self.start);
                return None;
            }
        };
        if self.bad_index || sent != self.written {
            self.out.truncate(self.start);
            return Some(internal_failure(self.out, self.cmd_name, self.kind));
        }
        if self.written == 0 {
            self.open();
        }
        self.out.extend_from_slice(b"}}}");
        Some(Written {
            err: false,
            status: Status::Ok,
        })
    }
}

impl ValueSink for ValuesWriter<'_, '_> {
    fn value(&mut self, index: usize, json: &str) {
        if self.bad_index {
            return;
        }
        let Some(key) = self.keys.get(index) else {
            self.bad_index = true;
            return;
        };
        if self.written == 0 {
            self.open();
        } else {
            self.out.push(b',');
        }
        write_str(key, self.out);
        self.out.push(b':');
        self.out.extend_from_slice(json.as_bytes());
        self.written += 1;
    }
}

/// Renders the engine's outcome for a request. An outcome that does not fit the command (an
/// engine bug) becomes an internal failure (1000) rather than a malformed reply.
pub fn outcome(
    out: &mut Vec<u8>,
    cmd_name: &str,
    kind: Kind,
    ctx: &Context<'_>,
    o: &Outcome,
) -> Written {
    let start = out.len();
    match render_outcome(out, cmd_name, kind, ctx, o) {
        Some(written) => written,
        None => {
            out.truncate(start);
            internal_failure(out, cmd_name, kind)
        }
    }
}

fn render_outcome(
    out: &mut Vec<u8>,
    cmd_name: &str,
    kind: Kind,
    ctx: &Context<'_>,
    o: &Outcome,
) -> Option<Written> {
    use Kind::*;
    let name = ReplyName::Rsp(cmd_name);
    let ok = |out| ReplyWriter::new(out, name, Status::Ok);
    let written = match (kind, o) {
        (KvSet | KvAdd | KvRmv | ShSet | ShAdd | ShRmv, Outcome::Done) => ok(out).finish(),
        (
            KvCount | KvClear | KvClearSet | ShCount | ShClear | ShClearSet | ShEndAll,
            Outcome::Count(n),
        ) => {
            let mut w = ok(out);
            w.uint_member("cnt", *n);
            w.finish()
        }
        (KvGet | ShGet, Outcome::Values(values)) => {
            let mut w = ok(out);
            keys_object(w.member("keys"), ctx, values, |buf, value| {
                buf.extend_from_slice(value.as_json().as_bytes());
            })?;
            w.finish()
        }
        (KvKeys | ShKeys, Outcome::KeyList(keys)) => {
            let mut w = ok(out);
            str_array(w.member("keys"), keys.iter().map(|k| Some(k.as_str())))?;
            w.finish()
        }
        (ShKeyTtl, Outcome::Count(n)) => {
            let mut w = ok(out);
            w.uint_member("cnt", *n);
            w.finish()
        }
        (ShKeyRemaining, Outcome::Remaining(found)) => {
            let mut w = ok(out);
            keys_object(w.member("keys"), ctx, found, |buf, secs| match secs {
                Some(s) => write_uint(buf, *s),
                None => buf.extend_from_slice(b"null"),
            })?;
            w.finish()
        }
        (KvContains | ShContains, Outcome::Contains(indices)) => {
            let mut w = ok(out);
            str_array(
                w.member("contains"),
                indices.iter().map(|i| ctx.keys.get(*i)),
            )?;
            w.finish()
        }
        (ShNew, Outcome::Created { tkn }) => {
            let mut w = ok(out);
            w.uint_member("tkn", *tkn);
            if let Some(n) = ctx.name {
                w.str_member("name", n);
            }
            w.finish()
        }
        (ShNew, Outcome::NameTaken) => {
            let mut w = ReplyWriter::new(out, name, Status::SessionNewFail);
            w.str_member("name", ctx.name?);
            w.finish()
        }
        (ShOpen, Outcome::Opened { tkn }) => {
            let mut w = ok(out);
            w.uint_member("tkn", *tkn);
            w.str_member("name", ctx.name?);
            w.finish()
        }
        (ShOpen, Outcome::OpenFailed) => {
            let mut w = ReplyWriter::new(out, name, Status::SessionOpenFail);
            w.null_member("tkn");
            w.str_member("name", ctx.name?);
            w.finish()
        }
        (ShEnd, Outcome::Ended { tkn }) => {
            let mut w = ok(out);
            w.uint_member("tkn", *tkn);
            w.finish()
        }
        (ShEnd, Outcome::NoSession { tkn }) => {
            // The failure form follows the request: `tkn` only when it sent a uint (§11.4).
            let mut w = ReplyWriter::new(out, name, Status::SessionNotExist);
            if let Some(t) = *tkn {
                w.uint_member("tkn", t);
            }
            w.finish()
        }
        (ShInfo, Outcome::NoSession { tkn }) => {
            let mut w = ReplyWriter::new(out, name, Status::SessionNotExist);
            if let Some(t) = *tkn {
                w.uint_member("tkn", t);
                w.null_member("shared");
                w.null_member("keyCnt");
            }
            w.finish()
        }
        (
            ShSet | ShAdd | ShGet | ShRmv | ShContains | ShCount | ShKeys | ShClear | ShClearSet
            | ShKeyTtl | ShKeyRemaining,
            Outcome::NoSession { .. },
        ) => ReplyWriter::new(out, name, Status::SessionNotExist).finish(),
        (ShExists, Outcome::Exist(tkns)) => {
            let mut w = ok(out);
            uint_array(w.member("exist"), tkns);
            w.finish()
        }
        (ShInfo, Outcome::Info(info)) => session_info(ok(out), info),
        (ShInfoAll, Outcome::InfoAll { sessions, keys }) => {
            let mut w = ok(out);
            w.uint_member("totalSessions", *sessions);
            w.uint_member("totalKeys", *keys);
            w.finish()
        }
        (_, Outcome::LimitReached) => ReplyWriter::new(out, name, Status::LimitReached).finish(),
        (_, Outcome::VersionMismatch) => {
            ReplyWriter::new(out, name, Status::VersionMismatch).finish()
        }
        (ShOwnerList, Outcome::OwnerSessions(tkns)) => {
            let mut w = ok(out);
            w.str_member("owner", ctx.name?);
            uint_array(w.member("tkns"), tkns);
            w.finish()
        }
        (ShOwnerEnd, Outcome::Count(n)) => {
            let mut w = ok(out);
            w.str_member("owner", ctx.name?);
            w.uint_member("cnt", *n);
            w.finish()
        }
        _ => return None,
    };
    Some(written)
}

/// A JSON object of the request's key names (by index into its keys) with a value each;
/// `None` for an index the request did not have.
fn keys_object<T>(
    buf: &mut Vec<u8>,
    ctx: &Context<'_>,
    items: &[(usize, T)],
    mut value: impl FnMut(&mut Vec<u8>, &T),
) -> Option<()> {
    buf.push(b'{');
    for (i, (index, item)) in items.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        write_str(ctx.keys.get(*index)?, buf);
        buf.push(b':');
        value(buf, item);
    }
    buf.push(b'}');
    Some(())
}

/// A JSON array of uints.
fn uint_array(buf: &mut Vec<u8>, items: &[u64]) {
    buf.push(b'[');
    for (i, t) in items.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        write_uint(buf, *t);
    }
    buf.push(b']');
}

/// A JSON array of strings; `None` for any item aborts (an index the request did not have).
fn str_array<'s>(buf: &mut Vec<u8>, items: impl Iterator<Item = Option<&'s str>>) -> Option<()> {
    buf.push(b'[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        write_str(item?, buf);
    }
    buf.push(b']');
    Some(())
}

/// `SH_INFO` success (§11.6).
fn session_info(mut w: ReplyWriter<'_>, info: &SessionInfo) -> Written {
    w.uint_member("tkn", info.tkn);
    w.bool_member("shared", info.shared);
    w.uint_member("keyCnt", info.key_count);
    w.bool_member("expires", info.expiry.is_some());
    if let Some((e, remaining)) = &info.expiry {
        let buf = w.member("expiry");
        buf.extend_from_slice(br#"{"duration":"#);
        write_uint(buf, e.duration_secs);
        buf.extend_from_slice(br#","remaining":"#);
        write_uint(buf, *remaining);
        for (flag, on) in [
            ("deleteSession", e.delete_session),
            ("extendOnSetAdd", e.extend_on_set_add),
            ("extendOnGet", e.extend_on_get),
        ] {
            buf.extend_from_slice(b",\"");
            buf.extend_from_slice(flag.as_bytes());
            buf.extend_from_slice(if on { b"\":true" } else { b"\":false" });
        }
        buf.push(b'}');
    }
    if let Some(n) = &info.name {
        w.str_member("name", n);
    }
    if let Some(owner) = &info.owner {
        w.str_member("owner", owner);
    }
    w.finish()
}

/// Adds `"ver":<ver>` as the last member of the complete reply that starts at `start` in `out`
/// (docs/PROTOCOL.md E10): every reply object ends in `}}`, so the member goes before them.
pub fn append_ver(out: &mut Vec<u8>, start: usize, ver: u64) {
    if out.len() >= start + 2 && out.ends_with(b"}}") {
        out.truncate(out.len() - 2);
        out.extend_from_slice(br#","ver":"#);
        write_uint(out, ver);
        out.extend_from_slice(b"}}");
    }
}

/// A save's reply (§10.10, §11.9): 121 with `name` and `duration` (ms); 122 bare; 123 with
/// `name` and `duration`.
pub fn saved(
    out: &mut Vec<u8>,
    cmd_name: &str,
    name: &str,
    duration_ms: u64,
    result: &Result<(), SaveError>,
) -> Written {
    let status = match result {
        Ok(()) => Status::SaveComplete,
        Err(SaveError::DirWrite(_)) => Status::SaveDirWriteFail,
        Err(SaveError::Data(_)) => Status::SaveError,
    };
    let mut w = ReplyWriter::new(out, ReplyName::Rsp(cmd_name), status);
    if status != Status::SaveDirWriteFail {
        w.str_member("name", name);
        w.uint_member("duration", duration_ms);
    }
    w.finish()
}

/// A load's reply (§10.11, §11.10): 141 with counts (`KV_LOAD` also `duration`), or 142: bare
/// `name` when the dataset is unavailable, with zero counts when it is malformed.
pub fn loaded(
    out: &mut Vec<u8>,
    cmd_name: &str,
    name: &str,
    kind: SaveKind,
    duration_ms: u64,
    result: &Result<Loaded, LoadError>,
) -> Written {
    let (status, counts) = match result {
        Ok(loaded) => (Status::LoadComplete, Some((loaded.sessions, loaded.keys))),
        Err(LoadError::Malformed { .. }) => (Status::LoadError, Some((0, 0))),
        Err(LoadError::Unavailable(_)) => (Status::LoadError, None),
    };
    let mut w = ReplyWriter::new(out, ReplyName::Rsp(cmd_name), status);
    w.str_member("name", name);
    if let Some((sessions, keys)) = counts {
        if kind == SaveKind::Keys {
            w.uint_member("duration", duration_ms);
        }
        w.uint_member("sessions", sessions);
        w.uint_member("keys", keys);
    }
    w.finish()
}

/// Figures of an `SV_INFO` reply (§12).
pub struct ServerInfo<'a> {
    /// `serverVersion`.
    pub version: &'a str,
    /// `persistEnabled`.
    pub persist_enabled: bool,
    /// `uptimeSecs`.
    pub uptime_secs: u64,
    /// `sessions`: live sessions.
    pub sessions: u64,
    /// `keys`: top-level keys plus keys of live sessions.
    pub keys: u64,
    /// `connections`: open connections.
    pub connections: u64,
    /// `memoryBytes`: approximate process memory, when the server knows it.
    pub memory_bytes: Option<u64>,
}

/// `SV_INFO` success.
pub fn sv_info(out: &mut Vec<u8>, cmd_name: &str, info: &ServerInfo<'_>) -> Written {
    let mut w = ReplyWriter::new(out, ReplyName::Rsp(cmd_name), Status::Ok);
    w.str_member("serverVersion", info.version);
    w.bool_member("persistEnabled", info.persist_enabled);
    w.uint_member("uptimeSecs", info.uptime_secs);
    w.uint_member("sessions", info.sessions);
    w.uint_member("keys", info.keys);
    w.uint_member("connections", info.connections);
    if let Some(bytes) = info.memory_bytes {
        w.uint_member("memoryBytes", bytes);
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn uints_in_decimal() {
        assert_eq!(text(|o| write_uint(o, 0)), "0");
        assert_eq!(text(|o| write_uint(o, 7)), "7");
        assert_eq!(text(|o| write_uint(o, u64::MAX)), "18446744073709551615");
    }

    #[test]
    fn reply_names_are_escaped() {
        let got = text(|o| {
            rejection(
                o,
                Rejection {
                    name: ReplyName::Rsp("A\"B_\\"),
                    status: Status::CommandNotExist,
                    kind: None,
                },
            )
        });
        assert_eq!(got, r#"{"A\"B_\\_RSP":{"st":10}}"#);
        let got = text(|o| internal_failure(o, "KV_SET", Kind::KvSet));
        assert_eq!(got, r#"{"ERR":{"st":1000}}"#);
        let got = text(|o| internal_failure(o, "SH_GET", Kind::ShGet));
        assert_eq!(got, r#"{"SH_GET_RSP":{"st":1000}}"#);
    }
}
