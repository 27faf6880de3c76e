//! TLS: with `--tls-cert`/`--tls-key` the server speaks `wss://`; the certificate is
//! generated at run time with rcgen.

mod common;

use common::ops::*;
use sessiondb_server::Config;

/// A fresh self-signed certificate and a server speaking `wss://` with it, after `edit`.
async fn tls_server(edit: impl FnOnce(&mut Config)) -> TestResult<(TestCert, TestServer)> {
    let cert = self_signed()?;
    let (c, k) = (cert.cert.clone(), cert.key.clone());
    let server = start(move |config| {
        config.tls_cert = Some(c);
        config.tls_key = Some(k);
        edit(config);
    })
    .await?;
    Ok((cert, server))
}

#[tokio::test]
async fn wss_round_trip_with_a_self_signed_certificate() -> TestResult {
    let (cert, server) = tls_server(|_| {}).await?;
    let mut ws = connect_tls(server.addr, &cert).await?;
    ask_expect(
        &mut ws,
        r#"{"KV_SET":{"keys":{"greeting":"héllo"}}}"#,
        r#"{"KV_SET_RSP":{"st":1}}"#,
    )
    .await?;
    assert_eq!(
        ask_json(&mut ws, r#"{"KV_GET":{"keys":["greeting"]}}"#).await?,
        serde_json::json!({"KV_GET_RSP":{"st":1,"keys":{"greeting":"héllo"}}})
    );
    // A second TLS connection sees the same store.
    let mut other = connect_tls(server.addr, &cert).await?;
    ask_kv_count(&mut other, 1).await?;
    Ok(())
}

#[tokio::test]
async fn plain_websocket_to_a_tls_port_fails_and_the_server_carries_on() -> TestResult {
    let (cert, server) = tls_server(|_| {}).await?;
    assert!(
        tokio::time::timeout(WAIT, connect(server.addr))
            .await?
            .is_err(),
        "a ws:// upgrade succeeded on a TLS port"
    );
    let mut ws = connect_tls(server.addr, &cert).await?;
    ask_kv_count(&mut ws, 0).await?;
    Ok(())
}

#[tokio::test]
async fn tls_and_auth_together() -> TestResult {
    let (cert, server) = tls_server(|config| {
        config.auth_secrets = vec![sessiondb_server::auth::Secret::new("s")];
    })
    .await?;
    let mut ws = connect_tls(server.addr, &cert).await?;
    ask_kv_count_refused(&mut ws).await?;
    ask_sv_auth(&mut ws, "s", 1).await?;
    ask_kv_count(&mut ws, 0).await?;
    Ok(())
}

#[test]
fn bad_certificate_files_stop_startup() -> TestResult {
    let cert = self_signed()?;
    let (mut config, _data) = config()?;
    config.tls_cert = Some(cert.dir.path().join("missing.pem"));
    config.tls_key = Some(cert.key.clone());
    let err = sessiondb_server::Server::new(config)
        .err()
        .map(|e| e.to_string());
    assert!(
        err.as_deref().is_some_and(|e| e.contains("missing.pem")),
        "{err:?}"
    );
    // A certificate without its key is a configuration error.
    let (mut config, _data) = common::ops::config()?;
    config.tls_cert = Some(cert.cert.clone());
    assert!(sessiondb_server::Server::new(config).is_err());
    Ok(())
}
