//! Datasets on disk (docs/PROTOCOL.md §13): NemesisDB fixtures, round trips, the 10 MiB split,
//! malformed files and the directory layout.

use std::fs;
use std::path::{Path, PathBuf};

use sessiondb_core::persist::{
    read_dataset, Dataset, DatasetWriter, LoadError, SaveKind, SessionView,
};
use sessiondb_core::{Expiry, Value};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/nemesisdb-0.8"
);

/// Copies a directory tree (the fixtures are read-only in CI; tests work on a copy).
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create copy dir");
    for entry in fs::read_dir(from).expect("read fixture dir") {
        let entry = entry.expect("fixture entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy fixture file");
        }
    }
}

fn fixture_root() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    copy_tree(Path::new(FIXTURES), &root);
    (dir, root)
}

fn keys_of(d: Dataset) -> Vec<(String, Value)> {
    match d {
        Dataset::Keys(k) => k,
        Dataset::Sessions(_) => panic!("expected a top-level key dataset"),
    }
}

fn sessions_of(d: Dataset) -> Vec<sessiondb_core::persist::LoadedSession> {
    match d {
        Dataset::Sessions(s) => s,
        Dataset::Keys(_) => panic!("expected a session dataset"),
    }
}

fn get<'a>(keys: &'a [(String, Value)], k: &str) -> &'a str {
    keys.iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.as_json())
        .unwrap_or("<absent>")
}

