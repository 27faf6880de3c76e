//! Server configuration, layered so that each source overrides the one before it:
//! embedded defaults < TOML file (`--config FILE`) < `SESSIONDB_*` environment variables <
//! command line. The server runs with no file and no variables at all.
//!
//! Adding a setting: a field in [`Cli`] (with its `env`), one in `FileConfig`, one in [`Config`]
//! with its default, and one line in `resolve`.
//!
//! One file although it passes 600 lines: 440 of code, the rest its tests, and a setting is
//! four parallel lines that are easiest kept in step side by side.

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser};
use serde::Deserialize;
use sessiondb_core::persist::journal::{FsyncMode, DEFAULT_COMPACT_BYTES};

use crate::auth::{Secret, DEFAULT_MAX_FAILURES};

/// Default listening port (docs/PROTOCOL.md §2.1).
pub const DEFAULT_PORT: u16 = 1987;
/// Default largest incoming message, in bytes (docs/PROTOCOL.md §2.3).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1 << 20;
/// Smallest message limit accepted: below it not even a short command fits.
pub const MIN_MAX_MESSAGE_BYTES: usize = 64;
/// Largest message limit accepted (256 MiB). A change is journaled as one record, which can take
/// up to about twice its message's bytes (a length prefix per key and value), and recovery
/// refuses a record over 1 GiB as corruption: a larger limit could acknowledge a write that a
/// restart would then not read back.
pub const MAX_MAX_MESSAGE_BYTES: usize = 256 << 20;
/// Default idle timeout in seconds (docs/PROTOCOL.md §2.2 allows closing after 180 s of silence).
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 180;

/// The resolved settings of one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Address to listen on.
    pub ip: IpAddr,
    /// Port to listen on (0 picks a free one).
    pub port: u16,
    /// Largest incoming WebSocket message payload; larger ones close the connection with 1009.
    pub max_message_bytes: usize,
    /// Persistence root: datasets and the journal live under it.
    pub data_dir: PathBuf,
    /// Whether `KV_SAVE` / `SH_SAVE` are enabled.
    pub persist: bool,
    /// Whether unauthenticated connections that keep naming unknown sessions are slowed and
    /// closed (`crate::limits::ProbePolicy`); off for a trusted network of application servers.
    pub probe_guard: bool,
    /// Log level or `tracing` filter directive (`RUST_LOG` overrides it).
    pub log_level: String,
    /// Dataset to load before accepting connections.
    pub load_name: Option<String>,
    /// Root to load `load_name` from instead of `data_dir`.
    pub load_path: Option<PathBuf>,
    /// Close a connection after this many seconds with nothing received; 0 = never.
    pub idle_timeout_secs: u64,
    /// Accepted secrets; empty means authentication is off (docs/PROTOCOL.md §2.6). `Secret`'s
    /// `Debug` is redacted, so logging the configuration never shows them.
    pub auth_secrets: Vec<Secret>,
    /// Failed authentication attempts after which a connection is closed with 1008.
    pub auth_max_failures: u32,
    /// PEM certificate chain for `wss://` (with `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `wss://` (with `tls_cert`).
    pub tls_key: Option<PathBuf>,
    /// Most live sessions; `SH_NEW` beyond it answers 170.
    pub max_sessions: Option<u64>,
    /// Most keys in one session; writes beyond it answer 170.
    pub max_keys_per_session: Option<u64>,
    /// Most bytes the stored data may take in memory (keys, values, their tables and per-session
    /// overhead); writes beyond it answer 170.
    pub max_memory: Option<u64>,
    /// Most open WebSocket connections; more are refused at the upgrade with HTTP 503.
    pub max_connections: Option<usize>,
    /// Address of the Prometheus endpoint (`GET /metrics`); off when `None`.
    pub metrics_addr: Option<SocketAddr>,
    /// Address of the admin console (a web page); off when `None`.
    pub admin_addr: Option<SocketAddr>,
    /// When the journal is fsynced (`--fsync always|everysec|no`).
    pub fsync: FsyncMode,
    /// Start even if the journal is damaged, skipping the damage (`--repair`).
    pub repair: bool,
    /// Journal bytes since the last snapshot that trigger a compaction.
    pub journal_compact_bytes: u64,
    /// Connection threads, each a single-threaded runtime; `None` = one per available core,
    /// `Some(0)` = connections run on the caller's runtime.
    pub threads: Option<usize>,
    /// Backend mode: seed URLs of a Redis Cluster (or one Redis) that holds the data instead of
    /// the embedded engine; empty = embedded. May carry a password: never logged.
    pub backend: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: DEFAULT_PORT,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            data_dir: PathBuf::from("./sessiondb-data"),
            persist: true,
            probe_guard: true,
            log_level: "info".to_owned(),
            load_name: None,
            load_path: None,
            idle_timeout_secs: DEFAULT_IDLE_TIMEOUT_SECS,
            auth_secrets: Vec::new(),
            auth_max_failures: DEFAULT_MAX_FAILURES,
            tls_cert: None,
            tls_key: None,
            max_sessions: None,
            max_keys_per_session: None,
            max_memory: None,
            max_connections: None,
            metrics_addr: None,
            admin_addr: None,
            fsync: FsyncMode::EverySec,
            repair: false,
            journal_compact_bytes: DEFAULT_COMPACT_BYTES,
            threads: None,
            backend: Vec::new(),
        }
    }
}

