//! The built `sessiondb-cli` binary against the real server running in this process.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

/// A server on 127.0.0.1:0 served by its own runtime, so tests can run the CLI synchronously.
struct TestServer {
    url: String,
    stop: Option<oneshot::Sender<()>>,
    runtime: Option<Runtime>,
    _data: tempfile::TempDir,
}

impl TestServer {
    fn start() -> TestServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let data = tempfile::tempdir().unwrap();
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let url = format!("ws://{}", listener.local_addr().unwrap());
        let config = sessiondb_server::Config {
            data_dir: data.path().to_path_buf(),
            ..sessiondb_server::Config::default()
        };
        let (stop, stopped) = oneshot::channel::<()>();
        runtime.spawn(async move {
            let served = sessiondb_server::run(listener, config, async {
                let _ = stopped.await;
            })
            .await;
            if let Err(e) = served {
                eprintln!("server failed: {e:#}");
            }
        });
        TestServer {
            url,
            stop: Some(stop),
            runtime: Some(runtime),
            _data: data,
        }
    }

    /// Runs the CLI with `args` (after `--url`), feeding `stdin`.
    fn cli(&self, args: &[&str], stdin: &str) -> Output {
        run_cli(&[&["--url", &self.url], args].concat(), stdin)
    }

    /// Runs a one-shot command that must succeed; returns its standard output.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args, "");
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

