//! Turning command words (`sh set TOKEN name=Alice`) into a request and knowing how to show its reply.

use serde_json::value::RawValue;
use sessiondb_client::Status;

/// How a successful reply is shown in readable (non `--json`) output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Render {
    /// `OK`.
    Ok,
    /// The `tkn` member alone on a line.
    Token,
    /// The `cnt` member.
    Count,
    /// Each requested key with its value, in request order (`(none)` when absent).
    Values(Vec<String>),
    /// Each item of the named array member on its own line.
    Lines(&'static str),
    /// Every member of the body except `st`, one `name: value` per line.
    Members,
    /// `saved NAME in N ms`.
    Saved,
    /// `loaded NAME: S sessions, K keys`.
    Loaded,
}

/// A request ready to send: its text, the status that means success, and how to show the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The request message.
    pub text: String,
    /// `st` of a successful reply.
    pub success: Status,
    /// Readable rendering of a successful reply.
    pub render: Render,
}

/// First words: the groups, `info`, and the shell's own commands.
pub const FIRST_WORDS: &[&str] = &["sh", "kv", "info", "use", "help", "quit", "exit"];

/// Commands of the `sh` group.
pub const SH_COMMANDS: &[&str] = &[
    "new",
    "open",
    "set",
    "add",
    "get",
    "rmv",
    "contains",
    "count",
    "keys",
    "clear",
    "clear-set",
    "key-ttl",
    "key-remaining",
    "info",
    "end",
    "exists",
    "info-all",
    "end-all",
    "save",
    "load",
    "owner-list",
    "owner-end",
];

/// Commands of the `kv` group.
pub const KV_COMMANDS: &[&str] = &[
    "set",
    "add",
    "get",
    "rmv",
    "contains",
    "count",
    "keys",
    "clear",
    "clear-set",
    "save",
    "load",
];

/// Options of `sh new`.
pub const NEW_FLAGS: &[&str] = &[
    "--expiry",
    "--delete-session",
    "--extend-on-set-add",
    "--extend-on-get",
    "--name",
    "--shared",
    "--owner",
];

/// Options of the commands that take `key=value` pairs.
pub const SET_FLAGS: &[&str] = &["--string"];

/// Options of `sh set` and `sh add`: those of [`SH_SET_FLAGS`], and a key's deadline.
pub const SH_WRITE_FLAGS: &[&str] = &["--string", "--ttl", "--if-ver"];

/// Whether `cmd` (lower case) is a session write that takes `--ttl`.
pub fn takes_ttl(cmd: &str) -> bool {
    matches!(cmd, "set" | "add")
}

/// Options of the session commands that take `key=value` pairs.
pub const SH_SET_FLAGS: &[&str] = &["--string", "--if-ver"];

/// Whether `cmd` (lower case) takes `key=value` pairs.
pub fn takes_key_values(cmd: &str) -> bool {
    matches!(cmd, "set" | "add" | "clear-set")
}

