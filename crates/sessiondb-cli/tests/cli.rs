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
fn versions_and_owners_one_shot() {
    let s = TestServer::start();
    let tkn = s.ok(&["sh", "new", "--owner", "alice"]);
    let tkn = tkn.trim_end();
    assert_eq!(
        s.ok(&["sh", "set", tkn, "--if-ver", "1", "n=1"]),
        "ver: 2\n"
    );
    let out = s.cli(&["sh", "set", tkn, "--if-ver", "1", "n=2"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("VersionMismatch (190)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(s.ok(&["sh", "get", tkn, "n"]), "n: 1\n");
    assert!(s.ok(&["sh", "info", tkn]).contains("owner: alice\n"));
    assert_eq!(s.ok(&["sh", "owner-list", "alice"]), format!("{tkn}\n"));
    assert_eq!(s.ok(&["sh", "owner-end", "alice"]), "1\n");
    assert_eq!(s.ok(&["sh", "owner-list", "alice"]), "");
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

impl TestServer {
    fn port(&self) -> String {
        self.url.rsplit(':').next().unwrap().to_owned()
    }
}

/// Runs `command` (a shell command line) with its standard output on a terminal, as `script`
/// gives it one, and types each of `lines` once the line editor is ready for it (keys typed
/// while it switches the terminal's mode could be dropped). Returns what the terminal showed,
/// without `\r`.
fn on_terminal(command: &str, lines: &[&str]) -> String {
    use std::io::Read;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    /// Sent by the line editor each time it starts reading a line (it turns on bracketed paste).
    const READY: &str = "\x1b[?2004h";
    // The bounds below only keep a broken build from hanging the suite; nothing is timed.
    let bound = Duration::from_secs(60);

    let home = tempfile::tempdir().unwrap(); // the shell's history file goes here
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", command, "/dev/null"])
        .env("HOME", home.path())
        // Line editing is off on terminals it cannot drive (TERM=dumb, as some CI sets).
        .env("TERM", "xterm")
        .env_remove("SESSIONDB_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("`script` (util-linux) runs a command on a terminal");
    let shown = Arc::new(Mutex::new(String::new()));
    let mut stdout = child.stdout.take().unwrap();
    let reader = {
        let shown = shown.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = stdout.read(&mut buf) {
                shown
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    let mut stdin = child.stdin.take().unwrap();
    for (i, line) in lines.iter().enumerate() {
        let start = Instant::now();
        while shown.lock().unwrap().matches(READY).count() <= i {
            if start.elapsed() > bound {
                let _ = child.kill();
                panic!("the shell never read line {i}: {}", shown.lock().unwrap());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        stdin.write_all(line.as_bytes()).unwrap();
    }
    drop(stdin);
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > bound {
            let _ = child.kill();
            panic!("the shell did not exit: {}", shown.lock().unwrap());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    reader.join().unwrap();
    let text = shown.lock().unwrap().replace('\r', "");
    text
}

fn cli_path() -> &'static str {
    env!("CARGO_BIN_EXE_sessiondb-cli")
}

#[test]
fn command_names_are_case_insensitive() {
    let s = TestServer::start();
    let tkn = s.ok(&["SH", "NEW"]);
    let tkn = tkn.trim();
    assert_eq!(s.ok(&["Sh", "Set", tkn, "Name=Alice"]), "OK\n");
    assert_eq!(s.ok(&["sh", "GET", tkn, "Name"]), "Name: \"Alice\"\n");
    assert_eq!(
        s.ok(&["SH", "get", tkn, "name"]),
        "name: (nil)\n",
        "keys keep their case"
    );
    assert_eq!(s.ok(&["KV", "COUNT"]), "0\n");
    assert!(s.ok(&["HELP"]).contains("Commands"));
}

#[test]
fn host_and_port_like_redis_cli() {
    let s = TestServer::start();
    let port = s.port();
    let out = run_cli(&["-h", "127.0.0.1", "-p", &port, "kv", "count"], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0\n");
    let out = run_cli(&["-p", &port, "kv", "count"], "");
    assert!(out.status.success(), "host defaults to 127.0.0.1");
    // HOST:PORT without a scheme is taken as ws://.
    let bare = format!("127.0.0.1:{port}");
    let out = run_cli(&["--url", &bare, "kv", "count"], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_cli(&["--url", &s.url, "-p", &port, "kv", "count"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("either --url or -h/-p"));
    let out = run_cli(&["--url", "redis://127.0.0.1:6379", "kv", "count"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("use ws://127.0.0.1:6379"));
}

#[test]
fn help_is_long_only_and_says_why() {
    let out = run_cli(&["--help"], "");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("-h, --host <HOST>"), "{help}");
    assert!(
        help.contains("Because -h is the host, help is --help only"),
        "{help}"
    );
    // `-h` wants a host, as in redis-cli.
    let out = run_cli(&["-h"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--host <HOST>"));
}

#[test]
fn unknown_subcommands_are_named() {
    let s = TestServer::start();
    let out = s.cli(&["sh", "nope", "5"], "");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: unknown sh command `nope`\n"
    );
    let out = s.cli(&["sh", "bogus"], "");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: unknown sh command `bogus`\n"
    );
    let out = s.cli(&["frobnicate"], "");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: unknown command `frobnicate` (try `help`)\n"
    );
}

#[test]
fn values_that_look_like_json_but_are_not_fail_unless_string() {
    let s = TestServer::start();
    let tkn = s.ok(&["sh", "new"]);
    let tkn = tkn.trim();
    let out = s.cli(&["sh", "set", tkn, r#"o={"b":1,"#], "");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("looks like JSON") && err.contains("--string"),
        "{err}"
    );
    assert_eq!(s.ok(&["sh", "count", tkn]), "0\n", "nothing was stored");
    assert_eq!(
        s.ok(&["sh", "set", tkn, "--string", r#"o={"b":1,"#, "n=5"]),
        "OK\n"
    );
    assert_eq!(
        s.ok(&["--json", "sh", "get", tkn, "o"]),
        "{\"SH_GET_RSP\":{\"st\":1,\"keys\":{\"o\":\"{\\\"b\\\":1,\"}}}\n"
    );
    assert_eq!(s.ok(&["sh", "get", tkn, "n"]), "n: \"5\"\n");
}

#[test]
fn raw_mode_names_statuses_on_a_terminal_only() {
    let s = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("requests");
    std::fs::write(&input, "{\"KV_COUNT\":{}}\n{\"X\":1}\n").unwrap();
    let shown = on_terminal(
        &format!("'{}' --url '{}' < '{}'", cli_path(), s.url, input.display()),
        &[],
    );
    assert!(
        shown.contains("{\"KV_COUNT_RSP\":{\"st\":1,\"cnt\":0}}  st 1 Ok\n"),
        "{shown}"
    );
    assert!(
        shown.contains("{\"X_RSP\":{\"st\":13}}  st 13 CommandSyntax\n"),
        "{shown}"
    );
    // Into a pipe, replies stay exactly as sent.
    let out = s.cli(&[], "{\"X\":1}\n");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "{\"X_RSP\":{\"st\":13}}\n"
    );
}

#[test]
fn tab_completes_commands_in_the_shell() {
    let s = TestServer::start();
    s.ok(&["kv", "set", "a=1", "b=2"]);
    // `kv cou<Tab>` becomes `kv count `, and an option of `sh new` completes too.
    let shown = on_terminal(
        &format!("'{}' --url '{}'", cli_path(), s.url),
        &["kv cou\t\n", "sh new --sha\t--name cfg\n", "quit\n"],
    );
    assert!(shown.contains("kv count "), "{shown}");
    assert!(shown.lines().any(|l| l == "2"), "{shown}");
    assert!(shown.contains("sh new --shared "), "{shown}");
    assert!(!shown.contains("unknown"), "{shown}");
    assert_eq!(
        s.ok(&["sh", "info-all"]),
        "totalKeys: 0\ntotalSessions: 1\n"
    );
    let tkn = s.ok(&["sh", "open", "cfg"]);
    assert!(shown.lines().any(|l| l == tkn.trim()), "{shown}");
}

#[test]
fn a_server_that_never_answers_bounds_the_connect() {
    // The kernel accepts the TCP connection; nobody answers the WebSocket upgrade.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let out = run_cli(&["-p", &port, "-t", "0.3", "kv", "count"], "");
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no answer within 300ms"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_cli(&["-t", "0", "kv", "count"], "");
    assert_eq!(out.status.code(), Some(2));
    drop(listener);
}

#[test]
fn key_deadlines_from_the_command_line() {
    let s = TestServer::start();
    let tkn = s.ok(&["sh", "new"]);
    let tkn = tkn.trim();
    assert_eq!(
        s.ok(&[
            "sh",
            "set",
            tkn,
            "otp=123456",
            "--ttl",
            "otp=300",
            "user=ann"
        ]),
        "OK\n"
    );
    let left = s.ok(&["sh", "key-remaining", tkn, "otp", "user", "nope"]);
    assert!(
        [
            "otp: 299\nuser: null\nnope: (nil)\n",
            "otp: 300\nuser: null\nnope: (nil)\n"
        ]
        .contains(&left.as_str()),
        "{left}"
    );
    assert_eq!(s.ok(&["sh", "key-ttl", tkn, "otp=none", "gone=5"]), "1\n");
    assert_eq!(s.ok(&["sh", "key-remaining", tkn, "otp"]), "otp: null\n");
    let out = s.cli(&["sh", "set", tkn, "a=1", "--ttl", "a=0"], "");
    assert_eq!(out.status.code(), Some(2));
}
