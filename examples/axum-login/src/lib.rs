//! An axum app whose sessions live in sessiondb: log in with a name, count visits, log out.
//!
//! [`app`] takes any tower-sessions store, so the same app runs on sessiondb (the `serve`
//! binary) and, for comparison, on other stores (the tower-sessions benchmark).
//!
//! | Request | Reply |
//! |---|---|
//! | `POST /login` with form `user=NAME` | `logged in as NAME`, a new session id in the cookie |
//! | `GET /counter` | `NAME: N`, N counting this session's visits from 1; 401 when logged out |
//! | `POST /logout` | `logged out`; the session is deleted from the store |

use axum::extract::Form;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use tower_sessions::{Expiry, Session, SessionManagerLayer, SessionStore};

/// The session key holding the logged-in user's name.
const USER: &str = "user";
/// The session key holding the visit count.
const COUNT: &str = "count";

/// The app on `store`, its sessions expiring as `expiry` says.
pub fn app<S: SessionStore + Clone>(store: S, expiry: Expiry) -> Router {
    let sessions = SessionManagerLayer::new(store)
        .with_secure(false) // the example is served over plain HTTP
        .with_expiry(expiry);
    Router::new()
        .route("/login", post(login))
        .route("/counter", get(counter))
        .route("/logout", post(logout))
        .layer(sessions)
}

/// The login form.
#[derive(Deserialize)]
struct Login {
    user: String,
}

async fn login(session: Session, Form(login): Form<Login>) -> Result<Response, AppError> {
    if login.user.is_empty() {
        return Ok((StatusCode::BAD_REQUEST, "user must not be empty").into_response());
    }
    // A new id at login, so that an id planted before it does not become a logged-in one.
    session.cycle_id().await?;
    session.insert(USER, &login.user).await?;
    session.insert(COUNT, 0u64).await?;
    Ok(format!("logged in as {}", login.user).into_response())
}

async fn counter(session: Session) -> Result<Response, AppError> {
    let Some(user) = session.get::<String>(USER).await? else {
        return Ok((StatusCode::UNAUTHORIZED, "not logged in").into_response());
    };
    let count = session.get::<u64>(COUNT).await?.unwrap_or(0) + 1;
    session.insert(COUNT, count).await?;
    Ok(format!("{user}: {count}").into_response())
}

async fn logout(session: Session) -> Result<&'static str, AppError> {
    session.flush().await?;
    Ok("logged out")
}

/// A session store failure, answered 500 with its message.
struct AppError(tower_sessions::session::Error);

impl From<tower_sessions::session::Error> for AppError {
    fn from(e: tower_sessions::session::Error) -> AppError {
        AppError(e)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("session store: {}", self.0),
        )
            .into_response()
    }
}
