//! Reading a dataset (`PROTOCOL.md` §13.7): the newest all-digit timestamp directory, its
//! metadata, then every data file in numeric order, all checked before anything is returned.

use std::fs;
use std::io;
use std::path::Path;

use super::fsutil::digit_entries;
use super::SaveKind;
use crate::command::{Expiry, Token};
use crate::json::{self, Json};
use crate::value::Value;

/// A session read from a dataset, before it is armed.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedSession {
    /// Saved token (≥ 1).
    pub tkn: Token,
    /// Saved shared flag.
    pub shared: bool,
    /// Saved name, if any.
    pub name: Option<String>,
    /// Saved settings; `duration_secs == 0` never expires (flags then discarded).
    pub expiry: Expiry,
    /// Keys in file order.
    pub keys: Vec<(String, Value)>,
}

/// The content of a dataset.
#[derive(Debug, Clone, PartialEq)]
pub enum Dataset {
    /// Top-level keys, in file order.
    Keys(Vec<(String, Value)>),
    /// Sessions, in file order (duplicates included: the loader skips them).
    Sessions(Vec<LoadedSession>),
}

impl Dataset {
    /// The kind of this dataset.
    pub fn kind(&self) -> SaveKind {
        match self {
            Dataset::Keys(_) => SaveKind::Keys,
            Dataset::Sessions(_) => SaveKind::Sessions,
        }
    }
}

/// Why a dataset could not be loaded. Every variant is status 142; they differ only in which
/// members the reply carries (§10.11, §11.10) and in the message an operator sees.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// No such dataset, no complete save, or the newest save is of the other kind.
    #[error("{0}")]
    Unavailable(String),
    /// A data file is unreadable, not valid JSON, or breaks the record rules.
    #[error("data file {file}: {reason}")]
    Malformed {
        /// The data file's name (its number).
        file: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl LoadError {
    /// True when the failure is a malformed data file (the long form of the 142 reply).
    pub fn is_malformed(&self) -> bool {
        matches!(self, LoadError::Malformed { .. })
    }
}

/// Reads the newest save of dataset `name` under `root`. `want` is the kind the command loads
/// (`None` at startup, where the metadata decides). `name` must already be validated.
pub fn read_dataset(root: &Path, name: &str, want: Option<SaveKind>) -> Result<Dataset, LoadError> {
    read_dataset_with_progress(root, name, want, &|_, _| {})
}

/// Like [`read_dataset`], calling `progress(files_done, files_total)` after each data file is
/// parsed (from any thread), so a large load at startup can report how far it is.
pub fn read_dataset_with_progress(
    root: &Path,
    name: &str,
    want: Option<SaveKind>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Dataset, LoadError> {
    let unavailable =
        |reason: String| LoadError::Unavailable(format!("dataset {name:?}: {reason}"));
    let dataset_dir = root.join(name);
    if !dataset_dir.is_dir() {
        return Err(unavailable(format!(
            "{} is not a directory",
            dataset_dir.display()
        )));
    }
    let saves = digit_entries(&dataset_dir, |t| t.is_dir())
        .map_err(|e| unavailable(format!("cannot list {}: {e}", dataset_dir.display())))?;
    let Some(newest) = saves.last() else {
        return Err(unavailable("no save in it".to_owned()));
    };
    let save_dir = dataset_dir.join(newest);
    let kind = read_metadata(&save_dir.join("md").join("md.json"))
        .map_err(|reason| unavailable(format!("save {newest}: {reason}")))?;
    if let Some(want) = want {
        if want != kind {
            return Err(unavailable(format!(
                "save {newest} holds {}, not {}",
                kind_label(kind),
                kind_label(want)
            )));
        }
    }
    let data_dir = save_dir.join("data");
    if !data_dir.is_dir() {
        return Err(unavailable(format!("save {newest} has no data directory")));
    }
    let files = digit_entries(&data_dir, |t| t.is_file())
        .map_err(|e| unavailable(format!("cannot list {}: {e}", data_dir.display())))?;

    // Files are independent: parse them on every core, then join them in file order.
    let parsed = parse_files(&data_dir, &files, kind, progress);
    let mut dataset = match kind {
        SaveKind::Keys => Dataset::Keys(Vec::new()),
        SaveKind::Sessions => Dataset::Sessions(Vec::new()),
    };
    for part in parsed {
        match (&mut dataset, part?) {
            (Dataset::Keys(all), Dataset::Keys(mut some)) => all.append(&mut some),
            (Dataset::Sessions(all), Dataset::Sessions(mut some)) => all.append(&mut some),
            // parse_file returns the kind it was asked for.
            _ => {}
        }
    }
    Ok(dataset)
}

/// Parses `files` (in `data_dir`) on up to one thread per core; results are in `files` order.
fn parse_files(
    data_dir: &Path,
    files: &[String],
    kind: SaveKind,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Vec<Result<Dataset, LoadError>> {
    let parsed = std::sync::atomic::AtomicUsize::new(0);
    let parse_file = |data_dir: &Path, file: &str, kind: SaveKind| {
        let result = parse_file(data_dir, file, kind);
        let done = parsed.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        progress(done, files.len());
        result
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len());
    if threads <= 1 {
        return files
            .iter()
            .map(|f| parse_file(data_dir, f, kind))
            .collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<Option<Result<Dataset, LoadError>>> = files.iter().map(|_| None).collect();
    let done = std::sync::Mutex::new(&mut results);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(file) = files.get(i) else { break };
                let result = parse_file(data_dir, file, kind);
                // A poisoned lock means another parser panicked; its slot stays empty.
                let mut slots = done.lock().unwrap_or_else(|p| p.into_inner());
                slots[i] = Some(result);
            });
        }
    });
    results
        .into_iter()
        .zip(files)
        .map(|(r, file)| {
            r.unwrap_or_else(|| {
                Err(LoadError::Malformed {
                    file: file.clone(),
                    reason: "parser failed".to_owned(),
                })
            })
        })
        .collect()
}

