//! From a JSON text message to a validated request: dispatch steps 3–7 (`PROTOCOL.md` §4) and
//! parameter validation (§6.2, §6.4, §11.1).
//!
//! Two readers give the same request: [`fast_request`] reads the hot commands in their plain
//! shape straight from the text; everything else is parsed into a [`Json`] tree and validated
//! here ([`parse_request`]). Why both stay is said at the top of [`fast`].
//!
//! Everything here borrows from the message or the parsed tree: key names and string
//! parameters are never copied; only stored values become [`sessiondb_core::Value`]s (minified
//! through one reused scratch buffer).

mod fast;

use std::borrow::Cow;

use sessiondb_core::json::{self, Json};
use sessiondb_core::{
    Command, Entries, Expiry, KeyTtls, Keys, OwnedNew, Token, TtlWrite, VersionCheck,
    MAX_OWNER_BYTES,
};

use crate::dataset_name_allowed;
use crate::request::{
    Action, Context, Family, KeyNames, Kind, PersistRequest, Rejection, ReplyName, Request,
};
use crate::status::Status;

pub use fast::fast_request;

/// Steps 3–7 of dispatch and validation for one text message: the request, or the rejection
/// to reply with. `tree` holds the parsed JSON when the message needs one (the request borrows
/// from it); hot commands in their plain shape are read without a tree ([`fast_request`]).
pub fn message<'t, 'm: 't>(
    msg: &'m str,
    persist_enabled: bool,
    scratch: &mut String,
    tree: &'t mut Option<Json<'m>>,
) -> Result<Request<'t>, Rejection<'t>> {
    if let Some(req) = fast_request(msg, scratch) {
        return Ok(req);
    }
    // Step 3: strict JSON.
    let Ok(root) = json::parse(msg) else {
        return Err(Rejection {
            name: ReplyName::Err,
            status: Status::JsonInvalid,
            kind: None,
        });
    };
    parse_request(tree.insert(root), persist_enabled, scratch)
}

/// Dispatch steps 4–7 and validation for a message that is valid JSON (step 3 passed).
///
/// `persist_enabled` decides the 14 of saves, checked before anything else in their bodies.
/// `scratch` is reused to minify stored values.
pub fn parse_request<'j>(
    root: &'j Json<'j>,
    persist_enabled: bool,
    scratch: &mut String,
) -> Result<Request<'j>, Rejection<'j>> {
    // Step 4: exactly one member in a top-level object.
    let (name, body) = match root {
        Json::Object(members) if members.len() == 1 => (&*members[0].0, &members[0].1),
        _ => {
            return Err(Rejection {
                name: ReplyName::Err,
                status: Status::CommandSyntax,
                kind: None,
            })
        }
    };
    // Failures before step 7 still name a known command for the counts (a cold path).
    let refused_before_routing = |status| Rejection {
        name: ReplyName::Rsp(name),
        status,
        kind: Kind::from_name(name),
    };
    // Step 5: the body is an object. Step 6: the name has a `_`.
    if !matches!(body, Json::Object(_)) {
        return Err(refused_before_routing(Status::CommandSyntax));
    }
    let Some((prefix, _)) = name.split_once('_') else {
        return Err(refused_before_routing(Status::CommandSyntax));
    };
    // Step 7: routing by prefix; an unknown `KV_` command is answered as `ERR`.
    let Some(kind) = Kind::from_name(name) else {
        return Err(Rejection {
            name: if prefix == Family::Kv.prefix() {
                ReplyName::Err
            } else {
                ReplyName::Rsp(name)
            },
            status: Status::CommandNotExist,
            kind: None,
        });
    };
    let rsp = |status| Rejection {
        name: ReplyName::Rsp(name),
        status,
        kind: Some(kind),
    };
    let action = validate(kind, body, persist_enabled, scratch).map_err(rsp)?;
    Ok(Request { name, kind, action })
}

/// Parameter types of §6.1.
#[derive(Clone, Copy)]
enum Ty {
    Object,
    Array,
    String,
    Bool,
    Uint,
}

