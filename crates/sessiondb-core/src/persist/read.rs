//! Reading a dataset (`docs/PROTOCOL.md` §13.7): the newest all-digit timestamp directory, its
//! metadata, then every data file in numeric order, all checked before anything is returned.
//!
//! No path below the root follows a symbolic link: the dataset directory, the timestamp
//! directory, `md`, `md.json`, `data` and every data file must be what they are, not links
//! to them (status 142). A link is not skipped either: skipping a newest save that is a link
//! would load an older one, and skipping a data file would load part of a save.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::data_file::{self, Pairs};
use super::dataset::{Dataset, LoadedSession};
use super::fsutil::{self, digit_entries, refuse_link_entry, refuse_symlink};
use super::SaveKind;
use crate::json::{self, Json};
use crate::session::{Data, DataBuilder};
use crate::value::Value;

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
    let save = locate(root, name, want)?;
    Ok(match save.kind {
        SaveKind::Keys => Dataset::Keys(concat(save.parse(progress, data_file::key_file)?)),
        SaveKind::Sessions => Dataset::Sessions(concat(save.parse(progress, |text| {
            data_file::session_file(text, &mut Pairs::default())
        })?)),
    })
}

/// A dataset read for loading into the store: top-level keys, or one `T` per data file (in
/// file order) made by the loader's `prepare` on the parser threads.
pub(super) enum ForLoad<T> {
    /// Top-level keys, in file order.
    Keys(Vec<(String, Value)>),
    /// Each data file's sessions as `prepare` made them.
    Sessions(Vec<T>),
}

/// Reads the newest save of `name` for a load: each session file's records are built with their
/// keys already in the store's form and handed to `prepare` on the thread that parsed the file,
/// so building sessions runs on every core too. Every file is checked before this returns.
pub(super) fn read_for_load<T: Send>(
    root: &Path,
    name: &str,
    want: Option<SaveKind>,
    progress: &(dyn Fn(usize, usize) + Sync),
    prepare: &(dyn Fn(Vec<LoadedSession<Data>>) -> T + Sync),
) -> Result<ForLoad<T>, LoadError> {
    let save = locate(root, name, want)?;
    Ok(match save.kind {
        SaveKind::Keys => ForLoad::Keys(concat(save.parse(progress, data_file::key_file)?)),
        SaveKind::Sessions => ForLoad::Sessions(save.parse(progress, |text| {
            data_file::session_file(text, &mut DataBuilder::default()).map(prepare)
        })?),
    })
}

/// The save a read uses: its kind and data files.
struct Save {
    kind: SaveKind,
    data_dir: PathBuf,
    /// Data file names, in numeric order.
    files: Vec<String>,
}

/// Finds the newest save of `name` under `root` and checks its metadata against `want`.
fn locate(root: &Path, name: &str, want: Option<SaveKind>) -> Result<Save, LoadError> {
    let unavailable =
        |reason: String| LoadError::Unavailable(format!("dataset {name:?}: {reason}"));
    let dataset_dir = root.join(name);
    let is_dir = |path: &Path| -> Result<bool, LoadError> {
        refuse_symlink(path).map_err(|e| unavailable(e.to_string()))?;
        Ok(path.is_dir())
    };
    if !is_dir(&dataset_dir)? {
        return Err(unavailable(format!(
            "{} is not a directory",
            dataset_dir.display()
        )));
    }
    let saves = digit_entries(&dataset_dir)
        .map_err(|e| unavailable(format!("cannot list {}: {e}", dataset_dir.display())))?;
    // A link is a candidate like a directory, so that a linked newest save is refused.
    let Some(newest) = saves
        .iter()
        .rfind(|e| e.file_type.is_dir() || e.file_type.is_symlink())
    else {
        return Err(unavailable("no save in it".to_owned()));
    };
    refuse_link_entry(&dataset_dir, newest).map_err(|e| unavailable(e.to_string()))?;
    let newest = &newest.name;
    let save_dir = dataset_dir.join(newest);
    let md_dir = save_dir.join("md");
    refuse_symlink(&md_dir).map_err(|e| unavailable(e.to_string()))?;
    let kind = read_metadata(&md_dir.join("md.json"))
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
    if !is_dir(&data_dir)? {
        return Err(unavailable(format!("save {newest} has no data directory")));
    }
    let mut files = Vec::new();
    for entry in digit_entries(&data_dir)
        .map_err(|e| unavailable(format!("cannot list {}: {e}", data_dir.display())))?
    {
        refuse_link_entry(&data_dir, &entry).map_err(|e| unavailable(e.to_string()))?;
        if entry.file_type.is_file() {
            files.push(entry.name);
        }
    }
    Ok(Save {
        kind,
        data_dir,
        files,
    })
}

