//! The data-file reader (`persist::data_file`, §13.7) against a reference that applies the record
//! rules to a `json::parse` tree: the same sessions and keys, or both refuse the file.
//! Hand-written edge cases (duplicate members, `keys` before `sh`, containers where scalars
//! are due, escapes, whitespace) and every truncation and several byte substitutions of them.

use std::fs;
use std::path::Path;

use sessiondb_core::json::{self, Json};
use sessiondb_core::persist::{read_dataset, Dataset, LoadedSession, SaveKind};
use sessiondb_core::{Expiry, Value};

/// What the reference makes of a file: the load's content, or `None` when it refuses it.
type Outcome = Option<Dataset>;

fn reference_bool(j: Option<&Json<'_>>) -> Option<bool> {
    match j {
        None => Some(false),
        Some(j) => j.as_bool(),
    }
}

fn reference_keys(keys: Option<&Json<'_>>) -> Vec<(String, Value)> {
    match keys.and_then(Json::as_object) {
        Some(members) => members
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_value()))
            .collect(),
        None => Vec::new(),
    }
}

/// §13.7's record rules on a tree; `Json::get` takes the first member of a name.
fn reference_record(record: &Json<'_>, sh: &Json<'_>) -> Option<LoadedSession> {
    sh.as_object()?;
    let tkn = sh.get("tkn").and_then(Json::as_uint).filter(|&t| t >= 1)?;
    let shared = reference_bool(sh.get("shared"))?;
    let name = match sh.get("name") {
        None => None,
        Some(n) => Some(n.as_str()?.to_owned()),
    };
    let expiry = match sh.get("expiry") {
        None => Expiry::default(),
        Some(e) => {
            e.as_object()?;
            let duration_secs = e.get("duration").and_then(Json::as_uint)?;
            let expiry = Expiry {
                duration_secs,
                delete_session: reference_bool(e.get("deleteSession"))?,
                extend_on_set_add: reference_bool(e.get("extendOnSetAdd"))?,
                extend_on_get: reference_bool(e.get("extendOnGet"))?,
            };
            if duration_secs == 0 {
                Expiry::default()
            } else {
                expiry
            }
        }
    };
    let key_deadlines = match record.get("keyDeadlines") {
        None => Vec::new(),
        Some(d) => d
            .as_object()?
            .iter()
            .map(|(k, v)| Some((k.to_string(), v.as_uint()?)))
            .collect::<Option<Vec<_>>>()?,
    };
    Some(LoadedSession {
        tkn,
        shared,
        name,
        expiry,
        keys: reference_keys(record.get("keys")),
        key_deadlines,
        owner: None,
        ver: None,
    })
}

fn reference(text: &str, kind: SaveKind) -> Outcome {
    let doc = json::parse(text).ok()?;
    match kind {
        SaveKind::Keys => {
            doc.as_object()?;
            Some(Dataset::Keys(reference_keys(doc.get("keys"))))
        }
        SaveKind::Sessions => {
            let mut out = Vec::new();
            for item in doc.as_array()? {
                if item.as_object().is_none() {
                    continue;
                }
                let Some(sh) = item.get("sh") else { continue };
                out.push(reference_record(item, sh)?);
            }
            Some(Dataset::Sessions(out))
        }
    }
}

