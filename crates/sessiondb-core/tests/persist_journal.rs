//! The journal against the real engine: replay rebuilds exactly what was acknowledged, a torn
//! tail is cut, compaction under concurrent writes loses nothing, deadlines are kept. Damage
//! before the end of the log and `repair` are in `persist_recovery.rs`.

use std::borrow::Cow;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use sessiondb_core::persist::journal::{
    files, recover, FsyncMode, Journal, JournalError, JournalEvents, JournalOptions,
};
use sessiondb_core::store::{Arming, SessionRecord};
use sessiondb_core::{Command, Expiry, Outcome, Store, StoreConfig, Value, VersionCheck};

#[derive(Default)]
struct Events(Mutex<Vec<String>>);

impl JournalEvents for Events {
    fn durable(&self, _seq: u64) {}
    fn fatal(&self, error: &JournalError) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(format!("fatal: {error}"));
    }
    fn warn(&self, message: &str) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(format!("warn: {message}"));
    }
    fn info(&self, _message: &str) {}
}

const NOW: u64 = 1_800_000_000_000;

/// A store journaling into `dir` (after recovering what is there), as the server sets it up.
fn open(dir: &Path, mode: FsyncMode, compact_bytes: u64) -> (Arc<Store>, Arc<Journal>) {
    let recovered = recover(dir, false).expect("recover");
    let journal = Journal::open(
        dir,
        recovered.report.next_index,
        JournalOptions {
            mode,
            compact_bytes,
        },
        Arc::new(Events::default()),
    )
    .expect("open journal");
    let mut store = Store::new(StoreConfig::default());
    store.load_sessions(recovered.sessions, NOW, Arming::KeepDeadline);
    store.kv_load(recovered.kv);
    store.set_change_sink(Some(journal.clone()));
    (Arc::new(store), journal)
}

/// Everything the store holds, in a canonical order.
fn state(store: &Store) -> (Vec<SessionRecord>, Vec<(String, Value)>) {
    let mut sessions: Vec<SessionRecord> = (0..store.shard_count())
        .flat_map(|i| store.snapshot_shard(i, NOW, None))
        .collect();
    sessions.sort_by_key(|s| s.tkn);
    for s in &mut sessions {
        s.keys.sort_by(|a, b| a.0.cmp(&b.0));
        s.key_deadlines.sort();
    }
    let mut kv = store.snapshot_kv();
    kv.sort_by(|a, b| a.0.cmp(&b.0));
    (sessions, kv)
}

/// The state a fresh recovery of `dir` produces.
fn recovered_state(dir: &Path) -> (Vec<SessionRecord>, Vec<(String, Value)>) {
    let recovered = recover(dir, false).expect("recover");
    let store = Store::new(StoreConfig::default());
    store.load_sessions(recovered.sessions, NOW, Arming::KeepDeadline);
    store.kv_load(recovered.kv);
    state(&store)
}

fn entries(pairs: &[(&str, &str)]) -> Vec<(Cow<'static, str>, Value)> {
    pairs
        .iter()
        .map(|(k, v)| (Cow::Owned(k.to_string()), Value::from_json_unchecked(v)))
        .collect()
}

fn new_session(store: &Store, expiry: Option<Expiry>) -> u64 {
    match store.execute(
        Command::ShNew {
            expiry,
            name: Some(Cow::Borrowed("n")),
            shared: false,
        },
        NOW,
    ) {
        Outcome::Created { tkn } => tkn,
        other => panic!("SH_NEW: {other:?}"),
    }
}

