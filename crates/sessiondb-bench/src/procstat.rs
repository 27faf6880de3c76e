//! CPU time of a process from `/proc/<pid>/stat`, to report server CPU per request and to show
//! whether the generator itself was saturated.

use anyhow::{anyhow, Context, Result};
use std::time::Duration;

/// Linux reports utime/stime in USER_HZ ticks, which is 100 per second on every architecture
/// the kernel exports to user space (`getconf CLK_TCK`).
const TICKS_PER_SEC: u64 = 100;

/// User + system CPU time consumed so far by process `pid` (all its threads, live or exited).
pub fn cpu_time(pid: &str) -> Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_stat(&text).ok_or_else(|| anyhow!("unexpected format of {path}"))
}

/// Parses utime + stime (fields 14 and 15) from the text of a `stat` file. The command name
/// (field 2) may contain spaces and parentheses, so fields are counted from its last `)`.
fn parse_stat(text: &str) -> Option<Duration> {
    let after_comm = &text[text.rfind(')')? + 1..];
    let mut fields = after_comm.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = utime + stime;
    Some(Duration::from_millis(ticks * 1000 / TICKS_PER_SEC))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_after_a_tricky_command_name() {
        let line = "1234 (a b) c)) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0";
        assert_eq!(parse_stat(line), Some(Duration::from_millis(3000)));
    }

    #[test]
    fn own_process_is_readable() {
        assert!(cpu_time("self").is_ok());
        assert!(cpu_time("no-such-pid").is_err());
    }
}
