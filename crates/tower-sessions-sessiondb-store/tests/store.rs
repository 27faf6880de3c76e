//! The store against the real server, started in-process on 127.0.0.1:0: the record's round
//! trip, collisions, expiry kept on the record's date, and failures named by their status.
#![allow(clippy::unwrap_used)]

use std::time::Duration as StdDuration;

use serde_json::json;
use sessiondb_client::{Expiry, SessionOptions};
use time::{Duration, OffsetDateTime};
use tower_sessions_core::session::{Id, Record};
use tower_sessions_core::session_store::Error;
use tower_sessions_core::SessionStore;
use tower_sessions_sessiondb_store::SessiondbStore;

#[path = "../../sessiondb-client/tests/common/mod.rs"]
mod common;

use common::TestServer;

/// A record expiring in `expires_in`, its date in whole milliseconds as the store keeps it.
fn record(expires_in: Duration) -> Record {
    let expiry_date = OffsetDateTime::now_utc() + expires_in;
    let millis = expiry_date.nanosecond() / 1_000_000 * 1_000_000;
    Record {
        id: Id::default(),
        data: [
            ("user".to_owned(), json!("ann")),
            ("n".to_owned(), json!(1)),
        ]
        .into_iter()
        .collect(),
        expiry_date: expiry_date.replace_nanosecond(millis).unwrap(),
    }
}

/// Expiry settings and remaining time of the session holding `id`'s record.
async fn armed(store: &SessiondbStore, id: &Id) -> Option<(Expiry, u64)> {
    let info = store.client().sh_info(store.token(id)).await.unwrap();
    info.expiry.map(|e| (e.settings, e.remaining))
}

/// Whether the session holding `id`'s record exists on the server.
async fn exists(store: &SessiondbStore, id: &Id) -> bool {
    let tkn = store.token(id);
    store.client().sh_exists(&[tkn]).await.unwrap() == [tkn]
}

#[tokio::test]
async fn create_load_save_delete() {
    let server = TestServer::start().await;
    let store = SessiondbStore::new(server.client().await);
    let mut r = record(Duration::hours(1));
    store.create(&mut r).await.unwrap();
    assert_eq!(store.load(&r.id).await.unwrap(), Some(r.clone()));

    // What is on the server: one shared session named after the id, with the two keys.
    let info = store.client().sh_info(store.token(&r.id)).await.unwrap();
    assert!(info.shared);
    let name = format!("tower-sessions:{}", r.id);
    assert_eq!(info.name.as_ref(), Some(&name));
    assert_eq!(info.key_count, 2);
    let opened = store.client().sh_open(&name).await.unwrap();
    assert_eq!(opened, store.token(&r.id));

    r.data.remove("n");
    r.data.insert("theme".into(), json!({"dark": true}));
    store.save(&r).await.unwrap();
    assert_eq!(store.load(&r.id).await.unwrap(), Some(r.clone()));

    store.delete(&r.id).await.unwrap();
    assert!(!exists(&store, &r.id).await);
    assert_eq!(store.load(&r.id).await.unwrap(), None);
    // Deleting again, and saving a deleted record, change nothing.
    store.delete(&r.id).await.unwrap();
    store.save(&r).await.unwrap();
    assert_eq!(store.load(&r.id).await.unwrap(), None);
    assert_eq!(store.load(&Id::default()).await.unwrap(), None);
}

#[tokio::test]
async fn create_draws_a_new_id_when_the_name_is_taken() {
    let server = TestServer::start().await;
    let store = SessiondbStore::new(server.client().await);
    let mut first = record(Duration::hours(1));
    store.create(&mut first).await.unwrap();

    let mut second = record(Duration::hours(1));
    second.id = first.id;
    second.data.insert("user".into(), json!("bob"));
    store.create(&mut second).await.unwrap();
    assert_ne!(second.id, first.id);
    assert_eq!(store.load(&first.id).await.unwrap(), Some(first));
    assert_eq!(store.load(&second.id).await.unwrap(), Some(second));
}

#[tokio::test]
async fn namespaces_keep_applications_apart() {
    let server = TestServer::start().await;
    let shop = SessiondbStore::new(server.client().await).with_namespace("shop:");
    let blog = SessiondbStore::new(server.client().await).with_namespace("blog:");
    let mut r = record(Duration::hours(1));
    shop.create(&mut r).await.unwrap();
    assert_eq!(blog.load(&r.id).await.unwrap(), None);
    assert_eq!(shop.load(&r.id).await.unwrap(), Some(r));
}

#[tokio::test]
async fn the_session_expires_at_the_record_date_and_a_save_re_arms_it() {
    let server = TestServer::start().await;
    let store = SessiondbStore::new(server.client().await);
    let mut short = record(Duration::seconds(1));
    store.create(&mut short).await.unwrap();
    let (settings, _) = armed(&store, &short.id).await.unwrap();
    let expected = Expiry::after(1)
        .delete_session(true)
        .extend_on_set_add(true);
    assert_eq!(settings, expected);

    // A later save with a later date re-arms it: recreated for 60 s, still extending.
    let mut kept = record(Duration::seconds(1));
    store.create(&mut kept).await.unwrap();
    kept.expiry_date = record(Duration::seconds(60)).expiry_date;
    store.save(&kept).await.unwrap();
    let (settings, remaining) = armed(&store, &kept.id).await.unwrap();
    assert_eq!(
        settings,
        Expiry {
            duration: 60,
            ..expected
        }
    );
    assert!((58..=60).contains(&remaining), "remaining {remaining}");

    tokio::time::sleep(StdDuration::from_millis(1300)).await;
    assert!(!exists(&store, &short.id).await);
    assert_eq!(store.load(&short.id).await.unwrap(), None);
    assert_eq!(store.load(&kept.id).await.unwrap(), Some(kept));
}

#[tokio::test]
async fn a_record_that_has_expired_is_not_stored() {
    let server = TestServer::start().await;
    let store = SessiondbStore::new(server.client().await);
    let mut r = record(Duration::hours(1));
    store.create(&mut r).await.unwrap();
    r.expiry_date = OffsetDateTime::now_utc() - Duration::seconds(1);
    store.save(&r).await.unwrap();
    assert!(!exists(&store, &r.id).await);
    store.create(&mut r).await.unwrap();
    assert_eq!(store.load(&r.id).await.unwrap(), None);
}

#[tokio::test]
async fn failures_name_the_command_and_the_status() {
    let server = TestServer::start_with(|c| c.max_sessions = Some(1)).await;
    let client = server.client().await;
    client
        .sh_new(SessionOptions::new().expiry(Expiry::after(60)))
        .await
        .unwrap();
    let store = SessiondbStore::new(client);
    let err = store
        .create(&mut record(Duration::hours(1)))
        .await
        .unwrap_err();
    let Error::Backend(message) = err else {
        panic!("expected a backend error, got {err:?}")
    };
    assert_eq!(message, "sessiondb SH_NEW: LimitReached (170)");
}

#[tokio::test]
async fn a_damaged_record_is_a_decode_error() {
    let server = TestServer::start().await;
    let store = SessiondbStore::new(server.client().await);
    let mut r = record(Duration::hours(1));
    store.create(&mut r).await.unwrap();
    let tkn = store.token(&r.id);
    store
        .client()
        .sh_set(tkn, json!({"data": [1]}))
        .await
        .unwrap();
    let err = store.load(&r.id).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "Decoding failed with: data: invalid type: sequence, expected a map"
    );
}
