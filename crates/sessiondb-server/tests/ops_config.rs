//! The operations settings parse from the command line and the config file, and nonsense
//! combinations are refused. (No environment variables are set here: that would leak into
//! other tests of this process.)

use std::path::PathBuf;

use sessiondb_server::auth::Secret;
use sessiondb_server::config::{Config, ConfigError};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn with_file(text: &str, args: &[&str]) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().map_err(|e| ConfigError::Invalid(e.to_string()))?;
    let path = dir.path().join("c.toml");
    std::fs::write(&path, text).map_err(|e| ConfigError::Invalid(e.to_string()))?;
    let path = path.to_string_lossy().into_owned();
    let mut argv = vec!["sessiondb", "--config", &path];
    argv.extend_from_slice(args);
    Config::from_args(argv)
}

#[test]
fn defaults_are_off() -> TestResult {
    let c = Config::from_args(["sessiondb"])?;
    assert!(c.auth_secrets.is_empty());
    assert_eq!(c.auth_max_failures, 5);
    assert_eq!((c.tls_cert, c.tls_key), (None, None));
    assert_eq!(c.max_sessions, None);
    assert_eq!(c.max_keys_per_session, None);
    assert_eq!(c.max_memory, None);
    assert_eq!(c.max_connections, None);
    assert_eq!(c.metrics_addr, None);
    Ok(())
}

#[test]
fn command_line_flags() -> TestResult {
    let c = Config::from_args([
        "sessiondb",
        "--auth-secret",
        "s",
        "--auth-max-failures",
        "9",
        "--tls-cert",
        "c.pem",
        "--tls-key",
        "k.pem",
        "--max-sessions",
        "5",
        "--max-keys-per-session",
        "6",
        "--max-memory",
        "7",
        "--max-connections",
        "8",
        "--metrics-addr",
        "127.0.0.1:9187",
    ])?;
    assert_eq!(c.auth_secrets, vec![Secret::new("s")]);
    assert_eq!(c.auth_max_failures, 9);
    assert_eq!(c.tls_cert, Some(PathBuf::from("c.pem")));
    assert_eq!(c.tls_key, Some(PathBuf::from("k.pem")));
    assert_eq!(c.max_sessions, Some(5));
    assert_eq!(c.max_keys_per_session, Some(6));
    assert_eq!(c.max_memory, Some(7));
    assert_eq!(c.max_connections, Some(8));
    assert_eq!(c.metrics_addr, Some("127.0.0.1:9187".parse()?));
    Ok(())
}

#[test]
fn config_file_settings_and_precedence() -> TestResult {
    let file = "auth-secret = \"one\"\nmax-sessions = 10\nmax-memory = 1000\n\
                max-connections = 3\nmetrics-addr = \"127.0.0.1:9100\"\n\
                tls-cert = \"c.pem\"\ntls-key = \"k.pem\"\n";
    let c = with_file(file, &[])?;
    assert_eq!(c.auth_secrets, vec![Secret::new("one")]);
    assert_eq!(c.max_sessions, Some(10));
    assert_eq!(c.max_memory, Some(1000));
    assert_eq!(c.max_connections, Some(3));
    assert_eq!(c.metrics_addr, Some("127.0.0.1:9100".parse()?));
    let c = with_file(file, &["--max-sessions", "11", "--auth-secret", "two"])?;
    assert_eq!(c.max_sessions, Some(11));
    assert_eq!(c.auth_secrets, vec![Secret::new("two")]);
    assert_eq!(c.max_memory, Some(1000));
    Ok(())
}

#[test]
fn nonsense_is_refused() {
    for args in [
        &["sessiondb", "--tls-cert", "c.pem"][..],
        &["sessiondb", "--tls-key", "k.pem"][..],
        &["sessiondb", "--auth-secret", ""][..],
        &[
            "sessiondb",
            "--auth-secret",
            "s",
            "--auth-max-failures",
            "0",
        ][..],
    ] {
        assert!(
            matches!(Config::from_args(args), Err(ConfigError::Invalid(_))),
            "{args:?}"
        );
    }
    assert!(matches!(
        Config::from_args(["sessiondb", "--metrics-addr", "nowhere"]),
        Err(ConfigError::Cli(_))
    ));
    assert!(matches!(
        with_file("auth-secret = \"\"\n", &[]),
        Err(ConfigError::Invalid(_))
    ));
}
