//! The admin console on `--admin-addr`: a web page served from the binary for the operator who
//! wants to see what the server holds — live counts and the ops/s of the last minutes, sessions
//! found by name prefix with their remaining time, one session's keys and values, the upcoming
//! expiries — and to end or clear a session (after a confirmation page).
//!
//! Plain HTTP/1.1, one request per connection, pages rendered on the server (a search is a link:
//! `GET /?q=<prefix>`); a small script only refreshes the counts and the chart. All data comes
//! through the [`Engine`]'s read-only views and commands; views are bounded to a page, so a store
//! of a million sessions answers as quickly as one shard's scan allows.
//!
//! Listings filter through [`SessionFilter`]; a search by owner is one more filter variant and
//! one more query field in [`Console::dashboard`].

mod login;
mod page;
mod request;
mod response;
mod samples;

use std::future::Future;
use std::sync::Arc;

use sessiondb_core::store::{SessionFilter, SessionQuery, TimelineQuery, ViewLimits};
use sessiondb_core::{Command, Outcome, Token};
use sessiondb_service::{Engine, ServerStats, Service};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

pub use login::{Access, LoginAttempt, Logins, COOKIE};
pub use samples::OpsRate;

use crate::auth::AuthConfig;
use crate::metrics::Metrics;
use crate::stats::Stats;
use page::{Action, Dashboard, Live};
use response::Response;

/// Sessions on one page of a search.
pub const PAGE_SIZE: usize = 50;
/// The expiry timeline: the next 10 sessions due, and the next hour by minute.
pub const TIMELINE: TimelineQuery = TimelineQuery {
    next: 10,
    bucket_ms: 60_000,
    buckets: 60,
};
/// How much of a session its page shows.
pub const SHOWN: ViewLimits = ViewLimits {
    max_keys: 200,
    max_value_bytes: 2048,
};
/// A confirmation page shows no keys.
const NO_KEYS: ViewLimits = ViewLimits {
    max_keys: 0,
    max_value_bytes: 0,
};

const CSS: &str = include_str!("assets/admin.css");
const JS: &str = include_str!("assets/admin.js");

/// What the console reads and acts on.
pub struct Console {
    service: Arc<Service>,
    stats: Arc<Stats>,
    logins: Logins,
    rate: Arc<OpsRate>,
    metrics: Arc<Metrics>,
}

impl Console {
    /// A console over `service`'s engine, counting `stats`' connections and `metrics`' replies,
    /// asking for a login when `auth` has secrets.
    pub fn new(
        service: Arc<Service>,
        stats: Arc<Stats>,
        metrics: Arc<Metrics>,
        auth: Arc<AuthConfig>,
    ) -> Self {
        Self {
            service,
            stats,
            logins: Logins::new(auth),
            rate: Arc::new(OpsRate::default()),
            metrics,
        }
    }

    fn now_ms(&self) -> u64 {
        self.service.settings().clock.now_ms()
    }

    fn live(&self) -> Live {
        let (sessions, keys) = self.service.engine().counts(self.now_ms());
        Live {
            sessions,
            keys,
            connections: self.stats.connections(),
        }
    }

    /// Answers one request.
    fn respond(&self, req: &request::Request) -> Response {
        if !self.logins.required() && !names_an_address(req.header("host")) {
            return Response::text(
                403,
                "without --auth-secret the console answers requests to an IP address or localhost only",
            );
        }
        let access = self.logins.access(req.cookie(COOKIE));
        let post = req.method == "POST";
        if post && !same_origin(req) {
            return Response::text(403, "cross-site form posts are refused");
        }
        match (req.method.as_str(), req.path.as_str()) {
            ("GET" | "HEAD", "/admin.css") => Response::asset("text/css; charset=utf-8", CSS),
            ("GET" | "HEAD", "/admin.js") => Response::asset("text/javascript; charset=utf-8", JS),
            ("POST", "/login") => self.log_in(req),
            (_, "/login" | "/logout" | "/session/end" | "/session/clear") if !post => {
                Response::text(405, "use POST").with_header("Allow", "POST".to_owned())
            }
            _ if access == Access::Denied => self.login_required(req),
            ("POST", "/logout") => self.log_out(req, &access),
            ("POST", "/session/end") => self.act(req, &access, Action::End),
            ("POST", "/session/clear") => self.act(req, &access, Action::Clear),
            ("GET" | "HEAD", "/") => self.dashboard(req, &access),
            ("GET" | "HEAD", "/api/live") => self.api_live(),
            ("GET" | "HEAD", "/session") => self.session(req, &access),
            ("GET" | "HEAD", "/confirm") => self.confirm(req, &access),
            (_, "/" | "/api/live" | "/session" | "/confirm") => {
                Response::text(405, "use GET").with_header("Allow", "GET, HEAD".to_owned())
            }
            _ => Response::html(404, page::not_found("No such page.", logout_csrf(&access))),
        }
    }

