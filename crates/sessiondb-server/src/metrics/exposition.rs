//! The Prometheus text exposition format (version 0.0.4) of [`Metrics`].

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sessiondb_proto::{Kind, Status};

use super::{
    process_resident_bytes, Metrics, CMD_ERR, CMD_OTHER, LATENCY_BOUNDS, REFUSALS, STATUS_SLOTS,
};

impl Metrics {
    /// Renders every metric in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);

        header(
            &mut out,
            "sessiondb_build_info",
            "gauge",
            "Always 1; the version is a label.",
        );
        let _ = writeln!(
            out,
            "sessiondb_build_info{{version=\"{}\"}} 1",
            self.version
        );
        scalar(
            &mut out,
            "sessiondb_uptime_seconds",
            "gauge",
            "Seconds since the server started.",
            self.started.elapsed().as_secs(),
        );
        if let Some(rss) = process_resident_bytes() {
            scalar(
                &mut out,
                "sessiondb_process_resident_bytes",
                "gauge",
                "Resident memory of the server process.",
                rss,
            );
        }
        header(
            &mut out,
            "sessiondb_connections_open",
            "gauge",
            "Open WebSocket connections.",
        );
        let _ = writeln!(
            out,
            "sessiondb_connections_open {}",
            self.connections_open.load(Ordering::Relaxed).max(0)
        );
        scalar(
            &mut out,
            "sessiondb_connections_total",
            "counter",
            "WebSocket connections accepted since start.",
            load(&self.connections_total),
        );
        header(
            &mut out,
            "sessiondb_connections_refused_total",
            "counter",
            "Connections refused at the upgrade or closed by policy, by reason.",
        );
        for ((label, _), n) in REFUSALS.iter().zip(&self.refusals) {
            let _ = writeln!(
                out,
                "sessiondb_connections_refused_total{{reason=\"{label}\"}} {}",
                load(n)
            );
        }

        header(
            &mut out,
            "sessiondb_commands_total",
            "counter",
            "Replies sent, by command and status.",
        );
        for (i, n) in self.commands.iter().enumerate() {
            let n = load(n);
            if n == 0 {
                continue;
            }
            let cmd = command_label(i / STATUS_SLOTS);
            let st = status_label(i % STATUS_SLOTS);
            let _ = writeln!(
                out,
                "sessiondb_commands_total{{command=\"{cmd}\",status=\"{st}\"}} {n}"
            );
        }

        header(
            &mut out,
            "sessiondb_command_duration_seconds",
            "histogram",
            "Time from a request's arrival to its reply being ready.",
        );
        let mut cumulative = 0;
        for (bound, n) in LATENCY_BOUNDS.iter().zip(&self.latency_buckets) {
            cumulative += load(n);
            let _ = writeln!(
                out,
                "sessiondb_command_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = load(&self.latency_count);
        let _ = writeln!(
            out,
            "sessiondb_command_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = Duration::from_nanos(load(&self.latency_sum_nanos)).as_secs_f64();
        let _ = writeln!(out, "sessiondb_command_duration_seconds_sum {sum}");
        let _ = writeln!(out, "sessiondb_command_duration_seconds_count {count}");

        scalar(
            &mut out,
            "sessiondb_sessions_expired_total",
            "counter",
            "Expired sessions reclaimed by the background sweep.",
            load(&self.expired_sessions),
        );
        if let Some(store) = &self.store {
            let snap = store();
            scalar(
                &mut out,
                "sessiondb_sessions",
                "gauge",
                "Live sessions.",
                snap.sessions,
            );
            scalar(
                &mut out,
                "sessiondb_keys",
                "gauge",
                "Top-level keys plus the keys of all live sessions.",
                snap.keys,
            );
            scalar(
                &mut out,
                "sessiondb_stored_bytes",
                "gauge",
                "Bytes of stored data, as the memory limit counts them.",
                snap.stored_bytes,
            );
            if let Some(journal) = snap.journal_bytes {
                scalar(
                    &mut out,
                    "sessiondb_journal_bytes",
                    "gauge",
                    "Size of the journal file.",
                    journal,
                );
            }
        }

        header(
            &mut out,
            "sessiondb_saves_total",
            "counter",
            "KV_SAVE and SH_SAVE attempts, by result.",
        );
        let _ = writeln!(
            out,
            "sessiondb_saves_total{{result=\"ok\"}} {}",
            load(&self.saves_ok)
        );
        let _ = writeln!(
            out,
            "sessiondb_saves_total{{result=\"error\"}} {}",
            load(&self.saves_failed)
        );
        scalar(
            &mut out,
            "sessiondb_last_save_success_timestamp_seconds",
            "gauge",
            "Unix time of the last successful save (0: none since start).",
            load(&self.last_save_unix_secs),
        );
        header(
            &mut out,
            "sessiondb_loads_total",
            "counter",
            "KV_LOAD and SH_LOAD requests, by result.",
        );
        let _ = writeln!(
            out,
            "sessiondb_loads_total{{result=\"ok\"}} {}",
            load(&self.loads_ok)
        );
        let _ = writeln!(
            out,
            "sessiondb_loads_total{{result=\"error\"}} {}",
            load(&self.loads_failed)
        );
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn scalar(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    header(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

/// The `command` label of command slot `slot`.
fn command_label(slot: usize) -> &'static str {
    match slot {
        CMD_ERR => "ERR",
        CMD_OTHER => "other",
        k => Kind::ALL.get(k).map_or("other", |k| k.name()),
    }
}

/// The `status` label of status slot `slot`: the code, or `other` for a reply whose status
/// was not reported.
fn status_label(slot: usize) -> String {
    Status::ALL
        .get(slot)
        .map_or_else(|| "other".to_owned(), |s| s.code().to_string())
}

#[cfg(test)]
mod tests {
    use super::super::tests::observe;
    use super::*;

    #[test]
    fn every_sample_line_is_well_formed() {
        let m = Metrics::new("0", None);
        observe(
            &m,
            false,
            Some(Kind::KvSet),
            Status::Ok,
            Duration::from_micros(1),
        );
        let text = m.render();
        let mut typed = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap_or("");
                assert!(typed.insert(name.to_owned()), "TYPE twice: {name}");
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').unwrap_or(("", ""));
            assert!(value.parse::<f64>().is_ok(), "bad value in {line:?}");
            let name = series.split('{').next().unwrap_or("");
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|f| typed.contains(*f)))
                .unwrap_or(name);
            assert!(typed.contains(family), "sample before its TYPE: {line:?}");
        }
    }
}
