//! The service reaches the engine only through [`Engine`]: an engine that is not the `Store`
//! type (here one that wraps a store and records each call) serves the whole protocol, disk
//! work included.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use sessiondb_core::clock::{Clock, ManualClock};
use sessiondb_core::persist::save_load::Loaded;
use sessiondb_core::persist::{LoadError, SaveError, SaveKind};
use sessiondb_core::store::{
    ExpiryTimeline, SessionPage, SessionQuery, SessionView, TimelineQuery, ViewLimits,
};
use sessiondb_core::{Command, Outcome, Store, StoreConfig, Token, ValueSink, VersionCheck};
use sessiondb_service::{
    ConnState, Engine, Handled, ServerStats, Service, ServiceSettings, Status,
};

/// A store behind the trait, with the name of every trait method called.
struct Recording {
    store: Store,
    calls: Mutex<Vec<&'static str>>,
}

impl Recording {
    fn record(&self, call: &'static str) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(call);
        }
    }
}

impl Engine for Recording {
    fn execute_into(
        &self,
        cmd: Command<'_>,
        now_ms: u64,
        values: &mut dyn ValueSink,
        check: VersionCheck,
    ) -> (Outcome, Option<u32>) {
        self.record("execute_into");
        self.store.execute_checked(cmd, now_ms, values, check)
    }
    fn counts(&self, now_ms: u64) -> (u64, u64) {
        self.record("counts");
        Engine::counts(&self.store, now_ms)
    }
    fn sweep_expired(&self, now_ms: u64) -> usize {
        self.record("sweep_expired");
        self.store.sweep_expired(now_ms)
    }
    fn save_keys(&self, root: &Path, name: &str, clock: &dyn Clock) -> Result<(), SaveError> {
        self.record("save_keys");
        Engine::save_keys(&self.store, root, name, clock)
    }
    fn save_sessions(
        &self,
        root: &Path,
        name: &str,
        only: Option<&HashSet<Token>>,
        clock: &dyn Clock,
    ) -> Result<(), SaveError> {
        self.record("save_sessions");
        Engine::save_sessions(&self.store, root, name, only, clock)
    }
    fn load(
        &self,
        root: &Path,
        name: &str,
        kind: SaveKind,
        now_ms: u64,
    ) -> Result<Loaded, LoadError> {
        self.record("load");
        Engine::load(&self.store, root, name, kind, now_ms)
    }
    fn list_sessions(&self, query: &SessionQuery<'_>, now_ms: u64) -> SessionPage {
        self.record("list_sessions");
        Engine::list_sessions(&self.store, query, now_ms)
    }
    fn expiry_timeline(&self, query: &TimelineQuery, now_ms: u64) -> ExpiryTimeline {
        self.record("expiry_timeline");
        Engine::expiry_timeline(&self.store, query, now_ms)
    }
    fn view_session(&self, tkn: Token, limits: &ViewLimits, now_ms: u64) -> Option<SessionView> {
        self.record("view_session");
        Engine::view_session(&self.store, tkn, limits, now_ms)
    }
}

struct NoStats;

impl ServerStats for NoStats {
    fn connections(&self) -> u64 {
        1
    }
    fn uptime_secs(&self) -> u64 {
        0
    }
}

#[test]
fn every_engine_operation_goes_through_the_trait() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(1_734_829_878_000);
    let engine = Arc::new(Recording {
        store: Store::new(StoreConfig::default()),
        calls: Mutex::new(Vec::new()),
    });
    let service = Service::with_engine(
        ServiceSettings {
            persist_enabled: true,
            data_dir: dir.path().to_path_buf(),
            server_version: "0",
            clock: Arc::new(clock.clone()),
            stats: Arc::new(NoStats),
        },
        Arc::clone(&engine),
    );
    let mut conn = ConnState::default();
    let now = clock.now_ms();
    let mut run = |msg: &str| {
        let mut out = Vec::new();
        let (handled, head) = service.handle_text_at(&mut conn, msg, now, &mut out);
        let status = match handled {
            Handled::Replied => head.status,
            Handled::Deferred(work) => Some(work(&mut out)),
            Handled::Pending(_) => panic!("the embedded engine answered {msg} later"),
        };
        (String::from_utf8(out).expect("UTF-8 reply"), status)
    };
    let (reply, st) = run(r#"{"KV_SET":{"keys":{"a":1}}}"#);
    assert_eq!(
        (reply.as_str(), st),
        (r#"{"KV_SET_RSP":{"st":1}}"#, Some(Status::Ok))
    );
    let (reply, _) = run(r#"{"KV_GET":{"keys":["a"]}}"#);
    assert_eq!(reply, r#"{"KV_GET_RSP":{"st":1,"keys":{"a":1}}}"#);
    let (reply, _) = run(r#"{"SV_INFO":{}}"#);
    assert!(reply.contains(r#""keys":1"#), "{reply}");
    assert_eq!(
        run(r#"{"KV_SAVE":{"name":"d"}}"#).1,
        Some(Status::SaveComplete)
    );
    assert_eq!(
        run(r#"{"SH_SAVE":{"name":"s"}}"#).1,
        Some(Status::SaveComplete)
    );
    assert_eq!(
        run(r#"{"KV_LOAD":{"name":"d"}}"#).1,
        Some(Status::LoadComplete)
    );
    // Refused before execution: the engine is not asked.
    assert_eq!(run(r#"{"KV_GET":{}}"#).1, Some(Status::ParamMissing));
    assert_eq!(service.sweep_expired(), 0);
    let calls = engine.calls.lock().expect("calls").clone();
    assert_eq!(
        calls,
        [
            "execute_into",
            "execute_into",
            "counts",
            "save_keys",
            "save_sessions",
            "load",
            "sweep_expired"
        ]
    );
}
