//! `docs/PROTOCOL.md` documents every command and every status code the protocol crate knows,
//! and documents none it does not: a command needs its request form (`{"<CMD>":`) and its reply
//! name (`"<CMD>_RSP"`), a status its row (code and name) in a "Status codes" table, a reserved
//! code its place (`4 PathInvalid`) in §5's list of codes never sent.

use sessiondb_proto::status::RESERVED;
use sessiondb_proto::{Kind, Status};

const DOC: &str = include_str!("../../../docs/PROTOCOL.md");

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

/// `(code, name)` of each item of §5's list of codes reserved and never sent
/// (`Codes reserved … **never sent** by sessiondb: 4 PathInvalid, 5 NoPath, …`).
fn documented_reserved(doc: &str) -> Vec<(u16, String)> {
    let list = doc
        .split_once("**never sent** by sessiondb:")
        .map(|(_, rest)| rest)
        .and_then(|rest| rest.split("\n\n").next())
        .unwrap_or_default();
    list.split(',')
        .filter_map(|item| {
            let (code, name) = item.trim().trim_end_matches('.').split_once(' ')?;
            Some((code.parse().ok()?, name.trim().to_owned()))
        })
        .collect()
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
    for kind in Kind::ALL {
        let name = kind.name();
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
    for status in Status::ALL {
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
    let known: Vec<(u16, &str)> = Status::ALL.iter().map(|s| (s.code(), s.name())).collect();
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
fn reserved_codes_are_the_ones_listed_as_never_sent() {
    let listed = documented_reserved(DOC);
    let reserved: Vec<(u16, String)> = RESERVED
        .iter()
        .map(|&(code, name)| (code, name.to_owned()))
        .collect();
    assert_eq!(
        listed, reserved,
        "§5's never-sent list (left) and status::RESERVED (right)"
    );
    for (code, _) in &listed {
        assert!(
            Status::from_code(*code).is_none(),
            "{code} is listed as never sent but the code sends it"
        );
    }
}

#[test]
fn appendix_a_lists_only_commands_the_code_has() {
    let known: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
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
    let reserved =
        "Codes reserved for compatibility and **never sent** by sessiondb: 4 PathInvalid,\n\
                    161 Bounds.\n\n| 5 | NoPath |\n";
    assert_eq!(
        documented_reserved(reserved),
        vec![(4, "PathInvalid".to_owned()), (161, "Bounds".to_owned())]
    );
}
