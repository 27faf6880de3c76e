//! Writing a dataset (`PROTOCOL.md` §13.3–§13.6): staged under `<root>/.sessiondb-tmp/`, every
//! file and directory fsynced, then renamed into `<root>/<name>/<timestamp>` in one step, so a
//! timestamp directory that exists is always complete and durable.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use super::fsutil::{digit_entries, fsync_dir, now_ns};
use super::name::is_valid_dataset_name;
use super::{SaveKind, TMP_DIR};
use crate::command::{Expiry, Token};
use crate::value::Value;

/// A data file is closed once it reaches this size, checked after each entry (§13.5).
pub const SPLIT_BYTES: u64 = 10 * 1024 * 1024;

/// Why a save failed, split the way the reply status is (§13.6).
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// Directories, staging area or metadata could not be created or written: status 122.
    #[error("cannot create the dataset directories or metadata: {0}")]
    DirWrite(#[source] io::Error),
    /// A data file could not be written or flushed, or the rename failed: status 123.
    #[error("cannot write the dataset data: {0}")]
    Data(#[source] io::Error),
}

impl SaveError {
    /// The reply status for this failure: 122 or 123.
    pub fn status(&self) -> u16 {
        match self {
            SaveError::DirWrite(_) => 122,
            SaveError::Data(_) => 123,
        }
    }
}

/// One session as it is written to a session data file.
#[derive(Debug, Clone, Copy)]
pub struct SessionView<'a> {
    /// The session's token (≥ 1).
    pub tkn: Token,
    /// Whether the session is shared.
    pub shared: bool,
    /// The session's name, written only when present.
    pub name: Option<&'a str>,
    /// Expiry settings; a never-expiring session is written as duration 0 with all flags false.
    pub expiry: Expiry,
    /// The session's keys in stored order.
    pub keys: &'a [(String, Value)],
}

/// Timestamps already handed out, per `<root>/<name>`: a new save must exceed all of them even
/// while earlier saves of that name are still being written (and so are not visible on disk).
fn issued_timestamps() -> &'static Mutex<HashMap<PathBuf, u128>> {
    static ISSUED: OnceLock<Mutex<HashMap<PathBuf, u128>>> = OnceLock::new();
    ISSUED.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Picks the `<timestamp>` for a new save of `dataset_dir`: now in ns, raised above every
