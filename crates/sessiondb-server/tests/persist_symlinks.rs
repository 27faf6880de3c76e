//! Datasets never follow symbolic links, with the real binary over the protocol: a link at any
//! dataset path component inside the data directory is refused (saves 122, loads 142) with a
//! log line, and nothing is written (or deleted) outside the data directory.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use common::binary::{self, start, Exited, Running};
use common::{connect_url, recv_text, send, Ws};

/// The log line a refusal writes.
const REFUSED: &str = "refused a symbolic link in a dataset path";

/// Sends `request` and asserts the exact reply text.
async fn exact(ws: &mut Ws, request: &str, reply: &str) {
    send(ws, request).await;
    assert_eq!(recv_text(ws).await, reply, "reply to {request}");
}

/// Every path under `dir`, sorted (empty when nothing was written there).
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("ls") {
            let p = e.expect("entry").path();
            if fs::symlink_metadata(&p).expect("meta").is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The newest (only) timestamp directory of dataset `name` under `data`.
fn save_dir(data: &Path, name: &str) -> PathBuf {
    let mut saves: Vec<PathBuf> = fs::read_dir(data.join(name))
        .expect("dataset dir")
        .map(|e| e.expect("entry").path())
        .collect();
    saves.sort();
    saves.pop().expect("a save")
}

fn refusals(log: &[String]) -> usize {
    log.iter().filter(|l| l.contains(REFUSED)).count()
}

struct Setup {
    _dir: tempfile::TempDir,
    data: PathBuf,
    outside: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let outside = dir.path().join("outside");
    fs::create_dir_all(&data).expect("data");
    fs::create_dir_all(&outside).expect("outside");
    Setup {
        _dir: dir,
        data,
        outside,
    }
}

async fn connected(data: &Path) -> (Running, Ws) {
    let server = start(data, &[]);
    let ws = connect_url(&server.url()).await;
    (server, ws)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saves_refuse_a_linked_dataset_directory_and_write_nothing_outside() {
    let s = setup();
    symlink(&s.outside, s.data.join("evil")).expect("symlink");
    let (server, mut ws) = connected(&s.data).await;
    exact(
        &mut ws,
        r#"{"KV_SET":{"keys":{"a":1}}}"#,
        r#"{"KV_SET_RSP":{"st":1}}"#,
    )
    .await;
    send(&mut ws, r#"{"SH_NEW":{}}"#).await;
    recv_text(&mut ws).await;
    exact(
        &mut ws,
        r#"{"KV_SAVE":{"name":"evil"}}"#,
        r#"{"KV_SAVE_RSP":{"st":122}}"#,
    )
    .await;
    exact(
        &mut ws,
        r#"{"SH_SAVE":{"name":"evil"}}"#,
        r#"{"SH_SAVE_RSP":{"st":122}}"#,
    )
    .await;
    assert_eq!(tree(&s.outside), Vec::<PathBuf>::new(), "written outside");
    // The same save under a real directory works, and leaves the link alone.
    send(&mut ws, r#"{"KV_SAVE":{"name":"fine"}}"#).await;
    assert!(recv_text(&mut ws)
        .await
        .starts_with(r#"{"KV_SAVE_RSP":{"st":121,"name":"fine""#));
    assert!(fs::symlink_metadata(s.data.join("evil"))
        .expect("meta")
        .file_type()
        .is_symlink());
    let log = server.kill9_and_log();
    assert_eq!(refusals(&log), 2, "{log:#?}");
    assert!(
        log.iter()
            .any(|l| l.contains(REFUSED) && l.contains(&s.data.join("evil").display().to_string())),
        "{log:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loads_refuse_a_link_at_every_component_of_a_save() {
    let s = setup();
    let cases = [
        "dataset",
        "timestamp",
        "md",
        "mdjson",
        "datadir",
        "datafile",
    ];
    {
        let (server, mut ws) = connected(&s.data).await;
        exact(
            &mut ws,
            r#"{"KV_SET":{"keys":{"a":1}}}"#,
            r#"{"KV_SET_RSP":{"st":1}}"#,
        )
        .await;
        for name in cases.iter().chain(&["ok"]) {
            send(&mut ws, &format!(r#"{{"KV_SAVE":{{"name":"{name}"}}}}"#)).await;
            assert!(recv_text(&mut ws).await.contains(r#""st":121"#));
        }
        exact(
            &mut ws,
            r#"{"KV_CLEAR":{}}"#,
            r#"{"KV_CLEAR_RSP":{"st":1,"cnt":1}}"#,
        )
        .await;
        server.terminate().await;
    }
    // Move one component of each save outside the data directory and link it back in.
    let moved = |inside: PathBuf, tag: &str| {
        let target = s.outside.join(tag);
        fs::rename(&inside, &target).expect("move outside");
        symlink(&target, &inside).expect("symlink");
    };
    moved(s.data.join("dataset"), "dataset");
    moved(save_dir(&s.data, "timestamp"), "timestamp");
    moved(save_dir(&s.data, "md").join("md"), "md");
    moved(
        save_dir(&s.data, "mdjson").join("md").join("md.json"),
        "md.json",
    );
    moved(save_dir(&s.data, "datadir").join("data"), "datadir");
    moved(save_dir(&s.data, "datafile").join("data").join("0"), "0");
    let outside_before = tree(&s.outside);

    let (server, mut ws) = connected(&s.data).await;
    for name in cases {
        exact(
            &mut ws,
            &format!(r#"{{"KV_LOAD":{{"name":"{name}"}}}}"#),
            &format!(r#"{{"KV_LOAD_RSP":{{"st":142,"name":"{name}"}}}}"#),
        )
        .await;
    }
    exact(
        &mut ws,
        r#"{"KV_COUNT":{}}"#,
        r#"{"KV_COUNT_RSP":{"st":1,"cnt":0}}"#,
    )
    .await;
    // An untouched save of the same shape loads.
    send(&mut ws, r#"{"KV_LOAD":{"name":"ok"}}"#).await;
    let reply = recv_text(&mut ws).await;
    assert!(
        reply.starts_with(r#"{"KV_LOAD_RSP":{"st":141,"name":"ok""#),
        "{reply}"
    );
    assert_eq!(tree(&s.outside), outside_before);
    let log = server.kill9_and_log();
    assert_eq!(refusals(&log), cases.len(), "{log:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_staging_directory_stops_the_start_and_deletes_nothing() {
    let s = setup();
    fs::write(s.outside.join("precious"), b"keep me").expect("write");
    symlink(&s.outside, s.data.join(".sessiondb-tmp")).expect("symlink");
    let cmd = &mut binary::command(&s.data);
    let Exited { code, log } = match binary::spawn(cmd.args(["--log-level", "info"])) {
        Ok(server) => panic!(
            "started with a linked staging directory: {:#?}",
            server.startup_log
        ),
        Err(e) => e,
    };
    assert_eq!(code, 1);
    assert!(log.iter().any(|l| l.contains("symbolic link")), "{log:#?}");
    assert_eq!(
        fs::read(s.outside.join("precious")).expect("still there"),
        b"keep me"
    );
}
