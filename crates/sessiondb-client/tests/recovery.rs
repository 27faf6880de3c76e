//! Timeouts, reconnection, `sh_touch` and tokens above 2^63, against the real server started in
//! this process. A connection is cut mid-request by a small TCP relay between client and server.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use sessiondb_client::{Backoff, Client, ClientOptions, Error, Expiry, SessionOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

mod common;

use common::{TestServer, SETTINGS_TOKEN};

/// Relays TCP connections to a server; told to, it cuts the next connection on which the client
/// sends anything, without passing those bytes on: that request is then in flight and never
/// answered, exactly as when a server dies holding it.
struct CuttingRelay {
    addr: SocketAddr,
    cut_next: Arc<AtomicBool>,
}

impl CuttingRelay {
    async fn start(server: SocketAddr) -> CuttingRelay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut_next = Arc::new(AtomicBool::new(false));
        let cut = cut_next.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = TcpStream::connect(server).await.unwrap();
                tokio::spawn(relay(client, server, cut.clone()));
            }
        });
        CuttingRelay { addr, cut_next }
    }

    fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    fn cut_on_next_request(&self) {
        self.cut_next.store(true, Ordering::SeqCst);
    }
}

async fn relay(client: TcpStream, server: TcpStream, cut: Arc<AtomicBool>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = client_read.read(&mut buf).await.unwrap_or(0);
            if n == 0 || cut.swap(false, Ordering::SeqCst) {
                return;
            }
            if server_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    let downstream = tokio::io::copy(&mut server_read, &mut client_write);
    // Whichever side ends first ends both: dropping the halves closes the sockets.
    tokio::select! {
        () = upstream => {}
        _ = downstream => {}
    }
}

fn quick_reconnect() -> ClientOptions {
    ClientOptions::default().reconnect(Some(Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(200),
        attempts: 50,
    }))
}

#[tokio::test]
async fn a_request_in_flight_fails_and_the_next_one_reconnects() {
    let server = TestServer::start().await;
    let relay = CuttingRelay::start(server.addr).await;
    let c = Client::connect_with(&relay.url(), quick_reconnect())
        .await
        .unwrap();
    c.kv_set(json!({"k": "v"})).await.unwrap();
    relay.cut_on_next_request();
    let cut = c.kv_set(json!({"cut": 1})).await;
    assert!(matches!(cut, Err(Error::Disconnected)), "{cut:?}");
    // The next request goes through a new connection; the cut one was not sent again.
    assert_eq!(
        serde_json::Value::Object(c.kv_get(["k", "cut"]).await.unwrap()),
        json!({"k": "v"})
    );
    assert_eq!(c.reconnects(), 1);
    assert!(c.is_connected());
    server.stop().await;
}

#[tokio::test]
async fn every_clone_moves_to_the_new_connection() {
    let server = TestServer::start().await;
    let relay = CuttingRelay::start(server.addr).await;
    let c = Client::connect_with(&relay.url(), quick_reconnect())
        .await
        .unwrap();
    let other = c.clone();
    relay.cut_on_next_request();
    assert!(c.kv_count().await.is_err());
    let counts = futures_util::future::join_all((0..8).map(|_| other.kv_count())).await;
    assert!(counts.iter().all(Result::is_ok), "{counts:?}");
    assert_eq!(c.reconnects(), 1, "concurrent requests open one connection");
    server.stop().await;
}

#[tokio::test]
async fn reconnects_to_a_restarted_server() {
    let server = TestServer::start().await;
    let addr = server.addr;
    let c = Client::connect_with(&server.url(), quick_reconnect())
        .await
        .unwrap();
    c.kv_set(json!({"a": 1})).await.unwrap();
    server.stop().await;
    // The client sees the close before it sends anything (a guard against a hang, not a timing).
    tokio::time::timeout(Duration::from_secs(30), async {
        while c.is_connected() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    let server = TestServer::restart_at(addr).await;
    assert_eq!(
        c.kv_count().await.unwrap(),
        0,
        "a fresh server, reached anew"
    );
    assert_eq!(c.reconnects(), 1);
    server.stop().await;
}

#[tokio::test]
async fn reconnecting_gives_up_after_its_attempts() {
    let server = TestServer::start().await;
    let options = ClientOptions::default().reconnect(Some(Backoff {
        initial: Duration::from_millis(1),
        max: Duration::from_millis(5),
        attempts: 3,
    }));
    let c = Client::connect_with(&server.url(), options).await.unwrap();
    server.stop().await;
    let err = c.kv_count().await.unwrap_err();
    assert!(matches!(err, Error::Connect(_)), "{err:?}");
    assert_eq!(c.reconnects(), 0);
}

#[tokio::test]
async fn the_secret_given_to_sv_auth_is_sent_again_after_a_reconnect() {
    let data = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = sessiondb_server::Config {
        data_dir: data.path().to_path_buf(),
        auth_secrets: vec![sessiondb_server::auth::Secret::new("s3cr@t")],
        ..sessiondb_server::Config::default()
    };
    tokio::spawn(sessiondb_server::run(
        listener,
        config,
        std::future::pending(),
    ));
    let relay = CuttingRelay::start(addr).await;
    let c = Client::connect_with(&relay.url(), quick_reconnect())
        .await
        .unwrap();
    c.sv_auth("s3cr@t").await.unwrap();
    relay.cut_on_next_request();
    assert!(c.kv_count().await.is_err());
    assert_eq!(c.kv_count().await.unwrap(), 0, "authenticated again");
    assert_eq!(c.reconnects(), 1);
}

/// A WebSocket server that completes the upgrade, reads every request and never replies.
async fn silent_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await {
                    while let Some(Ok(_)) = ws.next().await {}
                }
            });
        }
    });
    url
}

