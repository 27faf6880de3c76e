//! `SH_SAVE` from the live store (`save_load::save_sessions`): the chunked capture writes the same bytes
//! the entry-by-entry writer does, splits files after the entry that reaches 10 MiB even when one
//! lock hold's chunk ends several files, and leaves out sessions that are due.

use std::fs;
use std::path::Path;

use sessiondb_core::clock::ManualClock;
use sessiondb_core::persist::{save_load, DatasetWriter, SaveKind, SessionView};
use sessiondb_core::store::{Arming, SessionRecord};
use sessiondb_core::{Expiry, Store, StoreConfig, Value};

fn record(tkn: u64, value_len: usize, expiry: Expiry) -> SessionRecord {
    SessionRecord {
        tkn,
        shared: false,
        name: (tkn & 1 == 0).then(|| format!("n\"{tkn}")),
        expiry,
        deadline_ms: 0,
        key_deadlines: Vec::new(),
        keys: vec![
            ("a".to_owned(), Value::from_json_unchecked(&tkn.to_string())),
            (
                "big\n".to_owned(),
                Value::from_json_unchecked(&format!("\"{}\"", "x".repeat(value_len))),
            ),
        ],
        owner: None,
        ver: 1,
        ver_shown: false,
    }
}

/// The data files of the only save of `name`, in order.
fn data_files(root: &Path, name: &str) -> Vec<Vec<u8>> {
    let saves: Vec<_> = fs::read_dir(root.join(name))
        .expect("dataset dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(saves.len(), 1);
    let data = saves[0].join("data");
    let n = fs::read_dir(&data).expect("data dir").count();
    (0..n)
        .map(|i| fs::read(data.join(i.to_string())).expect("data file"))
        .collect()
}

/// Where each session entry of a data file starts (each opens with its `keys` member).
fn entry_starts(file: &[u8]) -> Vec<usize> {
    let text = std::str::from_utf8(file).expect("utf-8");
    text.match_indices("{\"keys\":{").map(|(i, _)| i).collect()
}

fn session_count(file: &[u8]) -> usize {
    let text = std::str::from_utf8(file).expect("utf-8");
    text.matches("\"sh\":{").count()
}

#[test]
fn chunked_save_matches_the_entry_writer_byte_for_byte() {
    let clock = ManualClock::new(1_000_000);
    let store = Store::new(StoreConfig {
        shards: 4,
        ..StoreConfig::default()
    });
    let expiry = Expiry {
        duration_secs: 60,
        delete_session: true,
        extend_on_set_add: false,
        extend_on_get: true,
    };
    // 1,000 sessions: several chunks per shard. Values of 1 MiB every 50th session put the
    // total near 20 MiB, so the split happens inside chunks.
    let recs: Vec<SessionRecord> = (1..=1000u64)
        .map(|t| {
            let len = if t.is_multiple_of(50) { 1 << 20 } else { 10 };
            record(
                t,
                len,
                if t.is_multiple_of(3) {
                    expiry
                } else {
                    Expiry::default()
                },
            )
        })
        .collect();
    store.load_sessions(recs, 1_000_000, Arming::FromDuration);
    let dir = tempfile::tempdir().expect("tempdir");
    save_load::save_sessions(&store, dir.path(), "live", None, &clock).expect("save");
    let saved = data_files(dir.path(), "live");

    // The same sessions, in the order the save met them, through the entry-by-entry writer.
    let mut order = Vec::new();
    for shard in 0..store.shard_count() {
        let tkns = store.shard_tokens(shard, None);
        store.visit_sessions(shard, &tkns, 1_000_000, |tkn, s| {
            order.push(SessionRecord::capture(tkn, s));
        });
    }
    assert_eq!(order.len(), 1000);
    let mut w = DatasetWriter::begin(dir.path(), "ref", SaveKind::Sessions, 1).expect("begin");
    for r in &order {
        w.push_session(&SessionView {
            tkn: r.tkn,
            shared: r.shared,
            name: r.name.as_deref(),
            expiry: r.expiry,
            keys: &r.keys,
            owner: None,
            ver: None,
        })
        .expect("push");
    }
    w.finish(2).expect("finish");
    let reference = data_files(dir.path(), "ref");
    assert!(reference.len() >= 2, "{} files", reference.len());
    assert_eq!(saved.len(), reference.len());
    for (i, (a, b)) in saved.iter().zip(&reference).enumerate() {
        assert!(a == b, "data file {i} differs");
    }
    // Every file but the last reached 10 MiB with its last entry, and not before it.
    for f in &saved[..saved.len() - 1] {
        assert!(f.len() as u64 >= 10 * 1024 * 1024);
    }
    assert_eq!(saved.iter().map(|f| session_count(f)).sum::<usize>(), 1000);
}

#[test]
fn one_chunk_can_end_several_files() {
    let clock = ManualClock::new(5_000);
    let store = Store::new(StoreConfig {
        shards: 1,
        ..StoreConfig::default()
    });
    // Three sessions of 6 MiB in one chunk: file 0 ends after the second, file 1 holds the third.
    // Then three of 11 MiB: each ends its own file, all inside one lock hold.
    let recs = (1..=3u64)
        .map(|t| record(t, 6 << 20, Expiry::default()))
        .chain((4..=6u64).map(|t| record(t, 11 << 20, Expiry::default())))
        .collect();
    store.load_sessions(recs, 5_000, Arming::FromDuration);
    let dir = tempfile::tempdir().expect("tempdir");
    save_load::save_sessions(&store, dir.path(), "big", None, &clock).expect("save");
    let files = data_files(dir.path(), "big");
    let counts: Vec<usize> = files.iter().map(|f| session_count(f)).collect();
    assert_eq!(counts.iter().sum::<usize>(), 6);
    // Whatever the table order, each file is a complete JSON array.
    for f in &files {
        assert_eq!((f.first(), f.last()), (Some(&b'['), Some(&b']')));
    }
    // The order decides how the sessions pair up (a 6 MiB and an 11 MiB one end a file together,
    // as do two of 6 MiB), so at least 3 files; every file but the last ended with the entry that
    // took it to 10 MiB: it is that long, and its last entry started below 10 MiB.
    assert!(files.len() >= 3, "counts {counts:?}");
    for f in &files[..files.len() - 1] {
        let last = entry_starts(f).last().copied().expect("a session");
        assert!(f.len() >= 10 << 20 && last < 10 << 20, "counts {counts:?}");
    }
}

#[test]
fn due_sessions_are_expired_not_saved_and_filters_apply() {
    let clock = ManualClock::new(10_000);
    let store = Store::new(StoreConfig::default());
    let short = Expiry {
        duration_secs: 1,
        delete_session: true,
        ..Expiry::default()
    };
    let recs = (1..=600u64)
        .map(|t| record(t, 4, if t <= 300 { short } else { Expiry::default() }))
        .collect();
    store.load_sessions(recs, 0, Arming::FromDuration);
    let dir = tempfile::tempdir().expect("tempdir");
    save_load::save_sessions(&store, dir.path(), "live", None, &clock).expect("save");
    let files = data_files(dir.path(), "live");
    assert_eq!(files.iter().map(|f| session_count(f)).sum::<usize>(), 300);
    assert_eq!(store.session_count_estimate(), 300);

    let only: std::collections::HashSet<u64> = [301, 302, 999].into_iter().collect();
    save_load::save_sessions(&store, dir.path(), "some", Some(&only), &clock).expect("save");
    let files = data_files(dir.path(), "some");
    assert_eq!(files.iter().map(|f| session_count(f)).sum::<usize>(), 2);
}
