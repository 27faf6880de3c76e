//! The tree-free reader of the hot commands.
//!
//! Why a second reader beside the tree path of [`super::parse_request`]: building the `Json`
//! tree for a hot request costs more than the rest of parsing it, so the gets and sets the
//! server mostly answers are read straight from the text (BENCHMARKS.md, "Why both request
//! readers stay", has the measurement). The other way round, every request through the pull
//! reader, needs `validate`'s rules (the generic pass in byte order of the parameter names,
//! then each command's checks) rewritten for a reader that sees each member once. Until that is
//! done, the two stay, held together by `tests/fast_path.rs`: wherever this reader returns a
//! request, it is the one the tree path returns.

use std::borrow::Cow;

use sessiondb_core::json::Pull;
use sessiondb_core::{Command, Entries, Expiry, Keys, Token, Value};

use super::{engine, engine_with};
use crate::request::{KeyNames, Kind, Request};

/// Dispatch and validation of the hot commands (`SH_GET`, `KV_GET`, `SH_SET`, `KV_SET`,
/// `SH_ADD`, `KV_ADD`, `SH_CLEAR_SET`, `KV_CLEAR_SET`, and a session's life: `SH_NEW`,
/// `SH_END`) read straight from the message text with [`Pull`]: no `Json` tree, key names
/// borrowed from the message, each value's minified text written once. Only the plain shape is
/// read: exactly one command, a body holding `keys` (and `tkn` for `SH_`) once each, unescaped
/// command, member and get-key names, string items in a get's `keys`; for `SH_NEW`, members of
/// the right types, each once. Anything else returns `None` and the caller runs
/// [`super::parse_request`] on the tree, which decides every other case (invalid JSON included); where
/// this returns a request, it is the one [`super::parse_request`] returns for the same message.
pub fn fast_request<'m>(msg: &'m str, scratch: &mut String) -> Option<Request<'m>> {
    let mut p = Pull::new(msg);
    if !p.eat(b'{') {
        return None;
    }
    let Cow::Borrowed(name) = p.string().ok()?? else {
        return None;
    };
    let kind = match Kind::from_name(name)? {
        Kind::ShNew => return fast_sh_new(name, p),
        kind @ (Kind::ShGet
        | Kind::KvGet
        | Kind::ShSet
        | Kind::KvSet
        | Kind::ShAdd
        | Kind::KvAdd
        | Kind::ShClearSet
        | Kind::KvClearSet
        | Kind::ShEnd) => kind,
        _ => return None,
    };
    let takes_tkn = !kind.is_kv();
    let is_get = matches!(kind, Kind::ShGet | Kind::KvGet);
    if !p.eat(b':') || !p.eat(b'{') {
        return None;
    }
    let mut tkn: Option<Option<Token>> = None;
    let mut list: Option<Vec<&'m str>> = None;
    let mut entries: Option<Entries<'m>> = None;
    pull_members(&mut p, false, |p, member| {
        match member {
            "tkn" if takes_tkn && tkn.is_none() => tkn = Some(p.scalar().ok()??.as_uint()),
            "keys" if is_get && list.is_none() => list = Some(pull_key_list(p)?),
            "keys" if !is_get && entries.is_none() => entries = Some(pull_entries(p, scratch)?),
            _ => return None,
        }
        Some(())
    })?;
    if !p.eat(b'}') || !p.at_end() {
        return None;
    }
    let tkn = tkn.flatten();
    let action = if kind == Kind::ShEnd {
        // Only `tkn`: `keys` is not a member of `SH_END`.
        if list.is_some() || entries.is_some() {
            return None;
        }
        engine_with(Command::ShEnd { tkn }, KeyNames::None, None)
    } else if is_get {
        let names = list?;
        let keys: Keys<'m> = names.iter().map(|k| Cow::Borrowed(*k)).collect();
        let cmd = match kind {
            Kind::ShGet => Command::ShGet { tkn, keys },
            _ => Command::KvGet(keys),
        };
        engine_with(cmd, KeyNames::Filtered(names), None)
    } else {
        let keys = entries?;
        engine(match kind {
            Kind::ShSet => Command::ShSet { tkn, keys },
            Kind::ShAdd => Command::ShAdd { tkn, keys },
            Kind::ShClearSet => Command::ShClearSet { tkn, keys },
            Kind::KvSet => Command::KvSet(keys),
            Kind::KvAdd => Command::KvAdd(keys),
            _ => Command::KvClearSet(keys),
        })
    };
    Some(Request { name, kind, action })
}

