//! The interactive shell: line editing, persistent history, command-name completion, `use TOKEN`.

use std::path::PathBuf;

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::FileHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};
use sessiondb_client::Client;
use tokio::runtime::Runtime;

use crate::command::{self, COMMAND_WORDS};
use crate::{connect, render};

/// Completes the word under the cursor from the command names.
struct CommandCompleter;

impl Completer for CommandCompleter {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = line.get(..pos).unwrap_or(line);
        // Split on ASCII blanks only, so `i + 1` is always a character boundary.
        let start = before.rfind([' ', '\t']).map_or(0, |i| i + 1);
        let word = &before[start..];
        // Only command positions (the first two words) complete; keys and values are free text.
        if before[..start].split_whitespace().count() > 1 || word.starts_with('{') {
            return Ok((start, Vec::new()));
        }
        let candidates = COMMAND_WORDS
            .iter()
            .filter(|c| c.starts_with(word))
            .map(|c| Pair {
                display: (*c).to_owned(),
                replacement: format!("{c} "),
            })
            .collect();
        Ok((start, candidates))
    }
}

impl Hinter for CommandCompleter {
    type Hint = String;
}
impl Highlighter for CommandCompleter {}
impl Validator for CommandCompleter {}
impl Helper for CommandCompleter {}

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
pub fn run(runtime: &Runtime, url: &str, json: bool) -> u8 {
    let mut client = match runtime.block_on(connect(url)) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut editor: Editor<CommandCompleter, FileHistory> = match Editor::new() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot start line editing: {e}");
            return crate::EXIT_USAGE;
        }
    };
    editor.set_helper(Some(CommandCompleter));
    let history = history_path();
    if let Some(path) = &history {
        // A missing history file is normal on first use.
        let _ = editor.load_history(path);
    }
    println!("connected to {url}; type `help` for commands");
    let mut current: Option<u64> = None;
    loop {
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
        match words[0].as_str() {
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
            match runtime.block_on(Client::connect(url)) {
                Ok(c) => client = c,
                Err(e) => {
                    eprintln!("error: {e}");
                    continue;
                }
            }
        }
        if line.starts_with('{') {
            match runtime.block_on(client.request_text(line)) {
                Ok(reply) => println!("{reply}"),
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