impl Save {
    /// Reads and parses every data file with `parse`, on up to one thread per core (files are
    /// independent). Results are in file order; the first failing file (in file order) is the
    /// error.
    fn parse<T: Send>(
        &self,
        progress: &(dyn Fn(usize, usize) + Sync),
        parse: impl Fn(&str) -> Result<T, data_file::Fail> + Sync,
    ) -> Result<Vec<T>, LoadError> {
        let files = &self.files;
        let parsed = std::sync::atomic::AtomicUsize::new(0);
        let parse_file = |file: &str, buf: &mut Vec<u8>| {
            let result = parse_file(&self.data_dir, file, buf, &parse);
            let done = parsed.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress(done, files.len());
            result
        };
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(files.len());
        if threads <= 1 {
            let mut buf = Vec::new();
            return files.iter().map(|f| parse_file(f, &mut buf)).collect();
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let mut results: Vec<Option<Result<T, LoadError>>> = files.iter().map(|_| None).collect();
        let done = std::sync::Mutex::new(&mut results);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    // One read buffer per thread: a fresh 10 MiB buffer per file would be
                    // page-faulted and zeroed by the kernel every time.
                    let mut buf = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(file) = files.get(i) else { break };
                        let result = parse_file(file, &mut buf);
                        // A poisoned lock means another parser panicked; its slot stays empty.
                        let mut slots = done.lock().unwrap_or_else(|p| p.into_inner());
                        slots[i] = Some(result);
                    }
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
}

/// Joins per-file vectors, sized once: growing a million-entry vector by doubling copies it
/// several times over.
fn concat<X>(parts: Vec<Vec<X>>) -> Vec<X> {
    let mut all = Vec::with_capacity(parts.iter().map(Vec::len).sum());
    for mut part in parts {
        all.append(&mut part);
    }
    all
}

/// Reads and checks one data file, reading it into `buf` (reused across files).
fn parse_file<T>(
    data_dir: &Path,
    file: &str,
    buf: &mut Vec<u8>,
    parse: impl Fn(&str) -> Result<T, data_file::Fail>,
) -> Result<T, LoadError> {
    let malformed = |reason: String| LoadError::Malformed {
        file: file.to_owned(),
        reason,
    };
    let text = read_text_into(&data_dir.join(file), buf).map_err(malformed)?;
    parse(text).map_err(|fail| malformed(diagnose(text, fail)))
}

/// The reason a file failed, as the tree reader words it. The pull reader stops at the first
/// problem it meets; invalid JSON anywhere in the file takes precedence over a record rule (a
/// file that is not JSON is reported as such), so on failure only, the tree parser runs again
/// over the whole text to name the JSON error and its position.
fn diagnose(text: &str, fail: data_file::Fail) -> String {
    match (json::parse(text), fail) {
        (Err(e), _) => format!("invalid JSON: {e}"),
        (Ok(_), data_file::Fail::Rule(reason)) => reason,
        // The pull reader runs the tree parser's code, so this is not expected; refusing the
        // file is the safe answer either way.
        (Ok(_), data_file::Fail::Json) => "invalid JSON".to_owned(),
    }
}

fn kind_label(kind: SaveKind) -> &'static str {
    match kind {
        SaveKind::Keys => "top-level keys",
        SaveKind::Sessions => "sessions",
    }
}

/// Reads a whole file into `buf` (replacing what it held) and checks it is UTF-8 text.
fn read_text_into<'b>(path: &Path, buf: &'b mut Vec<u8>) -> Result<&'b str, String> {
    buf.clear();
    fsutil::open_nofollow(path)
        .and_then(|mut f| f.read_to_end(buf))
        .map_err(|e| format!("cannot read: {e}"))?;
    std::str::from_utf8(buf).map_err(|_| "not valid UTF-8".to_owned())
}

/// Checks `md/md.json` (status 1, a known `saveDataType`) and returns the dataset kind.
fn read_metadata(path: &Path) -> Result<SaveKind, String> {
    let mut bytes = Vec::new();
    let read = fsutil::open_nofollow(path).and_then(|mut f| f.read_to_end(&mut bytes));
    let text = match read {
        Ok(_) => String::from_utf8(bytes).map_err(|_| "md.json is not UTF-8".to_owned())?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err("md/md.json is missing".to_owned())
        }
        Err(e) => return Err(format!("cannot read md/md.json: {e}")),
    };
    let md = json::parse(&text).map_err(|e| format!("md/md.json is not valid JSON: {e}"))?;
    let Json::Object(members) = &md else {
        return Err("md/md.json is not an object".to_owned());
    };
    match member(members, "status").and_then(Json::as_uint) {
        Some(1) => {}
        Some(_) => return Err("save is not complete (status is not 1)".to_owned()),
        None => return Err("md/md.json has no uint status".to_owned()),
    }
    match member(members, "saveDataType").and_then(Json::as_uint) {
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
