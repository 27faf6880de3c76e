//! `docs/PROTOCOL.md` documents every command and every status code the protocol crate knows,
//! and documents none it does not: a command needs its request form (`{"<CMD>":`) and its reply
//! name (`"<CMD>_RSP"`), a status its row (code and name) in a "Status codes" table.

use sessiondb_proto::Kind;
use sessiondb_proto::Status;

const DOC: &str = include_str!("../../../docs/PROTOCOL.md");

/// Every command, each once.
const KINDS: [Kind; 31] = [
    Kind::KvSet,
    Kind::KvAdd,
    Kind::KvGet,
    Kind::KvRmv,
    Kind::KvContains,
    Kind::KvCount,
    Kind::KvKeys,
    Kind::KvClear,
    Kind::KvClearSet,
    Kind::KvSave,
    Kind::KvLoad,
    Kind::ShNew,
    Kind::ShOpen,
    Kind::ShEnd,
    Kind::ShEndAll,
    Kind::ShExists,
    Kind::ShInfo,
    Kind::ShInfoAll,
    Kind::ShSave,
    Kind::ShLoad,
    Kind::ShSet,
    Kind::ShAdd,
    Kind::ShGet,
    Kind::ShRmv,
    Kind::ShContains,
    Kind::ShCount,
    Kind::ShKeys,
    Kind::ShClear,
    Kind::ShClearSet,
    Kind::SvInfo,
    Kind::SvAuth,
];

/// The wire name of a command. The match has no wildcard, so a new command does not compile
/// until it is named here.
fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::KvSet => "KV_SET",
        Kind::KvAdd => "KV_ADD",
        Kind::KvGet => "KV_GET",
        Kind::KvRmv => "KV_RMV",
        Kind::KvContains => "KV_CONTAINS",
        Kind::KvCount => "KV_COUNT",
        Kind::KvKeys => "KV_KEYS",
        Kind::KvClear => "KV_CLEAR",
        Kind::KvClearSet => "KV_CLEAR_SET",
        Kind::KvSave => "KV_SAVE",
        Kind::KvLoad => "KV_LOAD",
        Kind::ShNew => "SH_NEW",
        Kind::ShOpen => "SH_OPEN",
        Kind::ShEnd => "SH_END",
        Kind::ShEndAll => "SH_END_ALL",
        Kind::ShExists => "SH_EXISTS",
        Kind::ShInfo => "SH_INFO",
        Kind::ShInfoAll => "SH_INFO_ALL",
        Kind::ShSave => "SH_SAVE",
        Kind::ShLoad => "SH_LOAD",
        Kind::ShSet => "SH_SET",
        Kind::ShAdd => "SH_ADD",
        Kind::ShGet => "SH_GET",
        Kind::ShRmv => "SH_RMV",
        Kind::ShContains => "SH_CONTAINS",
        Kind::ShCount => "SH_COUNT",
        Kind::ShKeys => "SH_KEYS",
        Kind::ShClear => "SH_CLEAR",
        Kind::ShClearSet => "SH_CLEAR_SET",
        Kind::SvInfo => "SV_INFO",
        Kind::SvAuth => "SV_AUTH",
    }
}

/// Every status, each once.
const STATUSES: [Status; 21] = [
    Status::Ok,
    Status::OpCodeInvalid,
    Status::JsonInvalid,
    Status::CommandNotExist,
    Status::CommandSyntax,
    Status::CommandDisabled,
    Status::ParamMissing,
    Status::ValueTypeInvalid,
    Status::ValueSize,
    Status::SessionNotExist,
    Status::SessionOpenFail,
    Status::SessionNewFail,
    Status::SaveComplete,
    Status::SaveDirWriteFail,
    Status::SaveError,
    Status::LoadComplete,
    Status::LoadError,
    Status::LimitReached,
    Status::NotAuthenticated,
    Status::AuthFailed,
    Status::Unknown,
];

