//! The engine's hooks for persistence and operations: change recording, snapshots and loads,
//! limits and memory accounting.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use parking_lot::Mutex;
use sessiondb_core::{
    Arming, Change, ChangeSink, Command, Expiry, Limits, Outcome, SessionRecord, Store,
    StoreConfig, Token, Value,
};

fn v(json: &str) -> Value {
    Value::from_json_unchecked(json)
}

fn entries(pairs: &[(&'static str, &str)]) -> Vec<(Cow<'static, str>, Value)> {
    pairs
        .iter()
        .map(|(k, j)| (Cow::Borrowed(*k), v(j)))
        .collect()
}

/// Records changes as readable lines.
#[derive(Default)]
struct Log(Mutex<Vec<String>>);

impl ChangeSink for Log {
    fn record(&self, change: &Change<'_>) {
        let line = match change {
            Change::SessionCreated {
                shared,
                name,
                expiry,
                deadline_ms,
                ..
            } => format!(
                "created shared={shared} name={name:?} dur={} deadline={deadline_ms}",
                expiry.duration_secs
            ),
            Change::SessionEnded { .. } => "ended".into(),
            Change::SessionExpired { .. } => "expired".into(),
            Change::SessionEmptied {
                rearmed_deadline_ms,
                ..
            } => format!("emptied {rearmed_deadline_ms}"),
            Change::Rearmed { deadline_ms, .. } => format!("rearmed {deadline_ms}"),
            Change::ShKeysSet { entries, .. } => format!("sh-set {}", names(entries)),
            Change::ShKeysRemoved { keys, .. } => format!(
                "sh-rmv {}",
                keys.iter().map(|k| &**k).collect::<Vec<_>>().join(",")
            ),
            Change::ShCleared { .. } => "sh-cleared".into(),
            Change::ShClearSet { entries, .. } => format!("sh-clear-set {}", names(entries)),
            Change::KvSet { entries } => format!("kv-set {}", names(entries)),
            Change::KvRemoved { keys } => format!(
                "kv-rmv {}",
                keys.iter().map(|k| &**k).collect::<Vec<_>>().join(",")
            ),
            Change::KvCleared => "kv-cleared".into(),
            Change::KvClearSet { entries } => format!("kv-clear-set {}", names(entries)),
            Change::EndAll { tkns } => format!("end-all {}", tkns.len()),
            Change::KeyDeadlines { deadlines, .. } => format!("key-deadlines {}", deadlines.len()),
            Change::Version { ver, shown, .. } => format!("version {ver} shown={shown}"),
        };
        self.0.lock().push(line);
    }
}

fn names(entries: &[(Cow<'_, str>, Value)]) -> String {
    entries
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_json()))
        .collect::<Vec<_>>()
        .join(",")
}

fn created(outcome: Outcome) -> Token {
    match outcome {
        Outcome::Created { tkn } => tkn,
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_effective_mutation_is_recorded_in_order() {
    let log = Arc::new(Log::default());
    let st = Store::with_change_sink(StoreConfig::default(), log.clone());
    let t = created(st.execute(
        Command::ShNew {
            expiry: Some(Expiry {
                duration_secs: 10,
                delete_session: false,
                extend_on_set_add: true,
                extend_on_get: false,
            }),
            name: Some(Cow::Borrowed("n")),
            shared: false,
        },
        1_000,
    ));
    let tkn = Some(t);
    st.execute(
        Command::ShSet {
            tkn,
            keys: entries(&[("a", "1")]),
        },
        2_000,
    );
    st.execute(
        Command::ShAdd {
            tkn,
            keys: entries(&[("a", "2"), ("b", "3")]),
        },
        2_000,
    );
    // Not effective: nothing recorded.
    st.execute(
        Command::ShAdd {
            tkn: Some(12345),
            keys: entries(&[("a", "2")]),
        },
        2_000,
    );
    st.execute(
        Command::ShRmv {
            tkn,
            keys: vec![Cow::Borrowed("zz")],
        },
        2_000,
    );
    st.execute(
        Command::ShGet {
            tkn,
            keys: vec![Cow::Borrowed("a")],
        },
        2_000,
    );
    st.execute(
        Command::ShRmv {
            tkn,
            keys: vec![Cow::Borrowed("b")],
        },
        2_000,
    );
    st.execute(
        Command::ShClearSet {
            tkn,
            keys: entries(&[("c", "4")]),
        },
        2_000,
    );
    // Due at 12 s: emptied and re-armed on this access.
    st.execute(Command::ShCount { tkn }, 12_500);
    st.execute(Command::ShClear { tkn }, 12_500);
    st.execute(Command::KvSet(entries(&[("k", "1")])), 0);
    st.execute(Command::KvAdd(entries(&[("k", "2"), ("l", "3")])), 0);
    st.execute(Command::KvRmv(vec![Cow::Borrowed("l")]), 0);
    st.execute(Command::KvClearSet(entries(&[("m", "5")])), 0);
    st.execute(Command::KvClear, 0);
    st.execute(Command::KvClear, 0);
    st.execute(Command::ShEndAll, 12_500);
    let t2 = created(st.execute(
        Command::ShNew {
            expiry: None,
            name: None,
            shared: false,
        },
        0,
    ));
    st.execute(Command::ShEnd { tkn: Some(t2) }, 0);
    assert_eq!(
        *log.0.lock(),
        vec![
            "created shared=false name=Some(\"n\") dur=10 deadline=11000",
            "rearmed 12000",
            "sh-set a=1",
            "rearmed 12000",
            "sh-set b=3",
            "sh-rmv b",
            "sh-clear-set c=4",
            "emptied 22500",
            "kv-set k=1",
            "kv-set l=3",
            "kv-rmv l",
            "kv-clear-set m=5",
            "kv-cleared",
            "end-all 1",
            "created shared=false name=None dur=0 deadline=18446744073709551615",
            "ended",
        ]
    );
}

#[test]
fn sweep_and_loads_are_recorded() {
    let log = Arc::new(Log::default());
    let st = Store::with_change_sink(StoreConfig::default(), log.clone());
    let rec = |tkn, duration_secs, delete_session| SessionRecord {
        tkn,
        shared: false,
        name: None,
        expiry: Expiry {
            duration_secs,
            delete_session,
            ..Expiry::default()
        },
        deadline_ms: 0,
        key_deadlines: Vec::new(),
        keys: vec![("x".into(), v("1"))],
        owner: None,
        ver: 1,
        ver_shown: false,
    };
    let (n, k) = st.load_sessions(
        vec![rec(7, 1, true), rec(7, 5, false), rec(0, 1, true)],
        100,
        Arming::FromDuration,
    );
    assert_eq!((n, k), (1, 1));
    assert_eq!(st.sweep_expired(1_100), 1);
    assert_eq!(st.kv_load(vec![("q".into(), v("2"))]), 1);
    assert_eq!(
        *log.0.lock(),
        vec![
            "created shared=false name=None dur=1 deadline=1100",
            "sh-set x=1",
            "version 1 shown=false",
            "expired",
            "kv-set q=2",
        ]
    );
}

#[test]
fn snapshot_and_load_round_trip() {
    let st = Store::new(StoreConfig::default());
    let a = created(st.execute(
        Command::ShNew {
            expiry: Some(Expiry {
                duration_secs: 60,
                delete_session: true,
                extend_on_set_add: false,
                extend_on_get: true,
            }),
            name: Some(Cow::Borrowed("settings")),
            shared: true,
        },
        1_000,
    ));
    let b = created(st.execute(
        Command::ShNew {
            expiry: None,
            name: None,
            shared: false,
        },
        1_000,
    ));
    st.execute(
        Command::ShSet {
            tkn: Some(b),
            keys: entries(&[("k1", r#"{"z":1,"a":2}"#), ("k2", "3")]),
        },
        1_000,
    );
    st.execute(Command::KvSet(entries(&[("t", "true")])), 0);

    let all: Vec<SessionRecord> = (0..st.shard_count())
        .flat_map(|i| st.snapshot_shard(i, 1_000, None))
        .collect();
    assert_eq!(all.len(), 2);
    let only_b: HashSet<Token> = [b].into();
    let filtered: Vec<SessionRecord> = (0..st.shard_count())
        .flat_map(|i| st.snapshot_shard(i, 1_000, Some(&only_b)))
        .collect();
    assert_eq!(filtered.len(), 1);
    assert_eq!(
        filtered[0].keys,
        vec![
            ("k1".to_string(), v(r#"{"z":1,"a":2}"#)),
            ("k2".to_string(), v("3"))
        ]
    );
    assert!(st.snapshot_shard(st.shard_count(), 0, None).is_empty());
    assert_eq!(st.snapshot_kv(), vec![("t".to_string(), v("true"))]);

    // Loading into a store that already has them skips them all.
    assert_eq!(
        st.load_sessions(all.clone(), 2_000, Arming::FromDuration),
        (0, 0)
    );

    // A fresh store: dataset load arms to load time + duration; journal recovery keeps deadlines.
    let fresh = Store::new(StoreConfig::default());
    assert_eq!(
        fresh.load_sessions(all.clone(), 50_000, Arming::FromDuration),
        (2, 2)
    );
    match fresh.execute(Command::ShInfo { tkn: Some(a) }, 50_000) {
        Outcome::Info(i) => {
            assert!(i.shared);
            assert_eq!(i.name.as_deref(), Some("settings"));
            assert_eq!(i.expiry.map(|(_, r)| r), Some(60));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        fresh.execute(
            Command::ShOpen {
                name: Cow::Borrowed("settings")
            },
            50_000
        ),
        Outcome::Opened { tkn: a }
    );
    let recovered = Store::new(StoreConfig::default());
    recovered.load_sessions(all, 50_000, Arming::KeepDeadline);
    // Deadline was 61 s: already due at 50 s? No — 61_000 > 50_000, so 11 s remain.
    match recovered.execute(Command::ShInfo { tkn: Some(a) }, 50_000) {
        Outcome::Info(i) => assert_eq!(i.expiry.map(|(_, r)| r), Some(11)),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        recovered.execute(Command::ShExists { tkns: vec![a, b] }, 61_000),
        Outcome::Exist(vec![b])
    );

    // kv_load overwrites and keeps other keys.
    fresh.execute(Command::KvSet(entries(&[("t", "1"), ("u", "2")])), 0);
    assert_eq!(fresh.kv_load(st.snapshot_kv()), 1);
    assert_eq!(
        fresh.execute(
            Command::KvGet(vec![Cow::Borrowed("t"), Cow::Borrowed("u")]),
            0
        ),
        Outcome::Values(vec![(0, v("true")), (1, v("2"))])
    );
}

fn limited(limits: Limits) -> Store {
    Store::new(StoreConfig {
        limits,
        ..StoreConfig::default()
    })
}

fn new_plain(st: &Store) -> Outcome {
    st.execute(
        Command::ShNew {
            expiry: None,
            name: None,
            shared: false,
        },
        0,
    )
}

#[test]
fn max_sessions_refuses_sh_new() {
    let st = limited(Limits {
        max_sessions: Some(2),
        ..Limits::default()
    });
    let t = created(new_plain(&st));
    created(new_plain(&st));
    assert_eq!(new_plain(&st), Outcome::LimitReached);
    assert_eq!(
        st.execute(Command::ShInfoAll, 0),
        Outcome::InfoAll {
            sessions: 2,
            keys: 0
        }
    );
    st.execute(Command::ShEnd { tkn: Some(t) }, 0);
    created(new_plain(&st));
}

#[test]
fn max_keys_per_session_refuses_and_changes_nothing() {
    let st = limited(Limits {
        max_keys_per_session: Some(2),
        ..Limits::default()
    });
    let tkn = Some(created(new_plain(&st)));
    assert_eq!(
        st.execute(
            Command::ShSet {
                tkn,
                keys: entries(&[("a", "1"), ("b", "2"), ("a", "3")])
            },
            0
        ),
        Outcome::Done
    );
    assert_eq!(
        st.execute(
            Command::ShSet {
                tkn,
                keys: entries(&[("a", "9"), ("c", "3")])
            },
            0
        ),
        Outcome::LimitReached
    );
    assert_eq!(
        st.execute(
            Command::ShAdd {
                tkn,
                keys: entries(&[("c", "3")])
            },
            0
        ),
        Outcome::LimitReached
    );
    assert_eq!(
        st.execute(
            Command::ShClearSet {
                tkn,
                keys: entries(&[("x", "1"), ("y", "1"), ("z", "1")])
            },
            0
        ),
        Outcome::LimitReached
    );
    // Overwrites and adds of existing keys stay within the limit.
    assert_eq!(
        st.execute(
            Command::ShSet {
                tkn,
                keys: entries(&[("b", "7")])
            },
            0
        ),
        Outcome::Done
    );
    assert_eq!(
        st.execute(
            Command::ShGet {
                tkn,
                keys: vec![Cow::Borrowed("a"), Cow::Borrowed("b")]
            },
            0
        ),
        Outcome::Values(vec![(0, v("3")), (1, v("7"))])
    );
}

#[test]
fn max_memory_refuses_growth_and_accounting_returns_to_zero() {
    let st = limited(Limits {
        max_memory_bytes: Some(2_000),
        ..Limits::default()
    });
    let tkn = Some(created(new_plain(&st)));
    let base = st.stored_bytes();
    assert!(base > 0);
    let big = format!("\"{}\"", "x".repeat(1000));
    let big_entries = vec![(Cow::Borrowed("big"), v(&big))];
    assert_eq!(
        st.execute(
            Command::ShSet {
                tkn,
                keys: big_entries.clone()
            },
            0
        ),
        Outcome::Done
    );
    let after_one = st.stored_bytes();
    assert!(after_one > base + 1000);
    // Another 1,000 bytes would pass 2,000.
    assert_eq!(
        st.execute(Command::KvSet(vec![(Cow::Borrowed("big2"), v(&big))]), 0),
        Outcome::LimitReached
    );
    assert_eq!(st.execute(Command::KvCount, 0), Outcome::Count(0));
    assert_eq!(st.stored_bytes(), after_one);
    // Overwriting with the same size does not grow: allowed.
    assert_eq!(
        st.execute(
            Command::ShSet {
                tkn,
                keys: big_entries
            },
            0
        ),
        Outcome::Done
    );
    assert_eq!(st.stored_bytes(), after_one);
    st.execute(
        Command::ShRmv {
            tkn,
            keys: vec![Cow::Borrowed("big")],
        },
        0,
    );
    assert_eq!(st.stored_bytes(), base);
    st.execute(Command::KvSet(entries(&[("k", "1")])), 0);
    st.execute(Command::KvClear, 0);
    st.execute(Command::ShEnd { tkn }, 0);
    assert_eq!(st.stored_bytes(), 0);
}

#[test]
fn kv_load_is_not_refused_by_max_memory() {
    let st = limited(Limits {
        max_memory_bytes: Some(2_000),
        ..Limits::default()
    });
    let big = format!("\"{}\"", "x".repeat(1500));
    assert_eq!(
        st.execute(Command::KvSet(vec![(Cow::Borrowed("b"), v(&big))]), 0),
        Outcome::Done
    );
    // A second 1,500-byte key would pass 2,000 as a write; as a load it is stored all the same.
    assert_eq!(st.kv_load(vec![("a".into(), v(&big))]), 1);
    assert_eq!(st.execute(Command::KvCount, 0), Outcome::Count(2));
    assert!(st.stored_bytes() > 3_000);
}
