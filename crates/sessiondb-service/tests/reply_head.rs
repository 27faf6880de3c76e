//! `Service::handle_text_at`: the reply head it reports matches the reply it rendered, and
//! the caller's "now" is the time expiry is judged by.

mod common;

use common::{Harness, START_MS};
use sessiondb_service::{Handled, Kind, ReplyHead, Status};

/// Runs `msg` at `now_ms` and returns the reply text with the reported head.
fn run(h: &mut Harness, msg: &str, now_ms: u64) -> (String, ReplyHead) {
    let mut out = b"earlier reply bytes".to_vec();
    let start = out.len();
    let (handled, head) = h.service.handle_text_at(&mut h.conn, msg, now_ms, &mut out);
    assert!(matches!(handled, Handled::Replied), "deferred: {msg}");
    let reply = String::from_utf8(out.split_off(start)).expect("UTF-8 reply");
    (reply, head)
}

#[test]
fn head_reports_command_and_status_of_executed_requests() {
    let mut h = Harness::new();
    let (reply, head) = run(&mut h, r#"{"KV_SET":{"keys":{"a":1}}}"#, START_MS);
    assert_eq!(reply, r#"{"KV_SET_RSP":{"st":1}}"#);
    assert_eq!(
        head,
        ReplyHead {
            err: false,
            kind: Some(Kind::KvSet),
            status: Some(Status::Ok)
        }
    );
    let (reply, head) = run(&mut h, r#"{"SH_GET":{"tkn":12345,"keys":["a"]}}"#, START_MS);
    assert_eq!(reply, r#"{"SH_GET_RSP":{"st":100}}"#);
    assert_eq!(
        head,
        ReplyHead {
            err: false,
            kind: Some(Kind::ShGet),
            status: Some(Status::SessionNotExist)
        }
    );
}

#[test]
fn head_reports_refused_requests() {
    let mut h = Harness::new();
    let (reply, head) = run(&mut h, "{not json", START_MS);
    assert_eq!(reply, r#"{"ERR":{"st":3}}"#);
    assert_eq!(
        head,
        ReplyHead {
            err: true,
            kind: None,
            status: Some(Status::JsonInvalid)
        }
    );
    let (reply, head) = run(&mut h, r#"{"KV_NOPE":{}}"#, START_MS);
    assert_eq!(reply, r#"{"ERR":{"st":10}}"#);
    assert_eq!(
        (head.err, head.status),
        (true, Some(Status::CommandNotExist))
    );
    // An unknown SH_ command is answered under its own name, before any command is known.
    let (reply, head) = run(&mut h, r#"{"SH_NOPE":{}}"#, START_MS);
    let status = serde_json::from_str::<serde_json::Value>(&reply).expect("JSON")["SH_NOPE_RSP"]
        ["st"]
        .as_u64();
    assert!(status.is_some(), "{reply}");
    assert_eq!(head.status.map(|s| u64::from(s.code())), status);
    assert!(!head.err);
    assert_eq!(head.kind, None);
}

#[test]
fn expiry_is_judged_at_the_callers_now() {
    let mut h = Harness::new();
    let (reply, _) = run(
        &mut h,
        r#"{"SH_NEW":{"expiry":{"duration":2,"deleteSession":true}}}"#,
        START_MS,
    );
    let new: serde_json::Value = serde_json::from_str(&reply).expect("JSON");
    let tkn = new["SH_NEW_RSP"]["tkn"].as_u64().expect("token");
    let get = format!(r#"{{"SH_GET":{{"tkn":{tkn},"keys":["a"]}}}}"#);
    // The harness clock never moves: only the passed time can expire the session.
    let (_, head) = run(&mut h, &get, START_MS + 1_999);
    assert_eq!(head.status, Some(Status::Ok));
    let (_, head) = run(&mut h, &get, START_MS + 2_000);
    assert_eq!(head.status, Some(Status::SessionNotExist));
}

#[test]
fn head_names_known_commands_refused_before_execution() {
    let mut h = Harness::new();
    for (msg, reply, status) in [
        (
            r#"{"SH_GET":[]}"#,
            r#"{"SH_GET_RSP":{"st":13}}"#,
            Status::CommandSyntax,
        ),
        (
            r#"{"SH_GET":{"tkn":1}}"#,
            r#"{"SH_GET_RSP":{"st":26}}"#,
            Status::ParamMissing,
        ),
    ] {
        let (got, head) = run(&mut h, msg, START_MS);
        assert_eq!(got, reply);
        assert_eq!(
            head,
            ReplyHead {
                err: false,
                kind: Some(Kind::ShGet),
                status: Some(status)
            },
            "{msg}"
        );
    }
}

#[test]
fn deferred_work_returns_the_status_of_its_reply() {
    let mut h = Harness::new();
    let mut out = Vec::new();
    let (handled, head) = h.service.handle_text_at(
        &mut h.conn,
        r#"{"KV_SAVE":{"name":"d"}}"#,
        START_MS,
        &mut out,
    );
    assert_eq!(
        head,
        ReplyHead {
            err: false,
            kind: Some(Kind::KvSave),
            status: None
        }
    );
    let Handled::Deferred(work) = handled else {
        panic!("a save is deferred");
    };
    assert_eq!(work(&mut out), Status::SaveComplete);
    let reply: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
    assert_eq!(reply["KV_SAVE_RSP"]["st"], 121);
}
