//! One data file parsed with [`json::Pull`] (`docs/PROTOCOL.md` §13.7): records are checked and built
//! straight from the file's bytes, with no `Json` tree. The record rules are the tree reader's,
//! member for member: the first member of a given name counts, later ones are only checked to
//! be valid JSON, exactly as `Json::get` ignores them.

use std::borrow::Cow;

use super::dataset::LoadedSession;
use crate::base::MAX_OWNER_BYTES;
use crate::command::Expiry;
use crate::json::{Json, JsonError, Pull, Sink};
use crate::session::{Data, DataBuilder};
use crate::value::Value;

/// Where a record's keys go as they are read: owned pairs for [`super::read_dataset`], or a
/// session's packed keys built in place for a load into the store.
pub(super) trait KeyCollector {
    /// The keys of one record.
    type Keys;
    /// Takes key `name` with its value's minified JSON text.
    fn push(&mut self, name: Cow<'_, str>, json: &str);
    /// The keys pushed since the last call; the collector is empty again afterwards.
    fn finish(&mut self) -> Self::Keys;
}

/// Keys as owned `(name, value)` pairs, in file order (duplicates kept).
#[derive(Default)]
pub(super) struct Pairs(Vec<(String, Value)>);

impl KeyCollector for Pairs {
    type Keys = Vec<(String, Value)>;

    fn push(&mut self, name: Cow<'_, str>, json: &str) {
        self.0
            .push((name.into_owned(), Value::from_json_unchecked(json)));
    }

    fn finish(&mut self) -> Self::Keys {
        std::mem::take(&mut self.0)
    }
}

impl KeyCollector for DataBuilder {
    type Keys = Data;

    fn push(&mut self, name: Cow<'_, str>, json: &str) {
        self.set(&name, json);
    }

    fn finish(&mut self) -> Data {
        DataBuilder::finish(self)
    }
}

/// Why the pull reader gave up on a file.
#[derive(Debug)]
pub(super) enum Fail {
    /// The text is not valid JSON (the caller asks the tree parser where).
    Json,
    /// Valid JSON so far, but a record rule is broken.
    Rule(String),
}

impl From<JsonError> for Fail {
    fn from(_: JsonError) -> Self {
        Fail::Json
    }
}

/// A sink that keeps nothing: checks a value that the record rules ignore.
struct Discard;

impl Sink for Discard {
    fn put(&mut self, _: &str) {}
    fn put_ascii(&mut self, _: u8) {}
}

/// Reads the members of an object whose `{` was just eaten, calling `member` with each name;
/// `member` must read the value.
fn members<'a>(
    p: &mut Pull<'a>,
    mut member: impl FnMut(&mut Pull<'a>, Cow<'a, str>) -> Result<(), Fail>,
) -> Result<(), Fail> {
    if p.eat(b'}') {
        return Ok(());
    }
    loop {
        let name = p.string()?.ok_or(Fail::Json)?;
        if !p.eat(b':') {
            return Err(Fail::Json);
        }
        member(p, name)?;
        if p.eat(b'}') {
            return Ok(());
        }
        if !p.eat(b',') {
            return Err(Fail::Json);
        }
    }
}

/// Checks and skips one value whose enclosing container is at nesting level `depth`.
fn skip(p: &mut Pull<'_>, depth: usize) -> Result<(), Fail> {
    p.value_to(depth, &mut Discard).map_err(Fail::from)
}

/// Reads a value the rules want a scalar for. A container is checked, skipped and stood in for
/// by an empty array: every rule it meets (uint, bool, string) rejects it as it would the real
/// container, and an empty `Vec` costs no allocation.
fn field<'a>(p: &mut Pull<'a>, depth: usize) -> Result<Json<'a>, Fail> {
    match p.scalar()? {
        Some(v) => Ok(v),
        None => {
            skip(p, depth)?;
            Ok(Json::Array(Vec::new()))
        }
    }
}

/// Stores `value` in `slot` unless an earlier member of the same name already filled it (the
/// first one counts); a later duplicate is only checked.
fn first<'a, T>(
    slot: &mut Option<T>,
    p: &mut Pull<'a>,
    depth: usize,
    read: impl FnOnce(&mut Pull<'a>) -> Result<T, Fail>,
) -> Result<(), Fail> {
    if slot.is_some() {
        return skip(p, depth);
    }
    *slot = Some(read(p)?);
    Ok(())
}

/// Reads a value that counts only when it is an object of entries, pushing them to `out` with
/// values minified through `scratch`. `depth` is the nesting level of the enclosing object.
fn keys_member<C: KeyCollector>(
    p: &mut Pull<'_>,
    depth: usize,
    scratch: &mut String,
    out: &mut C,
) -> Result<(), Fail> {
    if !p.eat(b'{') {
        return skip(p, depth);
    }
    members(p, |p, name| {
        out.push(name, p.value_text(depth + 1, scratch)?);
        Ok(())
    })
}