/// A mix of every kind of change.
fn workload(store: &Store) {
    let a = new_session(store, None);
    let b = new_session(
        store,
        Some(Expiry {
            duration_secs: 60,
            delete_session: true,
            extend_on_set_add: true,
            extend_on_get: false,
        }),
    );
    let c = new_session(store, None);
    store.execute(
        Command::ShSet {
            tkn: Some(a),
            keys: entries(&[("x", "1"), ("y", r#"{"b":1,"a":[2]}"#), ("z", "\"s\"")]),
        },
        NOW,
    );
    store.execute(
        Command::ShRmv {
            tkn: Some(a),
            keys: vec![Cow::Borrowed("z"), Cow::Borrowed("nope")],
        },
        NOW,
    );
    store.execute(
        Command::ShAdd {
            tkn: Some(b),
            keys: entries(&[("k", "true")]),
        },
        NOW + 10,
    );
    store.execute(
        Command::ShClearSet {
            tkn: Some(c),
            keys: entries(&[("only", "null")]),
        },
        NOW,
    );
    let d = new_session(store, None);
    store.execute(
        Command::ShSet {
            tkn: Some(d),
            keys: entries(&[("gone", "1")]),
        },
        NOW,
    );
    store.execute(Command::ShEnd { tkn: Some(d) }, NOW);
    key_deadlines(store, a, c);
    store.execute(
        Command::KvSet(entries(&[("t1", "1"), ("t2", "[1,2]"), ("t3", "3")])),
        NOW,
    );
    store.execute(Command::KvRmv(vec![Cow::Borrowed("t3")]), NOW);
    store.execute(Command::KvAdd(entries(&[("t1", "99"), ("t4", "4")])), NOW);
}

/// Key deadlines (E9) set with a write, set and removed by `SH_KEY_TTL`, dropped by an
/// overwrite and by `SH_CLEAR_SET`: session `a` ends with deadlines on `x` and `w`.
fn key_deadlines(store: &Store, a: u64, c: u64) {
    let ttl = |pairs: &[(&'static str, Option<u64>)]| -> sessiondb_core::KeyTtls<'static> {
        pairs.iter().map(|&(k, s)| (Cow::Borrowed(k), s)).collect()
    };
    for (tkn, keys, secs) in [
        (a, &[("w", "5"), ("v", "6")][..], 30),
        (c, &[("u", "7")][..], 9),
    ] {
        let cmd = Command::ShWriteWithTtl(Box::new(sessiondb_core::TtlWrite {
            tkn: Some(tkn),
            keys: entries(keys),
            ttl: ttl(&[(keys[0].0, Some(secs))]),
            add: false,
        }));
        assert_eq!(store.execute(cmd, NOW), Outcome::Done);
    }
    let cmd = Command::ShKeyTtl {
        tkn: Some(a),
        keys: ttl(&[
            ("x", Some(100)),
            ("v", Some(5)),
            ("y", Some(7)),
            ("nope", Some(1)),
        ]),
    };
    assert_eq!(store.execute(cmd, NOW), Outcome::Count(3));
    let cmd = Command::ShKeyTtl {
        tkn: Some(a),
        keys: ttl(&[("v", None)]),
    };
    assert_eq!(store.execute(cmd, NOW), Outcome::Count(1));
    let set = Command::ShSet {
        tkn: Some(a),
        keys: entries(&[("y", "8")]),
    };
    assert_eq!(store.execute(set, NOW), Outcome::Done);
    let clear = Command::ShClearSet {
        tkn: Some(c),
        keys: entries(&[("only", "null")]),
    };
    assert_eq!(store.execute(clear, NOW), Outcome::Count(2));
}

#[test]
fn replay_rebuilds_every_change() {
    for mode in [FsyncMode::Always, FsyncMode::EverySec, FsyncMode::No] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, journal) = open(dir.path(), mode, u64::MAX);
        workload(&store);
        journal.shutdown().expect("shutdown");
        let before = state(&store);
        assert_eq!(before.0.len(), 3);
        assert_eq!(before.1.len(), 3);
        let deadlines: Vec<&Vec<(String, u64)>> =
            before.0.iter().map(|s| &s.key_deadlines).collect();
        assert!(deadlines.contains(&&vec![
            ("w".to_owned(), NOW + 30_000),
            ("x".to_owned(), NOW + 100_000)
        ]));
        assert_eq!(recovered_state(dir.path()), before, "{mode:?}");
    }
}

#[test]
fn deadlines_survive_recovery_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, journal) = open(dir.path(), FsyncMode::Always, u64::MAX);
    let exp = Expiry {
        duration_secs: 3,
        delete_session: false,
        extend_on_set_add: false,
        extend_on_get: false,
    };
    let tkn = new_session(&store, Some(exp));
    journal.sync().expect("sync");
    drop(journal);
    let recovered = recover(dir.path(), false).expect("recover");
    let s = recovered
        .sessions
        .iter()
        .find(|s| s.tkn == tkn)
        .expect("session");
    assert_eq!(s.deadline_ms, NOW + 3000);
    assert_eq!(s.expiry, exp);
}

#[test]
fn always_mode_makes_each_change_durable_before_wait_returns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, journal) = open(dir.path(), FsyncMode::Always, u64::MAX);
    let tkn = new_session(&store, None);
    let seq = journal.appended_seq();
    assert!(seq >= 1);
    journal.wait_durable(seq).expect("durable");
    assert!(journal.durable_seq() >= seq);
    // Without shutting the journal down, the file already holds the change.
    let recovered = recover_copy(dir.path());
    assert!(recovered.iter().any(|s| s.tkn == tkn));
    journal.shutdown().expect("shutdown");
}