/// Loads `text` as the only data file of a save under `root` (one dataset per kind, created on
/// first use; later calls only rewrite the data file).
fn load(root: &Path, text: &str, kind: SaveKind) -> Outcome {
    let name = match kind {
        SaveKind::Keys => "k",
        SaveKind::Sessions => "s",
    };
    let save = root.join(name).join("1");
    if !save.exists() {
        fs::create_dir_all(save.join("md")).expect("mk md");
        fs::create_dir_all(save.join("data")).expect("mk data");
        let md = format!(r#"{{"status":1,"saveDataType":{}}}"#, kind as u8);
        fs::write(save.join("md/md.json"), md).expect("md");
    }
    fs::write(save.join("data/0"), text).expect("data");
    match read_dataset(root, name, Some(kind)) {
        Ok(d) => Some(d),
        Err(e) => {
            assert!(e.is_malformed(), "{text:?}: {e}");
            None
        }
    }
}

fn assert_same(root: &Path, text: &str, kind: SaveKind) -> Outcome {
    let got = load(root, text, kind);
    assert_eq!(got, reference(text, kind), "file {text:?}");
    got
}

const SESSION_FILES: &[&str] = &[
    r#"[]"#,
    r#" [ ] "#,
    r#"[{"sh":{"tkn":1}}]"#,
    r#"[{"keys":{"a":1},"sh":{"tkn":2},"keyDeadlines":{"a":1764816000000,"z":5}}]"#,
    r#"[{"keyDeadlines":{},"sh":{"tkn":2},"keyDeadlines":[1]}]"#,
    r#"[{"sh":{"tkn":2},"keyDeadlines":{"a":"1"}}]"#,
    r#"[{"sh":{"tkn":2},"keyDeadlines":{"a":{"b":1}}}]"#,
    r#"[{"sh":{"tkn":2},"keyDeadlines":[]},{"keyDeadlines":7}]"#,
    r#"[{"keys":{"a":1,"b":"x"},"sh":{"tkn":2}}]"#,
    r#"[{"sh":{"tkn":3},"sh":5}]"#,
    r#"[{"sh":5,"sh":{"tkn":3}}]"#,
    r#"[{"sh":{"tkn":4,"tkn":0}},{"sh":{"tkn":[1],"tkn":4}}]"#,
    r#"[{"sh":{"tkn":5},"keys":{"a":1},"keys":{"b":2}}]"#,
    r#"[{"sh":{"tkn":5},"keys":[1],"keys":{"b":2}}]"#,
    r#"[{"sh":{"tkn":6,"name":{"x":1}}}]"#,
    r#"[{"sh":{"tkn":6,"name":"n","name":7,"shared":true,"shared":"no"}}]"#,
    r#"[{"sh":{"tkn":7,"expiry":{"duration":9,"extendOnGet":true,"duration":"x"}}}]"#,
    r#"[{"sh":{"tkn":7,"expiry":{"duration":{"a":1}}}}]"#,
    r#"[{"sh":{"tkn":7,"expiry":[]}}]"#,
    r#"[{"sh":{"tkn":8,"expiry":{"duration":0,"extendOnSetAdd":true}}}]"#,
    r#"[{"sh":{"tkn":8,"expiry":{"duration":3,"deleteSession":true,"extendOnSetAdd":false,"extendOnGet":true,"other":[{}]}}}]"#,
    r#"[{"sh":{"tkn":9,"shared":null}}]"#,
    r#"[{"sh":{"tkn":18446744073709551615}},{"sh":{"tkn":18446744073709551616}}]"#,
    r#"[{"sh":{"tkn":1e3}}]"#,
    r#"[1,"s",null,[{"sh":{"tkn":0}}],{"no":{"sh":{"tkn":0}}},{"sh":{"tkn":10}}]"#,
    "[\n  {\n    \"keys\" : { \"k\\u0041\" : [ 1 , { \"x\" : \"y\\n\" } ] , \"\\u00e9\" : -1.5e3 } ,\n    \"sh\" : { \"tkn\" : 11 , \"name\" : \"a\\\"b\" }\n  }\n]\n",
    r#"[{"sh":{"tkn":12},"keys":{"a":true,"b":false,"c":null,"d":{},"e":[]}}]"#,
    r#"[{"sh":{"tkn":13}},]"#,
    r#"[{"sh":{"tkn":13},}]"#,
    r#"[{"sh":{"tkn":13}} {"sh":{"tkn":14}}]"#,
    r#"[{"sh":{"tkn":13}}] x"#,
    r#"[{"sh":{"tkn":0}}, {"sh":{"tkn":1}"#,
    r#"[{"sh":{"tkn":1},"keys":{"a":"\ud800"}}]"#,
    r#"{"sh":{"tkn":1}}"#,
    r#""text""#,
    "",
];

const KEY_FILES: &[&str] = &[
    r#"{}"#,
    r#"{"keys":{"a":1,"b":{"c":[true]}}}"#,
    r#"{"keys":{"a":1},"keys":{"b":2}}"#,
    r#"{"keys":"no","keys":{"b":2}}"#,
    r#"{"other":[1,{"keys":{"x":1}}],"keys":{ "k" : " v " }}"#,
    r#"{"keys":{"a":1,}}"#,
    r#"{"keys":{"a":1}} {}"#,
    r#"[{"keys":{"a":1}}]"#,
    r#"5"#,
];

#[test]
fn session_files_load_as_the_reference_reads_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    for text in SESSION_FILES {
        assert_same(dir.path(), text, SaveKind::Sessions);
    }
}

