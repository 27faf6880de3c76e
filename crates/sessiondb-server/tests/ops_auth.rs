//! Authentication (docs/PROTOCOL.md §2.6): off by default; with secrets, Bearer, Basic and
//! `SV_AUTH` authenticate; everything else is refused with 200 and has no effect; a wrong
//! header is HTTP 401; repeated failures close with 1008.

mod common;

use base64::Engine as _;
use common::ops::*;
use sessiondb_server::auth::Secret;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const SECRET: &str = "correct horse battery staple";

async fn secured(max_failures: u32) -> TestResult<TestServer> {
    start(|c| {
        c.auth_secrets = vec![Secret::new("other-secret"), Secret::new(SECRET)];
        c.auth_max_failures = max_failures;
    })
    .await
}

fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

#[tokio::test]
async fn unauthenticated_requests_get_200_and_change_nothing() -> TestResult {
    let server = secured(5).await?;
    let mut ws = connect(server.addr).await?;
    for (request, reply) in [
        (
            r#"{"KV_SET":{"keys":{"a":1}}}"#,
            r#"{"KV_SET_RSP":{"st":200}}"#,
        ),
        (r#"{"SH_NEW":{}}"#, r#"{"SH_NEW_RSP":{"st":200}}"#),
        (r#"{"KV_COUNT":{}}"#, r#"{"KV_COUNT_RSP":{"st":200}}"#),
        (r#"{"SV_INFO":{}}"#, r#"{"SV_INFO_RSP":{"st":200}}"#),
        // The reply name is formed as dispatch would form it, ERR included.
        (r#"{"KV_NOPE":{}}"#, r#"{"ERR":{"st":200}}"#),
        (r#"{"SH_NOPE":{}}"#, r#"{"SH_NOPE_RSP":{"st":200}}"#),
        (r#"{"KV_SET":"#, r#"{"ERR":{"st":200}}"#),
    ] {
        let got = ask_json(&mut ws, request).await?;
        let want: serde_json::Value = serde_json::from_str(reply)?;
        assert_eq!(got, want, "{request}");
    }
    // Authenticate on the same connection: nothing of the above happened.
    ask_sv_auth(&mut ws, SECRET, 1).await?;
    ask_kv_count(&mut ws, 0).await?;
    let info = ask_json(&mut ws, r#"{"SH_INFO_ALL":{}}"#).await?;
    assert_eq!(info["SH_INFO_ALL_RSP"]["totalSessions"], 0);
    Ok(())
}

#[tokio::test]
async fn bearer_header_authenticates() -> TestResult {
    let server = secured(5).await?;
    let auth = format!("Bearer {SECRET}");
    let mut ws = connect_with(server.addr, &[("Authorization", &auth)]).await?;
    ask_expect(
        &mut ws,
        r#"{"KV_SET":{"keys":{"a":1}}}"#,
        r#"{"KV_SET_RSP":{"st":1}}"#,
    )
    .await?;
    ask_kv_count(&mut ws, 1).await?;
    Ok(())
}

#[tokio::test]
async fn basic_header_authenticates_with_any_user() -> TestResult {
    let server = secured(5).await?;
    for user in ["", "alice"] {
        let auth = basic(user, SECRET);
        let mut ws = connect_with(server.addr, &[("Authorization", &auth)]).await?;
        ask_kv_count(&mut ws, 0).await?;
    }
    Ok(())
}

#[tokio::test]
async fn wrong_header_is_http_401() -> TestResult {
    let server = secured(5).await?;
    for auth in [
        "Bearer wrong".to_owned(),
        basic("alice", "wrong"),
        // The user name is not the secret.
        basic(SECRET, "x"),
        format!("Digest {SECRET}"),
    ] {
        assert_eq!(
            upgrade_status(server.addr, &[("Authorization", &auth)]).await?,
            Some(401),
            "{auth}"
        );
    }
    // No header at all is not refused: SV_AUTH may follow.
    assert_eq!(upgrade_status(server.addr, &[]).await?, None);
    Ok(())
}

#[tokio::test]
async fn sv_auth_statuses() -> TestResult {
    let server = secured(5).await?;
    let mut ws = connect(server.addr).await?;
    ask_sv_auth(&mut ws, "nope", 201).await?;
    ask_expect(&mut ws, r#"{"SV_AUTH":{}}"#, r#"{"SV_AUTH_RSP":{"st":26}}"#).await?;
    ask_expect(
        &mut ws,
        r#"{"SV_AUTH":{"secret":5}}"#,
        r#"{"SV_AUTH_RSP":{"st":41}}"#,
    )
    .await?;
    ask_kv_count_refused(&mut ws).await?;
    ask_sv_auth(&mut ws, "other-secret", 1).await?;
    ask_kv_count(&mut ws, 0).await?;
    Ok(())
}

#[tokio::test]
async fn default_five_failures_close_with_1008() -> TestResult {
    let server = secured(sessiondb_server::auth::DEFAULT_MAX_FAILURES).await?;
    let mut ws = connect(server.addr).await?;
    for _ in 0..5 {
        ask_sv_auth(&mut ws, "guess", 201).await?;
    }
    assert_eq!(close_code(&mut ws).await?, Some(CloseCode::Policy));
    // Other connections are unaffected.
    let mut ws = connect(server.addr).await?;
    ask_sv_auth(&mut ws, SECRET, 1).await?;
    Ok(())
}

#[tokio::test]
async fn failure_limit_is_configurable_and_only_wrong_secrets_count() -> TestResult {
    let server = secured(2).await?;
    let mut ws = connect(server.addr).await?;
    // Malformed attempts and refused commands are not failed attempts.
    for _ in 0..3 {
        ask_expect(&mut ws, r#"{"SV_AUTH":{}}"#, r#"{"SV_AUTH_RSP":{"st":26}}"#).await?;
        ask_kv_count_refused(&mut ws).await?;
    }
    ask_sv_auth(&mut ws, "a", 201).await?;
    ask_sv_auth(&mut ws, "b", 201).await?;
    assert_eq!(close_code(&mut ws).await?, Some(CloseCode::Policy));
    Ok(())
}

#[tokio::test]
async fn auth_off_accepts_any_sv_auth_and_any_header() -> TestResult {
    let server = start(|_| {}).await?;
    let mut ws = connect_with(server.addr, &[("Authorization", "Bearer whatever")]).await?;
    ask_sv_auth(&mut ws, "anything", 1).await?;
    ask_kv_count(&mut ws, 0).await?;
    Ok(())
}

#[test]
fn secret_comes_from_flag_env_and_file_and_is_never_shown() -> TestResult {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("s.toml");
    std::fs::write(
        &file,
        "auth-secret = [\"from-file\"]\nauth-max-failures = 3\n",
    )?;
    let file = file.to_string_lossy().into_owned();
    let config = sessiondb_server::Config::from_args([
        "sessiondb",
        "--config",
        &file,
        "--auth-secret",
        "one",
        "--auth-secret",
        "two",
    ])?;
    // The command line wins over the file for the list as a whole.
    assert_eq!(
        config.auth_secrets,
        vec![Secret::new("one"), Secret::new("two")]
    );
    assert_eq!(config.auth_max_failures, 3);
    let shown = format!("{config:?}");
    assert!(
        !shown.contains("one\"") && !shown.contains("two"),
        "{shown}"
    );

    let config = sessiondb_server::Config::from_args(["sessiondb", "--config", &file])?;
    assert_eq!(config.auth_secrets, vec![Secret::new("from-file")]);
    Ok(())
}