#[test]
fn everysec_and_no_write_batches_without_being_asked() {
    // These modes gather records for journal::WRITE_DELAY before writing them: a lone change,
    // with no sync, shutdown or later record to push it, must still reach the file on its own
    // (a writer that waited for more records would sit on it). Polled, with a deadline far
    // beyond the 2 ms delay, so the test asserts the outcome, not the timing.
    for mode in [FsyncMode::EverySec, FsyncMode::No] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, journal) = open(dir.path(), mode, u64::MAX);
        let tkn = new_session(&store, None);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !recover_copy(dir.path()).iter().any(|s| s.tkn == tkn) {
            assert!(
                std::time::Instant::now() < deadline,
                "{mode:?}: the record never reached the segment file"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        journal.shutdown().expect("shutdown");
    }
}

/// Recovers from a copy of `dir`, so the live journal is not disturbed.
fn recover_copy(dir: &Path) -> Vec<SessionRecord> {
    let copy = tempfile::tempdir().expect("tempdir");
    for entry in fs::read_dir(dir).expect("ls") {
        let entry = entry.expect("entry");
        fs::copy(entry.path(), copy.path().join(entry.file_name())).expect("copy");
    }
    recover(copy.path(), false).expect("recover").sessions
}

fn last_segment(dir: &Path) -> std::path::PathBuf {
    let listing = files::list(dir).expect("list");
    files::segment_path(dir, *listing.segments.last().expect("a segment"))
}

/// Writes the workload in two segments (two server runs) and returns the state.
fn two_runs(dir: &Path) -> (Vec<SessionRecord>, Vec<(String, Value)>) {
    let (store, journal) = open(dir, FsyncMode::Always, u64::MAX);
    workload(&store);
    journal.shutdown().expect("shutdown");
    drop(journal);
    let (store, journal) = open(dir, FsyncMode::Always, u64::MAX);
    workload(&store);
    journal.shutdown().expect("shutdown");
    state(&store)
}

#[test]
fn torn_last_record_is_cut_with_a_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let expected = two_runs(dir.path());
    let seg = last_segment(dir.path());
    let len = fs::metadata(&seg).expect("meta").len();
    // Half a record: a header announcing 100 bytes, then 10 of them.
    let mut f = OpenOptions::new().append(true).open(&seg).expect("open");
    f.write_all(&100u32.to_le_bytes()).expect("w");
    f.write_all(&[7u8; 14]).expect("w");
    drop(f);
    let recovered = recover(dir.path(), false).expect("a torn tail is not fatal");
    assert_eq!(recovered.report.torn_tail, Some((seg.clone(), 18)));
    assert_eq!(
        fs::metadata(&seg).expect("meta").len(),
        len,
        "the torn record is truncated"
    );
    assert_eq!(recovered_state(dir.path()), expected);
}

