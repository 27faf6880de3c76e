//! The `sessiondb` binary with operations settings: the secret from `SESSIONDB_AUTH_SECRET`
//! works, and it appears in no log line (at debug level) and not in `--help`.

mod ops_common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use ops_common::*;

const SECRET: &str = "env-secret-7f3a9c";

/// Kills the child when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn secret_from_environment_works_and_is_never_logged() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_sessiondb"))
        .args([
            "--port",
            "0",
            "--log-level",
            "debug",
            "--no-persist",
            "--data-dir",
        ])
        .arg(dir.path())
        .env("SESSIONDB_AUTH_SECRET", SECRET)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let child = Killed(child);
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let (tx, rx) = tokio::sync::oneshot::channel::<String>();
    let sink = Arc::clone(&log);
    let reader = std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find("listening on ws://") {
                let rest = &line[at + "listening on ws://".len()..];
                let addr = rest.split_whitespace().next().unwrap_or("").to_owned();
                if let Some(tx) = tx.take() {
                    let _ = tx.send(addr);
                }
            }
            if let Ok(mut log) = sink.lock() {
                log.push(line);
            }
        }
    });
    let addr: std::net::SocketAddr = tokio::time::timeout(WAIT, rx).await??.parse()?;

    let bearer = format!("Bearer {SECRET}");
    let mut ws = connect_with(addr, &[("Authorization", &bearer)]).await?;
    assert_eq!(
        ask(&mut ws, r#"{"KV_COUNT":{}}"#).await?,
        r#"{"KV_COUNT_RSP":{"st":1,"cnt":0}}"#
    );
    let mut ws = connect(addr).await?;
    assert_eq!(
        ask(
            &mut ws,
            &format!(r#"{{"SV_AUTH":{{"secret":"{SECRET}"}}}}"#)
        )
        .await?,
        r#"{"SV_AUTH_RSP":{"st":1}}"#
    );
    assert_eq!(
        upgrade_status(addr, &[("Authorization", "Bearer wrong")]).await?,
        Some(401)
    );
    // Killing the server closes its stderr; the reader then sees EOF, so after the join
    // every line the server wrote has been collected.
    drop(ws);
    drop(child);
    reader.join().map_err(|_| "log reader panicked")?;
    let log = log.lock().map_err(|_| "log poisoned")?.clone();
    assert!(
        log.iter().any(|l| l.contains("SV_AUTH")),
        "no request logging: {log:#?}"
    );
    let leaks: Vec<_> = log.iter().filter(|l| l.contains(SECRET)).collect();
    assert!(leaks.is_empty(), "secret in the log: {leaks:#?}");

    let help = Command::new(env!("CARGO_BIN_EXE_sessiondb"))
        .arg("--help")
        .env("SESSIONDB_AUTH_SECRET", SECRET)
        .output()?;
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--auth-secret"), "{help}");
    assert!(!help.contains(SECRET), "{help}");
    Ok(())
}