impl Ty {
    fn accepts(self, v: &Json<'_>) -> bool {
        match self {
            Ty::Object => matches!(v, Json::Object(_)),
            Ty::Array => matches!(v, Json::Array(_)),
            Ty::String => matches!(v, Json::String(_)),
            Ty::Bool => matches!(v, Json::Bool(_)),
            Ty::Uint => v.as_uint().is_some(),
        }
    }
}

/// One step of the generic pass: required and absent → 26; present with the wrong type → 41
/// (`null` included).
fn param<'j>(body: &'j Json<'j>, name: &str, ty: Ty) -> Result<Option<&'j Json<'j>>, Status> {
    match body.get(name) {
        None => Ok(None),
        Some(v) if ty.accepts(v) => Ok(Some(v)),
        Some(_) => Err(Status::ValueTypeInvalid),
    }
}

fn required<'j>(body: &'j Json<'j>, name: &str, ty: Ty) -> Result<&'j Json<'j>, Status> {
    param(body, name, ty)?.ok_or(Status::ParamMissing)
}

fn object<'j>(v: &'j Json<'j>) -> &'j [(Cow<'j, str>, Json<'j>)] {
    v.as_object().unwrap_or_default()
}

fn array<'j>(v: &'j Json<'j>) -> &'j [Json<'j>] {
    v.as_array().unwrap_or_default()
}

fn string<'j>(v: &'j Json<'j>) -> &'j str {
    v.as_str().unwrap_or_default()
}

/// `tkn` is outside the generic pass (§6.3): a uint or nothing.
fn tkn(body: &Json<'_>) -> Option<Token> {
    body.get("tkn").and_then(Json::as_uint)
}

/// `keys` object → entries, values minified.
fn entries<'j>(body: &'j Json<'j>, scratch: &mut String) -> Result<Entries<'j>, Status> {
    let members = object(required(body, "keys", Ty::Object)?);
    Ok(members
        .iter()
        .map(|(k, v)| (Cow::Borrowed(&**k), v.to_value_with(scratch)))
        .collect())
}

/// `keys` array → the string items (non-strings skipped) and how to name them in the reply.
fn key_list<'j>(body: &'j Json<'j>, non_empty: bool) -> Result<(Keys<'j>, KeyNames<'j>), Status> {
    let items = array(required(body, "keys", Ty::Array)?);
    if non_empty && items.is_empty() {
        return Err(Status::ValueSize);
    }
    let keys: Keys<'j> = items
        .iter()
        .filter_map(|item| item.as_str().map(Cow::Borrowed))
        .collect();
    let names = if keys.len() == items.len() {
        KeyNames::Direct(items)
    } else {
        KeyNames::Filtered(items.iter().filter_map(Json::as_str).collect())
    };
    Ok((keys, names))
}

fn dataset_name<'j>(body: &'j Json<'j>) -> Result<&'j str, Status> {
    let name = string(required(body, "name", Ty::String)?);
    if dataset_name_allowed(name) {
        Ok(name)
    } else {
        Err(Status::ValueTypeInvalid)
    }
}

pub(super) fn engine<'j>(cmd: Command<'j>) -> Action<'j> {
    engine_with(cmd, KeyNames::None, None)
}

pub(super) fn engine_with<'j>(
    cmd: Command<'j>,
    keys: KeyNames<'j>,
    name: Option<&'j str>,
) -> Action<'j> {
    Action::Engine {
        cmd,
        ctx: Context {
            keys,
            name,
            version: VersionCheck::NONE,
        },
    }
}

/// The generic pass of a command naming one session by token (§6.2, docs/PROTOCOL.md E10):
/// `ifVer` (uint) sorts before every other parameter name of these commands and `withVer`
/// (bool) after them, so `own` (the command's own generic pass) runs between the two. The
/// action it returns gets the version members.
fn versioned<'j>(
    body: &'j Json<'j>,
    own: impl FnOnce() -> Result<Action<'j>, Status>,
) -> Result<Action<'j>, Status> {
    let if_ver = param(body, "ifVer", Ty::Uint)?.and_then(Json::as_uint);
    let mut action = own()?;
    let with_ver = param(body, "withVer", Ty::Bool)?
        .and_then(Json::as_bool)
        .unwrap_or(false);
    if let Action::Engine { ctx, .. } = &mut action {
        ctx.version = VersionCheck::new(if_ver, with_ver);
    }
    Ok(action)
}

