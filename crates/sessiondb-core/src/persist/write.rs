//! Writing a dataset (`docs/PROTOCOL.md` §13.3–§13.6): staged under `<root>/.sessiondb-tmp/`, every
//! file and directory fsynced, then renamed into `<root>/<name>/<timestamp>` in one step, so a
//! timestamp directory that exists is always complete and durable.
//!
//! No path below the root follows a symbolic link: `.sessiondb-tmp` and `<root>/<name>` are
//! checked before use (a link there is status 122), and every directory and file the save makes
//! is created new (`mkdir`, `O_EXCL`), which never follows one. The root itself may be a link:
//! it is the operator's choice of where data lives.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use super::fsutil::{self, digit_entries, fsync_dir, now_ns, refuse_symlink};
use super::name::is_valid_dataset_name;
use super::{SaveKind, TMP_DIR};
use crate::command::{Expiry, Token};
use crate::session::KeyDeadlines;
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
    /// The session's owner, written only when present.
    pub owner: Option<&'a str>,
    /// The session's version, written only when present (once a client was shown it).
    pub ver: Option<u32>,
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
    let existing = match digit_entries(dataset_dir) {
        Ok(names) => names,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    // Digit-only names fail to parse only when they overflow u128; no save can exceed those.
    let newest_on_disk = match existing.last() {
        None => None,
        Some(newest) => Some(
            newest
                .name
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

/// Lays entries out as data-file bytes (`docs/PROTOCOL.md` §13.5): the file's opening bracket before
/// its first entry, commas between entries, the closing bracket after the entry that brings the
/// file to [`SPLIT_BYTES`] or at the end. Pure bookkeeping with no I/O, so a capture thread can
/// encode straight into a buffer while another thread writes earlier buffers.
#[derive(Debug)]
pub struct Encoder {
    kind: SaveKind,
    /// Bytes of the current file so far (head and commas included), as the split rule counts.
    file_bytes: u64,
    /// Entries in the current file; 0 means no file is open.
    entries: u64,
}

impl Encoder {
    /// An encoder for a dataset of `kind`, before its first file.
    pub fn new(kind: SaveKind) -> Self {
        Self {
            kind,
            file_bytes: 0,
            entries: 0,
        }
    }

    fn head(&self) -> &'static [u8] {
        match self.kind {
            SaveKind::Keys => b"{\"keys\":{",
            SaveKind::Sessions => b"[",
        }
    }

    fn tail(&self) -> &'static [u8] {
        match self.kind {
            SaveKind::Keys => b"}}",
            SaveKind::Sessions => b"]",
        }
    }

    /// Appends one session record to `out`; returns true when it completed a data file (the
    /// closing bracket is then already in `out`, and the next entry opens a new file).
    pub fn session<'k>(
        &mut self,
        out: &mut Vec<u8>,
        head: &SessionHead<'_>,
        keys: impl Iterator<Item = (&'k str, &'k str)>,
    ) -> bool {
        debug_assert_eq!(self.kind, SaveKind::Sessions);
        let start = self.separator(out);
        encode_session(out, head, keys);
        self.entry_done(out, start)
    }

    /// Appends one top-level key to `out`; returns true when it completed a data file.
    pub fn key(&mut self, out: &mut Vec<u8>, key: &str, value: &Value) -> bool {
        debug_assert_eq!(self.kind, SaveKind::Keys);
        let start = self.separator(out);
        write_json_string(out, key);
        out.push(b':');
        out.extend_from_slice(value.as_json().as_bytes());
        self.entry_done(out, start)
    }

    /// Closes the file being filled, if any: appends its closing bracket to `out` and returns
    /// true. A dataset with no entries has no data file at all.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> bool {
        if self.entries == 0 {
            return false;
        }
        out.extend_from_slice(self.tail());
        self.entries = 0;
        self.file_bytes = 0;
        true
    }

    /// Writes what precedes an entry (the file's head, or a comma); returns where it started.
    fn separator(&mut self, out: &mut Vec<u8>) -> usize {
        let start = out.len();
        if self.entries == 0 {
            out.extend_from_slice(self.head());
        } else {
            out.push(b',');
        }
        start
    }

    /// Counts the entry written since `start` and closes the file once it reaches the split size.
    fn entry_done(&mut self, out: &mut Vec<u8>, start: usize) -> bool {
        self.file_bytes += (out.len() - start) as u64;
        self.entries += 1;
        self.file_bytes >= SPLIT_BYTES && self.finish(out)
    }
}