/// A whole file that is not the container its kind needs: invalid JSON, or `wrong_shape`.
fn not_a(p: &mut Pull<'_>, wrong_shape: &str) -> Fail {
    match skip(p, 0) {
        Ok(()) if p.at_end() => Fail::Rule(wrong_shape.to_owned()),
        _ => Fail::Json,
    }
}

/// A top-level key file: an object; its first `keys` member, when an object, holds the keys.
pub(super) fn key_file(text: &str) -> Result<Vec<(String, Value)>, Fail> {
    let mut p = Pull::new(text);
    if !p.eat(b'{') {
        return Err(not_a(&mut p, "a top-level key file must be a JSON object"));
    }
    let mut scratch = String::new();
    let mut keys = Pairs::default();
    let mut seen = None;
    members(&mut p, |p, name| {
        if name == "keys" {
            first(&mut seen, p, 1, |p| {
                keys_member(p, 1, &mut scratch, &mut keys)
            })
        } else {
            skip(p, 1)
        }
    })?;
    if !p.at_end() {
        return Err(Fail::Json);
    }
    Ok(keys.finish())
}

/// A session file: an array of records; items that are not objects or have no `sh` are
/// skipped. `record N` in a reason counts every item, skipped ones included. Each record's
/// keys go through `keys`.
pub(super) fn session_file<C: KeyCollector>(
    text: &str,
    keys: &mut C,
) -> Result<Vec<LoadedSession<C::Keys>>, Fail> {
    let mut p = Pull::new(text);
    if !p.eat(b'[') {
        return Err(not_a(&mut p, "a session file must be a JSON array"));
    }
    let mut out = Vec::new();
    // One minification buffer for every value of the file.
    let mut scratch = String::new();
    if !p.eat(b']') {
        let mut index = 0usize;
        loop {
            if p.eat(b'{') {
                if let Some(session) =
                    record(&mut p, &mut scratch, keys).map_err(|fail| in_record(fail, index))?
                {
                    out.push(session);
                }
            } else {
                skip(&mut p, 1)?;
            }
            if p.eat(b']') {
                break;
            }
            if !p.eat(b',') {
                return Err(Fail::Json);
            }
            index += 1;
        }
    }
    if !p.at_end() {
        return Err(Fail::Json);
    }
    Ok(out)
}

fn in_record(fail: Fail, index: usize) -> Fail {
    match fail {
        Fail::Rule(reason) => Fail::Rule(format!("record {index}: {reason}")),
        Fail::Json => Fail::Json,
    }
}

/// The first `tkn`, `shared`, `name` and `expiry` members of a record's `sh` object.
struct Sh<'a> {
    tkn: Option<Json<'a>>,
    shared: Option<Json<'a>>,
    name: Option<Json<'a>>,
    owner: Option<Json<'a>>,
    ver: Option<Json<'a>>,
    /// `Some(None)`: the first `expiry` is not an object.
    expiry: Option<Option<ExpiryMembers<'a>>>,
}

/// The first `duration` and flag members of an `sh.expiry` object.
struct ExpiryMembers<'a> {
    duration: Option<Json<'a>>,
    delete_session: Option<Json<'a>>,
    extend_on_set_add: Option<Json<'a>>,
    extend_on_get: Option<Json<'a>>,
}

/// Reads one record object (its `{` just eaten, nesting level 2). `None` when it has no `sh`.
fn record<C: KeyCollector>(
    p: &mut Pull<'_>,
    scratch: &mut String,
    collector: &mut C,
) -> Result<Option<LoadedSession<C::Keys>>, Fail> {
    // `Some(None)`: the first `sh` is not an object.
    let mut sh: Option<Option<Sh<'_>>> = None;
    let mut seen_keys = None;
    // `Some(None)`: the first `keyDeadlines` is not an object of uints.
    let mut key_deadlines: Option<Option<Vec<(String, u64)>>> = None;
    members(p, |p, name| match name.as_ref() {
        "sh" => first(&mut sh, p, 2, read_sh),
        "keyDeadlines" => first(&mut key_deadlines, p, 2, read_key_deadlines),
        // Read before knowing whether the record has an `sh`: `keys` may come first.
        "keys" => first(&mut seen_keys, p, 2, |p| {
            keys_member(p, 2, scratch, collector)
        }),
        _ => skip(p, 2),
    })?;
    // Taken whatever follows, so that a skipped record's keys do not reach the next one.
    let keys = collector.finish();
    let Some(sh) = sh else { return Ok(None) };
    let Some(Sh {
        tkn,
        shared,
        name,
        owner,
        ver,
        expiry,
    }) = sh
    else {
        return Err(rule("sh is not an object"));
    };
    let tkn = tkn
        .as_ref()
        .and_then(Json::as_uint)
        .filter(|&t| t >= 1)
        .ok_or_else(|| rule("sh.tkn is not a uint ≥ 1"))?;
    let shared = bool_or_false(shared, "sh.shared")?;
    let name = match name {
        None => None,
        Some(Json::String(s)) => Some(s.into_owned()),
        Some(_) => return Err(rule("sh.name is not a string")),
    };
    let owner = match owner {
        None => None,
        Some(Json::String(s)) if (1..=MAX_OWNER_BYTES).contains(&s.len()) => Some(s.into_owned()),
        Some(_) => return Err(rule("sh.owner is not a string of 1 to 256 bytes")),
    };
    let ver = match ver {
        None => None,
        Some(v) => Some(
            v.as_uint()
                .and_then(|v| u32::try_from(v).ok())
                .filter(|&v| v >= 1)
                .ok_or_else(|| rule("sh.ver is not a uint from 1 to 4294967295"))?,
        ),
    };
    let expiry = match expiry {
        None => Expiry::default(),
        Some(None) => return Err(rule("sh.expiry is not an object")),
        Some(Some(ExpiryMembers {
            duration,
            delete_session,
            extend_on_set_add,
            extend_on_get,
        })) => {
            let duration_secs = duration
                .as_ref()
                .and_then(Json::as_uint)
                .ok_or_else(|| rule("sh.expiry.duration is not a uint"))?;
            let expiry = Expiry {
                duration_secs,
                delete_session: bool_or_false(delete_session, "sh.expiry.deleteSession")?,
                extend_on_set_add: bool_or_false(extend_on_set_add, "sh.expiry.extendOnSetAdd")?,
                extend_on_get: bool_or_false(extend_on_get, "sh.expiry.extendOnGet")?,
            };
            // A session that never expires keeps no flags (§13.7 step 7).
            if duration_secs == 0 {
                Expiry::default()
            } else {
                expiry
            }
        }
    };
    let key_deadlines = match key_deadlines {
        None => Vec::new(),
        Some(None) => return Err(rule("keyDeadlines is not an object of uints")),
        Some(Some(d)) => d,
    };
    Ok(Some(LoadedSession {
        tkn,
        shared,
        name,
        owner,
        ver,
        expiry,
        keys,
        key_deadlines,
    }))
}