/// Whether `name` is a member the version extension adds to commands naming one session.
fn is_version_member(name: &str) -> bool {
    matches!(name, "ifVer" | "withVer")
}

/// An `owner` (docs/PROTOCOL.md E11): a string (else 41) of 1 to 256 bytes (else 42).
fn owner_size(owner: &str) -> Result<&str, Status> {
    if (1..=MAX_OWNER_BYTES).contains(&owner.len()) {
        Ok(owner)
    } else {
        Err(Status::ValueSize)
    }
}

/// `SH_OWNER_LIST`, `SH_OWNER_END`: `owner` string, required, 1 to 256 bytes.
fn owner_command<'j>(
    body: &'j Json<'j>,
    cmd: fn(Cow<'j, str>) -> Command<'j>,
) -> Result<Action<'j>, Status> {
    let owner = owner_size(string(required(body, "owner", Ty::String)?))?;
    Ok(engine_with(
        cmd(Cow::Borrowed(owner)),
        KeyNames::None,
        Some(owner),
    ))
}

/// The generic pass and command checks of one command (§6.4), in the protocol's order.
fn validate<'j>(
    kind: Kind,
    body: &'j Json<'j>,
    persist_enabled: bool,
    scratch: &mut String,
) -> Result<Action<'j>, Status> {
    let t = || tkn(body);
    Ok(match kind {
        Kind::KvSet => engine(Command::KvSet(entries(body, scratch)?)),
        Kind::KvAdd => engine(Command::KvAdd(entries(body, scratch)?)),
        Kind::KvClearSet => engine(Command::KvClearSet(entries(body, scratch)?)),
        Kind::KvGet => {
            let (keys, names) = key_list(body, false)?;
            engine_with(Command::KvGet(keys), names, None)
        }
        Kind::KvContains => {
            let (keys, names) = key_list(body, false)?;
            engine_with(Command::KvContains(keys), names, None)
        }
        Kind::KvRmv => engine(Command::KvRmv(key_list(body, true)?.0)),
        Kind::KvCount => engine(Command::KvCount),
        Kind::KvKeys => engine(Command::KvKeys),
        Kind::KvClear => engine(Command::KvClear),
        Kind::KvSave => {
            if !persist_enabled {
                return Err(Status::CommandDisabled);
            }
            Action::Persist(PersistRequest::KvSave {
                name: dataset_name(body)?,
            })
        }
        Kind::KvLoad => Action::Persist(PersistRequest::KvLoad {
            name: dataset_name(body)?,
        }),
        Kind::ShNew => sh_new(body)?,
        Kind::ShOpen => {
            let name = string(required(body, "name", Ty::String)?);
            if name.is_empty() {
                return Err(Status::ValueSize);
            }
            let cmd = Command::ShOpen {
                name: Cow::Borrowed(name),
            };
            engine_with(cmd, KeyNames::None, Some(name))
        }
        Kind::ShEnd => versioned(body, || {
            Ok(engine_with(
                Command::ShEnd { tkn: t() },
                KeyNames::None,
                None,
            ))
        })?,
        Kind::ShEndAll => engine(Command::ShEndAll),
        Kind::ShInfoAll => engine(Command::ShInfoAll),
        Kind::ShExists => {
            let tkns = array(required(body, "tkns", Ty::Array)?)
                .iter()
                .filter_map(Json::as_uint)
                .collect();
            engine(Command::ShExists { tkns })
        }
        Kind::ShInfo => {
            // The version members do not count towards the one member the body must have.
            let members = object(body);
            if members
                .iter()
                .filter(|(k, _)| !is_version_member(k))
                .count()
                != 1
            {
                return Err(Status::CommandSyntax);
            }
            versioned(body, || {
                Ok(engine_with(
                    Command::ShInfo { tkn: t() },
                    KeyNames::None,
                    None,
                ))
            })?
        }
        Kind::ShSave => sh_save(body, persist_enabled)?,
        Kind::ShLoad => Action::Persist(PersistRequest::ShLoad {
            name: dataset_name(body)?,
        }),
        Kind::ShSet | Kind::ShAdd => sh_write(kind, body, scratch)?,
        Kind::ShKeyTtl => {
            let mut members: &[(Cow<'_, str>, Json<'_>)] = &[];
            let mut action = versioned(body, || {
                members = object(required(body, "keys", Ty::Object)?);
                Ok(engine(Command::ShKeyTtl {
                    tkn: t(),
                    keys: Vec::new(),
                }))
            })?;
            if let Action::Engine {
                cmd: Command::ShKeyTtl { keys, .. },
                ..
            } = &mut action
            {
                *keys = key_ttls(members, true)?;
            }
            action
        }
        Kind::ShKeyRemaining => versioned(body, || {
            let (keys, names) = key_list(body, false)?;
            Ok(engine_with(
                Command::ShKeyRemaining { tkn: t(), keys },
                names,
                None,
            ))
        })?,
        Kind::ShClearSet => versioned(body, || {
            Ok(engine(Command::ShClearSet {
                tkn: t(),
                keys: entries(body, scratch)?,
            }))
        })?,
        Kind::ShGet => versioned(body, || {
            let (keys, names) = key_list(body, false)?;
            Ok(engine_with(Command::ShGet { tkn: t(), keys }, names, None))
        })?,
        Kind::ShContains => versioned(body, || {
            let (keys, names) = key_list(body, false)?;
            Ok(engine_with(
                Command::ShContains { tkn: t(), keys },
                names,
                None,
            ))
        })?,
        Kind::ShRmv => {
            // `keys` empty is a command check: it comes after the whole generic pass.
            let action = versioned(body, || {
                Ok(engine(Command::ShRmv {
                    tkn: t(),
                    keys: key_list(body, false)?.0,
                }))
            })?;
            if array(required(body, "keys", Ty::Array)?).is_empty() {
                return Err(Status::ValueSize);
            }
            action
        }
        Kind::ShCount => versioned(body, || Ok(engine(Command::ShCount { tkn: t() })))?,
        Kind::ShKeys => versioned(body, || Ok(engine(Command::ShKeys { tkn: t() })))?,
        Kind::ShClear => versioned(body, || Ok(engine(Command::ShClear { tkn: t() })))?,
        Kind::ShOwnerList => owner_command(body, |owner| Command::ShOwnerList { owner })?,
        Kind::ShOwnerEnd => owner_command(body, |owner| Command::ShOwnerEnd { owner })?,
        Kind::SvInfo => Action::SvInfo,
        Kind::SvAuth => Action::SvAuth {
            secret: string(required(body, "secret", Ty::String)?),
        },
    })
}