#[test]
fn truncation_inside_the_last_record_loses_only_that_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, journal) = open(dir.path(), FsyncMode::Always, u64::MAX);
    let tkn = new_session(&store, None);
    store.execute(
        Command::ShSet {
            tkn: Some(tkn),
            keys: entries(&[("a", "1")]),
        },
        NOW,
    );
    store.execute(
        Command::ShSet {
            tkn: Some(tkn),
            keys: entries(&[("b", "2")]),
        },
        NOW,
    );
    journal.shutdown().expect("shutdown");
    let seg = last_segment(dir.path());
    let len = fs::metadata(&seg).expect("meta").len();
    OpenOptions::new()
        .write(true)
        .open(&seg)
        .expect("open")
        .set_len(len - 3)
        .expect("truncate");
    let recovered = recover(dir.path(), false).expect("recover");
    assert!(recovered.report.torn_tail.is_some());
    let s = recovered
        .sessions
        .iter()
        .find(|s| s.tkn == tkn)
        .expect("session");
    assert_eq!(
        s.keys,
        vec![("a".to_owned(), Value::from_json_unchecked("1"))]
    );
}

#[test]
fn compaction_under_concurrent_writes_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, journal) = open(dir.path(), FsyncMode::No, u64::MAX);
    let tokens: Vec<u64> = (0..64).map(|_| new_session(&store, None)).collect();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = Arc::clone(&store);
            let tokens = tokens.clone();
            std::thread::spawn(move || {
                for i in 0..3000u32 {
                    let tkn = tokens[(i as usize * 7 + w) % tokens.len()];
                    let key = format!("w{w}-{}", i % 50);
                    let value = i.to_string();
                    store.execute(
                        Command::ShSet {
                            tkn: Some(tkn),
                            keys: entries(&[(&key, &value)]),
                        },
                        NOW,
                    );
                    if i % 97 == 0 {
                        store.execute(
                            Command::ShRmv {
                                tkn: Some(tkn),
                                keys: vec![Cow::Owned(key)],
                            },
                            NOW,
                        );
                    }
                    if i % 500 == 0 {
                        let t = new_session(&store, None);
                        store.execute(Command::ShEnd { tkn: Some(t) }, NOW);
                    }
                    store.execute(Command::KvSet(entries(&[(&format!("kv{w}"), &value)])), NOW);
                }
            })
        })
        .collect();
    let mut compactions = 0;
    while writers.iter().any(|w| !w.is_finished()) {
        journal.compact(&store, NOW).expect("compact");
        compactions += 1;
    }
    for w in writers {
        w.join().expect("writer");
    }
    journal.compact(&store, NOW).expect("final compact");
    let (a, c) = (new_session(&store, None), new_session(&store, None));
    let xy = Command::ShSet {
        tkn: Some(a),
        keys: entries(&[("x", "1"), ("y", "2")]),
    };
    store.execute(xy, NOW);
    let only = Command::ShSet {
        tkn: Some(c),
        keys: entries(&[("only", "null")]),
    };
    store.execute(only, NOW);
    key_deadlines(&store, a, c);
    journal
        .compact(&store, NOW)
        .expect("compact with key deadlines");
    store.execute(Command::KvSet(entries(&[("after", "1")])), NOW);
    journal.shutdown().expect("shutdown");
    assert!(
        compactions >= 2,
        "compaction ran while writing ({compactions})"
    );
    let listing = files::list(dir.path()).expect("list");
    assert_eq!(listing.snapshots.len(), 1, "older snapshots are deleted");
    assert!(
        listing.segments.iter().all(|&s| s >= listing.snapshots[0]),
        "covered segments are deleted"
    );
    assert_eq!(recovered_state(dir.path()), state(&store));
}

