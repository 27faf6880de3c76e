//! Raw mode: JSON requests from standard input, one per line, pipelined; replies printed in order.

use std::io::Write;
use std::time::Duration;

use sessiondb_client::{PendingReply, Reply, Status};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

use crate::{connect, EXIT_CONNECTION, EXIT_STATUS};

/// How many requests may be in flight before reading standard input pauses.
const WINDOW: usize = 1024;

/// Sends every non-empty line of standard input and prints each reply on its own line. Exits 1 if
/// any reply was a failure status, 3 if the connection failed. With `names` (standard output is
/// a terminal, so a person reads it) each reply is followed by its status and the status's name,
/// `st 13 CommandSyntax`; into a pipe or file the replies go exactly as the server sent them.
pub async fn run(url: &str, names: bool, connect_timeout: Duration) -> u8 {
    let client = match connect(url, connect_timeout).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (tx, rx) = mpsc::channel::<PendingReply>(WINDOW);
    let printer = tokio::spawn(print_replies(rx, names));
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut send_failed = false;
    loop {
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => {
                eprintln!("error: reading standard input: {e}");
                send_failed = true;
                break;
            }
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match client.send_text(line).await {
            Ok(pending) => {
                if tx.send(pending).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                send_failed = true;
                break;
            }
        }
    }
    drop(tx);
    let (failures, disconnected) = printer.await.unwrap_or((0, true));
    if disconnected || send_failed {
        EXIT_CONNECTION
    } else if failures > 0 {
        eprintln!("{failures} request(s) failed");
        EXIT_STATUS
    } else {
        0
    }
}

/// The reply as printed: as sent, followed by `  st CODE NAME` when `names` is on.
pub fn annotated(text: &str, status: Option<Status>, names: bool) -> String {
    match status {
        Some(status) if names => format!("{text}  st {} {}", status.code(), status.name()),
        _ => text.to_owned(),
    }
}

/// Prints replies in request order; returns the number of failure replies and whether the
/// connection dropped.
async fn print_replies(mut rx: mpsc::Receiver<PendingReply>, names: bool) -> (u64, bool) {
    let mut out = std::io::BufWriter::new(std::io::stdout());
    let mut failures = 0;
    while let Some(pending) = rx.recv().await {
        match pending.await {
            Ok(text) => {
                let status = Reply::parse(&text).ok().map(|r| r.status());
                if !status.is_some_and(|s| matches!(s.code(), 1 | 121 | 141)) {
                    failures += 1;
                }
                if writeln!(out, "{}", annotated(&text, status, names)).is_err() {
                    return (failures, false);
                }
                // Flush whenever we have caught up, so interactive pipes see replies promptly.
                if rx.is_empty() && out.flush().is_err() {
                    return (failures, false);
                }
            }
            Err(e) => {
                let _ = out.flush();
                eprintln!("error: {e}");
                return (failures, true);
            }
        }
    }
    let _ = out.flush();
    (failures, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_only_for_people() {
        let text = r#"{"ERR":{"st":13}}"#;
        assert_eq!(
            annotated(text, Some(Status(13)), true),
            r#"{"ERR":{"st":13}}  st 13 CommandSyntax"#
        );
        assert_eq!(annotated(text, Some(Status(13)), false), text);
        assert_eq!(annotated("not json", None, true), "not json");
    }
}
