//! Every command's outcome, following the examples of `docs/PROTOCOL.md` §9–§11, on the real store.

use std::borrow::Cow;

use sessiondb_core::{Command, Expiry, Outcome, SessionInfo, Store, StoreConfig, Token, Value};

mod support;
use support::new_session;

fn v(json: &str) -> Value {
    Value::from_json_unchecked(json)
}

fn entries(pairs: &[(&'static str, &str)]) -> Vec<(Cow<'static, str>, Value)> {
    pairs
        .iter()
        .map(|(k, j)| (Cow::Borrowed(*k), v(j)))
        .collect()
}

fn keys(names: &[&'static str]) -> Vec<Cow<'static, str>> {
    names.iter().map(|k| Cow::Borrowed(*k)).collect()
}

fn store() -> Store {
    Store::new(StoreConfig::default())
}

fn expiring(duration_secs: u64, delete_session: bool) -> Expiry {
    Expiry {
        duration_secs,
        delete_session,
        ..Expiry::default()
    }
}

fn sorted(mut list: Vec<String>) -> Vec<String> {
    list.sort();
    list
}

#[test]
fn kv_examples_of_section_10_in_order() {
    let st = store();
    let now = 0;
    assert_eq!(
        st.execute(
            Command::KvSet(entries(&[
                ("user:1", r#"{"name":"Ann","age":31}"#),
                ("visits", "7")
            ])),
            now
        ),
        Outcome::Done
    );
    assert_eq!(
        st.execute(
            Command::KvAdd(entries(&[("visits", "100"), ("theme", r#""dark""#)])),
            now
        ),
        Outcome::Done
    );
    // "user:1","visits","nope",(5 dropped by proto),"visits": each existing key once.
    assert_eq!(
        st.execute(
            Command::KvGet(keys(&["user:1", "visits", "nope", "visits"])),
            now
        ),
        Outcome::Values(vec![(0, v(r#"{"name":"Ann","age":31}"#)), (1, v("7"))])
    );
    assert_eq!(
        st.execute(Command::KvRmv(keys(&["theme", "nope"])), now),
        Outcome::Done
    );
    assert_eq!(
        st.execute(
            Command::KvContains(keys(&["visits", "nope", "user:1", "visits"])),
            now
        ),
        Outcome::Contains(vec![0, 2, 3])
    );
    assert_eq!(st.execute(Command::KvCount, now), Outcome::Count(2));
    match st.execute(Command::KvKeys, now) {
        Outcome::KeyList(list) => assert_eq!(sorted(list), vec!["user:1", "visits"]),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        st.execute(
            Command::KvClearSet(entries(&[("a", "1"), ("b", "[true,null]")])),
            now
        ),
        Outcome::Count(2)
    );
    assert_eq!(
        st.execute(Command::KvGet(keys(&["a", "b", "visits"])), now),
        Outcome::Values(vec![(0, v("1")), (1, v("[true,null]"))])
    );
    assert_eq!(st.execute(Command::KvClear, now), Outcome::Count(2));
    assert_eq!(st.execute(Command::KvClear, now), Outcome::Count(0));
    assert_eq!(
        st.execute(Command::KvGet(vec![]), now),
        Outcome::Values(vec![])
    );
    assert_eq!(
        st.execute(Command::KvKeys, now),
        Outcome::KeyList(Vec::new())
    );
}

#[test]
fn kv_keys_list_every_key_and_large_gets_dedupe() {
    let st = store();
    let names: Vec<String> = (0..50).map(|i| format!("k{i:02}")).collect();
    let ents = names
        .iter()
        .map(|n| (Cow::Owned(n.clone()), v("1")))
        .collect();
    st.execute(Command::KvSet(ents), 0);
    // In unspecified order (docs/PROTOCOL.md 7.2): compared as a set.
    match st.execute(Command::KvKeys, 0) {
        Outcome::KeyList(list) => assert_eq!(sorted(list), names),
        other => panic!("{other:?}"),
    }
    // 100 requested keys (above the scan threshold), each existing key requested twice.
    let mut req: Vec<Cow<'static, str>> = names.iter().map(|n| Cow::Owned(n.clone())).collect();
    req.extend(names.iter().map(|n| Cow::Owned(n.clone())));
    match st.execute(Command::KvGet(req), 0) {
        Outcome::Values(vals) => {
            assert_eq!(vals.len(), 50);
            assert!(vals.iter().enumerate().all(|(i, (idx, _))| *idx == i));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn session_key_commands_of_section_11_3() {
    let st = store();
    let now = 1_000;
    let t1 = new_session(&st, None, now);
    assert_ne!(t1, 0);
    let tkn = Some(t1);
    assert_eq!(
        st.execute(
            Command::ShSet {
                tkn,
                keys: entries(&[("a", "10"), ("b", r#""x""#)])
            },
            now
        ),
        Outcome::Done
    );
    assert_eq!(
        st.execute(
            Command::ShAdd {
                tkn,
                keys: entries(&[("a", "99"), ("c", "[1,2]")])
            },
            now
        ),
        Outcome::Done
    );
    assert_eq!(
        st.execute(
            Command::ShGet {
                tkn,
                keys: keys(&["a", "c", "zz"])
            },
            now
        ),
        Outcome::Values(vec![(0, v("10")), (1, v("[1,2]"))])
    );
    // The top-level store is separate.
    assert_eq!(
        st.execute(Command::KvGet(keys(&["a"])), now),
        Outcome::Values(vec![])
    );
    assert_eq!(
        st.execute(
            Command::ShContains {
                tkn,
                keys: keys(&["a", "q", "c", "a"])
            },
            now
        ),
        Outcome::Contains(vec![0, 2, 3])
    );
    assert_eq!(st.execute(Command::ShCount { tkn }, now), Outcome::Count(3));
    assert_eq!(
        st.execute(Command::ShKeys { tkn }, now),
        Outcome::KeyList(vec!["a".into(), "b".into(), "c".into()])
    );
    assert_eq!(
        st.execute(
            Command::ShRmv {
                tkn,
                keys: keys(&["c"])
            },
            now
        ),
        Outcome::Done
    );
    assert_eq!(
        st.execute(
            Command::ShClearSet {
                tkn,
                keys: entries(&[("z", "1")])
            },
            now
        ),
        Outcome::Count(2)
    );
    assert_eq!(
        st.execute(Command::ShKeys { tkn }, now),
        Outcome::KeyList(vec!["z".into()])
    );
    assert_eq!(st.execute(Command::ShClear { tkn }, now), Outcome::Count(1));
    assert_eq!(st.execute(Command::ShClear { tkn }, now), Outcome::Count(0));
    // Unknown token, or none: 100, echoing whatever uint the request had.
    for tkn in [Some(1234), None, Some(0)] {
        assert_eq!(
            st.execute(
                Command::ShSet {
                    tkn,
                    keys: entries(&[("a", "1")])
                },
                now
            ),
            Outcome::NoSession { tkn }
        );
        assert_eq!(
            st.execute(Command::ShCount { tkn }, now),
            Outcome::NoSession { tkn }
        );
        assert_eq!(
            st.execute(Command::ShGet { tkn, keys: vec![] }, now),
            Outcome::NoSession { tkn }
        );
    }
}

#[test]
fn sh_new_open_end_exists_info_all_of_section_11() {
    let st = store();
    let now = 5_000;
    let t1 = new_session(&st, None, now);
    let t2 = match st.execute(
        Command::ShNew {
            expiry: Some(Expiry {
                duration_secs: 600,
                delete_session: true,
                extend_on_set_add: true,
                extend_on_get: false,
            }),
            name: Some(Cow::Borrowed("basket-77")),
            shared: false,
        },
        now,
    ) {
        Outcome::Created { tkn } => tkn,
        other => panic!("{other:?}"),
    };
    let shared_new = || Command::ShNew {
        expiry: None,
        name: Some(Cow::Borrowed("settings")),
        shared: true,
    };
    let ts: Token = 15900886249489855254;
    assert_eq!(st.execute(shared_new(), now), Outcome::Created { tkn: ts });
    assert_eq!(st.execute(shared_new(), now), Outcome::NameTaken);
    // Non-shared names are labels: the same name twice gives two sessions.
    let again = st.execute(
        Command::ShNew {
            expiry: None,
            name: Some(Cow::Borrowed("settings")),
            shared: false,
        },
        now,
    );
    let Outcome::Created { tkn: t_label } = again else {
        panic!("{again:?}")
    };
    assert_ne!(t_label, ts);
    assert_eq!(
        st.execute(
            Command::ShOpen {
                name: Cow::Borrowed("settings")
            },
            now
        ),
        Outcome::Opened { tkn: ts }
    );
    assert_eq!(
        st.execute(
            Command::ShOpen {
                name: Cow::Borrowed("nobody")
            },
            now
        ),
        Outcome::OpenFailed
    );
    assert_eq!(
        st.execute(Command::ShEnd { tkn: Some(t_label) }, now),
        Outcome::Ended { tkn: t_label }
    );

    // SH_INFO forms.
    assert_eq!(
        st.execute(Command::ShInfo { tkn: Some(t1) }, now),
        Outcome::Info(Box::new(SessionInfo {
            tkn: t1,
            shared: false,
            key_count: 0,
            name: None,
            expiry: None,
            owner: None,
        }))
    );
    assert_eq!(
        st.execute(Command::ShInfo { tkn: Some(ts) }, now),
        Outcome::Info(Box::new(SessionInfo {
            tkn: ts,
            shared: true,
            key_count: 0,
            name: Some("settings".into()),
            expiry: None,
            owner: None,
        }))
    );
    assert_eq!(
        st.execute(Command::ShInfo { tkn: Some(1234) }, now),
        Outcome::NoSession { tkn: Some(1234) }
    );
    assert_eq!(
        st.execute(Command::ShInfo { tkn: None }, now),
        Outcome::NoSession { tkn: None }
    );
    // Just after arming with duration 600: remaining 599 (1 ms has passed) — §9.6.
    match st.execute(Command::ShInfo { tkn: Some(t2) }, now + 1) {
        Outcome::Info(info) => {
            assert_eq!(info.name.as_deref(), Some("basket-77"));
            let (exp, remaining) = info.expiry.expect("t2 expires");
            assert_eq!(exp.duration_secs, 600);
            assert!(exp.delete_session && exp.extend_on_set_add && !exp.extend_on_get);
            assert_eq!(remaining, 599);
        }
        other => panic!("{other:?}"),
    }

    // SH_END forms.
    assert_eq!(
        st.execute(Command::ShEnd { tkn: Some(t2) }, now),
        Outcome::Ended { tkn: t2 }
    );
    assert_eq!(
        st.execute(Command::ShEnd { tkn: Some(t2) }, now),
        Outcome::NoSession { tkn: Some(t2) }
    );
    assert_eq!(
        st.execute(Command::ShEnd { tkn: None }, now),
        Outcome::NoSession { tkn: None }
    );

    // SH_EXISTS keeps request order and repeats.
    assert_eq!(
        st.execute(
            Command::ShExists {
                tkns: vec![t1, t2, ts, t1, 0]
            },
            now
        ),
        Outcome::Exist(vec![t1, ts, t1])
    );

    st.execute(
        Command::ShSet {
            tkn: Some(ts),
            keys: entries(&[("theme", r#""dark""#)]),
        },
        now,
    );
    st.execute(Command::KvSet(entries(&[("top", "1")])), now);
    assert_eq!(
        st.execute(Command::ShInfoAll, now),
        Outcome::InfoAll {
            sessions: 2,
            keys: 1
        }
    );
    assert_eq!(
        st.execute(Command::Stats, now),
        Outcome::Stats {
            sessions: 2,
            keys: 2
        }
    );
    assert_eq!(st.execute(Command::ShEndAll, now), Outcome::Count(2));
    assert_eq!(
        st.execute(Command::ShInfoAll, now),
        Outcome::InfoAll {
            sessions: 0,
            keys: 0
        }
    );
    // Top-level keys survive SH_END_ALL; the shared name is free again, with the same token.
    assert_eq!(st.execute(Command::KvCount, now), Outcome::Count(1));
    assert_eq!(st.execute(shared_new(), now), Outcome::Created { tkn: ts });
}

#[test]
fn sh_open_finds_only_shared_sessions() {
    // A session restored under the derived token but not shared is not opened (§11.2).
    let st = store();
    let ts = 15900886249489855254;
    st.load_sessions(
        vec![sessiondb_core::SessionRecord {
            tkn: ts,
            shared: false,
            name: None,
            expiry: Expiry::default(),
            deadline_ms: u64::MAX,
            key_deadlines: Vec::new(),
            keys: vec![],
            owner: None,
            ver: 1,
            ver_shown: false,
        }],
        0,
        sessiondb_core::Arming::FromDuration,
    );
    assert_eq!(
        st.execute(
            Command::ShOpen {
                name: Cow::Borrowed("settings")
            },
            0
        ),
        Outcome::OpenFailed
    );
    // ... and it still blocks the shared name (any live session holding the token).
    assert_eq!(
        st.execute(
            Command::ShNew {
                expiry: None,
                name: Some(Cow::Borrowed("settings")),
                shared: true,
            },
            0
        ),
        Outcome::NameTaken
    );
}

#[test]
fn duration_zero_discards_the_flags() {
    let st = store();
    let t = new_session(
        &st,
        Some(Expiry {
            duration_secs: 0,
            delete_session: true,
            extend_on_set_add: true,
            extend_on_get: true,
        }),
        0,
    );
    match st.execute(Command::ShInfo { tkn: Some(t) }, u64::MAX - 1) {
        Outcome::Info(info) => assert_eq!(info.expiry, None),
        other => panic!("{other:?}"),
    }
    let rec = (0..st.shard_count())
        .flat_map(|i| st.snapshot_shard(i, 0, None))
        .next()
        .expect("one session");
    assert_eq!(rec.expiry, Expiry::default());
}

#[test]
fn timing_example_of_section_9_8() {
    let st = store();
    let t0 = 1_700_000_000_000;
    let t = new_session(&st, Some(expiring(2, false)), t0);
    st.execute(
        Command::ShSet {
            tkn: Some(t),
            keys: entries(&[("a", "1"), ("b", "2"), ("c", "3")]),
        },
        t0,
    );
    assert_eq!(
        st.execute(Command::ShCount { tkn: Some(t) }, t0 + 1_900),
        Outcome::Count(3)
    );
    match st.execute(Command::ShInfo { tkn: Some(t) }, t0 + 2_100) {
        Outcome::Info(info) => {
            assert_eq!(info.key_count, 0);
            let (_, remaining) = info.expiry.expect("expires");
            // Re-armed at t = 2.1 s to 4.1 s: 2 s left (1 or 2 allowed by §9.8).
            assert_eq!(remaining, 2);
        }
        other => panic!("{other:?}"),
    }

    // With deleteSession: gone at exactly t = 2.0 s, without the sweep.
    let d = new_session(&st, Some(expiring(2, true)), t0);
    assert_eq!(
        st.execute(
            Command::ShGet {
                tkn: Some(d),
                keys: vec![]
            },
            t0 + 1_999
        ),
        Outcome::Values(vec![])
    );
    assert_eq!(
        st.execute(
            Command::ShGet {
                tkn: Some(d),
                keys: vec![]
            },
            t0 + 2_000
        ),
        Outcome::NoSession { tkn: Some(d) }
    );
    assert_eq!(
        st.execute(Command::ShExists { tkns: vec![d, t] }, t0 + 2_000),
        Outcome::Exist(vec![t])
    );
}

#[test]
fn due_sessions_are_counted_correctly_everywhere() {
    let st = store();
    let now = 10_000;
    let gone = new_session(&st, Some(expiring(1, true)), now);
    let emptied = new_session(&st, Some(expiring(1, false)), now);
    let kept = new_session(&st, None, now);
    for t in [gone, emptied, kept] {
        st.execute(
            Command::ShSet {
                tkn: Some(t),
                keys: entries(&[("k", "1"), ("l", "2")]),
            },
            now,
        );
    }
    let later = now + 1_000;
    assert_eq!(
        st.execute(Command::ShInfoAll, later),
        Outcome::InfoAll {
            sessions: 2,
            keys: 2
        }
    );
    assert_eq!(
        st.execute(Command::Stats, later),
        Outcome::Stats {
            sessions: 2,
            keys: 2
        }
    );
    assert_eq!(
        st.execute(
            Command::ShExists {
                tkns: vec![gone, emptied, kept]
            },
            later
        ),
        Outcome::Exist(vec![emptied, kept])
    );
    let snap: Vec<_> = (0..st.shard_count())
        .flat_map(|i| st.snapshot_shard(i, later, None))
        .collect();
    assert_eq!(snap.len(), 2);
    let e = snap
        .iter()
        .find(|r| r.tkn == emptied)
        .expect("emptied saved");
    assert!(e.keys.is_empty());
    assert_eq!(e.deadline_ms, later + 1_000);
    assert_eq!(st.execute(Command::ShEndAll, later), Outcome::Count(2));
}

#[test]
fn extension_rules_of_section_9_5() {
    let st = store();
    let t0 = 0;
    let mk = |set_add: bool, get: bool| {
        new_session(
            &st,
            Some(Expiry {
                duration_secs: 10,
                delete_session: true,
                extend_on_set_add: set_add,
                extend_on_get: get,
            }),
            t0,
        )
    };
    let remaining = |t: Token, now: u64| match st.execute(Command::ShInfo { tkn: Some(t) }, now) {
        Outcome::Info(i) => i.expiry.map(|(_, r)| r),
        other => panic!("{other:?}"),
    };
    let on_get = mk(false, true);
    let on_set = mk(true, false);
    let never = mk(false, false);
    let at = 8_000;
    // SH_GET of keys that do not exist still extends.
    st.execute(
        Command::ShGet {
            tkn: Some(on_get),
            keys: keys(&["nope"]),
        },
        at,
    );
    st.execute(
        Command::ShAdd {
            tkn: Some(on_set),
            keys: vec![],
        },
        at,
    );
    // None of these extend.
    for t in [on_get, on_set, never] {
        st.execute(
            Command::ShClearSet {
                tkn: Some(t),
                keys: entries(&[("a", "1")]),
            },
            at,
        );
        st.execute(
            Command::ShContains {
                tkn: Some(t),
                keys: keys(&["a"]),
            },
            at,
        );
        st.execute(Command::ShInfo { tkn: Some(t) }, at);
    }
    st.execute(
        Command::ShGet {
            tkn: Some(on_set),
            keys: vec![],
        },
        at,
    );
    st.execute(
        Command::ShSet {
            tkn: Some(on_get),
            keys: vec![],
        },
        at,
    );
    assert_eq!(remaining(on_get, at), Some(10));
    assert_eq!(remaining(on_set, at), Some(10));
    assert_eq!(remaining(never, at), Some(2));
    // Extension replaces the deadline: both live past the original 10 s, until 18 s.
    assert_eq!(
        st.execute(
            Command::ShExists {
                tkns: vec![on_get, on_set, never]
            },
            10_000
        ),
        Outcome::Exist(vec![on_get, on_set])
    );
    assert_eq!(
        st.execute(
            Command::ShExists {
                tkns: vec![on_get, on_set]
            },
            18_000
        ),
        Outcome::Exist(vec![])
    );
}

#[test]
fn shared_name_of_a_due_session_is_free_again() {
    let st = store();
    let mk = |del: bool, now: u64| {
        st.execute(
            Command::ShNew {
                expiry: Some(expiring(1, del)),
                name: Some(Cow::Borrowed("team/42")),
                shared: true,
            },
            now,
        )
    };
    assert_eq!(
        mk(true, 0),
        Outcome::Created {
            tkn: 2556186590011935489
        }
    );
    assert_eq!(mk(true, 999), Outcome::NameTaken);
    assert_eq!(
        mk(false, 1_000),
        Outcome::Created {
            tkn: 2556186590011935489
        }
    );
    // Due without deleteSession: still live (emptied), so the name stays taken.
    assert_eq!(mk(false, 5_000), Outcome::NameTaken);
    assert_eq!(
        st.execute(
            Command::ShOpen {
                name: Cow::Borrowed("team/42")
            },
            9_000
        ),
        Outcome::Opened {
            tkn: 2556186590011935489
        }
    );
}

#[test]
fn sweep_reclaims_due_sessions_and_rearms_the_others() {
    let st = store();
    let gone: Vec<Token> = (0..100)
        .map(|_| new_session(&st, Some(expiring(1, true)), 0))
        .collect();
    let kept: Vec<Token> = (0..50)
        .map(|_| new_session(&st, Some(expiring(1, false)), 0))
        .collect();
    for &t in &kept {
        st.execute(
            Command::ShSet {
                tkn: Some(t),
                keys: entries(&[("a", "1")]),
            },
            0,
        );
    }
    let extended = new_session(
        &st,
        Some(Expiry {
            duration_secs: 1,
            delete_session: true,
            extend_on_get: true,
            extend_on_set_add: false,
        }),
        0,
    );
    st.execute(
        Command::ShGet {
            tkn: Some(extended),
            keys: vec![],
        },
        900,
    );
    assert_eq!(st.sweep_expired(999), 0);
    assert_eq!(st.sweep_expired(1_000), 150);
    assert_eq!(st.session_count_estimate(), 51);
    // The re-armed ones come due again at 2 s; the extended one at 1.9 s.
    assert_eq!(st.sweep_expired(1_899), 0);
    assert_eq!(st.sweep_expired(1_900), 1);
    assert_eq!(st.sweep_expired(2_000), 50);
    assert_eq!(st.session_count_estimate(), 50);
    let _ = gone;
}

#[test]
fn ended_sessions_leave_no_stale_work_for_the_sweep() {
    let st = store();
    for _ in 0..3_000 {
        let t = new_session(&st, Some(expiring(1, true)), 0);
        st.execute(Command::ShEnd { tkn: Some(t) }, 0);
    }
    assert_eq!(st.sweep_expired(5_000), 0);
    assert_eq!(st.stored_bytes(), 0);
}

#[test]
fn a_bulk_load_across_threads_keeps_the_first_record_of_a_token() {
    // 5,000 records (several load batches, so prepared on several threads when there are
    // cores for it), tokens 1..=4,000, then tokens 1..=1,000 again with other values: the
    // earlier record of each token wins, as in a dataset read in file order.
    let record = |tkn: Token, value: &str| sessiondb_core::SessionRecord {
        tkn,
        shared: false,
        name: None,
        expiry: Expiry::default(),
        deadline_ms: u64::MAX,
        key_deadlines: Vec::new(),
        keys: vec![("k".to_owned(), v(value))],
        owner: None,
        ver: 1,
        ver_shown: false,
    };
    let mut records: Vec<_> = (1..=4_000).map(|t| record(t, "\"first\"")).collect();
    records.extend((1..=1_000).map(|t| record(t, "\"second\"")));
    let st = store();
    let created = st.load_sessions(records, 0, sessiondb_core::Arming::FromDuration);
    assert_eq!(created, (4_000, 4_000));
    for tkn in [1, 500, 1_000, 1_001, 4_000] {
        assert_eq!(
            st.execute(
                Command::ShGet {
                    tkn: Some(tkn),
                    keys: keys(&["k"])
                },
                0
            ),
            Outcome::Values(vec![(0, v("\"first\""))]),
            "token {tkn}"
        );
    }
}

#[test]
fn kv_keys_lists_in_insertion_order() {
    let st = store();
    let names: Vec<String> = (0..20_000).map(|i| format!("key:{}", 19_999 - i)).collect();
    let all: Vec<(Cow<'static, str>, Value)> = names
        .iter()
        .map(|k| (Cow::Owned(k.clone()), v("1")))
        .collect();
    assert_eq!(st.execute(Command::KvSet(all), 0), Outcome::Done);
    assert_eq!(
        st.execute(Command::KvKeys, 0),
        Outcome::KeyList(names.clone())
    );
    // An overwrite keeps the order; a removed key that is added again comes last.
    st.execute(Command::KvSet(entries(&[("key:5", "2")])), 0);
    st.execute(Command::KvRmv(keys(&["key:19999"])), 0);
    st.execute(Command::KvAdd(entries(&[("key:19999", "3")])), 0);
    let mut want = names[1..].to_vec();
    want.push(names[0].clone());
    assert_eq!(
        st.execute(Command::KvKeys, 0),
        Outcome::KeyList(want.clone())
    );
    // Saves and the journal's snapshot copy in the same order, so a load keeps it.
    let saved = st.snapshot_kv();
    let saved_keys: Vec<String> = saved.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(saved_keys, want);
    let loaded = store();
    loaded.kv_load(saved);
    assert_eq!(loaded.execute(Command::KvKeys, 0), Outcome::KeyList(want));
}