/// `(code, name)` of every row of the tables under a heading that names "Status codes".
fn documented_statuses(doc: &str) -> Vec<(u16, String)> {
    let mut rows = Vec::new();
    let mut in_status_section = false;
    for line in doc.lines() {
        if line.starts_with('#') {
            in_status_section = line.contains("Status codes");
            continue;
        }
        if !in_status_section || !line.starts_with('|') {
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // `| 1 | Ok | ... |` splits into ["", "1", "Ok", ...]; header and rule rows have no code.
        if let (Some(code), Some(name)) = (cells.get(1), cells.get(2)) {
            if let Ok(code) = code.parse::<u16>() {
                rows.push((code, (*name).to_owned()));
            }
        }
    }
    rows
}

/// The command of each request in the table of Appendix A (`| `{"KV_SET":…` → `KV_SET`).
fn appendix_a_commands(doc: &str) -> Vec<String> {
    let appendix = doc
        .split_once("## Appendix A.")
        .map(|(_, rest)| rest)
        .and_then(|rest| rest.split("\n## ").next())
        .unwrap_or_default();
    appendix
        .lines()
        .filter_map(|line| line.strip_prefix("| `{\""))
        .filter_map(|rest| rest.split_once('"').map(|(name, _)| name.to_owned()))
        .collect()
}

#[test]
fn every_command_has_its_request_and_reply_documented() {
    let mut missing = Vec::new();
    for kind in KINDS {
        let name = kind_name(kind);
        if !DOC.contains(&format!("{{\"{name}\":")) {
            missing.push(format!("request {{\"{name}\":…}}"));
        }
        if !DOC.contains(&format!("\"{name}_RSP\"")) {
            missing.push(format!("reply \"{name}_RSP\""));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/PROTOCOL.md lacks: {}",
        missing.join(", ")
    );
}

#[test]
fn every_status_has_its_row_in_a_status_table() {
    let rows = documented_statuses(DOC);
    let mut missing = Vec::new();
    for status in STATUSES {
        let row = (status.code(), status.name().to_owned());
        if !rows.contains(&row) {
            missing.push(format!("{} {}", row.0, row.1));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/PROTOCOL.md has no status table row for: {}",
        missing.join(", ")
    );
}

#[test]
fn the_doc_documents_no_status_the_code_lacks() {
    let known: Vec<(u16, &str)> = STATUSES.iter().map(|s| (s.code(), s.name())).collect();
    let rows = documented_statuses(DOC);
    assert!(!rows.is_empty(), "no \"Status codes\" table found");
    for (code, name) in &rows {
        assert!(
            known.contains(&(*code, name.as_str())),
            "docs/PROTOCOL.md documents status {code} {name}, which the code does not have"
        );
    }
}

#[test]
fn appendix_a_lists_only_commands_the_code_has() {
    let known: Vec<&str> = KINDS.iter().map(|&k| kind_name(k)).collect();
    let listed = appendix_a_commands(DOC);
    assert!(
        listed.len() >= 30,
        "Appendix A's table not found: {listed:?}"
    );
    for name in &listed {
        assert!(
            known.contains(&name.as_str()),
            "Appendix A lists {name}, which the code does not have"
        );
    }
}

#[test]
fn the_table_readers_find_what_they_look_for() {
    let doc = "## 5. Status codes\n\n| Code | Name | Sent when |\n|---:|---|---|\n\
               | 1 | Ok | yes |\n| 170 | LimitReached | no |\n\n## 6. Other\n\n| 2 | NotHere | x |\n\
               ## Appendix A. Command summary\n\n| `{\"KV_SET\":{}}` | `{\"KV_SET_RSP\":{}}` |\n\
               \n## Appendix B.\n\n| `{\"KV_NOPE\":{}}` | x |\n";
    assert_eq!(
        documented_statuses(doc),
        vec![(1, "Ok".to_owned()), (170, "LimitReached".to_owned())]
    );
    assert_eq!(appendix_a_commands(doc), vec!["KV_SET".to_owned()]);
}