#[test]
fn fixture_kv_basic_loads_every_key_with_exact_values() {
    let (_tmp, root) = fixture_root();
    let keys = keys_of(read_dataset(&root, "kv_basic", Some(SaveKind::Keys)).expect("load"));
    // The fixture README says 11, but the data file NemesisDB wrote holds 10 keys (checked with
    // an independent JSON parser); the file, not the README, is what a load must reproduce.
    let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "active", "address", "age", "big", "emoji", "neg", "nothing", "ratio", "tags",
            "username"
        ]
    );
    assert_eq!(get(&keys, "age"), "35");
    assert_eq!(get(&keys, "username"), r#""billy""#);
    assert_eq!(get(&keys, "big"), "18446744073709551615");
    assert_eq!(get(&keys, "neg"), "-42");
    assert_eq!(get(&keys, "ratio"), "0.25");
    assert_eq!(get(&keys, "nothing"), "null");
    assert_eq!(get(&keys, "active"), "true");
    assert_eq!(get(&keys, "emoji"), r#""café ☕ \"quoted\" back\\slash""#);
    assert_eq!(get(&keys, "tags"), r#"["a","b",1,2.5,false]"#);
    assert_eq!(
        get(&keys, "address"),
        r#"{"city":"Paris","lines":["1 rue de l'Été","étage 3"],"zip":"75001"}"#
    );
}

#[test]
fn fixture_sessions_basic_loads_4_sessions_8_keys() {
    let (_tmp, root) = fixture_root();
    let sessions =
        sessions_of(read_dataset(&root, "sessions_basic", Some(SaveKind::Sessions)).expect("load"));
    assert_eq!(sessions.len(), 4);
    assert_eq!(sessions.iter().map(|s| s.keys.len()).sum::<usize>(), 8);
    let by_tkn = |t: u64| {
        sessions
            .iter()
            .find(|s| s.tkn == t)
            .expect("session present")
    };
    let alice = by_tkn(9725312121568210455);
    assert_eq!(alice.expiry, Expiry::default());
    assert_eq!(get(&alice.keys, "user"), r#""alice""#);
    assert_eq!(get(&alice.keys, "total"), "31.5");
    assert_eq!(
        get(&alice.keys, "cart"),
        r#"[{"qty":2,"sku":"A1"},{"qty":1,"sku":"B7"}]"#
    );
    let otp = by_tkn(12225225859602901779);
    assert_eq!(
        otp.expiry,
        Expiry {
            duration_secs: 3600,
            delete_session: true,
            extend_on_set_add: false,
            extend_on_get: true
        }
    );
    assert_eq!(get(&otp.keys, "otp"), r#""493021""#);
    let driver = by_tkn(11815477494831140250);
    assert_eq!(
        driver.expiry,
        Expiry {
            duration_secs: 600,
            delete_session: false,
            extend_on_set_add: true,
            extend_on_get: false
        }
    );
    assert_eq!(get(&driver.keys, "pos"), r#"{"lat":51.5072,"lon":-0.1276}"#);
    let empty = by_tkn(15649486132279488223);
    assert!(empty.keys.is_empty());
    assert!(sessions.iter().all(|s| !s.shared && s.name.is_none()));
}

#[test]
fn fixture_sessions_selected_loads_2_sessions_6_keys() {
    let (_tmp, root) = fixture_root();
    let sessions = sessions_of(read_dataset(&root, "sessions_selected", None).expect("load"));
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().map(|s| s.keys.len()).sum::<usize>(), 6);
    assert_eq!(sessions[0].tkn, 9725312121568210455);
    assert_eq!(sessions[1].tkn, 11815477494831140250);
}

#[test]
fn fixture_sessions_large_loads_30000_sessions_across_two_files() {
    let (_tmp, root) = fixture_root();
    let sessions =
        sessions_of(read_dataset(&root, "sessions_large", Some(SaveKind::Sessions)).expect("load"));
    assert_eq!(sessions.len(), 30000);
    assert_eq!(sessions.iter().map(|s| s.keys.len()).sum::<usize>(), 90000);
    // Files are read in numeric order, so k2 counts up from 0 across both files.
    for (i, s) in sessions.iter().enumerate() {
        assert_eq!(get(&s.keys, "k2"), i.to_string());
        assert_eq!(get(&s.keys, "k3"), format!("{{\"i\":{i}}}"));
    }
    assert_eq!(
        get(&sessions[0].keys, "k1"),
        format!("\"{}\"", "x".repeat(200))
    );
}

#[test]
fn wrong_kind_and_missing_datasets_are_unavailable() {
    let (_tmp, root) = fixture_root();
    for (name, want) in [
        ("kv_basic", SaveKind::Sessions),
        ("sessions_basic", SaveKind::Keys),
        ("no_such_set", SaveKind::Keys),
    ] {
        let err = read_dataset(&root, name, Some(want)).expect_err("must not load");
        assert!(matches!(err, LoadError::Unavailable(_)), "{name}: {err}");
    }
}

fn write_keys(root: &Path, name: &str, keys: &[(String, Value)]) -> PathBuf {
    let mut w = DatasetWriter::begin(root, name, SaveKind::Keys, 1000).expect("begin");
    for (k, v) in keys {
        w.push_key(k, v).expect("push");
    }
    w.finish(1001).expect("finish")
}

#[test]
fn keys_round_trip_with_escaped_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys: Vec<(String, Value)> = [
        ("say \"hi\"", r#""quoted key""#),
        ("back\\slash", "1"),
        ("", "null"),
        ("ctl\u{1}\n", r#"{"b":1,"a":[true,2.5]}"#),
        ("é☕", r#""\u00e9""#),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), Value::from_json_unchecked(v)))
    .collect();
    let dir_path = write_keys(dir.path(), "kv-1", &keys);
    let md = fs::read_to_string(dir_path.join("md/md.json")).expect("md");
    assert_eq!(
        md,
        r#"{"name":"kv-1","version":2,"saveDataType":0,"status":1,"start":1000,"complete":1001}"#
    );
    let back = keys_of(read_dataset(dir.path(), "kv-1", Some(SaveKind::Keys)).expect("load"));
    assert_eq!(back.len(), keys.len());
    for ((k1, v1), (k2, v2)) in keys.iter().zip(&back) {
        assert_eq!(k1, k2);
        // Values are re-minified on load; these are already minified except the \u escape.
        if k1 != "é☕" {
            assert_eq!(v1, v2);
        }
    }
    // The staging area is left empty.
    assert_eq!(
        fs::read_dir(dir.path().join(".sessiondb-tmp"))
            .expect("tmp")
            .count(),
        0
    );
}

#[test]
fn sessions_round_trip_and_exact_file_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = vec![
        ("a".to_owned(), Value::from_json_unchecked("10")),
        ("b".to_owned(), Value::from_json_unchecked("\"x\"")),
    ];
    let exp = Expiry {
        duration_secs: 3600,
        delete_session: true,
        extend_on_set_add: false,
        extend_on_get: true,
    };
    let mut w = DatasetWriter::begin(dir.path(), "s", SaveKind::Sessions, 5).expect("begin");
    w.push_session(&SessionView {
        tkn: 7240150325839177245,
        shared: false,
        name: None,
        expiry: Expiry::default(),
        keys: &keys,
        owner: None,
        ver: None,
    })
    .expect("push");
    w.push_session(&SessionView {
        tkn: 15900886249489855254,
        shared: true,
        name: Some("settings"),
        expiry: exp,
        keys: &[],
        owner: None,
        ver: None,
    })
    .expect("push");
    let path = w.finish(7).expect("finish");
    let data = fs::read_to_string(path.join("data/0")).expect("data");
    assert_eq!(
        data,
        concat!(
            r#"[{"keys":{"a":10,"b":"x"},"sh":{"tkn":7240150325839177245,"shared":false,"expiry":{"duration":0,"deleteSession":false,"extendOnSetAdd":false,"extendOnGet":false}}},"#,
            r#"{"keys":{},"sh":{"tkn":15900886249489855254,"shared":true,"name":"settings","expiry":{"duration":3600,"deleteSession":true,"extendOnSetAdd":false,"extendOnGet":true}}}]"#
        )
    );
    let back = sessions_of(read_dataset(dir.path(), "s", Some(SaveKind::Sessions)).expect("load"));
    assert_eq!(back.len(), 2);
    assert_eq!(back[0].keys, keys);
    assert_eq!(back[1].name.as_deref(), Some("settings"));
    assert!(back[1].shared);
    assert_eq!(back[1].expiry, exp);
}

#[test]
fn empty_save_has_an_empty_data_dir_and_loads_as_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_keys(dir.path(), "empty", &[]);
    assert!(path.join("data").is_dir());
    assert_eq!(fs::read_dir(path.join("data")).expect("data").count(), 0);
    assert_eq!(
        keys_of(read_dataset(dir.path(), "empty", None).expect("load")),
        vec![]
    );
}

#[test]
fn files_split_after_the_entry_that_reaches_10_mib() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 1 KiB values: ~10,250 entries per file, so 25,000 entries make three files.
    let value = Value::from_json_unchecked(&format!("\"{}\"", "v".repeat(1022)));
    let keys: Vec<(String, Value)> = (0..25_000)
        .map(|i| (format!("k{i:06}"), value.clone()))
        .collect();
    let path = write_keys(dir.path(), "big", &keys);
    let sizes: Vec<u64> = (0..3)
        .map(|i| {
            fs::metadata(path.join(format!("data/{i}")))
                .expect("data file")
                .len()
        })
        .collect();
    assert!(!path.join("data/3").exists());
    let limit = 10 * 1024 * 1024;
    let entry = 1 + 9 + 1024; // comma, "k000000":, value
    for size in &sizes[..2] {
        // Closed after the entry that reached the limit: at most one entry (plus "}}") over.
        assert!(
            *size >= limit && *size < limit + entry as u64 + 2,
            "size {size}"
        );
    }
    assert!(sizes[2] < limit);
    let back = keys_of(read_dataset(dir.path(), "big", None).expect("load"));
    assert_eq!(back.len(), 25_000);
    assert_eq!(back[24_999].0, "k024999");
}

#[test]
fn newest_timestamp_wins_and_timestamps_increase() {
    let dir = tempfile::tempdir().expect("tempdir");
    let one = [("a".to_owned(), Value::from_json_unchecked("1"))];
    let two = [("a".to_owned(), Value::from_json_unchecked("2"))];
    let first = write_keys(dir.path(), "ds", &one);
    // A directory far in the future forces the next save above it.
    fs::create_dir_all(dir.path().join("ds/99999999999999999999/md")).expect("mk");
    fs::create_dir_all(dir.path().join("ds/99999999999999999999/data")).expect("mk");
    fs::write(
        dir.path().join("ds/99999999999999999999/md/md.json"),
        r#"{"status":1,"saveDataType":0}"#,
    )
    .expect("w");
    let second = write_keys(dir.path(), "ds", &two);
    let ts = |p: &Path| {
        p.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .parse::<u128>()
            .unwrap_or(0)
    };
    assert!(ts(&first) < ts(&second));
    assert_eq!(ts(&second), 100000000000000000000);
    assert!(first.is_dir(), "older saves are never deleted");
    let back = keys_of(read_dataset(dir.path(), "ds", None).expect("load"));
    assert_eq!(back[0].1.as_json(), "2");
}

fn dataset_with(root: &Path, name: &str, md: &str, files: &[(&str, &str)]) {
    let save = root.join(name).join("123");
    fs::create_dir_all(save.join("md")).expect("mk");
    fs::create_dir_all(save.join("data")).expect("mk");
    fs::write(save.join("md/md.json"), md).expect("md");
    for (f, text) in files {
        fs::write(save.join("data").join(f), text).expect("data");
    }
}

const SH_MD: &str = r#"{"status":1,"saveDataType":1}"#;

#[test]
fn malformed_session_files_refuse_the_whole_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("notjson", "[{"),
        ("notarray", "{}"),
        ("tkn0", r#"[{"sh":{"tkn":0}}]"#),
        ("tknneg", r#"[{"sh":{"tkn":-1}}]"#),
        ("tknfloat", r#"[{"sh":{"tkn":1.0}}]"#),
        ("tkntoobig", r#"[{"sh":{"tkn":18446744073709551616}}]"#),
        ("shnotobj", r#"[{"sh":5}]"#),
        ("sharedstr", r#"[{"sh":{"tkn":1,"shared":"yes"}}]"#),
        ("namenum", r#"[{"sh":{"tkn":1,"name":3}}]"#),
        ("expnoduration", r#"[{"sh":{"tkn":1,"expiry":{}}}]"#),
        (
            "expflag",
            r#"[{"sh":{"tkn":1,"expiry":{"duration":1,"deleteSession":1}}}]"#,
        ),
        ("trailing", r#"[] []"#),
        (
            "deep",
            &format!(
                "[{{\"keys\":{{\"v\":{}{}}},\"sh\":{{\"tkn\":1}}}}]",
                "[".repeat(126),
                "]".repeat(126)
            ),
        ),
    ];
    for (name, text) in cases {
        // A good first file must not be returned when a later one is bad.
        dataset_with(
            dir.path(),
            name,
            SH_MD,
            &[("0", r#"[{"sh":{"tkn":5}}]"#), ("1", text)],
        );
        let err = read_dataset(dir.path(), name, Some(SaveKind::Sessions)).expect_err(name);
        assert!(err.is_malformed(), "{name}: {err}");
    }
}

#[test]
fn lenient_session_records_load_with_defaults() {
    let dir = tempfile::tempdir().expect("tempdir");
    let depth_ok = format!(
        "[{{\"keys\":{{\"v\":{}{}}},\"sh\":{{\"tkn\":9}}}}]",
        "[".repeat(125),
        "]".repeat(125)
    );
    dataset_with(
        dir.path(),
        "lenient",
        SH_MD,
        &[
            (
                "0",
                r#"[1, "x", {"keys":{"a":1}}, {"sh":{"tkn":3}}, {"keys":[1],"sh":{"tkn":4,"expiry":{"duration":0,"deleteSession":true}}}]"#,
            ),
            ("10", &depth_ok),
            (
                "2",
                r#"[{"sh":{"tkn":2,"shared":true,"name":"n","expiry":{"duration":5}},"keys":{"k":"v"},"extra":1}]"#,
            ),
            ("notes.txt", "ignored"),
        ],
    );
    let sessions = sessions_of(read_dataset(dir.path(), "lenient", None).expect("load"));
    let tkns: Vec<u64> = sessions.iter().map(|s| s.tkn).collect();
    // Numeric file order: 0, 2, 10.
    assert_eq!(tkns, vec![3, 4, 2, 9]);
    assert!(sessions[0].keys.is_empty());
    assert_eq!(
        sessions[1].expiry,
        Expiry::default(),
        "flags of a never-expiring session are discarded"
    );
    assert!(sessions[1].keys.is_empty());
    assert_eq!(sessions[2].expiry.duration_secs, 5);
    assert!(!sessions[2].expiry.delete_session);
    assert_eq!(sessions[2].keys.len(), 1);
}

#[test]
fn metadata_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    dataset_with(
        dir.path(),
        "pending",
        r#"{"status":0,"saveDataType":1}"#,
        &[],
    );
    dataset_with(
        dir.path(),
        "unknown",
        r#"{"status":1,"saveDataType":2}"#,
        &[],
    );
    dataset_with(dir.path(), "notobj", r#"[1]"#, &[]);
    dataset_with(
        dir.path(),
        "strstatus",
        r#"{"status":"1","saveDataType":1}"#,
        &[],
    );
    for name in ["pending", "unknown", "notobj", "strstatus"] {
        let err = read_dataset(dir.path(), name, None).expect_err(name);
        assert!(matches!(err, LoadError::Unavailable(_)), "{name}: {err}");
    }
    // No data directory.
    fs::create_dir_all(dir.path().join("nodata/5/md")).expect("mk");
    fs::write(dir.path().join("nodata/5/md/md.json"), SH_MD).expect("md");
    assert!(read_dataset(dir.path(), "nodata", None).is_err());
    // Only the newest save counts, even when it is unusable.
    dataset_with(dir.path(), "older", SH_MD, &[]);
    fs::create_dir_all(dir.path().join("older/1000/md")).expect("mk");
    assert!(read_dataset(dir.path(), "older", None).is_err());
    // Non-digit entries are ignored.
    dataset_with(dir.path(), "mixed", SH_MD, &[]);
    fs::create_dir_all(dir.path().join("mixed/99x")).expect("mk");
    fs::write(dir.path().join("mixed/999"), "a file, not a dir").expect("w");
    assert_eq!(
        sessions_of(read_dataset(dir.path(), "mixed", None).expect("load")),
        vec![]
    );
}

#[test]
fn kv_file_without_keys_object_contributes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let md = r#"{"status":1,"saveDataType":0}"#;
    dataset_with(
        dir.path(),
        "kv",
        md,
        &[
            ("0", r#"{"other":1}"#),
            ("1", r#"{"keys":[1]}"#),
            ("2", r#"{"keys":{"a":1}}"#),
        ],
    );
    assert_eq!(
        keys_of(read_dataset(dir.path(), "kv", None).expect("load")).len(),
        1
    );
    dataset_with(dir.path(), "kvbad", md, &[("0", "[]")]);
    assert!(read_dataset(dir.path(), "kvbad", None)
        .expect_err("array")
        .is_malformed());
}

#[test]
fn progress_is_reported_once_per_data_file() {
    let (_tmp, root) = fixture_root();
    let calls = std::sync::Mutex::new(Vec::new());
    let record = |done: usize, total: usize| {
        calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((done, total));
    };
    sessiondb_core::persist::read_dataset_with_progress(&root, "sessions_large", None, &record)
        .expect("load");
    let mut seen = calls.into_inner().unwrap_or_else(|p| p.into_inner());
    seen.sort_unstable();
    assert_eq!(seen, vec![(1, 2), (2, 2)]);
}
