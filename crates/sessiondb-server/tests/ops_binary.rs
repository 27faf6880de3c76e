//! The `sessiondb` binary with operations settings: the secret from `SESSIONDB_AUTH_SECRET`
//! works, and it appears in no log line (at debug level) and not in `--help`.

mod common;

use std::process::Command;

use common::ops::*;

const SECRET: &str = "env-secret-7f3a9c";

#[tokio::test]
async fn secret_from_environment_works_and_is_never_logged() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = common::binary::spawn(
        common::binary::command(dir.path())
            .args(["--log-level", "debug", "--no-persist"])
            .env("SESSIONDB_AUTH_SECRET", SECRET),
    )
    .map_err(|e| format!("sessiondb exited before listening: {e:?}"))?;
    let addr = server.addr;

    let bearer = format!("Bearer {SECRET}");
    let mut ws = connect_with(addr, &[("Authorization", &bearer)]).await?;
    ask_kv_count(&mut ws, 0).await?;
    let mut ws = connect(addr).await?;
    ask_sv_auth(&mut ws, SECRET, 1).await?;
    assert_eq!(
        upgrade_status(addr, &[("Authorization", "Bearer wrong")]).await?,
        Some(401)
    );
    drop(ws);
    let log = server.kill9_and_log();
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
