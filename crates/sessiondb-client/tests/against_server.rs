//! The client against the real server, started in-process on 127.0.0.1:0: every method, the
//! failure statuses, raw requests, pipelining from many tasks, and a dropped connection.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;
use sessiondb_client::{Client, Error, Expiry, IfVer, SessionOptions, Status};
use tokio::net::TcpListener;

mod common;

use common::{TestServer, SETTINGS_TOKEN};

fn status_of<T: std::fmt::Debug>(r: sessiondb_client::Result<T>) -> u64 {
    match r {
        Err(Error::Status { status, .. }) => status.code(),
        other => panic!("expected a failure status, got {other:?}"),
    }
}

#[tokio::test]
async fn top_level_key_commands() {
    let server = TestServer::start().await;
    let c = server.client().await;
    c.kv_set(json!({"user:1": {"name": "Ann", "age": 31}, "visits": 7}))
        .await
        .unwrap();
    c.kv_add(json!({"visits": 100, "theme": "dark"}))
        .await
        .unwrap();
    let got = c
        .kv_get(["user:1", "visits", "nope", "visits"])
        .await
        .unwrap();
    assert_eq!(
        serde_json::Value::Object(got),
        json!({"user:1": {"name": "Ann", "age": 31}, "visits": 7})
    );
    assert_eq!(
        c.kv_contains(["visits", "nope", "theme", "visits"])
            .await
            .unwrap(),
        ["visits", "theme", "visits"]
    );
    assert_eq!(c.kv_count().await.unwrap(), 3);
    let keys: BTreeSet<String> = c.kv_keys().await.unwrap().into_iter().collect();
    assert_eq!(keys, ["theme", "user:1", "visits"].map(String::from).into());
    c.kv_rmv(["theme", "nope"]).await.unwrap();
    assert_eq!(status_of(c.kv_rmv(Vec::<&str>::new()).await), 42);
    assert_eq!(
        c.kv_clear_set(json!({"a": 1, "b": [true, null]}))
            .await
            .unwrap(),
        2
    );
    assert_eq!(c.kv_clear().await.unwrap(), 2);
    assert_eq!(c.kv_clear().await.unwrap(), 0);
    assert!(matches!(
        c.kv_set(json!([1, 2])).await,
        Err(Error::InvalidArgument(_))
    ));
    server.stop().await;
}

#[tokio::test]
async fn values_and_tokens_round_trip_exactly() {
    let server = TestServer::start().await;
    let c = server.client().await;
    let values = json!({"max": u64::MAX, "min": i64::MIN, "f": 1.0, "s": "caf\u{e9} \u{2603}",
                        "n": null, "": "empty key"});
    c.kv_set(&values).await.unwrap();
    let got = c.kv_get(["max", "min", "f", "s", "n", ""]).await.unwrap();
    assert_eq!(serde_json::Value::Object(got.clone()), values);
    assert!(got["f"].is_f64(), "1.0 must come back as a float");
    assert_eq!(got["max"].as_u64(), Some(u64::MAX));
    server.stop().await;
}

#[tokio::test]
async fn session_commands() {
    let server = TestServer::start().await;
    let c = server.client().await;
    let t = c.sh_new(SessionOptions::new()).await.unwrap();
    assert_ne!(t, 0);
    c.sh_set(t, json!({"a": 10, "b": "x"})).await.unwrap();
    c.sh_add(t, json!({"a": 99, "c": [1, 2]})).await.unwrap();
    let got = c.sh_get(t, ["a", "c", "zz"]).await.unwrap();
    assert_eq!(
        serde_json::Value::Object(got),
        json!({"a": 10, "c": [1, 2]})
    );
    assert_eq!(c.sh_contains(t, ["a", "q", "c"]).await.unwrap(), ["a", "c"]);
    assert_eq!(c.sh_count(t).await.unwrap(), 3);
    let keys: BTreeSet<String> = c.sh_keys(t).await.unwrap().into_iter().collect();
    assert_eq!(keys, ["a", "b", "c"].map(String::from).into());
    c.sh_rmv(t, ["c"]).await.unwrap();
    assert_eq!(status_of(c.sh_rmv(t, Vec::<String>::new()).await), 42);
    assert_eq!(c.sh_clear_set(t, json!({"z": 1})).await.unwrap(), 2);
    assert_eq!(c.sh_clear(t).await.unwrap(), 1);
    assert_eq!(
        c.kv_get(["a"]).await.unwrap().len(),
        0,
        "stores are separate"
    );

    let info = c.sh_info(t).await.unwrap();
    assert_eq!(
        (
            info.tkn,
            info.shared,
            info.key_count,
            info.expiry,
            info.name
        ),
        (t, false, 0, None, None)
    );

    let t2 = c
        .sh_new(
            SessionOptions::new().name("basket-77").expiry(
                Expiry::after(600)
                    .delete_session(true)
                    .extend_on_set_add(true),
            ),
        )
        .await
        .unwrap();
    let info = c.sh_info(t2).await.unwrap();
    assert_eq!(info.name.as_deref(), Some("basket-77"));
    let expiry = info.expiry.unwrap();
    assert_eq!(
        expiry.settings,
        Expiry::after(600)
            .delete_session(true)
            .extend_on_set_add(true)
    );
    assert!((599..=600).contains(&expiry.remaining));

    assert_eq!(c.sh_exists(&[t, 1, t2, t]).await.unwrap(), [t, t2, t]);
    let totals = c.sh_info_all().await.unwrap();
    assert_eq!((totals.total_sessions, totals.total_keys), (2, 0));
    c.sh_end(t2).await.unwrap();
    assert_eq!(status_of(c.sh_end(t2).await), 100);
    assert_eq!(c.sh_end_all().await.unwrap(), 1);
    assert_eq!(c.sh_exists(&[t]).await.unwrap(), Vec::<u64>::new());
    server.stop().await;
}

