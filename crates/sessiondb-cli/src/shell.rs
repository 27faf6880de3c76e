//! The interactive shell: line editing, persistent history, completion of command names and
//! options, `use TOKEN`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::FileHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};
use sessiondb_client::Client;
use tokio::runtime::Runtime;

use crate::command::{
    self, FIRST_WORDS, KV_COMMANDS, NEW_FLAGS, SET_FLAGS, SH_COMMANDS, SH_SET_FLAGS, SH_WRITE_FLAGS,
};
use crate::{connect, raw, render};

/// Completes the word under the cursor: command names, then each command's options.
struct ShellHelper {
    /// Whether `use TOKEN` is in effect, so session commands may come first.
    current_session: bool,
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = line.get(..pos).unwrap_or(line);
        let (start, words) = completions(before, self.current_session);
        let candidates = words
            .into_iter()
            .map(|w| Pair {
                display: w.to_owned(),
                replacement: format!("{w} "),
            })
            .collect();
        Ok((start, candidates))
    }
}

/// Where the word being completed starts in `before` (the line up to the cursor), and the words
/// that may stand there and begin with it (ignoring case, as command names do).
pub fn completions(before: &str, current_session: bool) -> (usize, Vec<&'static str>) {
    // Split on ASCII blanks only, so `i + 1` is always a character boundary.
    let start = before.rfind([' ', '\t']).map_or(0, |i| i + 1);
    let partial = before[start..].to_ascii_lowercase();
    let done: Vec<String> = before[..start]
        .split_whitespace()
        .map(command::command_name)
        .collect();
    if before.trim_start().starts_with('{') {
        return (start, Vec::new()); // raw JSON: nothing to complete
    }
    let done_words: Vec<&str> = done.iter().map(String::as_str).collect();
    let options: Vec<&'static str> = match done_words.as_slice() {
        [] if current_session => FIRST_WORDS.iter().chain(SH_COMMANDS).copied().collect(),
        [] => FIRST_WORDS.to_vec(),
        ["sh"] => SH_COMMANDS.to_vec(),
        ["kv"] => KV_COMMANDS.to_vec(),
        // The value after --expiry, --name, --owner, --if-ver or --ttl is free text.
        [.., "--expiry" | "--name" | "--owner" | "--if-ver" | "--ttl"] => Vec::new(),
        ["sh", "new", used @ ..] => unused(NEW_FLAGS, used),
        [first, used @ ..] if *first == "new" && current_session => unused(NEW_FLAGS, used),
        ["sh", cmd, used @ ..] if command::takes_ttl(cmd) => {
            flag_when_typed(&partial, unused(SH_WRITE_FLAGS, used))
        }
        [cmd, used @ ..] if current_session && command::takes_ttl(cmd) => {
            flag_when_typed(&partial, unused(SH_WRITE_FLAGS, used))
        }
        ["sh", cmd, used @ ..] if command::takes_key_values(cmd) => {
            flag_when_typed(&partial, unused(SH_SET_FLAGS, used))
        }
        ["kv", cmd, used @ ..] if command::takes_key_values(cmd) => {
            flag_when_typed(&partial, unused(SET_FLAGS, used))
        }
        [cmd, used @ ..] if current_session && command::takes_key_values(cmd) => {
            flag_when_typed(&partial, unused(SH_SET_FLAGS, used))
        }
        _ => Vec::new(),
    };
    let matching = options
        .into_iter()
        .filter(|w| w.starts_with(partial.as_str()))
        .collect();
    (start, matching)
}

