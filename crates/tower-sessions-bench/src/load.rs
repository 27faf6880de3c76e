//! The load driver: virtual users, each on one keep-alive HTTP/1.1 connection, for a fixed time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// What each virtual user does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// Log in once, then `GET /counter` again and again: a session load and a save per request.
    Counter,
    /// `POST /login` again and again without a cookie: a new session per request.
    Login,
}

/// Requests completed by all users and the time they took.
pub struct Outcome {
    /// Requests answered 200 with the expected body.
    pub requests: u64,
    /// Wall-clock time of the measured part.
    pub elapsed: Duration,
}

impl Outcome {
    /// Requests per second.
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs `users` virtual users against the app at `addr` for `duration`.
pub async fn run(
    addr: SocketAddr,
    workload: Workload,
    users: usize,
    duration: Duration,
) -> anyhow::Result<Outcome> {
    let mut ready = Vec::with_capacity(users);
    for user in 0..users {
        ready.push(User::connect(addr, workload, user).await?);
    }
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = ready
        .into_iter()
        .map(|user| tokio::spawn(user.run_until(deadline)))
        .collect();
    let mut requests = 0;
    for task in tasks {
        requests += task.await??;
    }
    Ok(Outcome {
        requests,
        elapsed: start.elapsed(),
    })
}

/// One virtual user: a connection and, for the counter workload, a logged-in session.
struct User {
    sender: SendRequest<Full<Bytes>>,
    workload: Workload,
    name: String,
    cookie: Option<String>,
    count: u64,
}

impl User {
    async fn connect(addr: SocketAddr, workload: Workload, n: usize) -> anyhow::Result<User> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP handshake")?;
        tokio::spawn(connection);
        let mut user = User {
            sender,
            workload,
            name: format!("user{n}"),
            cookie: None,
            count: 0,
        };
        if workload == Workload::Counter {
            user.login().await?;
        }
        Ok(user)
    }

    async fn run_until(mut self, deadline: Instant) -> anyhow::Result<u64> {
        let mut done = 0;
        while Instant::now() < deadline {
            match self.workload {
                Workload::Counter => self.visit_counter().await?,
                Workload::Login => self.login().await?,
            }
            done += 1;
        }
        Ok(done)
    }

    /// `POST /login`; keeps the session cookie.
    async fn login(&mut self) -> anyhow::Result<()> {
        let request = Request::builder()
            .method(Method::POST)
            .uri("/login")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(format!("user={}", self.name))))?;
        let response = self.sender.send_request(request).await?;
        let cookie = response
            .headers()
            .get(SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::to_owned);
        let (status, body) = (response.status(), response.into_body().collect().await?);
        expect(
            status,
            &body.to_bytes(),
            &format!("logged in as {}", self.name),
        )?;
        self.cookie = Some(cookie.context("login set no cookie")?);
        self.count = 0;
        Ok(())
    }

    /// `GET /counter` with the session cookie; checks the count went up by one.
    async fn visit_counter(&mut self) -> anyhow::Result<()> {
        let mut request = Request::builder().method(Method::GET).uri("/counter");
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie);
        }
        let response = self
            .sender
            .send_request(request.body(Full::default())?)
            .await?;
        let (status, body) = (response.status(), response.into_body().collect().await?);
        self.count += 1;
        expect(
            status,
            &body.to_bytes(),
            &format!("{}: {}", self.name, self.count),
        )
    }
}

fn expect(status: StatusCode, body: &[u8], expected: &str) -> anyhow::Result<()> {
    if status != StatusCode::OK || body != expected.as_bytes() {
        bail!(
            "expected 200 {expected:?}, got {status} {:?}",
            String::from_utf8_lossy(body)
        );
    }
    Ok(())
}