fn run_cli(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sessiondb-cli"))
        .args(args)
        .env_remove("SESSIONDB_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Feed standard input from another thread: the CLI writes replies while it reads, and a
    // full stdout pipe that nobody drains would block both sides.
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_owned();
    let feeder = std::thread::spawn(move || input.write_all(stdin.as_bytes()));
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    out
}

#[test]
fn session_commands_one_shot() {
    let s = TestServer::start();
    let out = s.ok(&["sh", "new", "--expiry", "60", "--delete-session"]);
    let tkn: u64 = out.strip_suffix('\n').unwrap().parse().unwrap();
    assert_eq!(
        s.ok(&[
            "sh",
            "set",
            &tkn.to_string(),
            "name=Alice",
            "age=30",
            r#"o={"b":1,"a":2}"#
        ]),
        "OK\n"
    );
    assert_eq!(
        s.ok(&["sh", "get", &tkn.to_string(), "name", "age", "o", "nope"]),
        "name: \"Alice\"\nage: 30\no: {\"b\":1,\"a\":2}\nnope: (nil)\n"
    );
    assert_eq!(s.ok(&["sh", "count", &tkn.to_string()]), "3\n");
    let info = s.ok(&["sh", "info", &tkn.to_string()]);
    assert!(info.contains("expires: true\n"), "{info}");
    assert!(info.contains(&format!("tkn: {tkn}\n")), "{info}");
    assert_eq!(s.ok(&["sh", "end", &tkn.to_string()]), "OK\n");
    assert_eq!(s.ok(&["sh", "exists", &tkn.to_string()]), "");
}

#[test]
fn shared_sessions_by_name() {
    let s = TestServer::start();
    assert_eq!(
        s.ok(&["sh", "new", "--name", "settings", "--shared"]),
        "15900886249489855254\n"
    );
    assert_eq!(s.ok(&["sh", "open", "settings"]), "15900886249489855254\n");
    let out = s.cli(&["sh", "open", "nobody"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SessionOpenFail (102)"));
}

#[test]
fn top_level_keys_and_info() {
    let s = TestServer::start();
    assert_eq!(s.ok(&["kv", "set", "a=1", "b=hello world"]), "OK\n");
    assert_eq!(s.ok(&["kv", "get", "a", "b"]), "a: 1\nb: \"hello world\"\n");
    assert_eq!(s.ok(&["kv", "count"]), "2\n");
    assert_eq!(s.ok(&["kv", "contains", "b", "x", "a"]), "b\na\n");
    assert_eq!(
        s.ok(&["kv", "save", "cli-set"]).split(" in ").next(),
        Some("saved cli-set")
    );
    assert_eq!(s.ok(&["kv", "clear"]), "2\n");
    assert_eq!(
        s.ok(&["kv", "load", "cli-set"]),
        "loaded cli-set: 0 sessions, 2 keys\n"
    );
    let info = s.ok(&["info"]);
    assert!(info.contains("serverVersion: "), "{info}");
    assert!(info.contains("persistEnabled: true"), "{info}");
}

#[test]
fn json_flag_prints_the_raw_reply() {
    let s = TestServer::start();
    s.ok(&["kv", "set", r#"o={"b":1,"a":2}"#]);
    assert_eq!(
        s.ok(&["--json", "kv", "get", "o"]),
        "{\"KV_GET_RSP\":{\"st\":1,\"keys\":{\"o\":{\"b\":1,\"a\":2}}}}\n"
    );
    // Also accepted after the command words.
    assert_eq!(
        s.ok(&["kv", "count", "--json"]),
        "{\"KV_COUNT_RSP\":{\"st\":1,\"cnt\":1}}\n"
    );
}

#[test]
fn failures_exit_non_zero_and_name_the_status() {
    let s = TestServer::start();
    let out = s.cli(&["sh", "get", "1234", "name"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: SessionNotExist (100)\n"
    );
    let out = s.cli(&["--json", "kv", "rmv"], "");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "{\"KV_RMV_RSP\":{\"st\":42}}\n"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("ValueSize (42)"));
}

#[test]
fn usage_and_connection_errors_have_their_own_exit_codes() {
    let s = TestServer::start();
    let out = s.cli(&["sh", "get", "not-a-token", "a"], "");
    assert_eq!(out.status.code(), Some(2));
    let out = s.cli(&["nope"], "");
    assert_eq!(out.status.code(), Some(2));
    let out = run_cli(&["--url", "ws://127.0.0.1:1", "kv", "count"], "");
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: ws://127.0.0.1:1"));
}

#[test]
fn raw_mode_pipelines_lines_and_prints_replies_in_order() {
    let s = TestServer::start();
    let input = "{\"KV_SET\":{\"keys\":{\"a\":1}}}\n\n{\"KV_GET\":{\"keys\":[\"a\"]}}\n{\"KV_COUNT\":{}}\n{\"SV_INFO\":{}}\n";
    let out = s.cli(&[], input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert_eq!(lines[0], r#"{"KV_SET_RSP":{"st":1}}"#);
    assert_eq!(lines[1], r#"{"KV_GET_RSP":{"st":1,"keys":{"a":1}}}"#);
    assert_eq!(lines[2], r#"{"KV_COUNT_RSP":{"st":1,"cnt":1}}"#);
    assert!(lines[3].starts_with(r#"{"SV_INFO_RSP":"#), "{stdout}");
}

#[test]
fn raw_mode_many_lines_and_failures() {
    let s = TestServer::start();
    let mut input = String::new();
    for i in 0..3000 {
        input.push_str(&format!(
            "{{\"KV_SET\":{{\"keys\":{{\"n\":{i}}}}}}}\n{{\"KV_GET\":{{\"keys\":[\"n\"]}}}}\n"
        ));
    }
    input.push_str("{\"SH_COUNT\":{}}\nnot json\n");
    let out = s.cli(&[], &input);
    assert_eq!(
        out.status.code(),
        Some(1),
        "failure replies make raw mode fail"
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 6002);
    for i in 0..3000 {
        assert_eq!(
            lines[2 * i + 1],
            format!(r#"{{"KV_GET_RSP":{{"st":1,"keys":{{"n":{i}}}}}}}"#)
        );
    }
    assert_eq!(lines[6000], r#"{"SH_COUNT_RSP":{"st":100}}"#);
    assert_eq!(lines[6001], r#"{"ERR":{"st":3}}"#);
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 request(s) failed"));
}
