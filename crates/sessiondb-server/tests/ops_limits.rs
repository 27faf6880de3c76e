//! Limits: every store limit answers 170 with nothing stored; the connection limit
//! refuses the upgrade with HTTP 503; probing for tokens gets a connection closed with 1008.

mod common;

use common::ops::*;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

fn token(reply: &serde_json::Value) -> TestResult<u64> {
    reply["SH_NEW_RSP"]["tkn"]
        .as_u64()
        .ok_or_else(|| format!("no token in {reply}").into())
}

#[tokio::test]
async fn max_sessions_refuses_sh_new_with_170() -> TestResult {
    let server = start(|c| c.max_sessions = Some(2)).await?;
    let mut ws = connect(server.addr).await?;
    let first = token(&ask_json(&mut ws, r#"{"SH_NEW":{}}"#).await?)?;
    token(&ask_json(&mut ws, r#"{"SH_NEW":{}}"#).await?)?;
    ask_expect(&mut ws, r#"{"SH_NEW":{}}"#, r#"{"SH_NEW_RSP":{"st":170}}"#).await?;
    ask_expect(
        &mut ws,
        r#"{"SH_NEW":{"name":"n","shared":true}}"#,
        r#"{"SH_NEW_RSP":{"st":170}}"#,
    )
    .await?;
    let all = ask_json(&mut ws, r#"{"SH_INFO_ALL":{}}"#).await?;
    assert_eq!(all["SH_INFO_ALL_RSP"]["totalSessions"], 2);
    // Ending one frees a slot.
    ask(&mut ws, &format!(r#"{{"SH_END":{{"tkn":{first}}}}}"#)).await?;
    token(&ask_json(&mut ws, r#"{"SH_NEW":{}}"#).await?)?;
    Ok(())
}

#[tokio::test]
async fn max_keys_per_session_refuses_with_170_and_stores_nothing() -> TestResult {
    let server = start(|c| c.max_keys_per_session = Some(2)).await?;
    let mut ws = connect(server.addr).await?;
    let tkn = token(&ask_json(&mut ws, r#"{"SH_NEW":{}}"#).await?)?;
    let three = format!(r#"{{"SH_SET":{{"tkn":{tkn},"keys":{{"a":1,"b":2,"c":3}}}}}}"#);
    ask_expect(&mut ws, &three, r#"{"SH_SET_RSP":{"st":170}}"#).await?;
    let count = format!(r#"{{"SH_COUNT":{{"tkn":{tkn}}}}}"#);
    ask_expect(&mut ws, &count, r#"{"SH_COUNT_RSP":{"st":1,"cnt":0}}"#).await?;

    let two = format!(r#"{{"SH_SET":{{"tkn":{tkn},"keys":{{"a":1,"b":2}}}}}}"#);
    ask_expect(&mut ws, &two, r#"{"SH_SET_RSP":{"st":1}}"#).await?;
    let add = format!(r#"{{"SH_ADD":{{"tkn":{tkn},"keys":{{"c":3}}}}}}"#);
    ask_expect(&mut ws, &add, r#"{"SH_ADD_RSP":{"st":170}}"#).await?;
    // Overwriting existing keys does not grow the session.
    let overwrite = format!(r#"{{"SH_SET":{{"tkn":{tkn},"keys":{{"a":9}}}}}}"#);
    ask_expect(&mut ws, &overwrite, r#"{"SH_SET_RSP":{"st":1}}"#).await?;
    let clear_set = format!(r#"{{"SH_CLEAR_SET":{{"tkn":{tkn},"keys":{{"x":1,"y":2,"z":3}}}}}}"#);
    ask_expect(&mut ws, &clear_set, r#"{"SH_CLEAR_SET_RSP":{"st":170}}"#).await?;
    let get = format!(r#"{{"SH_GET":{{"tkn":{tkn},"keys":["a","b","c","x"]}}}}"#);
    assert_eq!(
        ask_json(&mut ws, &get).await?,
        serde_json::json!({"SH_GET_RSP":{"st":1,"keys":{"a":9,"b":2}}})
    );
    Ok(())
}

#[tokio::test]
async fn max_memory_refuses_with_170_and_stores_nothing() -> TestResult {
    let server = start(|c| c.max_memory = Some(10_000)).await?;
    let mut ws = connect(server.addr).await?;
    let big = "x".repeat(20_000);
    ask_expect(
        &mut ws,
        &format!(r#"{{"KV_SET":{{"keys":{{"big":"{big}"}}}}}}"#),
        r#"{"KV_SET_RSP":{"st":170}}"#,
    )
    .await?;
    ask_kv_count(&mut ws, 0).await?;
    let tkn = token(&ask_json(&mut ws, r#"{"SH_NEW":{}}"#).await?)?;
    let set = format!(r#"{{"SH_SET":{{"tkn":{tkn},"keys":{{"big":"{big}"}}}}}}"#);
    ask_expect(&mut ws, &set, r#"{"SH_SET_RSP":{"st":170}}"#).await?;
    let count = format!(r#"{{"SH_COUNT":{{"tkn":{tkn}}}}}"#);
    ask_expect(&mut ws, &count, r#"{"SH_COUNT_RSP":{"st":1,"cnt":0}}"#).await?;

    // Memory is accounted as data is removed too: fill close to the limit, remove, refill.
    let half = "y".repeat(4_000);
    let set_half = format!(r#"{{"KV_SET":{{"keys":{{"h":"{half}"}}}}}}"#);
    ask_expect(&mut ws, &set_half, r#"{"KV_SET_RSP":{"st":1}}"#).await?;
    let set_other = format!(r#"{{"KV_SET":{{"keys":{{"h2":"{half}","h3":"{half}"}}}}}}"#);
    ask_expect(&mut ws, &set_other, r#"{"KV_SET_RSP":{"st":170}}"#).await?;
    ask_expect(
        &mut ws,
        r#"{"KV_RMV":{"keys":["h"]}}"#,
        r#"{"KV_RMV_RSP":{"st":1}}"#,
    )
    .await?;
    let set_one = format!(r#"{{"KV_SET":{{"keys":{{"h2":"{half}"}}}}}}"#);
    ask_expect(&mut ws, &set_one, r#"{"KV_SET_RSP":{"st":1}}"#).await?;
    ask_expect(
        &mut ws,
        r#"{"KV_KEYS":{}}"#,
        r#"{"KV_KEYS_RSP":{"st":1,"keys":["h2"]}}"#,
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn connection_limit_refuses_upgrade_with_503() -> TestResult {
    let server = start(|c| c.max_connections = Some(2)).await?;
    let mut a = connect(server.addr).await?;
    let mut b = connect(server.addr).await?;
    // Both are really served (the count is taken at the upgrade, before any request).
    ask_kv_count(&mut a, 0).await?;
    ask_kv_count(&mut b, 0).await?;
    assert_eq!(upgrade_status(server.addr, &[]).await?, Some(503));
    assert_eq!(upgrade_status(server.addr, &[]).await?, Some(503));

    // Closing one frees its slot once the server has seen the close.
    a.close(None).await?;
    assert_eq!(close_code(&mut a).await?, None);
    let mut admitted = false;
    for _ in 0..100 {
        if upgrade_status(server.addr, &[]).await?.is_none() {
            admitted = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(admitted, "a freed slot was never reused");
    Ok(())
}

#[tokio::test]
async fn bulk_token_probing_is_closed_with_1008() -> TestResult {
    let server = start(|_| {}).await?;
    let mut ws = connect(server.addr).await?;
    // 10,001 tokens that name no session: over the default close threshold of 10,000 misses.
    let tkns: Vec<String> = (1..=10_001u64).map(|t| (t * 7_919).to_string()).collect();
    let probe = format!(r#"{{"SH_EXISTS":{{"tkns":[{}]}}}}"#, tkns.join(","));
    ask_expect(&mut ws, &probe, r#"{"SH_EXISTS_RSP":{"st":1,"exist":[]}}"#).await?;
    assert_eq!(close_code(&mut ws).await?, Some(CloseCode::Policy));

    // Below the threshold nothing happens.
    let mut ws = connect(server.addr).await?;
    let probe = format!(r#"{{"SH_EXISTS":{{"tkns":[{}]}}}}"#, tkns[..500].join(","));
    ask(&mut ws, &probe).await?;
    for t in 1..=50 {
        ask_expect(
            &mut ws,
            &format!(r#"{{"SH_COUNT":{{"tkn":{t}}}}}"#),
            r#"{"SH_COUNT_RSP":{"st":100}}"#,
        )
        .await?;
    }
    Ok(())
}

/// 10,001 misses in one request (over the close threshold), then a request that must still be
/// answered on the same connection.
async fn misses_past_the_close_threshold_are_served<S>(ws: &mut Ws<S>) -> TestResult
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let tkns: Vec<String> = (1..=10_001u64).map(|t| (t * 7_919).to_string()).collect();
    let probe = format!(r#"{{"SH_EXISTS":{{"tkns":[{}]}}}}"#, tkns.join(","));
    ask_expect(ws, &probe, r#"{"SH_EXISTS_RSP":{"st":1,"exist":[]}}"#).await?;
    ask_expect(
        ws,
        r#"{"SH_COUNT":{"tkn":7919}}"#,
        r#"{"SH_COUNT_RSP":{"st":100}}"#,
    )
    .await?;
    ask_kv_count(ws, 0).await
}

#[tokio::test]
async fn no_probe_guard_never_closes_a_connection_for_its_misses() -> TestResult {
    let server = start(|c| c.probe_guard = false).await?;
    let mut ws = connect(server.addr).await?;
    misses_past_the_close_threshold_are_served(&mut ws).await
}

#[tokio::test]
async fn an_authenticated_connection_is_not_counted_as_probing() -> TestResult {
    let server =
        start(|c| c.auth_secrets = vec![sessiondb_server::auth::Secret::new("s3cret")]).await?;
    let mut ws = connect(server.addr).await?;
    ask_sv_auth(&mut ws, "s3cret", 1).await?;
    misses_past_the_close_threshold_are_served(&mut ws).await
}

#[tokio::test]
async fn connection_limit_holds_under_a_connection_flood() -> TestResult {
    let server = start(|c| c.max_connections = Some(4)).await?;
    // Sockets that never send an upgrade request hold no place under the limit.
    let mut silent = Vec::new();
    for _ in 0..64 {
        silent.push(tokio::net::TcpStream::connect(server.addr).await?);
    }
    let mut admitted = Vec::new();
    for _ in 0..4 {
        let mut ws = connect(server.addr).await?;
        ask_kv_count(&mut ws, 0).await?;
        admitted.push(ws);
    }
    // 200 upgrades at once: every one is refused with 503, and the admitted keep being served.
    let flood =
        futures_util::future::join_all((0..200).map(|_| upgrade_status(server.addr, &[]))).await;
    for refused in flood {
        assert_eq!(refused?, Some(503));
    }
    for ws in &mut admitted {
        ask_kv_count(ws, 0).await?;
    }
    // Refused upgrades took no place: once one admitted client leaves, a new one gets in.
    let mut gone = admitted.pop().ok_or("four admitted")?;
    gone.close(None).await?;
    assert_eq!(close_code(&mut gone).await?, None);
    let mut next = None;
    for _ in 0..100 {
        if let Ok(ws) = connect(server.addr).await {
            next = Some(ws);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut next = next.ok_or("a freed place was never reused")?;
    ask_kv_count(&mut next, 0).await?;
    assert_eq!(upgrade_status(server.addr, &[]).await?, Some(503));
    drop(silent);
    Ok(())
}