/// The data file being filled.
struct OpenFile {
    out: BufWriter<File>,
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
    /// Lays out the entries given to `push_key`/`push_session`.
    encoder: Encoder,
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
        refuse_symlink(&tmp).map_err(SaveError::DirWrite)?;
        let dataset_dir = root.join(name);
        refuse_symlink(&dataset_dir).map_err(SaveError::DirWrite)?;
        let timestamp = choose_timestamp(&dataset_dir).map_err(SaveError::DirWrite)?;
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
            encoder: Encoder::new(kind),
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
        let mut entry = std::mem::take(&mut self.entry);
        entry.clear();
        let ends_file = self.encoder.key(&mut entry, key, value);
        let result = self.write_encoded(&entry, ends_file);
        self.entry = entry;
        result
    }

    /// Adds one session record (an `SH_SAVE` writer only).
    pub fn push_session(&mut self, session: &SessionView<'_>) -> Result<(), SaveError> {
        let mut entry = std::mem::take(&mut self.entry);
        entry.clear();
        let head = SessionHead {
            tkn: session.tkn,
            shared: session.shared,
            name: session.name,
            owner: session.owner,
            ver: session.ver,
            expiry: session.expiry,
            key_deadlines: None,
        };
        let keys = session.keys.iter().map(|(k, v)| (k.as_str(), v.as_json()));
        let ends_file = self.encoder.session(&mut entry, &head, keys);
        let result = self.write_encoded(&entry, ends_file);
        self.entry = entry;
        result
    }

    /// Writes bytes laid out by an [`Encoder`] of this writer's kind: opens the next data file
    /// if none is open, appends `bytes`, and closes (flushes, fsyncs) the file when `ends_file`.
    /// Use either this or `push_key`/`push_session` for one dataset, never both.
    pub fn write_encoded(&mut self, bytes: &[u8], ends_file: bool) -> Result<(), SaveError> {
        if self.file.is_none() {
            if bytes.is_empty() && !ends_file {
                return Ok(());
            }
            let path = self
                .staging
                .join("data")
                .join(self.files_written.to_string());
            let f = fsutil::create_new(&path).map_err(SaveError::Data)?;
            self.file = Some(OpenFile {
                out: BufWriter::with_capacity(1 << 20, f),
            });
        }
        let Some(file) = self.file.as_mut() else {
            return Err(SaveError::Data(io::Error::other("no open data file")));
        };
        file.out.write_all(bytes).map_err(SaveError::Data)?;
        if ends_file {
            self.close_file()?;
        }
        Ok(())
    }

    /// Flushes and fsyncs the current data file, if any (its closing bracket is already written).
    fn close_file(&mut self) -> Result<(), SaveError> {
        let Some(file) = self.file.take() else {
            return Ok(());
        };
        let f = file
            .out
            .into_inner()
            .map_err(|e| SaveError::Data(e.into_error()))?;
        f.sync_all().map_err(SaveError::Data)?;
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
        // Terminate the file `push_key`/`push_session` were filling (the encoded path's
        // encoder already did, and this one then has no open file).
        let mut tail = Vec::new();
        if self.encoder.finish(&mut tail) {
            self.write_encoded(&tail, true)?;
        }
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
        // Checked again just before the rename: the link may have appeared during the save.
        refuse_symlink(&dataset_dir).map_err(SaveError::DirWrite)?;
        match fs::create_dir(&dataset_dir) {
            Ok(()) => fsync_dir(&self.root).map_err(SaveError::DirWrite)?,
            Err(e)
                if e.kind() == io::ErrorKind::AlreadyExists
                    && fsutil::entry_type(&dataset_dir)
                        .map_err(SaveError::DirWrite)?
                        .is_some_and(|t| t.is_dir()) => {}
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

/// Creates `path` (which must not exist) with `bytes` and fsyncs it.
fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = fsutil::create_new(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// A session's fields other than its keys, as a save writes them.
#[derive(Debug, Clone, Copy)]
pub struct SessionHead<'a> {
    /// The session's token (≥ 1).
    pub tkn: Token,
    /// Whether the session is shared.
    pub shared: bool,
    /// The session's name, written only when present.
    pub name: Option<&'a str>,
    /// The session's owner, written only when present.
    pub owner: Option<&'a str>,
    /// The session's version, written only when present: datasets keep a version once a client
    /// was shown it, so that saves of sessions nobody asked a version of stay byte-compatible.
    pub ver: Option<u32>,
    /// Expiry settings; a never-expiring session is written as duration 0 with all flags false.
    pub expiry: Expiry,
    /// Deadlines of its keys (E9), written as `keyDeadlines` only when there are any.
    pub key_deadlines: Option<&'a KeyDeadlines>,
}

/// Appends `n` in decimal without allocating.
fn write_uint(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn write_bool(out: &mut Vec<u8>, b: bool) {
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

/// Encodes one session record as §13.5 describes, allocating nothing beyond `out`'s growth.
fn encode_session<'k>(
    out: &mut Vec<u8>,
    s: &SessionHead<'_>,
    keys: impl Iterator<Item = (&'k str, &'k str)>,
) {
    out.extend_from_slice(b"{\"keys\":{");
    for (i, (key, value)) in keys.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_string(out, key);
        out.push(b':');
        out.extend_from_slice(value.as_bytes());
    }
    out.extend_from_slice(b"},\"sh\":{\"tkn\":");
    write_uint(out, s.tkn);
    out.extend_from_slice(if s.shared {
        b",\"shared\":true"
    } else {
        b",\"shared\":false"
    });
    if let Some(name) = s.name {
        out.extend_from_slice(b",\"name\":");
        write_json_string(out, name);
    }
    if let Some(owner) = s.owner {
        out.extend_from_slice(b",\"owner\":");
        write_json_string(out, owner);
    }
    if let Some(ver) = s.ver {
        out.extend_from_slice(b",\"ver\":");
        write_uint(out, u64::from(ver));
    }
    // A session that never expires has its flags discarded (§9.1).
    let e = if s.expiry.duration_secs == 0 {
        Expiry::default()
    } else {
        s.expiry
    };
    out.extend_from_slice(b",\"expiry\":{\"duration\":");
    write_uint(out, e.duration_secs);
    out.extend_from_slice(b",\"deleteSession\":");
    write_bool(out, e.delete_session);
    out.extend_from_slice(b",\"extendOnSetAdd\":");
    write_bool(out, e.extend_on_set_add);
    out.extend_from_slice(b",\"extendOnGet\":");
    write_bool(out, e.extend_on_get);
    out.extend_from_slice(b"}}");
    if let Some(deadlines) = s.key_deadlines.filter(|d| !d.is_empty()) {
        out.extend_from_slice(b",\"keyDeadlines\":{");
        for (i, (key, deadline_ms)) in deadlines.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_json_string(out, key);
            out.push(b':');
            write_uint(out, deadline_ms);
        }
        out.push(b'}');
    }
    out.push(b'}');
}

/// Removes leftovers of interrupted saves under `<root>/.sessiondb-tmp/` (at startup, before any
/// save can run). Returns how many entries were removed. A `.sessiondb-tmp` that is a symbolic
/// link is refused: cleaning it would delete whatever it points to.
pub fn clean_staging(root: &Path) -> io::Result<usize> {
    let tmp = root.join(TMP_DIR);
    refuse_symlink(&tmp)?;
    let entries = match fs::read_dir(&tmp) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        // A link in there is removed itself, never what it points to.
        if entry.file_type()?.is_dir() {
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
        let keys = [("a".to_owned(), Value::from_json_unchecked("10"))];
        let mut out = Vec::new();
        encode_session(
            &mut out,
            &SessionHead {
                tkn: 7,
                shared: true,
                name: Some("n\"x"),
                expiry: Expiry {
                    duration_secs: 0,
                    delete_session: true,
                    ..Expiry::default()
                },
                key_deadlines: None,
                owner: None,
                ver: None,
            },
            keys.iter().map(|(k, v)| (k.as_str(), v.as_json())),
        );
        assert_eq!(
            String::from_utf8(out).unwrap_or_default(),
            r#"{"keys":{"a":10},"sh":{"tkn":7,"shared":true,"name":"n\"x","expiry":{"duration":0,"deleteSession":false,"extendOnSetAdd":false,"extendOnGet":false}}}"#
        );
    }

    #[test]
    fn key_deadlines_follow_sh_only_when_there_are_any() {
        let keys = [("otp\n".to_owned(), Value::from_json_unchecked("1"))];
        let mut deadlines = KeyDeadlines::default();
        let encoded = |deadlines: &KeyDeadlines| {
            let mut out = Vec::new();
            let head = SessionHead {
                tkn: 7,
                shared: false,
                name: None,
                owner: None,
                ver: None,
                expiry: Expiry::default(),
                key_deadlines: Some(deadlines),
            };
            encode_session(
                &mut out,
                &head,
                keys.iter().map(|(k, v)| (k.as_str(), v.as_json())),
            );
            String::from_utf8(out).unwrap_or_default()
        };
        let plain = r#"{"keys":{"otp\n":1},"sh":{"tkn":7,"shared":false,"expiry":{"duration":0,"deleteSession":false,"extendOnSetAdd":false,"extendOnGet":false}}"#;
        assert_eq!(encoded(&deadlines), format!("{plain}}}"));
        deadlines.set("otp\n", 1_764_816_000_000);
        assert_eq!(
            encoded(&deadlines),
            format!(r#"{plain},"keyDeadlines":{{"otp\n":1764816000000}}}}"#)
        );
    }
}
