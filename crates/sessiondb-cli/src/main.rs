//! `sessiondb-cli`: one-shot commands, raw JSON from standard input, or an interactive shell.
//!
//! Exit status: 0 success; 1 the server answered a failure status; 2 bad usage; 3 the connection
//! failed or dropped.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod address;
mod command;
mod raw;
mod render;
mod shell;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};
use sessiondb_client::{Client, ClientOptions, Error};

/// Command-line options; the command words follow them.
///
/// `-h` is the host, as in redis-cli, so clap's `-h` for help is turned off; `--help` prints help.
#[derive(Parser, Debug)]
#[command(
    name = "sessiondb-cli",
    version,
    about = "sessiondb command-line client",
    long_about = "sessiondb command-line client.\n\n\
        Connection options follow redis-cli: -h HOST and -p PORT (or -u/--url). Because -h is \
        the host, help is --help only.",
    after_help = command::USAGE,
    disable_help_flag = true
)]
struct Args {
    /// Server URL: ws://HOST:PORT, wss://HOST:PORT, or HOST:PORT (taken as ws://).
    #[arg(short = 'u', long, env = "SESSIONDB_URL", default_value = address::DEFAULT_URL)]
    url: String,
    /// Server host, as in redis-cli: connects to ws://HOST:PORT (PORT from -p, default 1987).
    /// `-h` means host here, not help, so that redis-cli habits work; use --help for help.
    #[arg(short = 'h', long = "host", value_name = "HOST")]
    host: Option<String>,
    /// Server port, as in redis-cli (host from -h, default 127.0.0.1).
    #[arg(short = 'p', long = "port", value_name = "PORT")]
    port: Option<u16>,
    /// Seconds to wait for the server to answer when connecting, as redis-cli's -t.
    #[arg(
        short = 't',
        long = "connect-timeout",
        value_name = "SECS",
        default_value_t = 10.0
    )]
    connect_timeout: f64,
    /// Print help (`-h` is the host, as in redis-cli).
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
    /// Print each raw JSON reply instead of the readable form.
    #[arg(long)]
    json: bool,
    /// GROUP COMMAND [ARGS]; none reads JSON requests from standard input, or starts the shell
    /// on a terminal.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// Exit status for a failure status from the server.
pub const EXIT_STATUS: u8 = 1;
/// Exit status for bad usage.
pub const EXIT_USAGE: u8 = 2;
/// Exit status for connection problems.
pub const EXIT_CONNECTION: u8 = 3;

fn main() -> ExitCode {
    let matches = Args::command().get_matches();
    let url_given = matches.value_source("url") == Some(ValueSource::CommandLine);
    let mut args = match Args::from_arg_matches(&matches) {
        Ok(args) => args,
        Err(e) => e.exit(),
    };
    args.url = match address::resolve(&args.url, url_given, args.host.as_deref(), args.port) {
        Ok(url) => url,
        Err(msg) => {
            eprintln!("error: {msg}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // `--json` is also accepted after the command words (`sessiondb-cli kv get a --json`).
    if let Some(i) = args.command.iter().position(|w| w == "--json") {
        args.command.remove(i);
        args.json = true;
    }
    let connect_timeout = match Duration::try_from_secs_f64(args.connect_timeout) {
        Ok(d) if !d.is_zero() => d,
        _ => {
            eprintln!("error: --connect-timeout needs a positive number of seconds");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = if args
        .command
        .first()
        .is_some_and(|w| w.eq_ignore_ascii_case("help"))
    {
        println!("{}", command::USAGE);
        0
    } else if !args.command.is_empty() {
        runtime.block_on(one_shot(&args, connect_timeout))
    } else if std::io::stdin().is_terminal() {
        shell::run(&runtime, &args.url, args.json, connect_timeout)
    } else {
        let names = std::io::stdout().is_terminal();
        runtime.block_on(raw::run(&args.url, names, connect_timeout))
    };
    ExitCode::from(code)
}

/// How the CLI connects: a bounded wait for the server to answer, and no request timeout,
/// since a save of a large dataset may rightly take long.
pub fn options(connect_timeout: Duration) -> ClientOptions {
    ClientOptions::plain().connect_timeout(Some(connect_timeout))
}

/// Connects, reporting a failure on standard error.
pub async fn connect(url: &str, connect_timeout: Duration) -> Result<Client, u8> {
    Client::connect_with(url, options(connect_timeout))
        .await
        .map_err(|e| {
            eprintln!("error: {url}: {e}");
            EXIT_CONNECTION
        })
}

/// Exit status for an error from a request.
pub fn exit_code(e: &Error) -> u8 {
    if e.is_connection_error() {
        EXIT_CONNECTION
    } else {
        EXIT_STATUS
    }
}

async fn one_shot(args: &Args, connect_timeout: Duration) -> u8 {
    let request = match command::parse(&args.command, None) {
        Ok(r) => r,
        Err(msg) => {
            eprintln!("error: {msg}");
            return EXIT_USAGE;
        }
    };
    let client = match connect(&args.url, connect_timeout).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let reply = match client.request_text(request.text.clone()).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return exit_code(&e);
        }
    };
    let outcome = render::outcome(&request, &reply);
    if args.json {
        println!("{reply}");
    }
    match outcome {
        Ok(text) => {
            if !args.json && !text.is_empty() {
                println!("{text}");
            }
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit_code(&e)
        }
    }
}