/// Why the configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Bad command line, or `--help` / `--version` (call [`clap::Error::exit`] to print them).
    #[error(transparent)]
    Cli(#[from] clap::Error),
    /// The `--config` file could not be read.
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        /// The file named by `--config`.
        path: PathBuf,
        /// The I/O failure.
        source: std::io::Error,
    },
    /// The `--config` file is not valid TOML for these settings (unknown keys included).
    #[error("invalid config file {path}: {source}")]
    ParseFile {
        /// The file named by `--config`.
        path: PathBuf,
        /// What TOML or serde objected to.
        source: toml::de::Error,
    },
    /// The settings parse but make no sense together.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Command line of `sessiondb`. Every option can also come from `SESSIONDB_<NAME>` or the file.
#[derive(Debug, Parser)]
#[command(
    name = "sessiondb",
    version,
    about = "sessiondb: an in-memory session database speaking NemesisDB's JSON protocol over WebSocket",
    after_help = "Precedence: command line > SESSIONDB_* environment > --config file > defaults."
)]
pub struct Cli {
    /// TOML file whose keys are the long option names, e.g. `port = 1987`, `no-persist = true`
    #[arg(long, value_name = "FILE", env = "SESSIONDB_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1]
    #[arg(long, value_name = "ADDR", env = "SESSIONDB_IP")]
    pub ip: Option<IpAddr>,
    /// Port to listen on [default: 1987]
    #[arg(long, value_name = "N", env = "SESSIONDB_PORT")]
    pub port: Option<u16>,
    /// Largest incoming message in bytes, 64 to 268435456 (256 MiB); larger ones close the
    /// connection (1009)
    /// [default: 1048576]
    #[arg(long, value_name = "N", env = "SESSIONDB_MAX_MESSAGE_BYTES")]
    pub max_message_bytes: Option<usize>,
    /// Persistence root holding datasets and the journal [default: ./sessiondb-data]
    #[arg(long, value_name = "DIR", env = "SESSIONDB_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Disable persistence: KV_SAVE / SH_SAVE answer 14 (loads still work)
    #[arg(long, env = "SESSIONDB_NO_PERSIST")]
    pub no_persist: bool,
    /// Do not slow or close connections that keep naming unknown sessions (for a trusted network
    /// of application servers without --auth-secret; authenticated connections are never slowed)
    #[arg(long, env = "SESSIONDB_NO_PROBE_GUARD")]
    pub no_probe_guard: bool,
    /// Log level or tracing filter, e.g. `debug` or `sessiondb_server=debug`; RUST_LOG overrides
    /// [default: info]
    #[arg(long, value_name = "LEVEL", env = "SESSIONDB_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// Dataset to load before accepting connections; the server refuses to start if it cannot
    #[arg(long, value_name = "NAME", env = "SESSIONDB_LOAD_NAME")]
    pub load_name: Option<String>,
    /// Root to load the --load-name dataset from [default: the persistence root]
    #[arg(long, value_name = "DIR", env = "SESSIONDB_LOAD_PATH")]
    pub load_path: Option<PathBuf>,
    /// Close connections from which nothing arrived for this many seconds; 0 = never
    /// [default: 180]
    #[arg(long, value_name = "SECS", env = "SESSIONDB_IDLE_TIMEOUT_SECS")]
    pub idle_timeout_secs: Option<u64>,
    /// Require clients to authenticate with this secret (repeat for several); off when none.
    /// Prefer the environment or the config file: command lines are visible to other users
    #[arg(
        long = "auth-secret",
        value_name = "SECRET",
        env = "SESSIONDB_AUTH_SECRET",
        hide_env_values = true
    )]
    pub auth_secret: Vec<String>,
    /// Failed authentication attempts before a connection is closed (1008) [default: 5]
    #[arg(long, value_name = "N", env = "SESSIONDB_AUTH_MAX_FAILURES")]
    pub auth_max_failures: Option<u32>,
    /// PEM certificate chain: serve wss:// (needs --tls-key)
    #[arg(long, value_name = "FILE", env = "SESSIONDB_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert
    #[arg(long, value_name = "FILE", env = "SESSIONDB_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Most live sessions; SH_NEW beyond it answers 170 [default: no limit]
    #[arg(long, value_name = "N", env = "SESSIONDB_MAX_SESSIONS")]
    pub max_sessions: Option<u64>,
    /// Most keys per session; writes beyond it answer 170 [default: no limit]
    #[arg(long, value_name = "N", env = "SESSIONDB_MAX_KEYS_PER_SESSION")]
    pub max_keys_per_session: Option<u64>,
    /// Most bytes the stored data may take in memory (keys, values, their tables, sessions);
    /// writes beyond it answer 170 [default: no limit]
    #[arg(long, value_name = "BYTES", env = "SESSIONDB_MAX_MEMORY")]
    pub max_memory: Option<u64>,
    /// Most open connections; more are refused at the upgrade with HTTP 503 [default: no limit]
    #[arg(long, value_name = "N", env = "SESSIONDB_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Connection threads, each running its share of the connections; 0 runs them on the
    /// main runtime's work-stealing pool instead [default: one per available core]
    #[arg(long, value_name = "N", env = "SESSIONDB_THREADS")]
    pub threads: Option<usize>,
    /// Serve Prometheus metrics (GET /metrics) on this address, e.g. 127.0.0.1:9187 [default: off]
    #[arg(long, value_name = "ADDR:PORT", env = "SESSIONDB_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Serve the admin console (a web page) on this address, e.g. 127.0.0.1:9188; it asks for a
    /// login when --auth-secret is set [default: off]
    #[arg(long, value_name = "ADDR:PORT", env = "SESSIONDB_ADMIN_ADDR")]
    pub admin_addr: Option<SocketAddr>,
    /// When the journal is fsynced: always (reply only once on disk), everysec, or no
    /// [default: everysec]
    #[arg(long, value_name = "MODE", env = "SESSIONDB_FSYNC")]
    pub fsync: Option<FsyncMode>,
    /// Start even if the journal is damaged in the middle: skip the damaged bytes (moved beside
    /// the file) and keep every valid record
    #[arg(long, env = "SESSIONDB_REPAIR")]
    pub repair: bool,
    /// Compact the journal once it has grown by this many bytes since its last snapshot (and at
    /// least by the snapshot's size) [default: 268435456]
    #[arg(long, value_name = "BYTES", env = "SESSIONDB_JOURNAL_COMPACT_BYTES")]
    pub journal_compact_bytes: Option<u64>,
    /// Backend mode: keep the data in this Redis Cluster or Redis, redis://HOST:PORT (repeat
    /// for several seed nodes; comma-separated in the environment)
    /// [default: off, the embedded engine]
    #[arg(
        long = "backend",
        value_name = "URL",
        env = "SESSIONDB_BACKEND",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub backend: Vec<String>,
}

