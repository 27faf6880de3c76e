//! The real `sessiondb` executable as a child process: start it on port 0, learn its address
//! from the "listening on ws://" log line, keep its log, and stop it with SIGTERM or SIGKILL.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::HANG_GUARD;

/// The log line announcing the address; the address follows it.
const LISTENING: &str = "listening on ws://";

/// A `sessiondb` command on a free port (`--port 0`) with `data` as its data directory, its
/// log on a piped stderr and `RUST_LOG` removed so only `--log-level` decides what is logged.
/// Add `--log-level info` (or more verbose): the address is read from an info line.
pub fn command(data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sessiondb"));
    cmd.args(["--port", "0", "--data-dir"])
        .arg(data)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// A `sessiondb` that exited before it listened: its exit code (-1 if killed by a signal)
/// and everything it logged.
#[derive(Debug)]
pub struct Exited {
    /// The exit code.
    pub code: i32,
    /// Every log line.
    pub log: Vec<String>,
}

/// A running `sessiondb` child process; killed when dropped (matters when a test fails early).
pub struct Running {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The log lines up to and including the "listening" line.
    pub startup_log: Vec<String>,
    log: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
}

/// Spawns `cmd` (see [`command`]) and waits for its "listening" line. A thread keeps reading
/// its log, so the server never blocks on a full pipe.
pub fn spawn(cmd: &mut Command) -> Result<Running, Exited> {
    let mut child = cmd.spawn().expect("spawn sessiondb");
    let stderr = child.stderr.take().expect("stderr is piped");
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&log);
    let (tx, rx) = mpsc::channel::<(SocketAddr, Vec<String>)>();
    let reader = std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let addr = line.find(LISTENING).and_then(|at| {
                line[at + LISTENING.len()..]
                    .split_whitespace()
                    .next()
                    .and_then(|a| a.parse::<SocketAddr>().ok())
            });
            let mut log = sink.lock().expect("log lock");
            log.push(line);
            // Only the first "listening" line is announced.
            if let Some(addr) = addr {
                if let Some(tx) = tx.take() {
                    let _ = tx.send((addr, log.clone()));
                }
            }
        }
    });
    match rx.recv_timeout(HANG_GUARD) {
        Ok((addr, startup_log)) => Ok(Running {
            child,
            addr,
            startup_log,
            log,
            reader: Some(reader),
        }),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The log ended without the line: the process exited.
            let status = child.wait().expect("wait for sessiondb");
            let _ = reader.join();
            let log = log.lock().expect("log lock").clone();
            Err(Exited {
                code: status.code().unwrap_or(-1),
                log,
            })
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            let _ = child.kill();
            panic!("sessiondb did not listen within {HANG_GUARD:?}");
        }
    }
}

/// Starts `sessiondb --log-level info` on `data` with `extra` arguments; panics if it exits
/// instead of listening.
pub fn start(data: &Path, extra: &[&str]) -> Running {
    spawn(command(data).args(["--log-level", "info"]).args(extra))
        .unwrap_or_else(|e| panic!("sessiondb exited before listening: {e:?}"))
}

impl Running {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `ws://ADDR/`.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// The server's resident memory, from `/proc/PID/status`.
    pub fn resident_bytes(&self) -> u64 {
        self.status_bytes("VmRSS:")
    }

    /// The most resident memory the server has had so far (`VmHWM`, the kernel's high-water
    /// mark), so a short peak is seen without sampling.
    pub fn peak_resident_bytes(&self) -> u64 {
        self.status_bytes("VmHWM:")
    }

    /// A `kB` field of `/proc/PID/status`, in bytes.
    fn status_bytes(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc status");
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{field} missing from /proc status"));
        kib * 1024
    }

    /// Sends SIGTERM and waits for the exit status.
    pub async fn terminate(mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill failed");
        tokio::task::spawn_blocking(move || self.child.wait().expect("wait"))
            .await
            .expect("wait task")
    }

    /// Waits for the server to exit on its own; its exit code (-1 if killed by a signal) and
    /// every line it logged. Blocks the thread: call it in `block_in_place` from async code.
    pub fn wait_exit(&mut self) -> (i32, Vec<String>) {
        let status = self.child.wait().expect("wait for sessiondb");
        if let Some(reader) = self.reader.take() {
            reader.join().expect("log reader panicked");
        }
        let log = self.log.lock().expect("log lock").clone();
        (status.code().unwrap_or(-1), log)
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(mut self) {
        self.child.kill().expect("kill");
        let _ = self.child.wait();
    }

    /// SIGKILL, then every line the server logged: its stderr closes when it dies, so once
    /// the reader has seen the end nothing is missing.
    pub fn kill9_and_log(mut self) -> Vec<String> {
        self.child.kill().expect("kill");
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            reader.join().expect("log reader panicked");
        }
        let log = self.log.lock().expect("log lock").clone();
        log
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