/// `SH_NEW`'s body (after its name) in the plain shape: `expiry` (an object with a uint
/// `duration` and bool flags), an unescaped `name` and a bool `shared`, each at most once.
/// The request is `sh_new`'s; any other shape, and every error, is left to the full path.
fn fast_sh_new<'m>(name: &'m str, mut p: Pull<'m>) -> Option<Request<'m>> {
    if !p.eat(b':') || !p.eat(b'{') {
        return None;
    }
    let mut expiry: Option<Option<Expiry>> = None;
    let mut session_name: Option<&'m str> = None;
    let mut shared: Option<bool> = None;
    pull_members(&mut p, true, |p, member| {
        match member {
            "expiry" if expiry.is_none() => expiry = Some(pull_expiry(p)?),
            "name" if session_name.is_none() => {
                let Cow::Borrowed(n) = p.string().ok()?? else {
                    return None;
                };
                session_name = Some(n);
            }
            "shared" if shared.is_none() => shared = Some(p.scalar().ok()??.as_bool()?),
            _ => return None,
        }
        Some(())
    })?;
    if !p.eat(b'}') || !p.at_end() {
        return None;
    }
    let shared = shared.unwrap_or(false);
    // A shared session needs a non-empty name: the full path words those errors.
    if shared && session_name.is_none_or(str::is_empty) {
        return None;
    }
    let cmd = Command::ShNew {
        expiry: expiry.flatten(),
        name: session_name.map(Cow::Borrowed),
        shared,
    };
    Some(Request {
        name,
        kind: Kind::ShNew,
        action: engine_with(cmd, KeyNames::None, session_name),
    })
}

/// `SH_NEW`'s `expiry` object: a uint `duration` and bool flags, each once. `Some(None)` for a
/// duration of 0 (never expires; flags discarded, §9.1).
fn pull_expiry(p: &mut Pull<'_>) -> Option<Option<Expiry>> {
    if !p.eat(b'{') {
        return None;
    }
    let (mut duration, mut delete_session, mut extend_on_get, mut extend_on_set_add) =
        (None, None, None, None);
    pull_members(p, false, |p, member| {
        let v = p.scalar().ok()??;
        let slot = match member {
            "duration" if duration.is_none() => {
                duration = Some(v.as_uint()?);
                None
            }
            "deleteSession" => Some(&mut delete_session),
            "extendOnGet" => Some(&mut extend_on_get),
            "extendOnSetAdd" => Some(&mut extend_on_set_add),
            _ => return None,
        };
        if let Some(slot) = slot {
            if slot.is_some() {
                return None;
            }
            *slot = Some(v.as_bool()?);
        }
        Some(())
    })?;
    let duration_secs = duration?;
    Some((duration_secs > 0).then(|| Expiry {
        duration_secs,
        delete_session: delete_session.unwrap_or(false),
        extend_on_set_add: extend_on_set_add.unwrap_or(false),
        extend_on_get: extend_on_get.unwrap_or(false),
    }))
}

/// Reads an object's members (its `{` just eaten) through its `}`, calling `member` with each
/// unescaped name to read the value; `None` as soon as `member` gives up or the shape is not
/// plain. `allow_empty`: whether `{}` is read too.
fn pull_members<'m>(
    p: &mut Pull<'m>,
    allow_empty: bool,
    mut member: impl FnMut(&mut Pull<'m>, &'m str) -> Option<()>,
) -> Option<()> {
    if allow_empty && p.eat(b'}') {
        return Some(());
    }
    loop {
        let Cow::Borrowed(name) = p.string().ok()?? else {
            return None;
        };
        if !p.eat(b':') {
            return None;
        }
        member(p, name)?;
        if p.eat(b'}') {
            return Some(());
        }
        if !p.eat(b',') {
            return None;
        }
    }
}

/// A get's `keys` array of unescaped strings (`None` for anything else).
fn pull_key_list<'m>(p: &mut Pull<'m>) -> Option<Vec<&'m str>> {
    if !p.eat(b'[') {
        return None;
    }
    let mut names = Vec::new();
    if p.eat(b']') {
        return Some(names);
    }
    loop {
        let Cow::Borrowed(k) = p.string().ok()?? else {
            return None;
        };
        names.push(k);
        if p.eat(b']') {
            return Some(names);
        }
        if !p.eat(b',') {
            return None;
        }
    }
}

/// A `keys` object: names, and values minified once through `scratch` (they sit at nesting
/// level 3: message, body, `keys`).
fn pull_entries<'m>(p: &mut Pull<'m>, scratch: &mut String) -> Option<Entries<'m>> {
    if !p.eat(b'{') {
        return None;
    }
    let mut entries = Vec::new();
    if p.eat(b'}') {
        return Some(entries);
    }
    loop {
        let key = p.string().ok()??;
        if !p.eat(b':') {
            return None;
        }
        let value = Value::from_json_unchecked(p.value_text(3, scratch).ok()?);
        entries.push((key, value));
        if p.eat(b'}') {
            return Some(entries);
        }
        if !p.eat(b',') {
            return None;
        }
    }
}
