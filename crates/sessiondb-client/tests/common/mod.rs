//! The real server started in this process for the client's tests, on `127.0.0.1:0` or on a
//! given address (to restart one where a stopped one listened).
#![allow(clippy::unwrap_used, dead_code)]

use std::net::SocketAddr;

use sessiondb_client::Client;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// docs/PROTOCOL.md §8.3 test vector: the shared session named `settings`, a token above 2^63.
pub const SETTINGS_TOKEN: u64 = 15900886249489855254;

/// A server running in this process; dropping it does not stop it, `stop` does.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    /// The server task; its error is kept as text so the tests need no anyhow.
    task: JoinHandle<Result<(), String>>,
    _data: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    /// Starts a server whose configuration `adjust` may change.
    pub async fn start_with(adjust: impl FnOnce(&mut sessiondb_server::Config)) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        TestServer::serve(listener, adjust)
    }

    /// A new server on the address a stopped one used.
    pub async fn restart_at(addr: SocketAddr) -> TestServer {
        TestServer::serve(TcpListener::bind(addr).await.unwrap(), |_| {})
    }

    fn serve(
        listener: TcpListener,
        adjust: impl FnOnce(&mut sessiondb_server::Config),
    ) -> TestServer {
        let data = tempfile::tempdir().unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = sessiondb_server::Config {
            data_dir: data.path().to_path_buf(),
            ..sessiondb_server::Config::default()
        };
        adjust(&mut config);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            sessiondb_server::run(listener, config, async {
                let _ = stopped.await;
            })
            .await
            .map_err(|e| e.to_string())
        });
        TestServer {
            addr,
            stop: Some(stop),
            task,
            _data: data,
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    pub async fn client(&self) -> Client {
        Client::connect(&self.url()).await.unwrap()
    }

    /// Shuts the server down and waits until it has closed every connection.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.unwrap().unwrap();
    }
}