#[test]
fn key_files_load_as_the_reference_reads_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    for text in KEY_FILES {
        assert_same(dir.path(), text, SaveKind::Keys);
    }
}

#[test]
fn first_member_of_a_name_counts_and_keys_may_precede_sh() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text =
        r#"[{"keys":{"a":1},"keys":{"b":2},"sh":{"tkn":5,"tkn":0,"name":"n","name":1},"sh":7}]"#;
    let Some(Dataset::Sessions(sessions)) = load(dir.path(), text, SaveKind::Sessions) else {
        panic!("expected sessions");
    };
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].tkn, 5);
    assert_eq!(sessions[0].name.as_deref(), Some("n"));
    assert_eq!(
        sessions[0].keys,
        vec![("a".to_owned(), Value::from_json_unchecked("1"))]
    );
}

#[test]
fn values_are_stored_minified_and_names_unescaped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = "[{\"sh\":{\"tkn\":1},\"keys\":{\"k\\u0041\" : [ 1 , {\"x\" : \"\\u0041\\n\"} ] }}]";
    let Some(Dataset::Sessions(sessions)) = load(dir.path(), text, SaveKind::Sessions) else {
        panic!("expected sessions");
    };
    assert_eq!(sessions[0].keys[0].0, "kA");
    assert_eq!(sessions[0].keys[0].1.as_json(), r#"[1,{"x":"A\n"}]"#);
}

#[test]
fn invalid_json_is_reported_before_an_earlier_record_rule() {
    let dir = tempfile::tempdir().expect("tempdir");
    let save = dir.path().join("d").join("1");
    fs::create_dir_all(save.join("md")).expect("mk md");
    fs::create_dir_all(save.join("data")).expect("mk data");
    fs::write(save.join("md/md.json"), r#"{"status":1,"saveDataType":1}"#).expect("md");
    fs::write(save.join("data/0"), r#"[{"sh":{"tkn":0}}, {"#).expect("data");
    let err = read_dataset(dir.path(), "d", None).expect_err("invalid JSON");
    assert!(err.to_string().contains("invalid JSON"), "{err}");
    fs::write(save.join("data/0"), r#"[1, {"sh":{"tkn":0}}]"#).expect("data");
    let err = read_dataset(dir.path(), "d", None).expect_err("tkn 0");
    assert_eq!(
        err.to_string(),
        "data file 0: record 1: sh.tkn is not a uint ≥ 1"
    );
}

/// Every prefix of each file, and each file with one byte replaced by a structural byte at
/// every 4th position: whatever the damage, the reader agrees with the reference.
#[test]
fn damaged_files_load_as_the_reference_reads_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = SESSION_FILES
        .iter()
        .map(|t| (*t, SaveKind::Sessions))
        .chain(KEY_FILES.iter().map(|t| (*t, SaveKind::Keys)));
    let mut checked = 0;
    for (text, kind) in files {
        for cut in (0..text.len()).filter(|&i| text.is_char_boundary(i)) {
            assert_same(dir.path(), &text[..cut], kind);
            checked += 1;
        }
        for at in (0..text.len()).step_by(4) {
            if !text.is_char_boundary(at) || !text.is_char_boundary(at + 1) {
                continue;
            }
            for b in ["{", "]", ",", ":", "\""] {
                let damaged = format!("{}{b}{}", &text[..at], &text[at + 1..]);
                assert_same(dir.path(), &damaged, kind);
                checked += 1;
            }
        }
    }
    assert!(checked > 1000, "{checked} variants");
}
