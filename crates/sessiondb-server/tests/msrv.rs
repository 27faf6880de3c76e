//! The declared minimum Rust version is true: no locked dependency (dev and build dependencies
//! included, since the tests must build too) asks for a newer compiler than the workspace's
//! `rust-version`, and every workspace crate declares that same version, so cargo enforces it.
//!
//! Reads `cargo metadata --locked --offline` for the host platform only: packages for other
//! platforms (Windows console crates, say) are not downloaded on a Linux machine, and `--offline`
//! must not need them.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A `rust-version` such as `1.88` or `1.85.0`, as comparable numbers (a missing patch is 0).
fn parse_version(text: &str) -> Result<(u64, u64, u64), String> {
    let mut parts = text.split('.').map(|p| p.parse::<u64>());
    let mut next = || match parts.next() {
        None => Ok(0),
        Some(Ok(n)) => Ok(n),
        Some(Err(e)) => Err(format!("rust-version {text:?}: {e}")),
    };
    let version = (next()?, next()?, next()?);
    if parts.next().is_some() {
        return Err(format!("rust-version {text:?} has more than three parts"));
    }
    Ok(version)
}

/// The target triple of the host, from the compiler that sits beside this cargo.
fn host_triple() -> Result<String, Box<dyn std::error::Error>> {
    let beside_cargo = Path::new(env!("CARGO")).with_file_name("rustc");
    let rustc = if beside_cargo.is_file() {
        beside_cargo.into_os_string()
    } else {
        "rustc".into()
    };
    let out = Command::new(rustc).arg("-vV").output()?;
    if !out.status.success() {
        return Err(format!("rustc -vV failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let text = String::from_utf8(out.stdout)?;
    text.lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| "rustc -vV printed no host line".into())
}

fn cargo_metadata() -> Result<Value, Box<dyn std::error::Error>> {
    let workspace_root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let out = Command::new(env!("CARGO"))
        .current_dir(workspace_root)
        .args(["metadata", "--locked", "--offline", "--format-version", "1"])
        .args(["--filter-platform", &host_triple()?])
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn str_field<'v>(value: &'v Value, name: &str) -> Result<&'v str, String> {
    value[name]
        .as_str()
        .ok_or_else(|| format!("cargo metadata: no string {name:?} in {value}"))
}

#[test]
fn declared_rust_version_covers_every_locked_dependency() -> TestResult {
    let metadata = cargo_metadata()?;
    let members: Vec<&str> = metadata["workspace_members"]
        .as_array()
        .ok_or("cargo metadata: no workspace_members")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let packages = metadata["packages"]
        .as_array()
        .ok_or("cargo metadata: no packages")?;

    let mut declared = Vec::new();
    let mut highest: Option<((u64, u64, u64), String)> = None;
    for package in packages {
        let name = str_field(package, "name")?;
        let version = str_field(package, "version")?;
        let rust_version = package["rust_version"].as_str();
        if members.contains(&str_field(package, "id")?) {
            let rust_version = rust_version.ok_or_else(|| {
                format!("workspace crate {name} declares no rust-version (rust-version.workspace = true)")
            })?;
            declared.push((name.to_owned(), parse_version(rust_version)?));
        } else if let Some(rust_version) = rust_version {
            let parsed = parse_version(rust_version)?;
            if highest.as_ref().is_none_or(|(h, _)| parsed > *h) {
                highest = Some((parsed, format!("{name} {version} ({rust_version})")));
            }
        }
    }

    assert_eq!(
        declared.len(),
        members.len(),
        "every workspace crate is in the metadata"
    );
    let (_, workspace) = declared.first().ok_or("no workspace crates")?.clone();
    for (name, version) in &declared {
        assert_eq!(
            *version, workspace,
            "{name}'s rust-version differs from the workspace's"
        );
    }
    let (needed, by) = highest.ok_or("no dependency declares a rust-version")?;
    assert!(
        workspace >= needed,
        "the workspace declares rust-version {}.{}.{}, but {by} needs a newer compiler: \
         raise rust-version in Cargo.toml and the README's prerequisites",
        workspace.0,
        workspace.1,
        workspace.2
    );
    Ok(())
}

#[test]
fn versions_compare_by_number() -> TestResult {
    assert_eq!(parse_version("1.88")?, (1, 88, 0));
    assert_eq!(parse_version("1.85.1")?, (1, 85, 1));
    assert!(parse_version("1.100")? > parse_version("1.88.0")?);
    assert!(parse_version("1.x").is_err());
    assert!(parse_version("1.2.3.4").is_err());
    Ok(())
}