/// existing timestamp directory and every timestamp issued earlier in this process.
fn choose_timestamp(dataset_dir: &Path) -> io::Result<u128> {
    let existing = match digit_entries(dataset_dir, |t| t.is_dir()) {
        Ok(names) => names,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    // Digit-only names fail to parse only when they overflow u128; no save can exceed those.
    let newest_on_disk = match existing.last() {
        None => None,
        Some(newest) => Some(
            newest
                .parse::<u128>()
                .map_err(|_| io::Error::other("an existing timestamp directory is too large"))?,
        ),
    };
    // A poisoned lock only means another save panicked; the map itself is still consistent.
    let mut issued = issued_timestamps()
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let last_issued = issued.get(dataset_dir).copied();
    let mut ts = now_ns();
    for floor in [newest_on_disk, last_issued].into_iter().flatten() {
        ts = ts.max(floor.saturating_add(1));
    }
    issued.insert(dataset_dir.to_path_buf(), ts);
    Ok(ts)
}

/// Appends `s` to `out` as a JSON string literal, escaped as RFC 8259 requires.
fn write_json_string(out: &mut Vec<u8>, s: &str) {
    crate::json::write_str(s, out);
}

/// The data file being filled.
struct OpenFile {
    out: BufWriter<File>,
    path: PathBuf,
    bytes: u64,
    entries: u64,
}

/// Writes one dataset: create with [`DatasetWriter::begin`], add entries, then
/// [`DatasetWriter::finish`]. Dropping an unfinished writer removes its staging directory.
pub struct DatasetWriter {
    kind: SaveKind,
    name: String,
    root: PathBuf,
    timestamp: u128,
    /// `<root>/.sessiondb-tmp/<name>.<timestamp>`: becomes `<root>/<name>/<timestamp>`.
    staging: PathBuf,
    start_ms: u64,
    file: Option<OpenFile>,
    files_written: u64,
    entry: Vec<u8>,
    published: bool,
}

impl DatasetWriter {
    /// Creates the staging directory for a save of `kind` named `name` under `root`, whose
    /// snapshot is taken at `start_ms` (Unix ms). `name` must already be validated.
    pub fn begin(
        root: &Path,
        name: &str,
        kind: SaveKind,
        start_ms: u64,
    ) -> Result<Self, SaveError> {
        if !is_valid_dataset_name(name) {
            // Validation happens before any save is started; this guards the path arithmetic.
            return Err(SaveError::DirWrite(io::Error::new(
                io::ErrorKind::InvalidInput,
                "dataset name not allowed",
            )));
        }
        let tmp = root.join(TMP_DIR);
        fs::create_dir_all(&tmp).map_err(SaveError::DirWrite)?;
        let timestamp = choose_timestamp(&root.join(name)).map_err(SaveError::DirWrite)?;
        let staging = tmp.join(format!("{name}.{timestamp}"));
        let writer = DatasetWriter {
            kind,
            name: name.to_owned(),
            root: root.to_path_buf(),
            timestamp,
            staging,
            start_ms,
            file: None,
            files_written: 0,
            entry: Vec::with_capacity(4096),
            published: false,
        };
        fs::create_dir(&writer.staging).map_err(SaveError::DirWrite)?;
        fs::create_dir(writer.staging.join("md")).map_err(SaveError::DirWrite)?;
        fs::create_dir(writer.staging.join("data")).map_err(SaveError::Data)?;
        Ok(writer)
    }

    /// The timestamp directory name this save will be published under.
    pub fn timestamp(&self) -> u128 {
        self.timestamp
    }

    /// Adds one top-level key (a `KV_SAVE` writer only).
    pub fn push_key(&mut self, key: &str, value: &Value) -> Result<(), SaveError> {
        debug_assert_eq!(self.kind, SaveKind::Keys);
        let mut entry = std::mem::take(&mut self.entry);
        entry.clear();
        write_json_string(&mut entry, key);
        entry.push(b':');
        entry.extend_from_slice(value.as_json().as_bytes());
        let result = self.append(&entry);
        self.entry = entry;
        result
    }

    /// Adds one session record (an `SH_SAVE` writer only).
    pub fn push_session(&mut self, session: &SessionView<'_>) -> Result<(), SaveError> {
        debug_assert_eq!(self.kind, SaveKind::Sessions);
        let mut entry = std::mem::take(&mut self.entry);
        entry.clear();
        encode_session(&mut entry, session);
        let result = self.append(&entry);
        self.entry = entry;
        result
    }

    /// Appends one encoded entry to the current data file, opening and closing files so that
    /// each file is closed after the entry that brings it to [`SPLIT_BYTES`].
    fn append(&mut self, entry: &[u8]) -> Result<(), SaveError> {
        if self.file.is_none() {
            let path = self
                .staging
                .join("data")
                .join(self.files_written.to_string());
            let f = File::create(&path).map_err(SaveError::Data)?;
            let mut out = BufWriter::with_capacity(1 << 20, f);
            let head: &[u8] = match self.kind {
                SaveKind::Keys => b"{\"keys\":{",
                SaveKind::Sessions => b"[",
            };
            out.write_all(head).map_err(SaveError::Data)?;
            self.file = Some(OpenFile {
                out,
                path,
                bytes: head.len() as u64,
                entries: 0,
            });
        }
        let Some(file) = self.file.as_mut() else {
            return Err(SaveError::Data(io::Error::other("no open data file")));
        };
        if file.entries > 0 {
            file.out.write_all(b",").map_err(SaveError::Data)?;
            file.bytes += 1;
        }
        file.out.write_all(entry).map_err(SaveError::Data)?;
        file.bytes += entry.len() as u64;
        file.entries += 1;
        if file.bytes >= SPLIT_BYTES {
            self.close_file()?;
        }
        Ok(())
    }

    /// Terminates, flushes and fsyncs the current data file, if any.
    fn close_file(&mut self) -> Result<(), SaveError> {
        let Some(mut file) = self.file.take() else {
            return Ok(());
        };
        let tail: &[u8] = match self.kind {
            SaveKind::Keys => b"}}",
            SaveKind::Sessions => b"]",
        };
        file.out.write_all(tail).map_err(SaveError::Data)?;
        let f = file
            .out
            .into_inner()
            .map_err(|e| SaveError::Data(e.into_error()))?;
        f.sync_all().map_err(SaveError::Data)?;
        drop(f);
        let _ = file.path;
        self.files_written += 1;
        Ok(())
    }

    /// Number of data files written so far (including the one being filled).
    pub fn data_files(&self) -> u64 {
        self.files_written + u64::from(self.file.is_some())
    }

    /// Completes the save at `complete_ms`: closes the last data file, writes `md/md.json`,
    /// fsyncs everything and renames the staging directory to `<root>/<name>/<timestamp>`.
    pub fn finish(mut self, complete_ms: u64) -> Result<PathBuf, SaveError> {
        self.close_file()?;
        let complete_ms = complete_ms.max(self.start_ms);
        let data_dir = self.staging.join("data");
        fsync_dir(&data_dir).map_err(SaveError::Data)?;

        let md_dir = self.staging.join("md");
        let mut md = Vec::with_capacity(160);
        md.extend_from_slice(b"{\"name\":");
        write_json_string(&mut md, &self.name);
        md.extend_from_slice(
            format!(
                ",\"version\":2,\"saveDataType\":{},\"status\":1,\"start\":{},\"complete\":{}}}",
                self.kind as u8, self.start_ms, complete_ms
            )
            .as_bytes(),
        );
        write_synced(&md_dir.join("md.json"), &md).map_err(SaveError::DirWrite)?;
        fsync_dir(&md_dir).map_err(SaveError::DirWrite)?;
        fsync_dir(&self.staging).map_err(SaveError::Data)?;
        fsync_dir(&self.root.join(TMP_DIR)).map_err(SaveError::Data)?;

        let dataset_dir = self.root.join(&self.name);
        match fs::create_dir(&dataset_dir) {
            Ok(()) => fsync_dir(&self.root).map_err(SaveError::DirWrite)?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dataset_dir.is_dir() => {}
            Err(e) => return Err(SaveError::DirWrite(e)),
        }
        let target = dataset_dir.join(self.timestamp.to_string());
        fs::rename(&self.staging, &target).map_err(SaveError::Data)?;
        self.published = true;
        fsync_dir(&dataset_dir).map_err(SaveError::Data)?;
        Ok(target)
    }
}

impl Drop for DatasetWriter {
    fn drop(&mut self) {
        if !self.published {
            // Best effort: a leftover in .sessiondb-tmp is harmless and cleaned at startup.
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

/// Creates `path` with `bytes` and fsyncs it.
fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Encodes one session record as §13.5 describes.
fn encode_session(out: &mut Vec<u8>, s: &SessionView<'_>) {
    out.extend_from_slice(b"{\"keys\":{");
    for (i, (key, value)) in s.keys.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_string(out, key);
        out.push(b':');
        out.extend_from_slice(value.as_json().as_bytes());
    }
    out.extend_from_slice(b"},\"sh\":{\"tkn\":");
    out.extend_from_slice(s.tkn.to_string().as_bytes());
    out.extend_from_slice(if s.shared {
        b",\"shared\":true"
    } else {
        b",\"shared\":false"
    });
    if let Some(name) = s.name {
        out.extend_from_slice(b",\"name\":");
        write_json_string(out, name);
    }
    // A session that never expires has its flags discarded (§9.1).
    let e = if s.expiry.duration_secs == 0 {
        Expiry::default()
    } else {
        s.expiry
    };
    out.extend_from_slice(
        format!(
            ",\"expiry\":{{\"duration\":{},\"deleteSession\":{},\"extendOnSetAdd\":{},\"extendOnGet\":{}}}}}}}",
            e.duration_secs, e.delete_session, e.extend_on_set_add, e.extend_on_get
        )
        .as_bytes(),
    );
}

/// Removes leftovers of interrupted saves under `<root>/.sessiondb-tmp/` (at startup, before any
/// save can run). Returns how many entries were removed.
pub fn clean_staging(root: &Path) -> io::Result<usize> {
    let tmp = root.join(TMP_DIR);
    let entries = match fs::read_dir(&tmp) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            fs::remove_dir_all(&path)?;
        } else {
            fs::remove_file(&path)?;
        }
        removed += 1;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_encoding_matches_the_protocol() {
        let keys = vec![("a".to_owned(), Value::from_json_unchecked("10"))];
        let mut out = Vec::new();
        encode_session(
            &mut out,
            &SessionView {
                tkn: 7,
                shared: true,
                name: Some("n\"x"),
                expiry: Expiry {
                    duration_secs: 0,
                    delete_session: true,
                    ..Expiry::default()
                },
                keys: &keys,
            },
        );
        assert_eq!(
            String::from_utf8(out).unwrap_or_default(),
            r#"{"keys":{"a":10},"sh":{"tkn":7,"shared":true,"name":"n\"x","expiry":{"duration":0,"deleteSession":false,"extendOnSetAdd":false,"extendOnGet":false}}}"#
        );
    }
}