    fn login_required(&self, req: &request::Request) -> Response {
        if req.path == "/api/live" {
            return Response::text(401, "log in first");
        }
        // After the login, back to the page asked for (a console path, rebuilt from its decoded
        // parts, so nothing but a path of this console can come out).
        let next = if req.method == "GET" {
            let query = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&req.query)
                .finish();
            if query.is_empty() {
                req.path.clone()
            } else {
                format!("{}?{query}", req.path)
            }
        } else {
            "/".to_owned()
        };
        let next = if is_console_path(&next) {
            next
        } else {
            "/".to_owned()
        };
        Response::html(401, page::login(false, &next))
    }

    fn log_in(&self, req: &request::Request) -> Response {
        let next = req
            .form("next")
            .filter(|n| is_console_path(n))
            .unwrap_or("/");
        match self.logins.log_in(req.form("secret").unwrap_or("")) {
            LoginAttempt::LoggedIn(cookie) => Response::see_other(next.to_owned())
                .with_header("Set-Cookie", login::set_cookie(&cookie)),
            LoginAttempt::Throttled => Response::text(
                429,
                "too many failed logins in the last minute; try again later",
            )
            .with_header("Retry-After", login::FAILURE_WINDOW.as_secs().to_string()),
            LoginAttempt::Refused if self.logins.required() => {
                Response::html(401, page::login(true, next))
            }
            LoginAttempt::Refused => Response::see_other("/".to_owned()),
        }
    }

    fn log_out(&self, req: &request::Request, access: &Access) -> Response {
        if !access.csrf_matches(req.form("csrf")) {
            return Response::text(403, "missing or wrong form token");
        }
        self.logins.log_out(req.cookie(COOKIE));
        Response::see_other("/".to_owned()).with_header("Set-Cookie", login::clear_cookie())
    }

    fn dashboard(&self, req: &request::Request, access: &Access) -> Response {
        let prefix = req.query("q").unwrap_or("");
        let after_tkn = page::parse_tkn(req.query("after_tkn"));
        let after = after_tkn.map(|tkn| (req.query("after").unwrap_or(""), tkn));
        let now_ms = self.now_ms();
        let engine = self.service.engine();
        let found = engine.list_sessions(
            &SessionQuery {
                filter: SessionFilter::NamePrefix(prefix),
                after,
                limit: PAGE_SIZE,
            },
            now_ms,
        );
        let timeline = engine.expiry_timeline(&TIMELINE, now_ms);
        let ops = self.rate.per_sec();
        let notice = page::parse_tkn(req.query("ended")).map(|t| format!("Session {t} ended."));
        let d = Dashboard {
            live: self.live(),
            ops: &ops,
            prefix,
            found: &found,
            continued: after.is_some(),
            timeline: &timeline,
            bucket_ms: TIMELINE.bucket_ms,
            now_ms,
            notice,
        };
        Response::html(200, page::dashboard(&d, logout_csrf(access)))
    }

    fn api_live(&self) -> Response {
        let live = self.live();
        let ops = self.rate.per_sec();
        let (points, top) = page::ops_points(&ops);
        Response::json(&serde_json::json!({
            "sessions": live.sessions,
            "keys": live.keys,
            "connections": live.connections,
            "ops_per_sec": ops.last().copied().unwrap_or(0),
            "ops_points": points,
            "ops_top": top,
        }))
    }

    fn session(&self, req: &request::Request, access: &Access) -> Response {
        let csrf = logout_csrf(access);
        let Some(tkn) = page::parse_tkn(req.query("tkn")) else {
            return Response::html(
                400,
                page::not_found("Give a session token: /session?tkn=N.", csrf),
            );
        };
        let now_ms = self.now_ms();
        match self.service.engine().view_session(tkn, &SHOWN, now_ms) {
            Some(view) => {
                let notice = req.query("cleared").map(|_| "Keys cleared.");
                Response::html(200, page::session(&view, now_ms, csrf, notice))
            }
            None => self.no_session(tkn, access),
        }
    }

    fn confirm(&self, req: &request::Request, access: &Access) -> Response {
        let (Some(action), Some(tkn), Some(csrf)) = (
            req.query("action").and_then(Action::from_name),
            page::parse_tkn(req.query("tkn")),
            access.csrf(),
        ) else {
            return Response::html(
                400,
                page::not_found(
                    "Confirm what? /confirm?action=end|clear&tkn=N.",
                    logout_csrf(access),
                ),
            );
        };
        match self
            .service
            .engine()
            .view_session(tkn, &NO_KEYS, self.now_ms())
        {
            Some(view) => Response::html(
                200,
                page::confirm(action, &view.summary, csrf, logout_csrf(access)),
            ),
            None => self.no_session(tkn, access),
        }
    }

    /// Runs a confirmed action: the form must carry this login's (or console's) CSRF token.
    fn act(&self, req: &request::Request, access: &Access, action: Action) -> Response {
        if !access.csrf_matches(req.form("csrf")) {
            return Response::text(403, "missing or wrong form token");
        }
        let Some(tkn) = page::parse_tkn(req.form("tkn")) else {
            return Response::text(400, "missing or malformed tkn");
        };
        let cmd = match action {
            Action::End => Command::ShEnd { tkn: Some(tkn) },
            Action::Clear => Command::ShClear { tkn: Some(tkn) },
        };
        let mut no_values = |_: usize, _: &str| {};
        match self
            .service
            .engine()
            .execute_into(cmd, self.now_ms(), &mut no_values)
        {
            Outcome::NoSession { .. } => self.no_session(tkn, access),
            _ if action == Action::End => Response::see_other(format!("/?ended={tkn}")),
            _ => Response::see_other(format!("/session?tkn={tkn}&cleared=1")),
        }
    }

    fn no_session(&self, tkn: Token, access: &Access) -> Response {
        Response::html(
            404,
            page::not_found(
                &format!("No live session has token {tkn}."),
                logout_csrf(access),
            ),
        )
    }
}