/// `auth-secret` in the file: one secret or a list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// The `--config` file: the same settings as the command line, spelled as the long options.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    backend: Option<OneOrMany>,
    ip: Option<IpAddr>,
    port: Option<u16>,
    max_message_bytes: Option<usize>,
    data_dir: Option<PathBuf>,
    no_persist: Option<bool>,
    no_probe_guard: Option<bool>,
    log_level: Option<String>,
    load_name: Option<String>,
    load_path: Option<PathBuf>,
    idle_timeout_secs: Option<u64>,
    auth_secret: Option<OneOrMany>,
    auth_max_failures: Option<u32>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    max_sessions: Option<u64>,
    max_keys_per_session: Option<u64>,
    max_memory: Option<u64>,
    max_connections: Option<usize>,
    threads: Option<usize>,
    metrics_addr: Option<SocketAddr>,
    admin_addr: Option<SocketAddr>,
    fsync: Option<String>,
    repair: Option<bool>,
    journal_compact_bytes: Option<u64>,
}

impl Config {
    /// Builds the configuration from command-line arguments (the first is the program name),
    /// the process environment and the `--config` file they name.
    pub fn from_args<I, T>(args: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let matches = Cli::command().try_get_matches_from(args)?;
        let cli = Cli::from_arg_matches(&matches)?;
        let file = match &cli.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        resolve(&cli, &matches, file)
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    parse_file(path, &text)
}

fn parse_file(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|source| ConfigError::ParseFile {
        path: path.to_owned(),
        source,
    })
}