/// Reads a record's `keyDeadlines` value (E9; nesting level of its record: 2): key → Unix ms.
/// `None` when it is not an object whose values are all uints.
fn read_key_deadlines(p: &mut Pull<'_>) -> Result<Option<Vec<(String, u64)>>, Fail> {
    if !p.eat(b'{') {
        skip(p, 2)?;
        return Ok(None);
    }
    let mut deadlines = Vec::new();
    let mut all_uints = true;
    members(p, |p, key| {
        match field(p, 3)?.as_uint() {
            Some(d) => deadlines.push((key.into_owned(), d)),
            None => all_uints = false,
        }
        Ok(())
    })?;
    Ok(all_uints.then_some(deadlines))
}

/// Reads a record's `sh` value (nesting level of its enclosing record: 2).
fn read_sh<'a>(p: &mut Pull<'a>) -> Result<Option<Sh<'a>>, Fail> {
    if !p.eat(b'{') {
        skip(p, 2)?;
        return Ok(None);
    }
    let (mut tkn, mut shared, mut name, mut expiry) = (None, None, None, None);
    let (mut owner, mut ver) = (None, None);
    members(p, |p, member| match member.as_ref() {
        "tkn" => first(&mut tkn, p, 3, |p| field(p, 3)),
        "shared" => first(&mut shared, p, 3, |p| field(p, 3)),
        "name" => first(&mut name, p, 3, |p| field(p, 3)),
        "owner" => first(&mut owner, p, 3, |p| field(p, 3)),
        "ver" => first(&mut ver, p, 3, |p| field(p, 3)),
        "expiry" => first(&mut expiry, p, 3, read_expiry),
        _ => skip(p, 3),
    })?;
    Ok(Some(Sh {
        tkn,
        shared,
        name,
        owner,
        ver,
        expiry,
    }))
}

/// Reads an `sh.expiry` value (nesting level of its enclosing `sh`: 3).
fn read_expiry<'a>(p: &mut Pull<'a>) -> Result<Option<ExpiryMembers<'a>>, Fail> {
    if !p.eat(b'{') {
        skip(p, 3)?;
        return Ok(None);
    }
    let (mut duration, mut delete_session, mut extend_on_set_add, mut extend_on_get) =
        (None, None, None, None);
    members(p, |p, member| match member.as_ref() {
        "duration" => first(&mut duration, p, 4, |p| field(p, 4)),
        "deleteSession" => first(&mut delete_session, p, 4, |p| field(p, 4)),
        "extendOnSetAdd" => first(&mut extend_on_set_add, p, 4, |p| field(p, 4)),
        "extendOnGet" => first(&mut extend_on_get, p, 4, |p| field(p, 4)),
        _ => skip(p, 4),
    })?;
    Ok(Some(ExpiryMembers {
        duration,
        delete_session,
        extend_on_set_add,
        extend_on_get,
    }))
}

fn rule(reason: &str) -> Fail {
    Fail::Rule(reason.to_owned())
}

fn bool_or_false(j: Option<Json<'_>>, what: &str) -> Result<bool, Fail> {
    match j {
        None => Ok(false),
        Some(Json::Bool(b)) => Ok(b),
        Some(_) => Err(Fail::Rule(format!("{what} is not a bool"))),
    }
}
