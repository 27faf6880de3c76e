//! The admin console over real HTTP: pages and their statuses, the search link, escaping of user
//! data, the confirmation before ending or clearing a session, and the login when the server has
//! secrets.

mod common;

use std::net::SocketAddr;

use common::{connect_url, request, HANG_GUARD};
use sessiondb_server::{Config, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// A server with its console on a port of its own.
struct Console {
    ws: SocketAddr,
    admin: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Console {
    async fn start(secrets: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = Config {
            data_dir: dir.path().join("data"),
            auth_secrets: secrets
                .iter()
                .map(|s| sessiondb_server::auth::Secret::new(s))
                .collect(),
            ..Config::default()
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let admin = TcpListener::bind("127.0.0.1:0").await.expect("bind admin");
        let (ws, admin_addr) = (
            listener.local_addr().expect("addr"),
            admin.local_addr().expect("admin addr"),
        );
        let server = Server::new(config)
            .expect("server")
            .with_admin_listener(admin);
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(server.run(listener, async move {
            let _ = stopped.await;
        }));
        Self {
            ws,
            admin: admin_addr,
            stop: Some(stop),
            _dir: dir,
        }
    }

    /// Sends `head` (request line and fields, no blank line) and `body`; returns the status,
    /// the head and the body of the response.
    async fn send(&self, head: &str, body: &str) -> Reply {
        let exchange = async {
            let mut stream = TcpStream::connect(self.admin).await.expect("connect");
            let length = if body.is_empty() {
                String::new()
            } else {
                format!(
                    "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                    body.len()
                )
            };
            let text = format!("{head}\r\nHost: {}\r\n{length}\r\n{body}", self.admin);
            stream.write_all(text.as_bytes()).await.expect("write");
            let mut raw = Vec::new();
            stream.read_to_end(&mut raw).await.expect("read");
            raw
        };
        let raw = tokio::time::timeout(HANG_GUARD, exchange)
            .await
            .expect("hung");
        let text = String::from_utf8(raw).expect("utf-8");
        let (head, body) = text.split_once("\r\n\r\n").expect("a complete response");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        Reply {
            status,
            head: head.to_owned(),
            body: body.to_owned(),
        }
    }

    async fn get(&self, target: &str, cookie: Option<&str>) -> Reply {
        self.send(
            &format!("GET {target} HTTP/1.1{}", cookie_field(cookie)),
            "",
        )
        .await
    }

    async fn post(&self, target: &str, cookie: Option<&str>, body: &str) -> Reply {
        self.send(
            &format!("POST {target} HTTP/1.1{}", cookie_field(cookie)),
            body,
        )
        .await
    }

    /// Creates a session named `name` (none when `None`) with `keys` (a JSON object).
    async fn session(&self, name: Option<&str>, keys: &str, secret: Option<&str>) -> u64 {
        let mut ws = connect_url(&format!("ws://{}/", self.ws)).await;
        if let Some(secret) = secret {
            let auth = serde_json::json!({"SV_AUTH": {"secret": secret}}).to_string();
            request(&mut ws, &auth).await;
        }
        let new = match name {
            Some(name) => {
                serde_json::json!({"SH_NEW": {"name": name, "expiry": {"duration": 600, "deleteSession": true}}})
            }
            None => serde_json::json!({"SH_NEW": {}}),
        };
        let reply = request(&mut ws, &new.to_string()).await;
        let tkn = reply["SH_NEW_RSP"]["tkn"].as_u64().expect("a token");
        let set = format!(r#"{{"SH_SET":{{"tkn":{tkn},"keys":{keys}}}}}"#);
        let reply = request(&mut ws, &set).await;
        assert_eq!(reply["SH_SET_RSP"]["st"], 1, "{reply}");
        tkn
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn cookie_field(cookie: Option<&str>) -> String {
    cookie.map_or_else(String::new, |c| format!("\r\nCookie: sessiondb_admin={c}"))
}

struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn field(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(": ")?;
            n.eq_ignore_ascii_case(name).then_some(v)
        })
    }

    /// The page's `<section class="{class}">`.
    fn section(&self, class: &str) -> &str {
        let start = self
            .body
            .find(&format!(r#"<section class="{class}">"#))
            .expect("the section");
        let len = self.body[start..].find("</section>").expect("its end");
        &self.body[start..start + len]
    }

    /// The value of the page's first hidden `csrf` field.
    fn csrf(&self) -> String {
        let marker = r#"name="csrf" value=""#;
        let start = self.body.find(marker).expect("a csrf field") + marker.len();
        let len = self.body[start..].find('"').expect("end of the value");
        self.body[start..start + len].to_owned()
    }
}

#[tokio::test]
async fn the_dashboard_lists_the_sessions_a_search_link_names() {
    let console = Console::start(&[]).await;
    let alice = console
        .session(Some("user:alice"), r#"{"cart":[1,2]}"#, None)
        .await;
    console.session(Some("user:bob"), r#"{"a":1}"#, None).await;
    console
        .session(Some("admin:carol"), r#"{"a":1}"#, None)
        .await;
    console.session(None, r#"{"a":1}"#, None).await;

    let all = console.get("/", None).await;
    assert_eq!(all.status, 200);
    assert_eq!(all.field("Content-Type"), Some("text/html; charset=utf-8"));
    assert_eq!(all.field("Cache-Control"), Some("no-store"));
    assert!(
        all.body
            .contains(r#"<span class="value" id="live-sessions">4</span>"#),
        "{}",
        all.body
    );
    assert!(all
        .body
        .contains(r#"<p class="matching" id="matching">4 sessions in all</p>"#));
    assert!(all.body.contains("(unnamed)"));
    assert!(all.body.contains(r#"<svg id="ops-chart""#));
    assert!(all
        .body
        .contains("Due in the next 60 minutes: 3 · later: 0 · never: 1"));

    let users = console.get("/?q=user%3A", None).await;
    assert_eq!(users.status, 200);
    assert!(
        users.body.contains("2 sessions named “user:…”"),
        "{}",
        users.body
    );
    assert!(users.body.contains(&format!(
        r#"<a href="/session?tkn={alice}"><span class="name">user:alice</span></a>"#
    )));
    let found = users.section("search");
    assert!(
        found.contains("user:bob") && !found.contains("admin:carol"),
        "{found}"
    );
    assert!(
        users.section("timeline").contains("admin:carol"),
        "expiries list all sessions"
    );
    assert!(
        users.body.contains(r#"value="user:""#),
        "the search box keeps the prefix"
    );
    assert!(console
        .get("/?q=nobody", None)
        .await
        .body
        .contains("No sessions to show."));

    let session = console.get(&format!("/session?tkn={alice}"), None).await;
    assert_eq!(session.status, 200);
    assert!(session
        .body
        .contains(r#"<tr><td class="key">cart</td><td><code>[1,2]</code></td></tr>"#));
    assert!(
        session.body.contains("9m 5"),
        "about ten minutes left: {}",
        session.body
    );

    let live = console.get("/api/live", None).await;
    assert_eq!(live.status, 200);
    let live: serde_json::Value = serde_json::from_str(&live.body).expect("json");
    assert_eq!(
        (live["sessions"].as_u64(), live["keys"].as_u64()),
        (Some(4), Some(4))
    );

    assert_eq!(console.get("/admin.js", None).await.status, 200);
    assert_eq!(console.get("/nothing", None).await.status, 404);
    assert_eq!(console.get("/session?tkn=x", None).await.status, 400);
    assert_eq!(console.get("/session?tkn=1", None).await.status, 404);
    assert_eq!(console.post("/", None, "a=1").await.status, 405);
    assert_eq!(console.get("/session/end", None).await.status, 405);
    // Without secrets, a name that could be another site's (DNS rebinding) is refused.
    let mut rebound = TcpStream::connect(console.admin).await.expect("connect");
    rebound
        .write_all(b"GET / HTTP/1.1\r\nHost: evil.example:9188\r\n\r\n")
        .await
        .expect("write");
    let mut answer = String::new();
    rebound.read_to_string(&mut answer).await.expect("read");
    assert!(answer.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{answer}");
    let head = console.send("HEAD / HTTP/1.1", "").await;
    assert_eq!((head.status, head.body.as_str()), (200, ""));
}

#[tokio::test]
async fn user_data_is_escaped_everywhere_it_is_shown() {
    let console = Console::start(&[]).await;
    let name = r#"<script>alert("name")</script>"#;
    let tkn = console
        .session(
            Some(name),
            r#"{"<b>key</b>":"<img src=x onerror=alert(1)>"}"#,
            None,
        )
        .await;
    let escaped_name = "&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt;";
    let search = console.get("/?q=%3Cscript%3E", None).await;
    let session = console.get(&format!("/session?tkn={tkn}"), None).await;
    let confirm = console
        .get(&format!("/confirm?action=end&tkn={tkn}"), None)
        .await;
    for page in [&search, &session, &confirm] {
        assert_eq!(page.status, 200);
        assert!(page.body.contains(escaped_name), "{}", page.body);
        assert!(!page.body.contains("<script>alert"), "{}", page.body);
    }
    assert!(search.body.contains(r#"value="&lt;script&gt;""#));
    assert!(session.body.contains("&lt;b&gt;key&lt;/b&gt;"));
    assert!(session
        .body
        .contains("&quot;&lt;img src=x onerror=alert(1)&gt;&quot;"));
    assert!(!session.body.contains("<img"));
    assert!(session
        .field("Content-Security-Policy")
        .is_some_and(|p| p.contains("script-src 'self'")));
}

#[tokio::test]
async fn ending_and_clearing_go_through_a_confirmation_with_a_form_token() {
    let console = Console::start(&[]).await;
    let tkn = console
        .session(Some("cart-1"), r#"{"a":1,"b":2}"#, None)
        .await;

    let ask = console
        .get(&format!("/confirm?action=clear&tkn={tkn}"), None)
        .await;
    assert_eq!(ask.status, 200);
    assert!(ask
        .body
        .contains("This removes its 2 keys; the session stays, with its expiry."));
    assert!(ask
        .body
        .contains(r#"<form method="post" action="/session/clear">"#));
    let csrf = ask.csrf();
    let body = |csrf: &str| format!("tkn={tkn}&csrf={csrf}");
    assert_eq!(
        console
            .post("/session/clear", None, &format!("tkn={tkn}"))
            .await
            .status,
        403
    );
    assert_eq!(
        console
            .post("/session/clear", None, &body("forged"))
            .await
            .status,
        403
    );
    let cross_site = console
        .send(
            "POST /session/clear HTTP/1.1\r\nOrigin: http://evil.example",
            &body(&csrf),
        )
        .await;
    assert_eq!(cross_site.status, 403);
    assert!(console
        .get(&format!("/session?tkn={tkn}"), None)
        .await
        .body
        .contains(r#"<dd id="session-keys">2</dd>"#));

    let cleared = console.post("/session/clear", None, &body(&csrf)).await;
    assert_eq!(cleared.status, 303);
    assert_eq!(
        cleared.field("Location"),
        Some(format!("/session?tkn={tkn}&cleared=1").as_str())
    );
    let after = console
        .get(&format!("/session?tkn={tkn}&cleared=1"), None)
        .await;
    assert!(
        after.body.contains("Keys cleared.")
            && after.body.contains(r#"<dd id="session-keys">0</dd>"#)
    );
    // SH_NEW is version 1, its SH_SET 2, the clear 3 (E10); the session has no owner.
    assert!(
        after
            .body
            .contains(r#"<dt>Version</dt><dd id="session-version">3</dd>"#)
            && !after.body.contains("<dt>Owner</dt>"),
        "{}",
        after.body
    );

    let ask = console
        .get(&format!("/confirm?action=end&tkn={tkn}"), None)
        .await;
    assert!(ask
        .body
        .contains("End session <span class=\"name\">cart-1</span>?"));
    let ended = console.post("/session/end", None, &body(&ask.csrf())).await;
    assert_eq!(
        (ended.status, ended.field("Location")),
        (303, Some(format!("/?ended={tkn}").as_str()))
    );
    assert!(console
        .get(&format!("/?ended={tkn}"), None)
        .await
        .body
        .contains(&format!("Session {tkn} ended.")));
    assert_eq!(
        console
            .get(&format!("/session?tkn={tkn}"), None)
            .await
            .status,
        404
    );
    assert_eq!(
        console
            .post("/session/end", None, &body(&csrf))
            .await
            .status,
        404
    );
    assert_eq!(
        console.get("/confirm?action=drop&tkn=1", None).await.status,
        400
    );
}

#[tokio::test]
async fn a_session_page_shows_its_owner_escaped_and_its_version() {
    let console = Console::start(&[]).await;
    let mut ws = connect_url(&format!("ws://{}/", console.ws)).await;
    let reply = request(&mut ws, r#"{"SH_NEW":{"owner":"<b>ann</b>"}}"#).await;
    let tkn = reply["SH_NEW_RSP"]["tkn"].as_u64().expect("a token");
    let page = console.get(&format!("/session?tkn={tkn}"), None).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(
            "<dt>Owner</dt><dd>&lt;b&gt;ann&lt;/b&gt;</dd>\n<dt>Version</dt><dd id=\"session-version\">1</dd>"
        ),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn with_secrets_the_console_asks_for_a_login() {
    let console = Console::start(&["s3cret"]).await;
    let tkn = console
        .session(Some("private"), r#"{"a":1}"#, Some("s3cret"))
        .await;

    let denied = console.get("/?q=priv", None).await;
    assert_eq!(denied.status, 401);
    assert!(denied
        .body
        .contains(r#"<input type="hidden" name="next" value="/?q=priv">"#));
    assert!(!denied.body.contains("private"));
    assert_eq!(console.get("/api/live", None).await.status, 401);
    let session_page = console.get(&format!("/session?tkn={tkn}"), None).await;
    assert_eq!(session_page.status, 401);
    assert!(
        session_page.body.contains(&format!(
            r#"<input type="hidden" name="next" value="/session?tkn={tkn}">"#
        )),
        "after the login, back to the page asked for"
    );
    assert_eq!(console.get("/", Some("forged")).await.status, 401);
    assert_eq!(
        console
            .post("/session/end", None, &format!("tkn={tkn}"))
            .await
            .status,
        401
    );

    let wrong = console.post("/login", None, "secret=nope&next=%2F").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("Wrong secret."));
    assert!(wrong.field("Set-Cookie").is_none());

    let ok = console
        .post("/login", None, "secret=s3cret&next=%2F%3Fq%3Dpriv")
        .await;
    assert_eq!((ok.status, ok.field("Location")), (303, Some("/?q=priv")));
    let set_cookie = ok.field("Set-Cookie").expect("a cookie");
    assert!(
        set_cookie.contains("HttpOnly; SameSite=Strict"),
        "{set_cookie}"
    );
    let cookie = set_cookie
        .strip_prefix("sessiondb_admin=")
        .and_then(|c| c.split(';').next())
        .expect("cookie value");
    let offsite = console
        .post("/login", None, "secret=s3cret&next=%2F%2Fevil.example")
        .await;
    assert_eq!(offsite.field("Location"), Some("/"));

    let page = console.get("/?q=priv", Some(cookie)).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("private"));
    let csrf = page.csrf();
    assert_eq!(console.get("/api/live", Some(cookie)).await.status, 200);

    let out = console
        .post("/logout", Some(cookie), &format!("csrf={csrf}"))
        .await;
    assert_eq!(out.status, 303);
    assert!(out
        .field("Set-Cookie")
        .is_some_and(|c| c.contains("Max-Age=0")));
    assert_eq!(console.get("/", Some(cookie)).await.status, 401);
}