/// Versions a client was shown come back exact even when compactions ran while their sessions
/// were written, and the log ends with the segment those compactions rotated to (no quiet
/// compaction at the end): replay counts that segment's changes over a snapshot that already
/// holds some of them, and the version recorded where the snapshot met each session corrects it.
#[test]
fn shown_versions_survive_compaction_under_concurrent_writes_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, journal) = open(dir.path(), FsyncMode::No, u64::MAX);
    let tokens: Vec<u64> = (0..16).map(|_| new_session(&store, None)).collect();
    let mut ignore = |_: usize, _: &str| {};
    for &tkn in &tokens {
        let shown = store.execute_checked(
            Command::ShCount { tkn: Some(tkn) },
            NOW,
            &mut ignore,
            VersionCheck::new(None, true),
        );
        assert_eq!(shown, (Outcome::Count(0), Some(1)));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let store = Arc::clone(&store);
            let tokens = tokens.clone();
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                // A few thousand writes at least, and on until the compactions are done.
                for i in 0u32.. {
                    if i >= 2_000 && stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let tkn = tokens[(i as usize * 5 + w) % tokens.len()];
                    let key = format!("w{w}-{}", i % 20);
                    store.execute(
                        Command::ShSet {
                            tkn: Some(tkn),
                            keys: entries(&[(&key, &i.to_string())]),
                        },
                        NOW,
                    );
                }
            })
        })
        .collect();
    for _ in 0..3 {
        journal.compact(&store, NOW).expect("compact");
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer");
    }
    journal.shutdown().expect("shutdown");
    let (live, _) = state(&store);
    assert!(live.iter().all(|s| s.ver_shown && s.ver > 1));
    assert_eq!(recovered_state(dir.path()), state(&store));
}

/// Per-key expiry (E9) and versions (E10) journal records of their own kinds, side by side in
/// one segment: a write with `ttl` shown its version, an `SH_KEY_TTL` (a change: its version is
/// journaled after its deadlines) and a key's expiry. Replay gives back the deadlines and the
/// exact version, before and after a compaction.
#[test]
fn key_deadlines_and_versions_replay_together() {
    for compact in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, journal) = open(dir.path(), FsyncMode::No, u64::MAX);
        let a = new_session(&store, None);
        let mut ignore = |_: usize, _: &str| {};
        let with_ver = VersionCheck::new(None, true);
        let write = Command::ShWriteWithTtl(Box::new(sessiondb_core::TtlWrite {
            tkn: Some(a),
            keys: entries(&[("otp", "1"), ("user", "2")]),
            ttl: vec![(Cow::Borrowed("otp"), Some(60))],
            add: false,
        }));
        assert_eq!(
            store.execute_checked(write, NOW, &mut ignore, with_ver),
            (Outcome::Done, Some(2))
        );
        let key_ttl = Command::ShKeyTtl {
            tkn: Some(a),
            keys: vec![(Cow::Borrowed("user"), Some(30))],
        };
        assert_eq!(store.execute(key_ttl, NOW), Outcome::Count(1));
        // `user` is due at NOW + 30 s: the lookup removes it, one more change.
        let count = Command::ShCount { tkn: Some(a) };
        assert_eq!(
            store.execute_checked(count, NOW + 30_000, &mut ignore, with_ver),
            (Outcome::Count(1), Some(4))
        );
        if compact {
            journal.compact(&store, NOW).expect("compact");
        }
        journal.shutdown().expect("shutdown");
        let live = state(&store);
        let s = &live.0[0];
        assert_eq!((s.ver, s.ver_shown), (4, true));
        assert_eq!(s.key_deadlines, vec![("otp".to_owned(), NOW + 60_000)]);
        assert_eq!(recovered_state(dir.path()), live, "compact: {compact}");
    }
}

#[test]
fn recovery_ignores_an_unfinished_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, journal) = open(dir.path(), FsyncMode::Always, u64::MAX);
    workload(&store);
    journal.shutdown().expect("shutdown");
    let expected = state(&store);
    let tmp = files::snapshot_tmp_path(dir.path(), 99);
    fs::write(&tmp, b"SDBJSNP1garbage").expect("write");
    assert_eq!(recovered_state(dir.path()), expected);
    assert!(!tmp.exists(), "the leftover is removed");
}

#[test]
fn needs_compaction_follows_the_threshold() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, journal) = open(dir.path(), FsyncMode::Always, 4096);
    assert!(!journal.needs_compaction());
    let tkn = new_session(&store, None);
    let big = format!("\"{}\"", "x".repeat(5000));
    store.execute(
        Command::ShSet {
            tkn: Some(tkn),
            keys: entries(&[("big", &big)]),
        },
        NOW,
    );
    journal.sync().expect("sync");
    assert!(journal.needs_compaction());
    journal.compact(&store, NOW).expect("compact");
    assert!(!journal.needs_compaction());
    journal.shutdown().expect("shutdown");
    assert_eq!(recovered_state(dir.path()), state(&store));
}