/// `SH_SET` / `SH_ADD`: generic pass (`ifVer`, `keys`, `ttl`, `withVer`: E9, E10), then the
/// `ttl` members in order: a value not a uint → 41, 0 → 42, a key not in `keys` → 41. Without
/// `ttl`, the command of the base protocol.
fn sh_write<'j>(
    kind: Kind,
    body: &'j Json<'j>,
    scratch: &mut String,
) -> Result<Action<'j>, Status> {
    let add = kind == Kind::ShAdd;
    let mut ttl = None;
    let mut action = versioned(body, || {
        let keys = entries(body, scratch)?;
        let tkn = tkn(body);
        ttl = param(body, "ttl", Ty::Object)?;
        Ok(engine(if add {
            Command::ShAdd { tkn, keys }
        } else {
            Command::ShSet { tkn, keys }
        }))
    })?;
    let Some(ttl) = ttl else {
        return Ok(action);
    };
    let ttl = key_ttls(object(ttl), false)?;
    if let Action::Engine { cmd, .. } = &mut action {
        if let Command::ShSet { tkn, keys } | Command::ShAdd { tkn, keys } = cmd {
            // A set, not a scan per member: both objects may be as large as a message allows.
            let written: std::collections::HashSet<&str> = keys.iter().map(|(k, _)| &**k).collect();
            if ttl.iter().any(|(k, _)| !written.contains(&**k)) {
                return Err(Status::ValueTypeInvalid);
            }
            *cmd = Command::ShWriteWithTtl(Box::new(TtlWrite {
                tkn: *tkn,
                keys: std::mem::take(keys),
                ttl,
                add,
            }));
        }
    }
    Ok(action)
}