/// Reads and checks one data file.
fn parse_file(data_dir: &Path, file: &str, kind: SaveKind) -> Result<Dataset, LoadError> {
    let malformed = |reason: String| LoadError::Malformed {
        file: file.to_owned(),
        reason,
    };
    let text = read_text(&data_dir.join(file)).map_err(malformed)?;
    let doc = json::parse(&text).map_err(|e| malformed(format!("invalid JSON: {e}")))?;
    match kind {
        SaveKind::Keys => {
            let mut keys = Vec::new();
            collect_keys(&doc, &mut keys).map_err(malformed)?;
            Ok(Dataset::Keys(keys))
        }
        SaveKind::Sessions => {
            let mut sessions = Vec::new();
            collect_sessions(&doc, &mut sessions).map_err(malformed)?;
            Ok(Dataset::Sessions(sessions))
        }
    }
}

fn kind_label(kind: SaveKind) -> &'static str {
    match kind {
        SaveKind::Keys => "top-level keys",
        SaveKind::Sessions => "sessions",
    }
}

/// Reads a whole file as UTF-8 text.
fn read_text(path: &Path) -> Result<String, String> {
    let bytes = fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    String::from_utf8(bytes).map_err(|_| "not valid UTF-8".to_owned())
}

/// Checks `md/md.json` (status 1, a known `saveDataType`) and returns the dataset kind.
fn read_metadata(path: &Path) -> Result<SaveKind, String> {
    let text = match fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| "md.json is not UTF-8".to_owned())?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err("md/md.json is missing".to_owned())
        }
        Err(e) => return Err(format!("cannot read md/md.json: {e}")),
    };
    let md = json::parse(&text).map_err(|e| format!("md/md.json is not valid JSON: {e}"))?;
    let Json::Object(members) = &md else {
        return Err("md/md.json is not an object".to_owned());
    };
    match member(members, "status").and_then(uint) {
        Some(1) => {}
        Some(_) => return Err("save is not complete (status is not 1)".to_owned()),
        None => return Err("md/md.json has no uint status".to_owned()),
    }
    match member(members, "saveDataType").and_then(uint) {
        Some(0) => Ok(SaveKind::Keys),
        Some(1) => Ok(SaveKind::Sessions),
        Some(other) => Err(format!("unknown saveDataType {other}")),
        None => Err("md/md.json has no uint saveDataType".to_owned()),
    }
}