#[tokio::test]
async fn versions_and_owners() {
    let server = TestServer::start().await;
    let c = server.client().await;
    let a = c
        .sh_new(SessionOptions::new().owner("alice").name("laptop"))
        .await
        .unwrap();
    let b = c
        .sh_new(SessionOptions::new().owner("alice"))
        .await
        .unwrap();
    let info = c.sh_info(a).await.unwrap();
    assert_eq!(
        (info.name.as_deref(), info.owner.as_deref()),
        (Some("laptop"), Some("alice"))
    );
    // A read-modify-write that lost the race is told the version it lost to.
    let (keys, ver) = c.sh_get_versioned(a, ["n"]).await.unwrap();
    assert_eq!((keys.len(), ver), (0, 1));
    assert_eq!(
        c.sh_set_if_ver(a, json!({"n": 1}), ver).await.unwrap(),
        IfVer::Written { ver: 2 }
    );
    assert_eq!(
        c.sh_set_if_ver(a, json!({"n": 9}), ver).await.unwrap(),
        IfVer::Mismatch { current: 2 }
    );
    let (keys, ver) = c.sh_get_versioned(a, ["n"]).await.unwrap();
    assert_eq!((keys.get("n"), ver), (Some(&json!(1)), 2));
    assert_eq!(status_of(c.sh_set_if_ver(77, json!({}), 1).await), 100);
    let mut alice = vec![a, b];
    alice.sort_unstable();
    assert_eq!(c.sh_owner_list("alice").await.unwrap(), alice);
    assert_eq!(c.sh_owner_end("alice").await.unwrap(), 2);
    assert_eq!(c.sh_owner_list("alice").await.unwrap(), Vec::<u64>::new());
    assert_eq!(status_of(c.sh_owner_end("").await), 42);
    assert_eq!(
        status_of(c.sh_new(SessionOptions::new().owner("")).await),
        42
    );
}