/// Usage text for the command words, shared by `--help` and the shell's `help`.
pub const USAGE: &str = "\
Commands (GROUP COMMAND ARGS):
  sh new [--expiry SECS] [--delete-session] [--extend-on-set-add] [--extend-on-get]
         [--name NAME] [--shared] [--owner OWNER]  create a session, print its token
  sh open NAME                              token of the shared session NAME
  sh set|add TOKEN [--string] [--if-ver V] key=value...
                                            value parsed as JSON, else taken as a string;
                                            a value starting with { [ or \" must be valid
                                            JSON; --string stores every value as a string;
         [--ttl key=SECS]...                the key expires SECS seconds from now
  sh key-ttl TOKEN key=SECS|key=none...     set or remove deadlines of keys
  sh key-remaining TOKEN key...             seconds left per key (null: no deadline)
                                            --if-ver writes only at version V, prints ver
  sh owner-list OWNER                       tokens of the owner's live sessions
  sh owner-end OWNER                        end every session of the owner, print how many
  sh get|contains TOKEN key...              sh rmv TOKEN key...
  sh count|keys|clear|info|end TOKEN        sh clear-set TOKEN key=value...
  sh exists TOKEN...                        sh info-all | sh end-all
  sh save NAME [TOKEN...]                   sh load NAME
  kv set|add|clear-set key=value...         kv get|contains|rmv key...
  kv count|keys|clear                       kv save NAME | kv load NAME
  info                                      server information (SV_INFO)
Command names are case-insensitive (`SH GET` = `sh get`); keys, values and names are not.
A line starting with '{' is sent as a raw JSON request.";

/// Parses command words. `current` is the shell's session (`use TOKEN`): when set, session
/// commands may be written without the group and the token (`get name`).
pub fn parse(words: &[String], current: Option<u64>) -> Result<Request, String> {
    let Some((first, rest)) = words.split_first() else {
        return Err("no command given".into());
    };
    let first = command_name(first);
    let second = rest.first().map(|w| command_name(w));
    match (first.as_str(), second) {
        ("sh", Some(cmd)) => session(&cmd, &rest[1..], None),
        ("sh", None) => Err("sh needs a command (new, set, get, ...)".into()),
        ("kv", Some(cmd)) => top_level(&cmd, &rest[1..]),
        ("kv", None) => Err("kv needs a command (set, get, ...)".into()),
        ("info", None) => Ok(simple("SV_INFO", Render::Members)),
        ("sv", Some(cmd)) if cmd == "info" && rest.len() == 1 => {
            Ok(simple("SV_INFO", Render::Members))
        }
        (cmd, _) => match current {
            Some(tkn) if SH_COMMANDS.contains(&cmd) => session(cmd, rest, Some(tkn)),
            _ => Err(format!("unknown command `{}` (try `help`)", words[0])),
        },
    }
}

/// A command word as the parser matches it: case-insensitive, as in redis-cli (what follows the
/// command words is data and keeps its case), with `_` accepted for `-` (`clear_set`).
pub fn command_name(word: &str) -> String {
    word.to_ascii_lowercase().replace('_', "-")
}

fn simple(command: &str, render: Render) -> Request {
    Request {
        text: format!(r#"{{"{command}":{{}}}}"#),
        success: Status::OK,
        render,
    }
}

/// Builds `{"COMMAND":{member: json, ...}}` from members whose values are JSON text already.
fn request(command: &str, members: &[(&str, String)], success: Status, render: Render) -> Request {
    let body = members
        .iter()
        .map(|(k, v)| format!("{}:{v}", json_string(k)))
        .collect::<Vec<_>>()
        .join(",");
    Request {
        text: format!(r#"{{"{command}":{{{body}}}}}"#),
        success,
        render,
    }
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// `key=value` pairs as a JSON object. A value that parses as JSON is stored as that JSON; one
/// that looks like JSON but does not parse is an error rather than a silent string; anything else
/// is a string. `--string` among the pairs makes every value a string.
fn key_values(args: &[String]) -> Result<String, String> {
    let as_strings = args.iter().any(|a| a == "--string");
    let mut parts = Vec::with_capacity(args.len());
    for arg in args.iter().filter(|a| *a != "--string") {
        let (key, value) = arg
            .split_once('=')
            .ok_or_else(|| format!("expected key=value, got `{arg}`"))?;
        let value = if as_strings {
            json_string(value)
        } else {
            // RawValue keeps the text as typed, so objects keep their member order.
            match serde_json::from_str::<Box<RawValue>>(value) {
                Ok(raw) => raw.get().to_owned(),
                Err(e) if looks_like_json(value) => {
                    return Err(format!(
                        "the value of `{key}` looks like JSON but is not valid JSON ({e}); \
                         correct it, or give --string to store the values as strings"
                    ))
                }
                Err(_) => json_string(value),
            }
        };
        parts.push(format!("{}:{value}", json_string(key)));
    }
    Ok(format!("{{{}}}", parts.join(",")))
}

/// Whether `value` was meant as JSON: it opens an object, an array or a string. (Numbers need no
/// such rule: `2024-01-01`, `01234` or `1.2.3` are not JSON and are meant as strings.)
fn looks_like_json(value: &str) -> bool {
    value.trim_start().starts_with(['{', '[', '"'])
}

/// Takes the `--ttl key=SECS` options (`allowed`: the command has a `ttl`) out of `args`: the
/// other words, and the `ttl` object when there was any.
fn ttl_options(args: &[String], allowed: bool) -> Result<(Vec<String>, Option<String>), String> {
    let mut rest = Vec::with_capacity(args.len());
    let mut ttl = Vec::new();
    let mut words = args.iter();
    while let Some(word) = words.next() {
        if word != "--ttl" {
            rest.push(word.clone());
            continue;
        }
        if !allowed {
            return Err("--ttl is for sh set and sh add".into());
        }
        ttl.push(words.next().cloned().ok_or("--ttl needs key=SECS")?);
    }
    let ttl = (!ttl.is_empty())
        .then(|| key_seconds(&ttl, false))
        .transpose()?;
    Ok((rest, ttl))
}

/// `key=SECS` pairs as a JSON object of seconds; with `none_removes`, `key=none` is `null`.
fn key_seconds(args: &[String], none_removes: bool) -> Result<String, String> {
    let mut parts = Vec::with_capacity(args.len());
    for arg in args {
        let (key, secs) = arg
            .split_once('=')
            .ok_or_else(|| format!("expected key=SECS, got `{arg}`"))?;
        let secs = match secs.parse::<u64>() {
            Ok(n) if n > 0 => n.to_string(),
            _ if none_removes && secs == "none" => "null".to_owned(),
            _ => {
                return Err(format!(
                    "`{secs}` is not a number of seconds ≥ 1 (key `{key}`)"
                ))
            }
        };
        parts.push(format!("{}:{secs}", json_string(key)));
    }
    Ok(format!("{{{}}}", parts.join(",")))
}

fn key_list(args: &[String]) -> String {
    let items: Vec<String> = args.iter().map(|k| json_string(k)).collect();
    format!("[{}]", items.join(","))
}

fn token(word: &str) -> Result<u64, String> {
    word.parse::<u64>()
        .map_err(|_| format!("`{word}` is not a session token (an integer from 1 to 2^64-1)"))
}

fn dataset(args: &[String], what: &str) -> Result<String, String> {
    match args {
        [name] => Ok(json_string(name)),
        _ => Err(format!("{what} needs exactly one dataset NAME")),
    }
}

fn no_args(cmd: &str, args: &[String]) -> Result<(), String> {
    if args.is_empty() {
        Ok(())
    } else {
        Err(format!("{cmd} takes no arguments"))
    }
}

fn top_level(cmd: &str, args: &[String]) -> Result<Request, String> {
    let ok = Status::OK;
    Ok(match cmd {
        "set" | "add" | "clear-set" => {
            let (name, render) = match cmd {
                "set" => ("KV_SET", Render::Ok),
                "add" => ("KV_ADD", Render::Ok),
                _ => ("KV_CLEAR_SET", Render::Count),
            };
            request(name, &[("keys", key_values(args)?)], ok, render)
        }
        "get" => request(
            "KV_GET",
            &[("keys", key_list(args))],
            ok,
            Render::Values(args.to_vec()),
        ),
        "contains" => request(
            "KV_CONTAINS",
            &[("keys", key_list(args))],
            ok,
            Render::Lines("contains"),
        ),
        "rmv" => request("KV_RMV", &[("keys", key_list(args))], ok, Render::Ok),
        "count" | "keys" | "clear" => {
            no_args(cmd, args)?;
            match cmd {
                "count" => simple("KV_COUNT", Render::Count),
                "keys" => simple("KV_KEYS", Render::Lines("keys")),
                _ => simple("KV_CLEAR", Render::Count),
            }
        }
        "save" => request(
            "KV_SAVE",
            &[("name", dataset(args, "kv save")?)],
            Status::SAVE_COMPLETE,
            Render::Saved,
        ),
        "load" => request(
            "KV_LOAD",
            &[("name", dataset(args, "kv load")?)],
            Status::LOAD_COMPLETE,
            Render::Loaded,
        ),
        other => return Err(format!("unknown kv command `{other}`")),
    })
}

/// Session commands. With `current`, the token is not among `args`.
fn session(cmd: &str, args: &[String], current: Option<u64>) -> Result<Request, String> {
    let ok = Status::OK;
    match cmd {
        "new" => return new_session(args),
        "open" => {
            let name = match args {
                [name] => json_string(name),
                _ => return Err("sh open needs exactly one NAME".into()),
            };
            return Ok(request("SH_OPEN", &[("name", name)], ok, Render::Token));
        }
        "info-all" | "end-all" => {
            no_args(cmd, args)?;
            return Ok(if cmd.starts_with("info") {
                simple("SH_INFO_ALL", Render::Members)
            } else {
                simple("SH_END_ALL", Render::Count)
            });
        }
        "exists" => {
            let tkns = args
                .iter()
                .map(|a| token(a))
                .collect::<Result<Vec<_>, _>>()?;
            let list: Vec<String> = tkns.iter().map(u64::to_string).collect();
            return Ok(request(
                "SH_EXISTS",
                &[("tkns", format!("[{}]", list.join(",")))],
                ok,
                Render::Lines("exist"),
            ));
        }
        "save" => {
            let (name, tkns) = args.split_first().ok_or("sh save needs a dataset NAME")?;
            let mut members = vec![("name", json_string(name))];
            if !tkns.is_empty() {
                let tkns = tkns
                    .iter()
                    .map(|a| token(a))
                    .collect::<Result<Vec<_>, _>>()?;
                let list: Vec<String> = tkns.iter().map(u64::to_string).collect();
                members.push(("tkns", format!("[{}]", list.join(","))));
            }
            return Ok(request(
                "SH_SAVE",
                &members,
                Status::SAVE_COMPLETE,
                Render::Saved,
            ));
        }
        "owner-list" | "owner-end" => {
            let owner = match args {
                [owner] => json_string(owner),
                _ => return Err(format!("sh {cmd} needs exactly one OWNER")),
            };
            return Ok(if cmd == "owner-list" {
                request(
                    "SH_OWNER_LIST",
                    &[("owner", owner)],
                    ok,
                    Render::Lines("tkns"),
                )
            } else {
                request("SH_OWNER_END", &[("owner", owner)], ok, Render::Count)
            });
        }
        "load" => {
            return Ok(request(
                "SH_LOAD",
                &[("name", dataset(args, "sh load")?)],
                Status::LOAD_COMPLETE,
                Render::Loaded,
            ))
        }
        _ if !SH_COMMANDS.contains(&cmd) => return Err(format!("unknown sh command `{cmd}`")),
        _ => {}
    }
    // Everything else acts on one session.
    let (tkn, args) = match current {
        Some(tkn) => (tkn, args),
        None => {
            let (first, rest) = args
                .split_first()
                .ok_or_else(|| format!("sh {cmd} needs a TOKEN"))?;
            (token(first)?, rest)
        }
    };
    let tkn_member = ("tkn", tkn.to_string());
    Ok(match cmd {
        "set" | "add" | "clear-set" => {
            let (name, render) = match cmd {
                "set" => ("SH_SET", Render::Ok),
                "add" => ("SH_ADD", Render::Ok),
                _ => ("SH_CLEAR_SET", Render::Count),
            };
            let (args, ttl) = ttl_options(args, cmd != "clear-set")?;
            let (if_ver, args) = if_ver(&args)?;
            let mut members = vec![tkn_member, ("keys", key_values(&args)?)];
            members.extend(ttl.map(|ttl| ("ttl", ttl)));
            match if_ver {
                // The reply then carries the new version: show it.
                Some(v) => {
                    members.push(("ifVer", v.to_string()));
                    request(name, &members, ok, Render::Members)
                }
                None => request(name, &members, ok, render),
            }
        }
        "key-ttl" => request(
            "SH_KEY_TTL",
            &[tkn_member, ("keys", key_seconds(args, true)?)],
            ok,
            Render::Count,
        ),
        "key-remaining" => request(
            "SH_KEY_REMAINING",
            &[tkn_member, ("keys", key_list(args))],
            ok,
            Render::Values(args.to_vec()),
        ),
        "get" => request(
            "SH_GET",
            &[tkn_member, ("keys", key_list(args))],
            ok,
            Render::Values(args.to_vec()),
        ),
        "contains" => request(
            "SH_CONTAINS",
            &[tkn_member, ("keys", key_list(args))],
            ok,
            Render::Lines("contains"),
        ),
        "rmv" => request(
            "SH_RMV",
            &[tkn_member, ("keys", key_list(args))],
            ok,
            Render::Ok,
        ),
        "count" | "keys" | "clear" | "info" | "end" => {
            no_args(cmd, args)?;
            let (name, render) = match cmd {
                "count" => ("SH_COUNT", Render::Count),
                "keys" => ("SH_KEYS", Render::Lines("keys")),
                "clear" => ("SH_CLEAR", Render::Count),
                "info" => ("SH_INFO", Render::Members),
                _ => ("SH_END", Render::Ok),
            };
            request(name, &[tkn_member], ok, render)
        }
        other => return Err(format!("unknown sh command `{other}`")),
    })
}

fn new_session(args: &[String]) -> Result<Request, String> {
    let mut expiry: Option<u64> = None;
    let (mut delete, mut on_set_add, mut on_get, mut shared) = (false, false, false, false);
    let (mut name, mut owner): (Option<&str>, Option<&str>) = (None, None);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--expiry" => {
                let secs = it.next().ok_or("--expiry needs SECS")?;
                expiry = Some(
                    secs.parse()
                        .map_err(|_| format!("--expiry: `{secs}` is not a number of seconds"))?,
                );
            }
            "--name" => name = Some(it.next().ok_or("--name needs NAME")?),
            "--owner" => owner = Some(it.next().ok_or("--owner needs OWNER")?),
            "--delete-session" => delete = true,
            "--extend-on-set-add" => on_set_add = true,
            "--extend-on-get" => on_get = true,
            "--shared" => shared = true,
            other => return Err(format!("sh new: unknown option `{other}`")),
        }
    }
    let mut members = Vec::new();
    match expiry {
        Some(duration) => members.push((
            "expiry",
            format!(
                r#"{{"duration":{duration},"deleteSession":{delete},"extendOnSetAdd":{on_set_add},"extendOnGet":{on_get}}}"#
            ),
        )),
        None if delete || on_set_add || on_get => {
            return Err("expiry flags need --expiry SECS".into())
        }
        None => {}
    }
    if let Some(name) = name {
        members.push(("name", json_string(name)));
    }
    if let Some(owner) = owner {
        members.push(("owner", json_string(owner)));
    }
    if shared {
        members.push(("shared", "true".into()));
    }
    Ok(request("SH_NEW", &members, Status::OK, Render::Token))
}

/// Takes `--if-ver V` out of a command's arguments: the version and the other arguments.
fn if_ver(args: &[String]) -> Result<(Option<u64>, Vec<String>), String> {
    let mut rest = Vec::with_capacity(args.len());
    let mut ver = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--if-ver" {
            let v = it.next().ok_or("--if-ver needs a VERSION")?;
            ver = Some(
                v.parse()
                    .map_err(|_| format!("--if-ver: `{v}` is not a version (an integer)"))?,
            );
        } else {
            rest.push(arg.clone());
        }
    }
    Ok((ver, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    fn text(line: &str) -> String {
        parse(&words(line), None).unwrap().text
    }

    #[test]
    fn session_creation_options() {
        assert_eq!(text("sh new"), r#"{"SH_NEW":{}}"#);
        assert_eq!(
            text("sh new --expiry 60 --delete-session"),
            r#"{"SH_NEW":{"expiry":{"duration":60,"deleteSession":true,"extendOnSetAdd":false,"extendOnGet":false}}}"#
        );
        assert_eq!(
            text("sh new --name settings --shared"),
            r#"{"SH_NEW":{"name":"settings","shared":true}}"#
        );
        assert_eq!(
            text("sh new --owner alice --name tab"),
            r#"{"SH_NEW":{"name":"tab","owner":"alice"}}"#
        );
        assert!(parse(&words("sh new --owner"), None).is_err());
        assert!(parse(&words("sh new --delete-session"), None).is_err());
        assert!(parse(&words("sh new --expiry soon"), None).is_err());
        assert!(parse(&words("sh new --bogus"), None).is_err());
    }

    #[test]
    fn versions_and_owners() {
        let set = parse(&words("sh set 7 --if-ver 3 n=1"), None).unwrap();
        assert_eq!(set.text, r#"{"SH_SET":{"tkn":7,"keys":{"n":1},"ifVer":3}}"#);
        assert_eq!(set.render, Render::Members);
        assert_eq!(
            text("sh set 7 n=1"),
            r#"{"SH_SET":{"tkn":7,"keys":{"n":1}}}"#
        );
        assert!(parse(&words("sh set 7 --if-ver x n=1"), None).is_err());
        assert!(parse(&words("sh set 7 n=1 --if-ver"), None).is_err());
        let list = parse(&words("sh owner-list alice"), None).unwrap();
        assert_eq!(list.text, r#"{"SH_OWNER_LIST":{"owner":"alice"}}"#);
        assert_eq!(list.render, Render::Lines("tkns"));
        let end = parse(&words("sh owner-end alice"), Some(7)).unwrap();
        assert_eq!(end.text, r#"{"SH_OWNER_END":{"owner":"alice"}}"#);
        assert_eq!(end.render, Render::Count);
        assert!(parse(&words("sh owner-end"), None).is_err());
    }

    #[test]
    fn values_are_json_or_strings() {
        assert_eq!(
            text(r#"sh set 16351792548006066062 name=Alice age=30 o={"b":1,"a":2} s="x" e="#),
            r#"{"SH_SET":{"tkn":16351792548006066062,"keys":{"name":"Alice","age":30,"o":{"b":1,"a":2},"s":"x","e":""}}}"#
        );
        assert_eq!(
            text("kv set a=1 b=true c=null"),
            r#"{"KV_SET":{"keys":{"a":1,"b":true,"c":null}}}"#
        );
        assert_eq!(text("kv set eq=a=b"), r#"{"KV_SET":{"keys":{"eq":"a=b"}}}"#);
        assert!(parse(&words("kv set novalue"), None).is_err());
    }

    #[test]
    fn key_lists_and_tokens() {
        let r = parse(&words("sh get 5 name age"), None).unwrap();
        assert_eq!(r.text, r#"{"SH_GET":{"tkn":5,"keys":["name","age"]}}"#);
        assert_eq!(r.render, Render::Values(vec!["name".into(), "age".into()]));
        assert_eq!(text("kv get a"), r#"{"KV_GET":{"keys":["a"]}}"#);
        assert_eq!(text("kv rmv"), r#"{"KV_RMV":{"keys":[]}}"#);
        assert_eq!(text("sh exists 1 2"), r#"{"SH_EXISTS":{"tkns":[1,2]}}"#);
        assert_eq!(
            text("sh save snap 7 8"),
            r#"{"SH_SAVE":{"name":"snap","tkns":[7,8]}}"#
        );
        assert_eq!(text("sh save snap"), r#"{"SH_SAVE":{"name":"snap"}}"#);
        assert!(parse(&words("sh get abc name"), None).is_err());
        assert!(parse(&words("sh get -1 name"), None).is_err());
        assert!(parse(&words("sh count"), None).is_err());
        assert!(parse(&words("sh count 1 2"), None).is_err());
    }

    #[test]
    fn success_codes_of_saves_and_loads() {
        let r = parse(&words("kv save shop-1"), None).unwrap();
        assert_eq!(r.success, Status::SAVE_COMPLETE);
        let r = parse(&words("sh load shop-1"), None).unwrap();
        assert_eq!(r.success, Status::LOAD_COMPLETE);
        assert_eq!(text("info"), r#"{"SV_INFO":{}}"#);
        assert_eq!(
            text("sh open settings"),
            r#"{"SH_OPEN":{"name":"settings"}}"#
        );
        assert!(parse(&words("sh open a b"), None).is_err());
    }

    #[test]
    fn command_names_ignore_case_but_data_keeps_it() {
        assert_eq!(
            text("SH GET 5 Name"),
            r#"{"SH_GET":{"tkn":5,"keys":["Name"]}}"#
        );
        assert_eq!(text("Kv Set A=Bc"), r#"{"KV_SET":{"keys":{"A":"Bc"}}}"#);
        assert_eq!(text("INFO"), r#"{"SV_INFO":{}}"#);
        assert_eq!(text("sh CLEAR_SET 5 a=1"), text("sh clear-set 5 a=1"));
        assert_eq!(text("SH INFO-ALL"), r#"{"SH_INFO_ALL":{}}"#);
        let r = parse(&words("GET name"), Some(42)).unwrap();
        assert_eq!(r.text, r#"{"SH_GET":{"tkn":42,"keys":["name"]}}"#);
    }

    #[test]
    fn unknown_commands_say_so() {
        assert_eq!(
            parse(&words("sh nope"), None).unwrap_err(),
            "unknown sh command `nope`"
        );
        assert_eq!(
            parse(&words("sh bogus 5 a"), None).unwrap_err(),
            "unknown sh command `bogus`"
        );
        assert_eq!(
            parse(&words("kv nope"), None).unwrap_err(),
            "unknown kv command `nope`"
        );
        assert_eq!(
            parse(&words("Nope x"), None).unwrap_err(),
            "unknown command `Nope` (try `help`)"
        );
        assert_eq!(
            parse(&words("nope x"), Some(42)).unwrap_err(),
            "unknown command `nope` (try `help`)"
        );
        assert_eq!(
            parse(&words("sh count"), None).unwrap_err(),
            "sh count needs a TOKEN"
        );
    }

    #[test]
    fn values_that_look_like_json_must_parse() {
        for bad in [r#"o={"b":1,}"#, "l=[1,2", r#"s="open"#, "x={", r#"q="a"b"#] {
            let e = parse(&words(&format!("kv set {bad}")), None).unwrap_err();
            assert!(
                e.contains("looks like JSON") && e.contains("--string"),
                "{e}"
            );
        }
        assert_eq!(
            text(r#"kv set --string o={"b":1,} n=5 t=true"#),
            r#"{"KV_SET":{"keys":{"o":"{\"b\":1,}","n":"5","t":"true"}}}"#
        );
        assert_eq!(
            text("sh set 5 a=1 --string b=2"),
            r#"{"SH_SET":{"tkn":5,"keys":{"a":"1","b":"2"}}}"#
        );
        // Not JSON numbers, so plain strings: dates, zip codes, versions, words.
        assert_eq!(
            text("kv set d=2024-01-01 z=01234 v=1.2.3 w=hello m=-"),
            r#"{"KV_SET":{"keys":{"d":"2024-01-01","z":"01234","v":"1.2.3","w":"hello","m":"-"}}}"#
        );
    }

    #[test]
    fn key_deadlines() {
        assert_eq!(
            text("sh set 5 otp=123456 --ttl otp=300 user=ann"),
            r#"{"SH_SET":{"tkn":5,"keys":{"otp":123456,"user":"ann"},"ttl":{"otp":300}}}"#
        );
        assert_eq!(
            text("sh add 5 a=1 --ttl a=2 --string --ttl b=3"),
            r#"{"SH_ADD":{"tkn":5,"keys":{"a":"1"},"ttl":{"a":2,"b":3}}}"#
        );
        assert_eq!(
            text("sh key-ttl 5 otp=60 csrf=none"),
            r#"{"SH_KEY_TTL":{"tkn":5,"keys":{"otp":60,"csrf":null}}}"#
        );
        assert_eq!(
            text("sh key-remaining 5 otp csrf"),
            r#"{"SH_KEY_REMAINING":{"tkn":5,"keys":["otp","csrf"]}}"#
        );
        for bad in [
            "sh set 5 a=1 --ttl",
            "sh set 5 a=1 --ttl a=0",
            "sh set 5 a=1 --ttl a=none",
            "sh set 5 a=1 --ttl a",
            "sh clear-set 5 a=1 --ttl a=1",
            "sh key-ttl 5 a=-1",
        ] {
            assert!(parse(&words(bad), None).is_err(), "{bad}");
        }
    }

    #[test]
    fn current_session_lets_token_be_omitted() {
        let r = parse(&words("get name"), Some(42)).unwrap();
        assert_eq!(r.text, r#"{"SH_GET":{"tkn":42,"keys":["name"]}}"#);
        let r = parse(&words("set a=1"), Some(42)).unwrap();
        assert_eq!(r.text, r#"{"SH_SET":{"tkn":42,"keys":{"a":1}}}"#);
        // With the group spelled out, the token is always explicit.
        let r = parse(&words("sh count 7"), Some(42)).unwrap();
        assert_eq!(r.text, r#"{"SH_COUNT":{"tkn":7}}"#);
        assert!(parse(&words("get name"), None).is_err());
    }
}
