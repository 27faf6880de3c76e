//! One server per data directory, with two real processes: the second exits 1 naming the
//! directory and the first one's pid, and starts once the first is gone (even after kill -9).

mod common;

use common::binary::{self, start, Exited};
use common::{connect_url, request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_data_dir_exits_naming_the_holder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let first = start(&data, &["--fsync", "always"]);
    let abs = std::path::absolute(&data).expect("absolute");
    let log = &first.startup_log;
    assert!(
        log.iter().any(|l| l.contains("starting")
            && l.contains(&format!("data_dir={}", abs.display()))
            && l.contains("fsync=always")
            && l.contains("auth=\"off\"")
            && l.contains("tls=\"off\"")
            && l.contains("metrics=off")),
        "{log:#?}"
    );
    assert!(
        log.iter().any(|l| l.contains("journal recovered")
            && l.contains("sessions=0")
            && l.contains("records=0")),
        "{log:#?}"
    );
    let mut ws = connect_url(&first.url()).await;
    request(&mut ws, r#"{"SH_NEW":{}}"#).await;

    let Exited { code, log } =
        match binary::spawn(binary::command(&data).args(["--log-level", "info"])) {
            Ok(second) => panic!("a second server started: {:#?}", second.startup_log),
            Err(e) => e,
        };
    assert_eq!(code, 1);
    let text = log.join("\n");
    assert!(
        text.contains(&abs.display().to_string())
            && text.contains(&format!("pid {}", first.pid()))
            && text.contains("in use by another sessiondb"),
        "{text}"
    );
    // It did not touch the journal: no second segment, no recovery.
    assert!(!text.contains("journal recovered"), "{text}");

    // The kernel drops the lock with its holder, however it dies.
    first.kill9();
    let second = start(&data, &[]);
    let log = &second.startup_log;
    assert!(
        log.iter()
            .any(|l| l.contains("journal recovered") && l.contains("sessions=1")),
        "{log:#?}"
    );
    second.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_persistence_the_data_dir_is_not_locked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let first = start(&data, &[]);
    // A server that only loads from the directory writes nothing there.
    let second = start(&data, &["--no-persist"]);
    first.kill9();
    second.kill9();
}
