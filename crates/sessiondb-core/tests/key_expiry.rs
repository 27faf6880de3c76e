//! Deadlines of single keys (`docs/PROTOCOL.md` E9) on the real store, with the clock passed in:
//! visibility at the deadline, counts, the sweep, overwrites, removals, session wipes and the
//! journal's records of them.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use sessiondb_core::{
    Change, ChangeSink, Command, Expiry, KeyTtls, Outcome, Store, StoreConfig, Token, Value,
};

mod support;
use support::new_session;

fn entries(pairs: &[(&'static str, &str)]) -> Vec<(Cow<'static, str>, Value)> {
    pairs
        .iter()
        .map(|(k, j)| (Cow::Borrowed(*k), Value::from_json_unchecked(j)))
        .collect()
}

fn ttls(pairs: &[(&'static str, Option<u64>)]) -> KeyTtls<'static> {
    pairs.iter().map(|&(k, s)| (Cow::Borrowed(k), s)).collect()
}

fn names(keys: &[&'static str]) -> Vec<Cow<'static, str>> {
    keys.iter().map(|k| Cow::Borrowed(*k)).collect()
}

fn set_ttl(
    st: &Store,
    tkn: Token,
    keys: &[(&'static str, &str)],
    ttl: &[(&'static str, u64)],
    now: u64,
) {
    let ttl = ttl.iter().map(|&(k, s)| (k, Some(s))).collect::<Vec<_>>();
    let cmd = Command::ShWriteWithTtl(Box::new(sessiondb_core::TtlWrite {
        tkn: Some(tkn),
        keys: entries(keys),
        ttl: ttls(&ttl),
        add: false,
    }));
    assert_eq!(st.execute(cmd, now), Outcome::Done);
}

fn key_list(st: &Store, tkn: Token, now: u64) -> Vec<String> {
    match st.execute(Command::ShKeys { tkn: Some(tkn) }, now) {
        Outcome::KeyList(mut keys) => {
            keys.sort();
            keys
        }
        other => panic!("SH_KEYS failed: {other:?}"),
    }
}

fn remaining(st: &Store, tkn: Token, keys: &[&'static str], now: u64) -> Outcome {
    st.execute(
        Command::ShKeyRemaining {
            tkn: Some(tkn),
            keys: names(keys),
        },
        now,
    )
}

fn stats(st: &Store, now: u64) -> (u64, u64) {
    match st.execute(Command::Stats, now) {
        Outcome::Stats { sessions, keys } => (sessions, keys),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_key_is_invisible_from_its_deadline_on_and_leaves_the_counts() {
    let st = Store::new(StoreConfig::default());
    let t = new_session(&st, None, 0);
    set_ttl(
        &st,
        t,
        &[("otp", "123456"), ("user", "\"ann\"")],
        &[("otp", 2)],
        1_000,
    );
    assert_eq!(stats(&st, 2_999), (1, 2));
    assert_eq!(
        remaining(&st, t, &["otp", "user", "nope"], 1_500),
        Outcome::Remaining(vec![(0, Some(1)), (1, None)])
    );
    assert_eq!(key_list(&st, t, 2_999), ["otp", "user"]);
    // SV_INFO's count leaves it at the deadline without anything touching the session.
    assert_eq!(stats(&st, 3_000), (1, 1));
    let get = Command::ShGet {
        tkn: Some(t),
        keys: names(&["otp", "user"]),
    };
    assert_eq!(
        st.execute(get, 3_000),
        Outcome::Values(vec![(1, Value::from_json_unchecked("\"ann\""))])
    );
    assert_eq!(
        st.execute(Command::ShCount { tkn: Some(t) }, 3_000),
        Outcome::Count(1)
    );
    assert_eq!(
        remaining(&st, t, &["otp"], 3_000),
        Outcome::Remaining(vec![])
    );
}

#[test]
fn the_sweep_frees_a_due_key_of_a_session_nobody_touches() {
    let st = Store::new(StoreConfig::default());
    let t = new_session(&st, None, 0);
    set_ttl(&st, t, &[("a", "1")], &[], 0);
    let big = format!("\"{}\"", "x".repeat(4_000));
    set_ttl(&st, t, &[("big", &big)], &[("big", 5)], 0);
    let full = st.stored_bytes();
    assert_eq!(st.sweep_expired(4_999), 0);
    assert_eq!(st.stored_bytes(), full);
    st.sweep_expired(5_000);
    // The session lives on with its other key; the big value and its deadline are gone.
    let freed = full - st.stored_bytes();
    assert!(freed > 4_000, "{freed}");
    assert_eq!(key_list(&st, t, 5_000), ["a"]);
}

#[test]
fn set_without_ttl_drops_the_deadline_add_keeps_it_and_rmv_removes_it() {
    let st = Store::new(StoreConfig::default());
    let t = new_session(&st, None, 0);
    set_ttl(
        &st,
        t,
        &[("a", "1"), ("b", "2")],
        &[("a", 10), ("b", 10)],
        0,
    );
    let set = Command::ShSet {
        tkn: Some(t),
        keys: entries(&[("a", "3")]),
    };
    assert_eq!(st.execute(set, 1_000), Outcome::Done);
    // An add of an existing key changes neither its value nor its deadline, and gives no
    // deadline to a key it did not add.
    let add = Command::ShWriteWithTtl(Box::new(sessiondb_core::TtlWrite {
        tkn: Some(t),
        keys: entries(&[("b", "9"), ("c", "4")]),
        ttl: ttls(&[("b", Some(1)), ("c", Some(20))]),
        add: true,
    }));
    assert_eq!(st.execute(add, 1_000), Outcome::Done);
    assert_eq!(
        remaining(&st, t, &["a", "b", "c"], 1_000),
        Outcome::Remaining(vec![(0, None), (1, Some(9)), (2, Some(20))])
    );
    let rmv = Command::ShRmv {
        tkn: Some(t),
        keys: names(&["c"]),
    };
    assert_eq!(st.execute(rmv, 1_000), Outcome::Done);
    set_ttl(&st, t, &[("c", "5")], &[], 1_000);
    assert_eq!(key_list(&st, t, 30_000), ["a", "c"]);
}

#[test]
fn key_ttl_sets_and_removes_deadlines_of_held_keys_only() {
    let st = Store::new(StoreConfig::default());
    let t = new_session(&st, None, 0);
    set_ttl(&st, t, &[("a", "1"), ("b", "2")], &[("b", 5)], 0);
    let cmd = Command::ShKeyTtl {
        tkn: Some(t),
        keys: ttls(&[("a", Some(3)), ("b", None), ("zz", Some(1))]),
    };
    assert_eq!(st.execute(cmd, 0), Outcome::Count(2));
    assert_eq!(key_list(&st, t, 2_999), ["a", "b"]);
    assert_eq!(key_list(&st, t, 3_000), ["b"]);
    assert_eq!(key_list(&st, t, 100_000), ["b"]);
    let none = Command::ShKeyTtl {
        tkn: Some(999),
        keys: ttls(&[("a", Some(3))]),
    };
    assert_eq!(st.execute(none, 0), Outcome::NoSession { tkn: Some(999) });
}

#[test]
fn a_session_wipe_takes_the_deadlines_with_the_keys() {
    let st = Store::new(StoreConfig::default());
    let expiry = Expiry {
        duration_secs: 10,
        ..Expiry::default()
    };
    let t = new_session(&st, Some(expiry), 0);
    set_ttl(&st, t, &[("a", "1")], &[("a", 60)], 0);
    // Emptied at 10 s and re-armed; a new `a` has no deadline.
    assert_eq!(key_list(&st, t, 10_000), Vec::<String>::new());
    set_ttl(&st, t, &[("a", "2")], &[], 10_000);
    assert_eq!(
        remaining(&st, t, &["a"], 10_000),
        Outcome::Remaining(vec![(0, None)])
    );
    let clear = Command::ShClearSet {
        tkn: Some(t),
        keys: entries(&[("b", "1")]),
    };
    set_ttl(&st, t, &[("b", "0")], &[("b", 1)], 10_000);
    assert_eq!(st.execute(clear, 10_000), Outcome::Count(2));
    assert_eq!(key_list(&st, t, 19_000), ["b"]);
}

/// Keeps every change, as text, in order.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl ChangeSink for Recorder {
    fn record(&self, change: &Change<'_>) {
        if let Ok(mut changes) = self.0.lock() {
            changes.push(format!("{change:?}"));
        }
    }
}

#[test]
fn deadlines_are_journaled_as_wall_clock_times_and_expiry_as_a_removal() {
    let sink = Arc::new(Recorder::default());
    let st = Store::with_change_sink(StoreConfig::default(), sink.clone());
    let t = new_session(&st, None, 0);
    set_ttl(&st, t, &[("otp", "1")], &[("otp", 300)], 1_000);
    st.execute(
        Command::ShKeyTtl {
            tkn: Some(t),
            keys: ttls(&[("otp", None), ("zz", Some(1))]),
        },
        2_000,
    );
    set_ttl(&st, t, &[("n", "1")], &[("n", 1)], 2_000);
    st.sweep_expired(3_000);
    let changes = sink.0.lock().map(|c| c.clone()).unwrap_or_default();
    let expected = [
        "ShKeysSet".to_owned(),
        format!("KeyDeadlines {{ tkn: {t}, deadlines: [(\"otp\", Some(301000))] }}"),
        format!("KeyDeadlines {{ tkn: {t}, deadlines: [(\"otp\", None)] }}"),
        // A change of the data: its version follows the deadlines (E10).
        format!("Version {{ tkn: {t}, ver: 3, shown: false }}"),
        "ShKeysSet".to_owned(),
        format!("KeyDeadlines {{ tkn: {t}, deadlines: [(\"n\", Some(3000))] }}"),
        format!("ShKeysRemoved {{ tkn: {t}, keys: [\"n\"] }}"),
    ];
    assert_eq!(changes.len(), expected.len() + 1, "{changes:?}");
    for (got, want) in changes[1..].iter().zip(&expected) {
        assert!(got.starts_with(want.as_str()), "{got} vs {want}");
    }
}

#[test]
fn a_load_restores_deadlines_journals_them_and_counts_only_live_keys() {
    let sink = Arc::new(Recorder::default());
    let st = Store::with_change_sink(StoreConfig::default(), sink.clone());
    let record = sessiondb_core::SessionRecord {
        tkn: 77,
        shared: false,
        name: None,
        owner: None,
        ver: 1,
        ver_shown: false,
        expiry: Expiry::default(),
        deadline_ms: u64::MAX,
        keys: vec![
            ("otp".to_owned(), Value::from_json_unchecked("1")),
            ("old".to_owned(), Value::from_json_unchecked("2")),
            ("user".to_owned(), Value::from_json_unchecked("3")),
        ],
        key_deadlines: vec![
            ("otp".to_owned(), 9_000),
            ("old".to_owned(), 4_000),
            ("absent".to_owned(), 9_000),
        ],
    };
    let loaded = st.load_sessions(vec![record], 5_000, sessiondb_core::Arming::FromDuration);
    assert_eq!(loaded, (1, 2));
    assert_eq!(
        remaining(&st, 77, &["otp", "old", "user", "absent"], 5_000),
        Outcome::Remaining(vec![(0, Some(4)), (2, None)])
    );
    let changes = sink.0.lock().map(|c| c.clone()).unwrap_or_default();
    let deadlines = changes
        .iter()
        .find(|c| c.starts_with("KeyDeadlines"))
        .cloned()
        .unwrap_or_default();
    assert!(
        deadlines.contains("(\"otp\", Some(9000))") && deadlines.contains("(\"old\", Some(4000))"),
        "{changes:?}"
    );
    assert!(!deadlines.contains("absent"), "{deadlines}");
}