#[tokio::test]
async fn shared_sessions_and_their_failures() {
    let server = TestServer::start().await;
    let c = server.client().await;
    let t = c.sh_new(SessionOptions::shared("settings")).await.unwrap();
    assert_eq!(t, SETTINGS_TOKEN);
    assert_eq!(c.sh_open("settings").await.unwrap(), SETTINGS_TOKEN);
    assert_eq!(
        c.sh_info(t).await.unwrap().name.as_deref(),
        Some("settings")
    );
    assert!(c.sh_info(t).await.unwrap().shared);

    let err = c
        .sh_new(SessionOptions::shared("settings"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(Status::SESSION_NEW_FAIL));
    assert_eq!(err.to_string(), "SessionNewFail (103)");
    assert!(!err.is_retryable());

    let err = c.sh_open("nobody").await.unwrap_err();
    assert_eq!(err.status(), Some(Status::SESSION_OPEN_FAIL));
    assert_eq!(status_of(c.sh_new(SessionOptions::shared("")).await), 42);
    assert_eq!(status_of(c.sh_open("").await), 42);
    server.stop().await;
}

#[tokio::test]
async fn unknown_sessions_fail_with_100() {
    let server = TestServer::start().await;
    let c = server.client().await;
    let t = 1234;
    assert_eq!(status_of(c.sh_set(t, json!({"a": 1})).await), 100);
    assert_eq!(status_of(c.sh_add(t, json!({"a": 1})).await), 100);
    assert_eq!(status_of(c.sh_get(t, ["a"]).await), 100);
    assert_eq!(status_of(c.sh_rmv(t, ["a"]).await), 100);
    assert_eq!(status_of(c.sh_contains(t, ["a"]).await), 100);
    assert_eq!(status_of(c.sh_count(t).await), 100);
    assert_eq!(status_of(c.sh_keys(t).await), 100);
    assert_eq!(status_of(c.sh_clear(t).await), 100);
    assert_eq!(status_of(c.sh_clear_set(t, json!({})).await), 100);
    assert_eq!(status_of(c.sh_info(t).await), 100);
    assert_eq!(status_of(c.sh_end(t).await), 100);
    let err = c.sh_get(t, ["a"]).await.unwrap_err();
    match &err {
        Error::Status { reply, .. } => assert_eq!(reply, "SH_GET_RSP"),
        other => panic!("{other:?}"),
    }
    assert_eq!(err.to_string(), "SessionNotExist (100)");
    server.stop().await;
}

#[tokio::test]
async fn datasets_save_and_load() {
    let server = TestServer::start().await;
    let c = server.client().await;
    c.kv_set(json!({"sku:1": {"price": 9.5}, "sku:2": {"price": 12}}))
        .await
        .unwrap();
    let saved = c.kv_save("shop-1").await.unwrap();
    assert_eq!(saved.name, "shop-1");
    c.kv_clear().await.unwrap();
    let loaded = c.kv_load("shop-1").await.unwrap();
    assert_eq!((loaded.sessions, loaded.keys), (0, 2));
    assert!(loaded.duration_ms.is_some());
    assert_eq!(status_of(c.kv_save("../etc").await), 41);
    assert_eq!(status_of(c.kv_load("no-such-set").await), 142);

    let t = c.sh_new(SessionOptions::new()).await.unwrap();
    c.sh_set(t, json!({"a": 10, "b": "x"})).await.unwrap();
    c.sh_save("sessions-1", None).await.unwrap();
    c.sh_save("sel", Some(&[t])).await.unwrap();
    assert_eq!(status_of(c.sh_save("sel", Some(&[])).await), 42);
    c.sh_end_all().await.unwrap();
    let loaded = c.sh_load("sessions-1").await.unwrap();
    assert_eq!(
        (loaded.sessions, loaded.keys, loaded.duration_ms),
        (1, 2, None)
    );
    assert_eq!(c.sh_count(t).await.unwrap(), 2);
    server.stop().await;
}

#[tokio::test]
async fn raw_requests_and_server_info() {
    let server = TestServer::start().await;
    let c = server.client().await;
    assert_eq!(
        c.request_text(r#"{"KV_NOPE":{}}"#).await.unwrap(),
        r#"{"ERR":{"st":10}}"#
    );
    assert_eq!(
        c.request(json!({"SH_NOPE": {}})).await.unwrap(),
        json!({"SH_NOPE_RSP": {"st": 10}})
    );
    // A reply that is not JSON-compatible with the typed call is still delivered in order.
    assert_eq!(
        c.request_text("{\"KV_SET\":").await.unwrap(),
        r#"{"ERR":{"st":3}}"#
    );
    let info = c.sv_info().await.unwrap();
    assert!(!info.server_version.is_empty());
    assert!(info.persist_enabled);
    assert!(!info.extra.contains_key("st"));
    c.sv_auth("anything").await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_share_one_pipelined_connection() {
    let server = TestServer::start().await;
    let c = server.client().await;
    let mut tasks = Vec::new();
    for i in 0..32u64 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let t = c.sh_new(SessionOptions::new()).await.unwrap();
            for round in 0..50u64 {
                c.sh_set(t, json!({"owner": i, "round": round}))
                    .await
                    .unwrap();
                let got = c.sh_get(t, ["owner", "round"]).await.unwrap();
                assert_eq!(
                    serde_json::Value::Object(got),
                    json!({"owner": i, "round": round})
                );
            }
            t
        }));
    }
    let mut tokens = BTreeSet::new();
    for task in tasks {
        tokens.insert(task.await.unwrap());
    }
    assert_eq!(tokens.len(), 32);
    let totals = c.sh_info_all().await.unwrap();
    assert_eq!((totals.total_sessions, totals.total_keys), (32, 64));
    server.stop().await;
}

