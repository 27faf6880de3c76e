//! Observability: the Prometheus endpoint is scraped and parsed, and its counters
//! move as commands run; `SV_INFO` carries the docs/PROTOCOL.md §12 members.

mod common;

use common::ops::*;

/// Scrapes `metrics` up to `tries` times, 20 ms apart, until `series` reads `want` (the
/// server updates some series asynchronously); returns the last value read and its scrape.
async fn poll_sample(
    metrics: std::net::SocketAddr,
    series: &str,
    want: f64,
    tries: usize,
) -> TestResult<(Option<f64>, String)> {
    let mut last = (None, String::new());
    for _ in 0..tries {
        let text = scrape(metrics).await?;
        let value = sample(&text, series);
        if value == Some(want) {
            return Ok((value, text));
        }
        last = (value, text);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Ok(last)
}

#[tokio::test]
async fn counters_move_as_commands_run() -> TestResult {
    let server = start(|c| c.metrics_addr = "127.0.0.1:0".parse().ok()).await?;
    let metrics = server.metrics_addr.ok_or("no metrics endpoint")?;

    let before = scrape(metrics).await?;
    assert_eq!(sample(&before, "sessiondb_connections_open"), Some(0.0));
    assert_eq!(
        sample(
            &before,
            r#"sessiondb_commands_total{command="KV_SET",status="1"}"#
        ),
        None
    );
    assert_eq!(
        sample(&before, "sessiondb_command_duration_seconds_count"),
        Some(0.0)
    );

    let mut ws = connect(server.addr).await?;
    for i in 0..3 {
        ask(
            &mut ws,
            &format!(
                r#"{{"KV_SET":{{"keys":{{"k{i}":"{}"}}}}}}"#,
                "v".repeat(100)
            ),
        )
        .await?;
    }
    let new = ask_json(&mut ws, r#"{"SH_NEW":{}}"#).await?;
    let tkn = new["SH_NEW_RSP"]["tkn"].as_u64().ok_or("no token")?;
    ask(
        &mut ws,
        &format!(r#"{{"SH_SET":{{"tkn":{tkn},"keys":{{"a":1}}}}}}"#),
    )
    .await?;
    ask(&mut ws, r#"{"SH_GET":{"tkn":1,"keys":["a"]}}"#).await?;
    ask(&mut ws, r#"{"KV_NOPE":{}}"#).await?;
    ask(&mut ws, r#"{"MADE_UP":{}}"#).await?;

    let after = scrape(metrics).await?;
    let get = |series: &str| sample(&after, series);
    for (command, status, want) in [
        ("KV_SET", "1", 3.0),
        ("SH_NEW", "1", 1.0),
        ("SH_SET", "1", 1.0),
        ("SH_GET", "100", 1.0),
        ("ERR", "10", 1.0),
        ("other", "10", 1.0),
    ] {
        let series =
            format!(r#"sessiondb_commands_total{{command="{command}",status="{status}"}}"#);
        assert_eq!(get(&series), Some(want), "{series}");
    }
    for (series, want) in [
        ("sessiondb_connections_open", 1.0),
        ("sessiondb_connections_total", 1.0),
        ("sessiondb_command_duration_seconds_count", 8.0),
        (
            r#"sessiondb_command_duration_seconds_bucket{le="+Inf"}"#,
            8.0,
        ),
        ("sessiondb_sessions", 1.0),
        ("sessiondb_keys", 4.0),
    ] {
        assert_eq!(get(series), Some(want), "{series}");
    }
    assert!(
        get("sessiondb_stored_bytes").is_some_and(|b| b >= 300.0),
        "{after}"
    );
    assert!(!after.contains("MADE_UP"));

    drop(ws);
    // The close is seen by the server asynchronously.
    let (open, _) = poll_sample(metrics, "sessiondb_connections_open", 0.0, 100).await?;
    assert_eq!(open, Some(0.0));
    Ok(())
}

#[tokio::test]
async fn expired_sessions_and_refusals_are_counted() -> TestResult {
    let server = start(|c| {
        c.metrics_addr = "127.0.0.1:0".parse().ok();
        c.max_connections = Some(1);
    })
    .await?;
    let metrics = server.metrics_addr.ok_or("no metrics endpoint")?;
    let mut ws = connect(server.addr).await?;
    assert_eq!(upgrade_status(server.addr, &[]).await?, Some(503));
    ask(
        &mut ws,
        r#"{"SH_NEW":{"expiry":{"duration":1,"deleteSession":true}}}"#,
    )
    .await?;
    let (expired, text) =
        poll_sample(metrics, "sessiondb_sessions_expired_total", 1.0, 150).await?;
    assert_eq!(expired, Some(1.0));
    // Read from the same scrape that saw the expiry.
    assert_eq!(sample(&text, "sessiondb_sessions"), Some(0.0));
    assert_eq!(
        sample(
            &text,
            r#"sessiondb_connections_refused_total{reason="connection_limit"}"#
        ),
        Some(1.0)
    );
    Ok(())
}

#[tokio::test]
async fn sv_info_carries_the_section_12_members() -> TestResult {
    let server = start(|_| {}).await?;
    let mut ws = connect(server.addr).await?;
    let _other = connect(server.addr).await?;
    ask(&mut ws, r#"{"KV_SET":{"keys":{"a":1,"b":2}}}"#).await?;
    let new = ask_json(&mut ws, r#"{"SH_NEW":{}}"#).await?;
    let tkn = new["SH_NEW_RSP"]["tkn"].as_u64().ok_or("no token")?;
    ask(
        &mut ws,
        &format!(r#"{{"SH_SET":{{"tkn":{tkn},"keys":{{"c":3}}}}}}"#),
    )
    .await?;
    let info = ask_json(&mut ws, r#"{"SV_INFO":{}}"#).await?;
    let body = &info["SV_INFO_RSP"];
    assert_eq!(body["st"], 1);
    assert_eq!(body["serverVersion"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["persistEnabled"], true);
    assert!(body["uptimeSecs"].is_u64(), "{info}");
    assert_eq!(body["sessions"], 1);
    assert_eq!(body["keys"], 3);
    assert_eq!(body["connections"], 2);
    assert!(
        body["memoryBytes"].as_u64().is_some_and(|m| m > 0),
        "{info}"
    );
    Ok(())
}
