//! Configuration precedence including environment variables: file < env < command line.
//! In its own test binary (one process, one test) because it changes the process environment.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use sessiondb_server::Config;

#[test]
fn environment_sits_between_file_and_command_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("sessiondb.toml");
    std::fs::write(
        &file,
        "port = 1000\nip = \"0.0.0.0\"\ndata-dir = \"/from-file\"\nno-persist = true\n\
         idle-timeout-secs = 5\n",
    )
    .expect("write config");

    // The file alone, named by the environment.
    std::env::set_var("SESSIONDB_CONFIG", &file);
    let c = Config::from_args(["sessiondb"]).expect("file only");
    assert_eq!(c.port, 1000);
    assert_eq!(c.ip, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    assert!(!c.persist);
    assert_eq!(c.idle_timeout_secs, 5);

    // Environment beats the file, including for flags.
    std::env::set_var("SESSIONDB_PORT", "2000");
    std::env::set_var("SESSIONDB_DATA_DIR", "/from-env");
    std::env::set_var("SESSIONDB_NO_PERSIST", "false");
    let c = Config::from_args(["sessiondb"]).expect("file and env");
    assert_eq!(c.port, 2000);
    assert_eq!(c.data_dir, PathBuf::from("/from-env"));
    assert!(c.persist);
    assert_eq!(c.ip, IpAddr::V4(Ipv4Addr::UNSPECIFIED));

    // The command line beats both.
    let c = Config::from_args(["sessiondb", "--port", "3000", "--data-dir", "/from-cli"])
        .expect("all three");
    assert_eq!(c.port, 3000);
    assert_eq!(c.data_dir, PathBuf::from("/from-cli"));
    assert_eq!(c.idle_timeout_secs, 5);

    // A bad value in the environment is an error, not silently ignored.
    std::env::set_var("SESSIONDB_PORT", "not-a-port");
    assert!(Config::from_args(["sessiondb"]).is_err());
    std::env::remove_var("SESSIONDB_PORT");

    // A missing config file is a clear error.
    std::env::set_var("SESSIONDB_CONFIG", dir.path().join("missing.toml"));
    let err = Config::from_args(["sessiondb"]).expect_err("missing file");
    assert!(err.to_string().contains("missing.toml"), "{err}");
}