/// The members of a `ttl` object (`null_removes` false) or of `SH_KEY_TTL`'s `keys` (`null`
/// removes a deadline), in order: seconds as a uint ≥ 1, else 41 (wrong type) or 42 (0).
fn key_ttls<'j>(
    members: &'j [(Cow<'j, str>, Json<'j>)],
    null_removes: bool,
) -> Result<KeyTtls<'j>, Status> {
    members
        .iter()
        .map(|(k, v)| {
            let secs = match (v, v.as_uint()) {
                (_, Some(0)) => return Err(Status::ValueSize),
                (_, Some(secs)) => Some(secs),
                (Json::Null, None) if null_removes => None,
                _ => return Err(Status::ValueTypeInvalid),
            };
            Ok((Cow::Borrowed(&**k), secs))
        })
        .collect()
}

/// `SH_NEW` (§11.1): generic pass, then the `expiry` members in byte order, then the `owner`
/// size, then the shared-name rule.
fn sh_new<'j>(body: &'j Json<'j>) -> Result<Action<'j>, Status> {
    let expiry = param(body, "expiry", Ty::Object)?;
    let name = param(body, "name", Ty::String)?.map(string);
    let owner = param(body, "owner", Ty::String)?.map(string);
    let shared = param(body, "shared", Ty::Bool)?
        .and_then(Json::as_bool)
        .unwrap_or(false);
    let expiry = match expiry {
        None => None,
        Some(e) => {
            let flag = |n| -> Result<bool, Status> {
                Ok(param(e, n, Ty::Bool)?
                    .and_then(Json::as_bool)
                    .unwrap_or(false))
            };
            let delete_session = flag("deleteSession")?;
            let duration_secs = required(e, "duration", Ty::Uint)?
                .as_uint()
                .unwrap_or_default();
            let extend_on_get = flag("extendOnGet")?;
            let extend_on_set_add = flag("extendOnSetAdd")?;
            // Duration 0 never expires and its flags are discarded (§9.1).
            (duration_secs > 0).then_some(Expiry {
                duration_secs,
                delete_session,
                extend_on_set_add,
                extend_on_get,
            })
        }
    };
    let owner = owner.map(owner_size).transpose()?;
    if shared {
        match name {
            None => return Err(Status::ParamMissing),
            Some("") => return Err(Status::ValueSize),
            Some(_) => {}
        }
    }
    let cmd = match owner {
        None => Command::ShNew {
            expiry,
            name: name.map(Cow::Borrowed),
            shared,
        },
        Some(owner) => Command::ShNewOwned(Box::new(OwnedNew {
            expiry,
            name: name.map(Cow::Borrowed),
            shared,
            owner: owner.into(),
        })),
    };
    Ok(engine_with(cmd, KeyNames::None, name))
}

/// `SH_SAVE` (§11.9): 14, generic pass (`name`, `tkns`), dataset name, `tkns` empty, items.
fn sh_save<'j>(body: &'j Json<'j>, persist_enabled: bool) -> Result<Action<'j>, Status> {
    if !persist_enabled {
        return Err(Status::CommandDisabled);
    }
    let name = string(required(body, "name", Ty::String)?);
    let tkns = param(body, "tkns", Ty::Array)?.map(array);
    if !dataset_name_allowed(name) {
        return Err(Status::ValueTypeInvalid);
    }
    let tkns = match tkns {
        None => None,
        Some([]) => return Err(Status::ValueSize),
        Some(items) => Some(
            items
                .iter()
                .map(|t| t.as_uint().ok_or(Status::ValueTypeInvalid))
                .collect::<Result<Vec<Token>, Status>>()?,
        ),
    };
    Ok(Action::Persist(PersistRequest::ShSave { name, tkns }))
}
