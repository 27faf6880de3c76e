//! Datasets and the journal through the real server (docs/PROTOCOL.md §10.10–§10.11, §11.9–§11.10,
//! §13, §15.2): exact replies, the on-disk layout, NemesisDB fixtures, startup loads, and state
//! (deadlines included) surviving a restart.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{expect, request, saves, script, TestServer, SAVES_WITHOUT_PERSISTENCE};
use sessiondb_server::Config;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/nemesisdb-0.8"
);

/// A temporary copy of the fixtures (they are read-only) and its path.
fn fixtures_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    copy_tree(Path::new(FIXTURES), &root);
    (dir, root)
}

/// Copies a directory tree (the fixtures are read-only; tests use a copy).
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[tokio::test]
async fn kv_save_and_load_as_the_protocol_shows() {
    let server = TestServer::start().await;
    let root = server.dir.path().join("data");
    let mut ws = server.connect().await;
    script(
        &mut ws,
        &[
            (r#"{"KV_SET":{"keys":{"sku:1":{"price":9.5},"sku:2":{"price":12},"say \"hi\"":"quoted key"}}}"#, r#"{"KV_SET_RSP":{"st":1}}"#),
            (r#"{"KV_SAVE":{"name":"shop-1"}}"#, r#"{"KV_SAVE_RSP":{"st":121,"name":"shop-1","duration":"$any"}}"#),
            (r#"{"KV_SAVE":{"name":"../etc"}}"#, r#"{"KV_SAVE_RSP":{"st":41}}"#),
            (r#"{"KV_SAVE":{}}"#, r#"{"KV_SAVE_RSP":{"st":26}}"#),
            (r#"{"KV_CLEAR":{}}"#, r#"{"KV_CLEAR_RSP":{"st":1,"cnt":3}}"#),
            (r#"{"KV_SET":{"keys":{"sku:1":0,"other":1}}}"#, r#"{"KV_SET_RSP":{"st":1}}"#),
            (r#"{"KV_LOAD":{"name":"shop-1"}}"#, r#"{"KV_LOAD_RSP":{"st":141,"name":"shop-1","duration":"$any","sessions":0,"keys":3}}"#),
            (r#"{"KV_GET":{"keys":["sku:1","say \"hi\"","other"]}}"#, r#"{"KV_GET_RSP":{"st":1,"keys":{"sku:1":{"price":9.5},"say \"hi\"":"quoted key","other":1}}}"#),
            (r#"{"KV_LOAD":{"name":"no-such-set"}}"#, r#"{"KV_LOAD_RSP":{"st":142,"name":"no-such-set"}}"#),
            (r#"{"KV_LOAD":{"name":"a/b"}}"#, r#"{"KV_LOAD_RSP":{"st":41}}"#),
        ],
    )
    .await;
    // Nothing was written for the refused name; one complete save for the good one.
    let mut entries: Vec<String> = fs::read_dir(&root)
        .expect("root")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    entries.sort();
    assert_eq!(entries, [".journal", ".sessiondb-tmp", "shop-1"]);
    assert!(!server.dir.path().join("etc").exists());
    let shop = saves(&root, "shop-1");
    assert_eq!(shop.len(), 1);
    let md: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(shop[0].join("md/md.json")).expect("md"))
            .expect("json");
    assert_eq!(md["name"], "shop-1");
    assert_eq!(md["status"], 1);
    assert_eq!(md["saveDataType"], 0);
    assert_eq!(md["version"], 2);
    assert!(md["complete"].as_u64() >= md["start"].as_u64());
    let data: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(shop[0].join("data/0")).expect("data"))
            .expect("json");
    assert_eq!(data["keys"]["say \"hi\""], "quoted key");
    assert_eq!(data["keys"].as_object().map(|o| o.len()), Some(3));
    // A session load of a top-level dataset is refused.
    expect(
        &mut ws,
        r#"{"SH_LOAD":{"name":"shop-1"}}"#,
        r#"{"SH_LOAD_RSP":{"st":142,"name":"shop-1"}}"#,
    )
    .await;
    // Saving again adds a newer save beside the old one.
    expect(
        &mut ws,
        r#"{"KV_SAVE":{"name":"shop-1"}}"#,
        r#"{"KV_SAVE_RSP":{"st":121,"name":"shop-1","duration":"$any"}}"#,
    )
    .await;
    assert_eq!(saves(&root, "shop-1").len(), 2);
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn sh_save_and_load_as_the_protocol_shows() {
    let server = TestServer::start().await;
    let root = server.dir.path().join("data");
    let mut ws = server.connect().await;
    let vars = script(
        &mut ws,
        &[
            (r#"{"SH_NEW":{}}"#, r#"{"SH_NEW_RSP":{"st":1,"tkn":"$T1"}}"#),
            (r#"{"SH_SET":{"tkn":$T1,"keys":{"a":10,"b":"x"}}}"#, r#"{"SH_SET_RSP":{"st":1}}"#),
            (r#"{"SH_NEW":{"name":"settings","shared":true,"expiry":{"duration":3600,"deleteSession":true,"extendOnGet":true}}}"#, r#"{"SH_NEW_RSP":{"st":1,"name":"settings","tkn":15900886249489855254}}"#),
            (r#"{"SH_SAVE":{"name":"sessions-1"}}"#, r#"{"SH_SAVE_RSP":{"st":121,"name":"sessions-1","duration":"$any"}}"#),
            (r#"{"SH_SAVE":{"name":"sel","tkns":[]}}"#, r#"{"SH_SAVE_RSP":{"st":42}}"#),
            (r#"{"SH_SAVE":{"name":"sel","tkns":[123,"a"]}}"#, r#"{"SH_SAVE_RSP":{"st":41}}"#),
            (r#"{"SH_SAVE":{"name":"sel","tkns":[$T1,$T1,5]}}"#, r#"{"SH_SAVE_RSP":{"st":121,"name":"sel","duration":"$any"}}"#),
            (r#"{"SH_SAVE":{"name":"none","tkns":[5]}}"#, r#"{"SH_SAVE_RSP":{"st":121,"name":"none","duration":"$any"}}"#),
            (r#"{"SH_END_ALL":{}}"#, r#"{"SH_END_ALL_RSP":{"st":1,"cnt":2}}"#),
            (r#"{"SH_LOAD":{"name":"sessions-1"}}"#, r#"{"SH_LOAD_RSP":{"st":141,"name":"sessions-1","sessions":2,"keys":2}}"#),
            (r#"{"SH_GET":{"tkn":$T1,"keys":["a","b"]}}"#, r#"{"SH_GET_RSP":{"st":1,"keys":{"a":10,"b":"x"}}}"#),
            (r#"{"SH_OPEN":{"name":"settings"}}"#, r#"{"SH_OPEN_RSP":{"st":1,"name":"settings","tkn":15900886249489855254}}"#),
            (r#"{"SH_INFO":{"tkn":15900886249489855254}}"#, r#"{"SH_INFO_RSP":{"st":1,"tkn":15900886249489855254,"name":"settings","shared":true,"keyCnt":0,"expires":true,"expiry":{"duration":3600,"deleteSession":true,"extendOnSetAdd":false,"extendOnGet":true,"remaining":{"$in":[3599,3600]}}}}"#),
            (r#"{"SH_LOAD":{"name":"sessions-1"}}"#, r#"{"SH_LOAD_RSP":{"st":141,"name":"sessions-1","sessions":0,"keys":0}}"#),
            (r#"{"SH_LOAD":{"name":"nope"}}"#, r#"{"SH_LOAD_RSP":{"st":142,"name":"nope"}}"#),
            (r#"{"SH_LOAD":{"name":2}}"#, r#"{"SH_LOAD_RSP":{"st":41}}"#),
            (r#"{"SH_LOAD":{"name":"none"}}"#, r#"{"SH_LOAD_RSP":{"st":141,"name":"none","sessions":0,"keys":0}}"#),
            (r#"{"KV_LOAD":{"name":"sessions-1"}}"#, r#"{"KV_LOAD_RSP":{"st":142,"name":"sessions-1"}}"#),
        ],
    )
    .await;
    let t1 = vars["$T1"].as_u64().expect("token");
    // The selective save holds T1 once; the empty one has an empty data directory.
    let sel = saves(&root, "sel");
    let data: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(sel[0].join("data/0")).expect("data"))
            .expect("json");
    assert_eq!(data.as_array().map(Vec::len), Some(1));
    assert_eq!(data[0]["sh"]["tkn"].as_u64(), Some(t1));
    let none = saves(&root, "none");
    assert_eq!(fs::read_dir(none[0].join("data")).expect("data").count(), 0);
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn every_nemesisdb_fixture_loads_through_the_protocol() {
    let (_dir, root) = fixtures_copy();
    let server = TestServer::start_with(|c| c.data_dir = root.clone()).await;
    let mut ws = server.connect().await;
    script(
        &mut ws,
        &[
            // The README says 11 keys; the file NemesisDB wrote holds 10 (see the core tests).
            (r#"{"KV_LOAD":{"name":"kv_basic"}}"#, r#"{"KV_LOAD_RSP":{"st":141,"name":"kv_basic","duration":"$any","sessions":0,"keys":10}}"#),
            (r#"{"KV_GET":{"keys":["big","neg","ratio","emoji","nothing","address"]}}"#, r#"{"KV_GET_RSP":{"st":1,"keys":{"big":18446744073709551615,"neg":-42,"ratio":0.25,"emoji":"café ☕ \"quoted\" back\\slash","nothing":null,"address":{"city":"Paris","lines":["1 rue de l'Été","étage 3"],"zip":"75001"}}}}"#),
            (r#"{"SH_LOAD":{"name":"sessions_basic"}}"#, r#"{"SH_LOAD_RSP":{"st":141,"name":"sessions_basic","sessions":4,"keys":8}}"#),
            (r#"{"SH_GET":{"tkn":9725312121568210455,"keys":["user","total","cart"]}}"#, r#"{"SH_GET_RSP":{"st":1,"keys":{"user":"alice","total":31.5,"cart":[{"qty":2,"sku":"A1"},{"qty":1,"sku":"B7"}]}}}"#),
            (r#"{"SH_INFO":{"tkn":12225225859602901779}}"#, r#"{"SH_INFO_RSP":{"st":1,"tkn":12225225859602901779,"shared":false,"keyCnt":2,"expires":true,"expiry":{"duration":3600,"deleteSession":true,"extendOnSetAdd":false,"extendOnGet":true,"remaining":{"$in":[3599,3600]}}}}"#),
            (r#"{"SH_INFO":{"tkn":15649486132279488223}}"#, r#"{"SH_INFO_RSP":{"st":1,"tkn":15649486132279488223,"shared":false,"keyCnt":0,"expires":false}}"#),
            (r#"{"SH_LOAD":{"name":"sessions_selected"}}"#, r#"{"SH_LOAD_RSP":{"st":141,"name":"sessions_selected","sessions":0,"keys":0}}"#),
            (r#"{"SH_END_ALL":{}}"#, r#"{"SH_END_ALL_RSP":{"st":1,"cnt":4}}"#),
            (r#"{"SH_LOAD":{"name":"sessions_selected"}}"#, r#"{"SH_LOAD_RSP":{"st":141,"name":"sessions_selected","sessions":2,"keys":6}}"#),
            (r#"{"SH_LOAD":{"name":"sessions_large"}}"#, r#"{"SH_LOAD_RSP":{"st":141,"name":"sessions_large","sessions":30000,"keys":90000}}"#),
            (r#"{"SH_INFO_ALL":{}}"#, r#"{"SH_INFO_ALL_RSP":{"st":1,"totalSessions":30002,"totalKeys":90006}}"#),
        ],
    )
    .await;
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn saves_answer_14_without_persistence_but_loads_work() {
    let (_dir, root) = fixtures_copy();
    let server = TestServer::start_with(|c| {
        c.persist = false;
        c.data_dir = root.clone();
    })
    .await;
    let mut ws = server.connect().await;
    let load = (
        r#"{"SH_LOAD":{"name":"sessions_basic"}}"#,
        r#"{"SH_LOAD_RSP":{"st":141,"name":"sessions_basic","sessions":4,"keys":8}}"#,
    );
    script(&mut ws, &[&SAVES_WITHOUT_PERSISTENCE[..], &[load]].concat()).await;
    server.shutdown().await.expect("shutdown");
    assert!(
        !root.join(".journal").exists(),
        "no journal without persistence"
    );
}

#[tokio::test]
async fn save_failures_answer_122_and_malformed_loads_142() {
    let server = TestServer::start().await;
    let root = server.dir.path().join("data");
    // Connecting first makes sure startup (which creates the root) is done.
    let mut ws = server.connect().await;
    // A file where the dataset directory should go: the directories cannot be created.
    fs::write(root.join("blocked"), b"not a directory").expect("write");
    let save = root.join("broken/100");
    fs::create_dir_all(save.join("md")).expect("mkdir");
    fs::create_dir_all(save.join("data")).expect("mkdir");
    fs::write(save.join("md/md.json"), r#"{"status":1,"saveDataType":1}"#).expect("md");
    fs::write(save.join("data/0"), r#"[{"sh":{"tkn":0}}]"#).expect("data");
    script(
        &mut ws,
        &[
            (
                r#"{"KV_SAVE":{"name":"blocked"}}"#,
                r#"{"KV_SAVE_RSP":{"st":122}}"#,
            ),
            (
                r#"{"SH_SAVE":{"name":"blocked"}}"#,
                r#"{"SH_SAVE_RSP":{"st":122}}"#,
            ),
            (
                r#"{"SH_LOAD":{"name":"broken"}}"#,
                r#"{"SH_LOAD_RSP":{"st":142,"name":"broken","sessions":0,"keys":0}}"#,
            ),
        ],
    )
    .await;
    // Nothing was left in the staging area.
    assert_eq!(
        fs::read_dir(root.join(".sessiondb-tmp"))
            .expect("tmp")
            .count(),
        0
    );
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn load_name_at_startup_loads_or_refuses_to_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixtures = dir.path().join("fixtures");
    copy_tree(Path::new(FIXTURES), &fixtures);
    let base = |name: &str| Config {
        data_dir: dir.path().join("data"),
        load_name: Some(name.to_owned()),
        load_path: Some(fixtures.clone()),
        ..Config::default()
    };
    for (name, why) in [
        ("missing", "not a directory"),
        ("..bad", "not an allowed dataset name"),
    ] {
        let err = match sessiondb_server::Server::new(base(name)) {
            Ok(_) => panic!("{name}: the server must refuse to start"),
            Err(e) => format!("{e:#}"),
        };
        assert!(err.contains(name) && err.contains(why), "{name}: {err}");
    }
    let server = TestServer::start_with(|c| {
        *c = Config {
            port: 0,
            ..base("sessions_basic")
        };
    })
    .await;
    let mut ws = server.connect().await;
    common::expect_info_all(&mut ws, 4, 8).await;
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn everything_acknowledged_survives_a_restart_with_deadlines_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let start = || {
        let data = data.clone();
        TestServer::start_with(move |c| c.data_dir = data)
    };
    let server = start().await;
    let mut ws = server.connect().await;
    let vars = script(
        &mut ws,
        &[
            (
                r#"{"KV_SET":{"keys":{"top":{"b":1,"a":[1.5,"x"]}}}}"#,
                r#"{"KV_SET_RSP":{"st":1}}"#,
            ),
            (
                r#"{"SH_NEW":{"expiry":{"duration":4}}}"#,
                r#"{"SH_NEW_RSP":{"st":1,"tkn":"$LIVE"}}"#,
            ),
            (
                r#"{"SH_SET":{"tkn":$LIVE,"keys":{"k":1}}}"#,
                r#"{"SH_SET_RSP":{"st":1}}"#,
            ),
            (
                r#"{"SH_NEW":{"expiry":{"duration":1,"deleteSession":true}}}"#,
                r#"{"SH_NEW_RSP":{"st":1,"tkn":"$GONE"}}"#,
            ),
            (
                r#"{"SH_NEW":{"expiry":{"duration":1}}}"#,
                r#"{"SH_NEW_RSP":{"st":1,"tkn":"$EMPTIED"}}"#,
            ),
            (
                r#"{"SH_SET":{"tkn":$EMPTIED,"keys":{"k":1}}}"#,
                r#"{"SH_SET_RSP":{"st":1}}"#,
            ),
            (
                r#"{"SH_NEW":{"name":"forever"}}"#,
                r#"{"SH_NEW_RSP":{"st":1,"name":"forever","tkn":"$FOREVER"}}"#,
            ),
            (
                r#"{"SH_SET":{"tkn":$FOREVER,"keys":{"x":"y"}}}"#,
                r#"{"SH_SET_RSP":{"st":1}}"#,
            ),
        ],
    )
    .await;
    drop(ws);
    server.shutdown().await.expect("shutdown");
    // Downtime longer than the short sessions' duration.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let server = start().await;
    let mut ws = server.connect().await;
    let tkn = |name: &str| vars[name].as_u64().expect("token");
    expect(
        &mut ws,
        r#"{"KV_GET":{"keys":["top"]}}"#,
        r#"{"KV_GET_RSP":{"st":1,"keys":{"top":{"b":1,"a":[1.5,"x"]}}}}"#,
    )
    .await;
    let exists = request(
        &mut ws,
        &format!(
            r#"{{"SH_EXISTS":{{"tkns":[{},{},{},{}]}}}}"#,
            tkn("$LIVE"),
            tkn("$GONE"),
            tkn("$EMPTIED"),
            tkn("$FOREVER")
        ),
    )
    .await;
    let listed: Vec<u64> = exists["SH_EXISTS_RSP"]["exist"]
        .as_array()
        .map(|a| a.iter().filter_map(serde_json::Value::as_u64).collect())
        .unwrap_or_default();
    assert_eq!(
        listed,
        vec![tkn("$LIVE"), tkn("$EMPTIED"), tkn("$FOREVER")],
        "{exists}"
    );
    // The 4 s session had 4 s left before the restart; 1.2 s of downtime later it has at most
    // 2 whole seconds left (a re-armed session would show 3).
    let info = request(
        &mut ws,
        &format!(r#"{{"SH_INFO":{{"tkn":{}}}}}"#, tkn("$LIVE")),
    )
    .await;
    let remaining = info["SH_INFO_RSP"]["expiry"]["remaining"]
        .as_u64()
        .expect("remaining");
    assert!((1..=2).contains(&remaining), "{info}");
    assert_eq!(info["SH_INFO_RSP"]["keyCnt"], 1);
    expect(
        &mut ws,
        &format!(r#"{{"SH_COUNT":{{"tkn":{}}}}}"#, tkn("$EMPTIED")),
        r#"{"SH_COUNT_RSP":{"st":1,"cnt":0}}"#,
    )
    .await;
    expect(
        &mut ws,
        &format!(r#"{{"SH_GET":{{"tkn":{},"keys":["x"]}}}}"#, tkn("$FOREVER")),
        r#"{"SH_GET_RSP":{"st":1,"keys":{"x":"y"}}}"#,
    )
    .await;
    server.shutdown().await.expect("shutdown");
}

#[test]
fn persistence_flags_parse_with_their_defaults() {
    use sessiondb_core::persist::journal::FsyncMode;
    let d = Config::from_args(["sessiondb"]).expect("defaults");
    assert_eq!(
        (d.fsync, d.repair, d.journal_compact_bytes),
        (FsyncMode::EverySec, false, 256 << 20)
    );
    let c = Config::from_args([
        "sessiondb",
        "--fsync",
        "always",
        "--repair",
        "--journal-compact-bytes",
        "4096",
    ])
    .expect("flags");
    assert_eq!(
        (c.fsync, c.repair, c.journal_compact_bytes),
        (FsyncMode::Always, true, 4096)
    );
    assert_eq!(
        Config::from_args(["sessiondb", "--fsync", "no"])
            .expect("no")
            .fsync,
        FsyncMode::No
    );
    assert!(Config::from_args(["sessiondb", "--fsync", "sometimes"]).is_err());
}