/// The flags not already on the line.
fn unused(flags: &[&'static str], used: &[&str]) -> Vec<&'static str> {
    flags
        .iter()
        .copied()
        .filter(|f| !used.contains(f))
        .collect()
}

/// Among keys and values, a flag is offered only once the word starts with `-`.
fn flag_when_typed(partial: &str, flags: Vec<&'static str>) -> Vec<&'static str> {
    if partial.starts_with('-') {
        flags
    } else {
        Vec::new()
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}
impl Highlighter for ShellHelper {}
impl Validator for ShellHelper {}
impl Helper for ShellHelper {}

/// Where the history is kept: `$HOME/.sessiondb_cli_history`.
fn history_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".sessiondb_cli_history"))
}

const SHELL_HELP: &str = "\
Shell commands:
  use TOKEN        make TOKEN the current session: then `get name`, `set a=1`, `count`, ...
                   work without `sh` and the token; `use` alone forgets it
  help             this text          quit / exit / Ctrl-D   leave";

/// Runs the shell until end of input; returns the exit status.
pub fn run(runtime: &Runtime, url: &str, json: bool, connect_timeout: Duration) -> u8 {
    // Raw replies get their status names when a person reads them.
    let names = std::io::stdout().is_terminal();
    let mut client = match runtime.block_on(connect(url, connect_timeout)) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut editor: Editor<ShellHelper, FileHistory> = match Editor::new() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot start line editing: {e}");
            return crate::EXIT_USAGE;
        }
    };
    editor.set_helper(Some(ShellHelper {
        current_session: false,
    }));
    let history = history_path();
    if let Some(path) = &history {
        // A missing history file is normal on first use.
        let _ = editor.load_history(path);
    }
    println!("connected to {url}; type `help` for commands");
    let mut current: Option<u64> = None;
    loop {
        if let Some(helper) = editor.helper_mut() {
            helper.current_session = current.is_some();
        }
        let prompt = match current {
            Some(t) => format!("sessiondb [{t}]> "),
            None => "sessiondb> ".to_owned(),
        };
        let line = match editor.readline(&prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("error: {e}");
                break;
            }
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(line);
        let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        match command::command_name(&words[0]).as_str() {
            "quit" | "exit" => break,
            "help" => {
                println!("{}\n{SHELL_HELP}", command::USAGE);
                continue;
            }
            "use" => {
                current = match words.get(1).map(|w| w.parse::<u64>()) {
                    None => None,
                    Some(Ok(t)) if t != 0 => Some(t),
                    Some(_) => {
                        eprintln!("error: `use` needs a session token");
                        current
                    }
                };
                continue;
            }
            _ => {}
        }
        if !client.is_connected() {
            eprintln!("connection lost; reconnecting to {url}");
            match runtime.block_on(Client::connect_with(url, crate::options(connect_timeout))) {
                Ok(c) => client = c,
                Err(e) => {
                    eprintln!("error: {e}");
                    continue;
                }
            }
        }
        if line.starts_with('{') {
            match runtime.block_on(client.request_text(line)) {
                Ok(reply) => {
                    let status = sessiondb_client::Reply::parse(&reply)
                        .ok()
                        .map(|r| r.status());
                    println!("{}", raw::annotated(&reply, status, names));
                }
                Err(e) => eprintln!("error: {e}"),
            }
            continue;
        }
        let request = match command::parse(&words, current) {
            Ok(r) => r,
            Err(msg) => {
                eprintln!("error: {msg}");
                continue;
            }
        };
        match runtime.block_on(client.request_text(request.text.clone())) {
            Ok(reply) => {
                let outcome = render::outcome(&request, &reply);
                if json {
                    println!("{reply}");
                }
                match outcome {
                    Ok(text) if !json && !text.is_empty() => println!("{text}"),
                    Ok(_) => {}
                    Err(e) => eprintln!("error: {e}"),
                }
            }
            Err(e) => eprintln!("error: {e}"),
        }
    }
    if let Some(path) = &history {
        if let Err(e) = editor.save_history(path) {
            eprintln!("warning: cannot save history to {}: {e}", path.display());
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(before: &str, current: bool) -> Vec<&'static str> {
        completions(before, current).1
    }

    #[test]
    fn first_words_then_subcommands() {
        assert_eq!(words("", false), FIRST_WORDS);
        assert_eq!(words("s", false), ["sh"]);
        assert_eq!(words("S", false), ["sh"], "case-insensitive");
        assert_eq!(words("sh ", false), SH_COMMANDS);
        assert_eq!(words("sh cl", false), ["clear", "clear-set"]);
        assert_eq!(
            words("KV c", false),
            ["contains", "count", "clear", "clear-set"]
        );
        assert_eq!(completions("sh cl", false).0, 3);
        // With a current session, session commands may come first.
        assert!(words("", true).contains(&"get"));
        assert!(!words("", false).contains(&"get"));
    }

    #[test]
    fn options_of_each_command() {
        assert_eq!(words("sh new ", false), NEW_FLAGS);
        assert_eq!(
            words("sh new --ext", false),
            ["--extend-on-set-add", "--extend-on-get"]
        );
        assert_eq!(
            words("sh new --shared --name x --", false),
            [
                "--expiry",
                "--delete-session",
                "--extend-on-set-add",
                "--extend-on-get",
                "--owner"
            ]
        );
        assert_eq!(words("sh new --expiry ", false), Vec::<&str>::new());
        assert_eq!(words("new --sh", true), ["--shared"]);
        assert_eq!(
            words("sh set 5 a=1 --", false),
            ["--string", "--ttl", "--if-ver"]
        );
        assert_eq!(words("sh set 5 a=1 --ttl ", false), Vec::<&str>::new());
        assert_eq!(
            words("sh clear-set 5 a=1 --", false),
            ["--string", "--if-ver"]
        );
        assert_eq!(words("sh set 5 --if-ver ", false), Vec::<&str>::new());
        assert_eq!(words("kv set -", false), ["--string"]);
        assert_eq!(words("set --s", true), ["--string"]);
        assert_eq!(words("add --t", true), ["--ttl"]);
        assert_eq!(
            words("sh set 5 ", false),
            Vec::<&str>::new(),
            "keys are free text"
        );
        assert_eq!(words("sh get 5 --", false), Vec::<&str>::new());
        assert_eq!(words(r#"{"KV_"#, false), Vec::<&str>::new());
    }
}