#[tokio::test]
async fn requests_time_out_and_the_connection_stays_usable() {
    let url = silent_server().await;
    let limit = Duration::from_millis(200);
    let c = Client::connect_with(&url, ClientOptions::default().request_timeout(Some(limit)))
        .await
        .unwrap();
    let err = c.kv_count().await.unwrap_err();
    assert!(matches!(err, Error::Timeout(d) if d == limit), "{err:?}");
    assert!(err.is_connection_error() && err.is_retryable());
    assert_eq!(err.to_string(), "no reply within 200ms");
    let pending = c.send_text(r#"{"KV_COUNT":{}}"#).await.unwrap();
    assert!(matches!(pending.await, Err(Error::Timeout(_))));
    assert!(c.is_connected());
}

#[tokio::test]
async fn a_listener_that_never_upgrades_is_a_connect_timeout() {
    // The kernel completes the TCP handshake; nobody ever answers the upgrade.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let limit = Duration::from_millis(200);
    let options = ClientOptions::default().connect_timeout(Some(limit));
    let err = Client::connect_with(&url, options).await.err().unwrap();
    assert!(
        matches!(err, Error::ConnectTimeout(d) if d == limit),
        "{err:?}"
    );
    assert!(err.is_connection_error());
    drop(listener);
}

#[tokio::test]
async fn touch_rearms_a_deadline_its_flags_allow() {
    let server = TestServer::start().await;
    let c = Client::connect(&server.url()).await.unwrap();
    // 60 s sessions and a 2.1 s wait: "re-armed" (>= 58 s left) and "not re-armed" (<= 57 s)
    // stay apart unless the machine stalls for 2 s between the touch and the read.
    let new = |expiry: Expiry| c.sh_new(SessionOptions::new().expiry(expiry));
    let on_get = new(Expiry::after(60).extend_on_get(true)).await.unwrap();
    let on_set = new(Expiry::after(60).extend_on_set_add(true))
        .await
        .unwrap();
    let fixed = new(Expiry::after(60)).await.unwrap();
    let forever = c.sh_new(SessionOptions::new()).await.unwrap();
    c.sh_set(on_set, json!({"a": 1})).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let remaining = |info: sessiondb_client::SessionInfo| info.expiry.unwrap().remaining;
    for t in [on_get, on_set, fixed] {
        assert!(remaining(c.sh_info(t).await.unwrap()) <= 57);
    }
    assert!(c.sh_touch(on_get).await.unwrap());
    assert!(c.sh_touch(on_set).await.unwrap());
    assert!(!c.sh_touch(fixed).await.unwrap());
    assert!(!c.sh_touch(forever).await.unwrap());
    assert!(remaining(c.sh_info(on_get).await.unwrap()) >= 58);
    assert!(remaining(c.sh_info(on_set).await.unwrap()) >= 58);
    assert!(remaining(c.sh_info(fixed).await.unwrap()) <= 57);
    assert_eq!(
        serde_json::Value::Object(c.sh_get(on_set, ["a"]).await.unwrap()),
        json!({"a": 1}),
        "touching changes no key"
    );
    let err = c.sh_touch(1234).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.code()), Some(100));
    server.stop().await;
}

#[tokio::test]
async fn tokens_above_2_63_are_exact() {
    let server = TestServer::start().await;
    let c = Client::connect(&server.url()).await.unwrap();
    let tkn = c.sh_new(SessionOptions::shared("settings")).await.unwrap();
    assert_eq!(tkn, SETTINGS_TOKEN);
    assert!(tkn > 1 << 63);
    c.sh_set(tkn, json!({"me": tkn})).await.unwrap();
    assert_eq!(
        c.sh_get(tkn, ["me"]).await.unwrap()["me"],
        json!(SETTINGS_TOKEN)
    );
    assert_eq!(c.sh_info(tkn).await.unwrap().tkn, SETTINGS_TOKEN);
    assert_eq!(c.sh_open("settings").await.unwrap(), SETTINGS_TOKEN);
    assert_eq!(
        c.sh_exists(&[tkn, tkn - 1, tkn + 1]).await.unwrap(),
        [SETTINGS_TOKEN]
    );
    // Random tokens are uniform u64s: one above 2^63 comes within a few tries.
    let mut random = 0;
    for _ in 0..64 {
        random = c.sh_new(SessionOptions::new()).await.unwrap();
        if random > 1 << 63 {
            break;
        }
    }
    assert!(random > 1 << 63);
    assert_eq!(c.sh_info(random).await.unwrap().tkn, random);
    assert_eq!(c.sh_exists(&[random]).await.unwrap(), [random]);
    server.stop().await;
}