/// Merges the layers. Options arrive as `None` from clap when neither the command line nor the
/// environment set them, so the file value shows through; flags need `value_source` for that.
fn resolve(cli: &Cli, matches: &ArgMatches, file: FileConfig) -> Result<Config, ConfigError> {
    let d = Config::default();
    let flag_given = |id: &str| {
        !matches!(
            matches.value_source(id),
            None | Some(ValueSource::DefaultValue)
        )
    };
    let no_persist = if flag_given("no_persist") {
        cli.no_persist
    } else {
        file.no_persist.unwrap_or(!d.persist)
    };
    let no_probe_guard = if flag_given("no_probe_guard") {
        cli.no_probe_guard
    } else {
        file.no_probe_guard.unwrap_or(!d.probe_guard)
    };
    // The command line (or environment) replaces the file's secrets as a whole list.
    let secrets = if cli.auth_secret.is_empty() {
        file.auth_secret
            .map(OneOrMany::into_vec)
            .unwrap_or_default()
    } else {
        cli.auth_secret.clone()
    };
    // An empty secret would silently mean "no authentication"; refuse it instead.
    if secrets.iter().any(String::is_empty) {
        return Err(ConfigError::Invalid(
            "--auth-secret must not be empty".to_owned(),
        ));
    }
    let repair = if flag_given("repair") {
        cli.repair
    } else {
        file.repair.unwrap_or(d.repair)
    };
    let fsync = match (cli.fsync, &file.fsync) {
        (Some(mode), _) => mode,
        (None, Some(text)) => text.parse().map_err(ConfigError::Invalid)?,
        (None, None) => d.fsync,
    };
    let config = Config {
        ip: cli.ip.or(file.ip).unwrap_or(d.ip),
        port: cli.port.or(file.port).unwrap_or(d.port),
        max_message_bytes: cli
            .max_message_bytes
            .or(file.max_message_bytes)
            .unwrap_or(d.max_message_bytes),
        data_dir: cli.data_dir.clone().or(file.data_dir).unwrap_or(d.data_dir),
        persist: !no_persist,
        probe_guard: !no_probe_guard,
        log_level: cli
            .log_level
            .clone()
            .or(file.log_level)
            .unwrap_or(d.log_level),
        load_name: cli.load_name.clone().or(file.load_name),
        load_path: cli.load_path.clone().or(file.load_path),
        idle_timeout_secs: cli
            .idle_timeout_secs
            .or(file.idle_timeout_secs)
            .unwrap_or(d.idle_timeout_secs),
        auth_secrets: secrets.iter().map(|s| Secret::new(s)).collect(),
        auth_max_failures: cli
            .auth_max_failures
            .or(file.auth_max_failures)
            .unwrap_or(d.auth_max_failures),
        tls_cert: cli.tls_cert.clone().or(file.tls_cert),
        tls_key: cli.tls_key.clone().or(file.tls_key),
        max_sessions: cli.max_sessions.or(file.max_sessions),
        max_keys_per_session: cli.max_keys_per_session.or(file.max_keys_per_session),
        max_memory: cli.max_memory.or(file.max_memory),
        max_connections: cli.max_connections.or(file.max_connections),
        threads: cli.threads.or(file.threads),
        backend: if cli.backend.is_empty() {
            file.backend.map(OneOrMany::into_vec).unwrap_or_default()
        } else {
            cli.backend.clone()
        },
        metrics_addr: cli.metrics_addr.or(file.metrics_addr),
        admin_addr: cli.admin_addr.or(file.admin_addr),
        fsync,
        repair,
        journal_compact_bytes: cli
            .journal_compact_bytes
            .or(file.journal_compact_bytes)
            .unwrap_or(d.journal_compact_bytes),
    };
    config.validate()?;
    Ok(config)
}

