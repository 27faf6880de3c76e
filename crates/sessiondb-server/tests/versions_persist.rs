//! Versions and owners survive a restart (docs/PROTOCOL.md E10, E11): the journal after kill -9
//! with `--fsync always`, a compaction snapshot, and a dataset saved and loaded again, whose
//! files carry `sh.ver` and `sh.owner` only where a session has them.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::binary::start;
use common::{connect_url, exact, request, token, TestServer, Ws, HANG_GUARD};

/// Three sessions: `alice`'s at version 4 (shown), `alice`'s untouched one, and one without
/// owner at version 3 whose version no reply has carried. Returns their tokens.
async fn populate(ws: &mut Ws) -> [u64; 3] {
    let a = token(&request(ws, r#"{"SH_NEW":{"owner":"alice","name":"laptop"}}"#).await);
    let b = token(&request(ws, r#"{"SH_NEW":{"owner":"alice"}}"#).await);
    let c = token(&request(ws, r#"{"SH_NEW":{}}"#).await);
    for (t, n) in [(a, 3), (c, 2)] {
        for i in 0..n {
            exact(
                ws,
                &format!(r#"{{"SH_SET":{{"tkn":{t},"keys":{{"k{i}":{i}}}}}}}"#),
                r#"{"SH_SET_RSP":{"st":1}}"#,
            )
            .await;
        }
    }
    exact(
        ws,
        &format!(r#"{{"SH_RMV":{{"tkn":{a},"keys":["k0"],"withVer":true}}}}"#),
        r#"{"SH_RMV_RSP":{"st":1,"ver":5}}"#,
    )
    .await;
    [a, b, c]
}

/// Asserts what [`populate`] made is there: versions, owners, names and the index.
async fn check_populated(ws: &mut Ws, [a, b, c]: [u64; 3], c_ver: u32) {
    exact(
        ws,
        &format!(r#"{{"SH_INFO":{{"tkn":{a},"withVer":true}}}}"#),
        &format!(
            r#"{{"SH_INFO_RSP":{{"st":1,"tkn":{a},"shared":false,"keyCnt":2,"expires":false,"name":"laptop","owner":"alice","ver":5}}}}"#
        ),
    )
    .await;
    exact(
        ws,
        &format!(r#"{{"SH_INFO":{{"tkn":{b},"ifVer":1}}}}"#),
        &format!(
            r#"{{"SH_INFO_RSP":{{"st":1,"tkn":{b},"shared":false,"keyCnt":0,"expires":false,"owner":"alice","ver":1}}}}"#
        ),
    )
    .await;
    exact(
        ws,
        &format!(r#"{{"SH_COUNT":{{"tkn":{c},"withVer":true}}}}"#),
        &format!(r#"{{"SH_COUNT_RSP":{{"st":1,"cnt":2,"ver":{c_ver}}}}}"#),
    )
    .await;
    let mut alice = [a, b];
    alice.sort_unstable();
    exact(
        ws,
        r#"{"SH_OWNER_LIST":{"owner":"alice"}}"#,
        &format!(
            r#"{{"SH_OWNER_LIST_RSP":{{"st":1,"owner":"alice","tkns":[{},{}]}}}}"#,
            alice[0], alice[1]
        ),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_and_owners_survive_kill9_and_a_compaction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = start(&data, &["--fsync", "always"]);
    let mut ws = connect_url(&server.url()).await;
    let tokens = populate(&mut ws).await;
    server.kill9();

    // Replayed from the journal: every version exact, shown or not.
    let server = start(
        &data,
        &["--fsync", "always", "--journal-compact-bytes", "1"],
    );
    let mut ws = connect_url(&server.url()).await;
    check_populated(&mut ws, tokens, 3).await;
    // A write after the restart goes on from the recovered version.
    exact(
        &mut ws,
        &format!(
            r#"{{"SH_SET":{{"tkn":{},"keys":{{"z":0}},"ifVer":5}}}}"#,
            tokens[0]
        ),
        r#"{"SH_SET_RSP":{"st":1,"ver":6}}"#,
    )
    .await;
    exact(
        &mut ws,
        &format!(
            r#"{{"SH_RMV":{{"tkn":{},"keys":["z"],"ifVer":6}}}}"#,
            tokens[0]
        ),
        r#"{"SH_RMV_RSP":{"st":1,"ver":7}}"#,
    )
    .await;
    // With a compaction threshold of one byte the journal compacts as it goes; once its
    // snapshot is there, the versions come back from it and what followed.
    let started = std::time::Instant::now();
    while !has_snapshot(&data) {
        assert!(
            started.elapsed() < HANG_GUARD,
            "no compaction snapshot was written"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    server.kill9();
    let server = start(&data, &["--fsync", "always"]);
    let mut ws = connect_url(&server.url()).await;
    // The versions were shown, so they come back exact across the compaction's snapshot.
    exact(
        &mut ws,
        &format!(r#"{{"SH_KEYS":{{"tkn":{},"withVer":true}}}}"#, tokens[0]),
        r#"{"SH_KEYS_RSP":{"st":1,"keys":["k2","k1"],"ver":7}}"#,
    )
    .await;
    exact(
        &mut ws,
        r#"{"SH_OWNER_END":{"owner":"alice"}}"#,
        r#"{"SH_OWNER_END_RSP":{"st":1,"owner":"alice","cnt":2}}"#,
    )
    .await;
    server.kill9();
    let server = start(&data, &["--fsync", "always"]);
    let mut ws = connect_url(&server.url()).await;
    exact(
        &mut ws,
        r#"{"SH_OWNER_LIST":{"owner":"alice"}}"#,
        r#"{"SH_OWNER_LIST_RSP":{"st":1,"owner":"alice","tkns":[]}}"#,
    )
    .await;
    exact(
        &mut ws,
        r#"{"SH_INFO_ALL":{}}"#,
        r#"{"SH_INFO_ALL_RSP":{"st":1,"totalSessions":1,"totalKeys":2}}"#,
    )
    .await;
    server.kill9();
}

/// Whether the journal in `data` has a compaction snapshot.
fn has_snapshot(data: &Path) -> bool {
    fs::read_dir(data.join(".journal"))
        .map(|entries| {
            entries.filter_map(Result::ok).any(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.starts_with("snap-") && name.ends_with(".log")
            })
        })
        .unwrap_or(false)
}

/// The data files of the newest save of dataset `name` under `root`, concatenated.
fn saved_text(root: &Path, name: &str) -> String {
    let mut saves: Vec<PathBuf> = fs::read_dir(root.join(name))
        .expect("dataset dir")
        .map(|e| e.expect("entry").path())
        .collect();
    saves.sort();
    let newest = saves.last().expect("a save");
    fs::read_to_string(newest.join("data/0")).expect("data file")
}

#[tokio::test]
async fn a_dataset_keeps_owners_and_shown_versions_only() {
    let (server, mut ws) = TestServer::start_connected().await;
    let root = server.dir.path().join("data");
    let [a, b, c] = populate(&mut ws).await;
    let saved = request(&mut ws, r#"{"SH_SAVE":{"name":"v"}}"#).await;
    assert_eq!(saved["SH_SAVE_RSP"]["st"], 121, "{saved}");
    let text = saved_text(&root, "v");
    let records: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let sh = |t: u64| {
        records
            .as_array()
            .expect("array")
            .iter()
            .find(|r| r["sh"]["tkn"] == t)
            .map(|r| r["sh"].clone())
            .expect("record")
    };
    // Owners where set; a version only where a reply carried it.
    assert_eq!(sh(a)["owner"], "alice");
    assert_eq!(sh(a)["ver"], 5);
    assert_eq!(sh(b)["owner"], "alice");
    assert!(sh(b).get("ver").is_none(), "{text}");
    // A session without owner whose version nobody asked for is written as the base protocol
    // writes it, byte for byte.
    let c_record = format!(
        r#"{{"keys":{{"k0":0,"k1":1}},"sh":{{"tkn":{c},"shared":false,"expiry":{{"duration":0,"deleteSession":false,"extendOnSetAdd":false,"extendOnGet":false}}}}}}"#
    );
    assert!(text.contains(&c_record), "{text}");

    exact(
        &mut ws,
        r#"{"SH_END_ALL":{}}"#,
        r#"{"SH_END_ALL_RSP":{"st":1,"cnt":3}}"#,
    )
    .await;
    exact(
        &mut ws,
        r#"{"SH_OWNER_LIST":{"owner":"alice"}}"#,
        r#"{"SH_OWNER_LIST_RSP":{"st":1,"owner":"alice","tkns":[]}}"#,
    )
    .await;
    exact(
        &mut ws,
        r#"{"SH_LOAD":{"name":"v"}}"#,
        r#"{"SH_LOAD_RSP":{"st":141,"name":"v","sessions":3,"keys":4}}"#,
    )
    .await;
    // The unshown version starts again at 1: no client ever held it.
    check_populated(&mut ws, [a, b, c], 1).await;

    // A malformed `sh.ver` or `sh.owner` makes the dataset malformed (142), nothing loaded.
    for (name, sh) in [
        ("badver", r#"{"tkn":9,"ver":0}"#),
        ("bigver", r#"{"tkn":9,"ver":4294967296}"#),
        ("badowner", r#"{"tkn":9,"owner":""}"#),
        ("numowner", r#"{"tkn":9,"owner":1}"#),
    ] {
        let save = root.join(name).join("100");
        fs::create_dir_all(save.join("md")).expect("mkdir");
        fs::create_dir_all(save.join("data")).expect("mkdir");
        fs::write(save.join("md/md.json"), r#"{"status":1,"saveDataType":1}"#).expect("md");
        fs::write(save.join("data/0"), format!(r#"[{{"sh":{sh}}}]"#)).expect("data");
        exact(
            &mut ws,
            &format!(r#"{{"SH_LOAD":{{"name":"{name}"}}}}"#),
            &format!(r#"{{"SH_LOAD_RSP":{{"st":142,"name":"{name}","sessions":0,"keys":0}}}}"#),
        )
        .await;
    }
    exact(
        &mut ws,
        r#"{"SH_EXISTS":{"tkns":[9]}}"#,
        r#"{"SH_EXISTS_RSP":{"st":1,"exist":[]}}"#,
    )
    .await;
}