/// The first member called `name` (duplicate names are unspecified by the protocol).
fn member<'j, 'a>(
    members: &'j [(std::borrow::Cow<'a, str>, Json<'a>)],
    name: &str,
) -> Option<&'j Json<'a>> {
    members
        .iter()
        .find(|(k, _)| k.as_ref() == name)
        .map(|(_, v)| v)
}

/// A uint (§6.1): an unsigned integer literal with no sign, fraction or exponent, ≤ 2^64−1.
fn uint(j: &Json<'_>) -> Option<u64> {
    match j {
        Json::Number(text) if text.bytes().all(|b| b.is_ascii_digit()) => text.parse().ok(),
        _ => None,
    }
}

fn bool_or_false(j: Option<&Json<'_>>, what: &str) -> Result<bool, String> {
    match j {
        None => Ok(false),
        Some(Json::Bool(b)) => Ok(*b),
        Some(_) => Err(format!("{what} is not a bool")),
    }
}

/// Top-level key file: an object; its `keys` member, when an object, holds the keys.
fn collect_keys(doc: &Json<'_>, out: &mut Vec<(String, Value)>) -> Result<(), String> {
    let Json::Object(members) = doc else {
        return Err("a top-level key file must be a JSON object".to_owned());
    };
    if let Some(Json::Object(keys)) = member(members, "keys") {
        out.reserve(keys.len());
        let mut scratch = String::new();
        for (k, v) in keys {
            out.push((k.to_string(), v.to_value_with(&mut scratch)));
        }
    }
    Ok(())
}

/// Session file: an array of records; items that are not objects or have no `sh` are skipped.
fn collect_sessions(doc: &Json<'_>, out: &mut Vec<LoadedSession>) -> Result<(), String> {
    let Json::Array(items) = doc else {
        return Err("a session file must be a JSON array".to_owned());
    };
    out.reserve(items.len());
    // One minification buffer for every value of the file.
    let mut scratch = String::new();
    for (index, item) in items.iter().enumerate() {
        let Json::Object(record) = item else { continue };
        let Some(sh) = member(record, "sh") else {
            continue;
        };
        let session = parse_record(record, sh, &mut scratch)
            .map_err(|reason| format!("record {index}: {reason}"))?;
        out.push(session);
    }
    Ok(())
}

fn parse_record(
    record: &[(std::borrow::Cow<'_, str>, Json<'_>)],
    sh: &Json<'_>,
    scratch: &mut String,
) -> Result<LoadedSession, String> {
    let Json::Object(sh) = sh else {
        return Err("sh is not an object".to_owned());
    };
    let tkn = member(sh, "tkn")
        .and_then(uint)
        .filter(|&t| t >= 1)
        .ok_or("sh.tkn is not a uint ≥ 1")?;
    let shared = bool_or_false(member(sh, "shared"), "sh.shared")?;
    let name = match member(sh, "name") {
        None => None,
        Some(Json::String(s)) => Some(s.to_string()),
        Some(_) => return Err("sh.name is not a string".to_owned()),
    };
    let expiry = match member(sh, "expiry") {
        None => Expiry::default(),
        Some(Json::Object(e)) => {
            let duration_secs = member(e, "duration")
                .and_then(uint)
                .ok_or("sh.expiry.duration is not a uint")?;
            let expiry = Expiry {
                duration_secs,
                delete_session: bool_or_false(
                    member(e, "deleteSession"),
                    "sh.expiry.deleteSession",
                )?,
                extend_on_set_add: bool_or_false(
                    member(e, "extendOnSetAdd"),
                    "sh.expiry.extendOnSetAdd",
                )?,
                extend_on_get: bool_or_false(member(e, "extendOnGet"), "sh.expiry.extendOnGet")?,
            };
            // A session that never expires keeps no flags (§13.7 step 7).
            if duration_secs == 0 {
                Expiry::default()
            } else {
                expiry
            }
        }
        Some(_) => return Err("sh.expiry is not an object".to_owned()),
    };
    let keys = match member(record, "keys") {
        Some(Json::Object(keys)) => keys
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_value_with(scratch)))
            .collect(),
        _ => Vec::new(),
    };
    Ok(LoadedSession {
        tkn,
        shared,
        name,
        expiry,
        keys,
    })
}