impl Config {
    /// Checks the rules that span settings or values (docs/PROTOCOL.md §14, §15).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(MIN_MAX_MESSAGE_BYTES..=MAX_MAX_MESSAGE_BYTES).contains(&self.max_message_bytes) {
            return Err(ConfigError::Invalid(format!(
                "--max-message-bytes must be between {MIN_MAX_MESSAGE_BYTES} and \
                 {MAX_MAX_MESSAGE_BYTES}, got {}",
                self.max_message_bytes
            )));
        }
        if self.load_path.is_some() && self.load_name.is_none() {
            return Err(ConfigError::Invalid(
                "--load-path needs --load-name (which dataset to load from it)".to_owned(),
            ));
        }
        if !self.backend.is_empty() && self.load_name.is_some() {
            return Err(ConfigError::Invalid(
                "--load-name with --backend is not supported yet".to_owned(),
            ));
        }
        // The console reads the embedded store, which holds nothing in backend mode.
        if !self.backend.is_empty() && self.admin_addr.is_some() {
            return Err(ConfigError::Invalid(
                "--admin-addr with --backend is not supported yet".to_owned(),
            ));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Invalid(
                "--tls-cert and --tls-key go together".to_owned(),
            ));
        }
        if self.auth_max_failures == 0 {
            return Err(ConfigError::Invalid(
                "--auth-max-failures must be at least 1".to_owned(),
            ));
        }
        if let Some(name) = &self.load_name {
            if !sessiondb_proto::dataset_name_allowed(name) {
                return Err(ConfigError::Invalid(format!(
                    "--load-name {name:?} is not an allowed dataset name \
                     (1-128 of [A-Za-z0-9_.-], starting with a letter or digit, no \"..\")"
                )));
            }
        }
        Ok(())
    }

    /// The root `--load-name` is read from: `--load-path`, else the persistence root.
    pub fn load_root(&self) -> &Path {
        self.load_path.as_deref().unwrap_or(&self.data_dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `args` with `file` as the config file's text. No test here sets environment
    /// variables (that is `tests/config_env.rs`, in its own process), so clap sees none.
    fn load(args: &[&str], file: &str) -> Result<Config, ConfigError> {
        let mut argv = vec!["sessiondb"];
        argv.extend_from_slice(args);
        let matches = Cli::command().try_get_matches_from(argv)?;
        let cli = Cli::from_arg_matches(&matches)?;
        let file = parse_file(Path::new("test.toml"), file)?;
        resolve(&cli, &matches, file)
    }

    #[test]
    fn defaults_without_file_or_arguments() -> Result<(), ConfigError> {
        let c = load(&[], "")?;
        assert_eq!(c, Config::default());
        assert_eq!(c.ip, IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(c.port, 1987);
        assert_eq!(c.max_message_bytes, 1_048_576);
        assert_eq!(c.data_dir, PathBuf::from("./sessiondb-data"));
        assert!(c.persist);
        assert_eq!(c.log_level, "info");
        assert_eq!(c.idle_timeout_secs, 180);
        Ok(())
    }

    #[test]
    fn threads_from_file_and_command_line() -> Result<(), ConfigError> {
        assert_eq!(load(&[], "")?.threads, None);
        assert_eq!(load(&[], "threads = 3\n")?.threads, Some(3));
        assert_eq!(load(&["--threads", "0"], "threads = 3\n")?.threads, Some(0));
        assert!(load(&["--threads", "-1"], "").is_err());
        Ok(())
    }

    #[test]
    fn backend_seeds_from_file_and_command_line() -> Result<(), ConfigError> {
        assert!(load(&[], "")?.backend.is_empty());
        let seeds = ["redis://a:1".to_owned(), "redis://b:2".to_owned()];
        let file = "backend = [\"redis://a:1\", \"redis://b:2\"]\n";
        assert_eq!(load(&[], file)?.backend, seeds);
        let args = ["--backend", "redis://a:1", "--backend", "redis://b:2"];
        assert_eq!(load(&args, "backend = \"redis://c:3\"\n")?.backend, seeds);
        assert_eq!(
            load(&["--backend", "redis://a:1,redis://b:2"], "")?.backend,
            seeds
        );
        let loading = ["--backend", "redis://a:1", "--load-name", "x"];
        assert!(matches!(load(&loading, ""), Err(ConfigError::Invalid(_))));
        let console = ["--backend", "redis://a:1", "--admin-addr", "127.0.0.1:9000"];
        assert!(matches!(load(&console, ""), Err(ConfigError::Invalid(_))));
        Ok(())
    }

    #[test]
    fn file_overrides_defaults() -> Result<(), ConfigError> {
        let c = load(
            &[],
            "ip = \"0.0.0.0\"\nport = 2000\nmax-message-bytes = 4096\ndata-dir = \"/d\"\n\
             no-persist = true\nlog-level = \"debug\"\nidle-timeout-secs = 0\n",
        )?;
        assert_eq!(c.ip, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(c.port, 2000);
        assert_eq!(c.max_message_bytes, 4096);
        assert_eq!(c.data_dir, PathBuf::from("/d"));
        assert!(!c.persist);
        assert_eq!(c.log_level, "debug");
        assert_eq!(c.idle_timeout_secs, 0);
        Ok(())
    }

    #[test]
    fn command_line_overrides_file() -> Result<(), ConfigError> {
        let c = load(
            &["--port", "3000", "--data-dir", "/cli", "--no-persist"],
            "port = 2000\ndata-dir = \"/file\"\nno-persist = false\nlog-level = \"warn\"\n",
        )?;
        assert_eq!(c.port, 3000);
        assert_eq!(c.data_dir, PathBuf::from("/cli"));
        assert!(!c.persist);
        // Not on the command line: the file's value shows through.
        assert_eq!(c.log_level, "warn");
        Ok(())
    }

    #[test]
    fn admin_console_is_off_unless_an_address_is_given() -> Result<(), ConfigError> {
        assert_eq!(load(&[], "")?.admin_addr, None);
        let from_file = load(&[], "admin-addr = \"127.0.0.1:9188\"\n")?;
        assert_eq!(
            from_file.admin_addr,
            Some(SocketAddr::from(([127, 0, 0, 1], 9188)))
        );
        let from_cli = load(
            &["--admin-addr", "0.0.0.0:1"],
            "admin-addr = \"127.0.0.1:9188\"\n",
        )?;
        assert_eq!(
            from_cli.admin_addr,
            Some(SocketAddr::from(([0, 0, 0, 0], 1)))
        );
        Ok(())
    }

    #[test]
    fn unknown_file_key_is_a_clear_error() {
        let err = load(&[], "prot = 1987\n");
        match err {
            Err(ConfigError::ParseFile { source, .. }) => {
                assert!(source.to_string().contains("prot"), "{source}");
            }
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn wrong_type_in_file_is_an_error() {
        assert!(matches!(
            load(&[], "port = \"x\"\n"),
            Err(ConfigError::ParseFile { .. })
        ));
    }

    #[test]
    fn load_path_without_load_name_is_an_error() {
        assert!(matches!(
            load(&["--load-path", "/x"], ""),
            Err(ConfigError::Invalid(_))
        ));
        assert!(matches!(
            load(&[], "load-path = \"/x\"\n"),
            Err(ConfigError::Invalid(_))
        ));
    }

    #[test]
    fn load_name_and_path_are_accepted() -> Result<(), ConfigError> {
        let c = load(&["--load-name", "users", "--load-path", "/x"], "")?;
        assert_eq!(c.load_name.as_deref(), Some("users"));
        assert_eq!(c.load_root(), Path::new("/x"));
        let c = load(&["--load-name", "users", "--data-dir", "/d"], "")?;
        assert_eq!(c.load_root(), Path::new("/d"));
        Ok(())
    }

    #[test]
    fn bad_load_name_is_an_error() {
        for name in ["../etc", ".hidden", "a..b", "a/b", ""] {
            assert!(
                matches!(
                    load(&["--load-name", name], ""),
                    Err(ConfigError::Invalid(_))
                ),
                "{name:?}"
            );
        }
    }

    #[test]
    fn message_limit_outside_64_to_256_mib_is_an_error() -> Result<(), ConfigError> {
        for refused in ["63", "268435457"] {
            assert!(matches!(
                load(&["--max-message-bytes", refused], ""),
                Err(ConfigError::Invalid(_))
            ));
        }
        for accepted in [64, 268_435_456] {
            let arg = accepted.to_string();
            assert_eq!(
                load(&["--max-message-bytes", &arg], "")?.max_message_bytes,
                accepted
            );
        }
        Ok(())
    }

    #[test]
    fn unknown_option_and_bad_value_are_cli_errors() {
        assert!(matches!(load(&["--nope"], ""), Err(ConfigError::Cli(_))));
        assert!(matches!(
            load(&["--port", "70000"], ""),
            Err(ConfigError::Cli(_))
        ));
    }

    #[test]
    fn help_and_version_are_reported_not_parsed() {
        for arg in ["--help", "--version"] {
            match load(&[arg], "") {
                Err(ConfigError::Cli(e)) => assert!(!e.use_stderr(), "{arg}: {e}"),
                other => panic!("{arg}: {other:?}"),
            }
        }
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