#[tokio::test]
async fn send_text_pipelines_in_call_order() {
    let server = TestServer::start().await;
    let c = server.client().await;
    let mut pending = Vec::new();
    for i in 0..2000u32 {
        pending.push(
            c.send_text(format!(r#"{{"KV_SET":{{"keys":{{"n":{i}}}}}}}"#))
                .await
                .unwrap(),
        );
        pending.push(c.send_text(r#"{"KV_GET":{"keys":["n"]}}"#).await.unwrap());
    }
    for (i, reply) in pending.into_iter().enumerate() {
        let text = reply.await.unwrap();
        if i % 2 == 0 {
            assert_eq!(text, r#"{"KV_SET_RSP":{"st":1}}"#);
        } else {
            assert_eq!(
                text,
                format!(r#"{{"KV_GET_RSP":{{"st":1,"keys":{{"n":{}}}}}}}"#, i / 2)
            );
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn dropped_replies_do_not_shift_later_ones() {
    let server = TestServer::start().await;
    let c = server.client().await;
    c.kv_set(json!({"x": 1})).await.unwrap();
    // Abandon a request after queueing it; its reply must be consumed, not handed to the next.
    drop(c.send_text(r#"{"KV_COUNT":{}}"#).await.unwrap());
    assert_eq!(
        serde_json::Value::Object(c.kv_get(["x"]).await.unwrap()),
        json!({"x": 1})
    );
    server.stop().await;
}

#[tokio::test]
async fn a_closed_connection_fails_with_disconnected() {
    let server = TestServer::start().await;
    let c = server.client().await;
    assert!(c.is_connected());
    server.stop().await;
    // The guard only keeps a broken build from hanging the suite; nothing is timed.
    let r = tokio::time::timeout(Duration::from_secs(30), c.kv_count())
        .await
        .expect("a request on a closed connection must not hang");
    assert!(matches!(r, Err(Error::Disconnected)), "{r:?}");
    assert!(r.unwrap_err().is_retryable());
    assert!(!c.is_connected());
    let r = c.kv_count().await;
    assert!(matches!(r, Err(Error::Disconnected)), "{r:?}");
}

#[tokio::test]
async fn connecting_to_nothing_is_a_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = Client::connect(&url).await.err().unwrap();
    assert!(matches!(err, Error::Connect(_)), "{err:?}");
    assert!(err.is_connection_error());
}

#[tokio::test]
async fn authentication_by_url_credentials_or_sv_auth() {
    let server = TestServer::start_with(|c| {
        c.auth_secrets = vec![sessiondb_server::auth::Secret::new("s3cr@t")];
    })
    .await;
    let plain = server.client().await;
    assert_eq!(status_of(plain.kv_count().await), 200);
    assert_eq!(status_of(plain.sv_auth("wrong").await), 201);
    plain.sv_auth("s3cr@t").await.unwrap();
    assert_eq!(plain.kv_count().await.unwrap(), 0);

    let with_secret = server.url().replace("ws://", "ws://anyone:s3cr%40t@");
    let c = Client::connect(&with_secret).await.unwrap();
    assert_eq!(c.kv_count().await.unwrap(), 0);

    let wrong = server.url().replace("ws://", "ws://anyone:nope@");
    let err = Client::connect(&wrong).await.err().unwrap();
    assert!(matches!(err, Error::Connect(_)), "{err:?}");
    server.stop().await;
}

#[tokio::test]
async fn key_deadlines() {
    let server = TestServer::start().await;
    let c = server.client().await;
    let tkn = c.sh_new(SessionOptions::new()).await.unwrap();
    c.sh_set_with_ttl(tkn, json!({"user": "ann", "otp": "123456"}), [("otp", 300)])
        .await
        .unwrap();
    c.sh_add_with_ttl(
        tkn,
        json!({"otp": "0", "csrf": "n1"}),
        [("otp", 5), ("csrf", 60)],
    )
    .await
    .unwrap();
    let left = c
        .sh_key_remaining(tkn, ["otp", "user", "csrf", "nope"])
        .await
        .unwrap();
    assert_eq!(left.len(), 3, "{left:?}");
    assert_eq!(left["user"], None);
    assert!(matches!(left["otp"], Some(299 | 300)), "{left:?}");
    assert!(matches!(left["csrf"], Some(59 | 60)), "{left:?}");
    assert_eq!(
        c.sh_key_ttl(tkn, [("otp", None), ("gone", Some(1))])
            .await
            .unwrap(),
        1
    );
    assert_eq!(c.sh_key_remaining(tkn, ["otp"]).await.unwrap()["otp"], None);
    // A ttl for a key the write does not carry is refused (41), changing nothing.
    let refused = c.sh_set_with_ttl(tkn, json!({"a": 1}), [("b", 5)]).await;
    assert_eq!(status_of(refused), 41);
    assert_eq!(status_of(c.sh_key_ttl(tkn, [("otp", Some(0))]).await), 42);
    assert_eq!(c.sh_count(tkn).await.unwrap(), 3);
}
