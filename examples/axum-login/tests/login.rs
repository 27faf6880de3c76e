//! The example app driven through its router as tower-sessions' own tests do, with its sessions
//! in the real sessiondb server started in-process on 127.0.0.1:0: login, counter, logout, and
//! sessions expiring after a short inactivity.
#![allow(clippy::unwrap_used)]

use std::time::Duration as StdDuration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use sessiondb_axum_login::app;
use tower::ServiceExt;
use tower_sessions::session::Id;
use tower_sessions::{Expiry, SessionStore};
use tower_sessions_sessiondb_store::SessiondbStore;

#[path = "../../../crates/sessiondb-client/tests/common/mod.rs"]
mod common;

use common::TestServer;

/// A browser of one: remembers the session cookie the app sets.
struct Browser {
    app: Router,
    cookie: Option<String>,
}

impl Browser {
    fn new(app: Router) -> Browser {
        Browser { app, cookie: None }
    }

    /// Sends a request and returns the status and body text, keeping any new cookie.
    async fn send(&mut self, method: &str, uri: &str, form: Option<&str>) -> (StatusCode, String) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(cookie) = &self.cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let body = match form {
            Some(form) => {
                request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                Body::from(form.to_owned())
            }
            None => Body::empty(),
        };
        let response = self
            .app
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        if let Some(set) = response.headers().get(header::SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap();
            // An emptied cookie is how the app says the session is over.
            self.cookie = (pair != "id=").then(|| pair.to_owned());
        }
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    async fn counter(&mut self) -> (StatusCode, String) {
        self.send("GET", "/counter", None).await
    }

    /// The session id in the cookie.
    fn session_id(&self) -> Id {
        let cookie = self.cookie.as_deref().unwrap();
        cookie.strip_prefix("id=").unwrap().parse().unwrap()
    }
}

fn ok(text: &str) -> (StatusCode, String) {
    (StatusCode::OK, text.to_owned())
}

fn logged_out() -> (StatusCode, String) {
    (StatusCode::UNAUTHORIZED, "not logged in".to_owned())
}

#[tokio::test]
async fn login_count_logout_and_count_again_from_one() {
    let server = TestServer::start().await;
    let store = SessiondbStore::new(server.client().await);
    let mut browser = Browser::new(app(store.clone(), Expiry::OnSessionEnd));

    assert_eq!(browser.counter().await, logged_out());
    assert_eq!(
        browser.cookie, None,
        "a visit that stores nothing gets no session"
    );
    let login = browser.send("POST", "/login", Some("user=ann")).await;
    assert_eq!(login, ok("logged in as ann"));
    assert_eq!(browser.counter().await, ok("ann: 1"));
    assert_eq!(browser.counter().await, ok("ann: 2"));
    assert_eq!(browser.counter().await, ok("ann: 3"));

    // The count is in sessiondb, in the session named after the cookie's id.
    let id = browser.session_id();
    let record = store.load(&id).await.unwrap().unwrap();
    assert_eq!(record.data["user"], "ann");
    assert_eq!(record.data["count"], 3);
    let info = store.client().sh_info(store.token(&id)).await.unwrap();
    assert_eq!(info.name, Some(format!("tower-sessions:{id}")));

    assert_eq!(
        browser.send("POST", "/logout", None).await,
        ok("logged out")
    );
    assert_eq!(browser.cookie, None);
    let tkn = store.token(&id);
    assert_eq!(
        store.client().sh_exists(&[tkn]).await.unwrap(),
        Vec::<u64>::new()
    );
    assert_eq!(store.load(&id).await.unwrap(), None);
    // No session holds a record any more.
    assert_eq!(store.client().sh_info_all().await.unwrap().total_keys, 0);
    assert_eq!(browser.counter().await, logged_out());

    // An old cookie replayed after logout is not logged in either.
    browser.cookie = Some(format!("id={id}"));
    assert_eq!(browser.counter().await, logged_out());

    let login = browser.send("POST", "/login", Some("user=ann")).await;
    assert_eq!(login, ok("logged in as ann"));
    assert_ne!(browser.session_id(), id, "login draws a new id");
    assert_eq!(browser.counter().await, ok("ann: 1"));
}

#[tokio::test]
async fn two_browsers_count_apart() {
    let server = TestServer::start().await;
    let app = app(
        SessiondbStore::new(server.client().await),
        Expiry::OnSessionEnd,
    );
    let mut ann = Browser::new(app.clone());
    let mut bob = Browser::new(app);
    ann.send("POST", "/login", Some("user=ann")).await;
    bob.send("POST", "/login", Some("user=bob")).await;
    assert_eq!(ann.counter().await, ok("ann: 1"));
    assert_eq!(ann.counter().await, ok("ann: 2"));
    assert_eq!(bob.counter().await, ok("bob: 1"));
    let empty = ann.send("POST", "/login", Some("user=")).await;
    assert_eq!(
        empty,
        (StatusCode::BAD_REQUEST, "user must not be empty".into())
    );
}

#[tokio::test]
async fn an_idle_session_expires_and_a_visit_keeps_it_alive() {
    let server = TestServer::start().await;
    let store = SessiondbStore::new(server.client().await);
    let inactivity = Expiry::OnInactivity(time::Duration::seconds(2));
    let mut browser = Browser::new(app(store.clone(), inactivity));
    browser.send("POST", "/login", Some("user=ann")).await;
    let id = browser.session_id();

    // Each visit saves the session and so re-arms it for two more seconds: after 2.4 s in all
    // it is still there.
    tokio::time::sleep(StdDuration::from_millis(1200)).await;
    assert_eq!(browser.counter().await, ok("ann: 1"));
    tokio::time::sleep(StdDuration::from_millis(1200)).await;
    assert_eq!(browser.counter().await, ok("ann: 2"));

    // Two seconds without a visit: sessiondb has deleted it.
    tokio::time::sleep(StdDuration::from_millis(2300)).await;
    let tkn = store.token(&id);
    assert_eq!(
        store.client().sh_exists(&[tkn]).await.unwrap(),
        Vec::<u64>::new()
    );
    assert_eq!(browser.counter().await, logged_out());
}