/// The CSRF token for the logout button: only a logged-in page has one.
fn logout_csrf(access: &Access) -> Option<&str> {
    match access {
        Access::LoggedIn { csrf } => Some(csrf),
        _ => None,
    }
}

/// Whether a post comes from the console's own pages, as far as the browser says: a browser
/// names the page's origin (`Origin`) or how it relates to it (`Sec-Fetch-Site`); a client that
/// sends neither (curl, a test) is judged by the form token alone.
fn same_origin(req: &request::Request) -> bool {
    if req
        .header("sec-fetch-site")
        .is_some_and(|s| !matches!(s, "same-origin" | "none"))
    {
        return false;
    }
    match (req.header("origin"), req.header("host")) {
        (None, _) => true,
        (Some(origin), Some(host)) => {
            origin == format!("http://{host}") || origin == format!("https://{host}")
        }
        (Some(_), None) => false,
    }
}

/// Whether a `Host` field names an IP address or `localhost` (with or without a port). Without
/// a login, this is what keeps another site from reaching the console through DNS rebinding (its
/// own name resolved to the console's address, which would make its pages same-origin).
fn names_an_address(host: Option<&str>) -> bool {
    let Some(host) = host.map(str::trim) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or("", |(addr, _)| addr),
        None => host
            .rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok()
}

/// Whether `path` is a path on this console (where a login may lead): not another host's URL.
fn is_console_path(path: &str) -> bool {
    path.starts_with('/') && !path.starts_with("//") && !path.contains('\\')
}

/// Serves the console on `listener` until `shutdown` completes, sampling the ops rate meanwhile.
pub async fn serve(
    listener: TcpListener,
    console: Arc<Console>,
    shutdown: impl Future<Output = ()> + Send,
) {
    let sampler = tokio::spawn(samples::run_sampler(
        Arc::clone(&console.metrics),
        Arc::clone(&console.rate),
    ));
    crate::http::accept_each(listener, "admin console", shutdown, |stream| {
        handle(stream, Arc::clone(&console))
    })
    .await;
    sampler.abort();
}

async fn handle(mut stream: TcpStream, console: Arc<Console>) -> std::io::Result<()> {
    let read = tokio::time::timeout(request::REQUEST_TIMEOUT, request::read(&mut stream)).await;
    let req = match read {
        Err(_) | Ok(Err(None)) => return Ok(()),
        Ok(Err(Some(answer))) => {
            crate::http::answer(&mut stream, &answer).await;
            return Ok(());
        }
        Ok(Ok(req)) => req,
    };
    let head_only = req.method == "HEAD";
    // Views scan the store shard by shard: off the async threads.
    let response = tokio::task::spawn_blocking(move || console.respond(&req))
        .await
        .unwrap_or_else(|_| Response::text(500, "internal error"));
    stream.write_all(&response.to_bytes(head_only)).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_paths_are_followed_after_login() {
        assert!(is_console_path("/?q=a"));
        for bad in ["//evil.example/", "https://evil.example/", "/\\evil", ""] {
            assert!(!is_console_path(bad), "{bad}");
        }
    }

    #[test]
    fn only_addresses_and_localhost_are_hosts_without_a_login() {
        for host in [
            "127.0.0.1:9188",
            "127.0.0.1",
            "[::1]:9188",
            "localhost:80",
            "LOCALHOST",
        ] {
            assert!(names_an_address(Some(host)), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:9188",
            "127.0.0.1.evil.example",
            "",
            "[::1",
        ] {
            assert!(!names_an_address(Some(host)), "{host}");
        }
        assert!(!names_an_address(None));
    }

    #[test]
    fn cross_site_posts_are_told_apart() {
        let req = |fields: &[(&str, &str)]| request::Request {
            headers: fields
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            ..request::Request::default()
        };
        assert!(same_origin(&req(&[])));
        assert!(same_origin(&req(&[
            ("host", "h:1"),
            ("origin", "http://h:1")
        ])));
        assert!(same_origin(&req(&[("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&req(&[
            ("host", "h:1"),
            ("origin", "http://evil")
        ])));
        assert!(!same_origin(&req(&[("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&req(&[("origin", "http://h:1")])));
    }
}
