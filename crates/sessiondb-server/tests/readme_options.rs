//! The README documents every option of the `sessiondb` binary: each `--option` that
//! `sessiondb --help` lists has a row in one of the README's option tables.

use std::process::Command;

const README: &str = include_str!("../../../README.md");

/// The long options `--help` lists, one per option line (`  -V, --version  Print version`).
fn help_options(help: &str) -> Vec<String> {
    help.lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let line = line.split_once(", ").map_or(line, |(short, rest)| {
                if short.starts_with('-') && !short.starts_with("--") {
                    rest
                } else {
                    line
                }
            });
            let option = line.strip_prefix("--")?.split([' ', '=', '<']).next()?;
            (!option.is_empty()).then(|| format!("--{option}"))
        })
        .collect()
}

/// The options in the first column of the README's tables (`| `--port N` | …`, and both of
/// `| `--tls-cert FILE --tls-key FILE` | …`).
fn readme_options(readme: &str) -> Vec<String> {
    readme
        .lines()
        .filter_map(|line| line.strip_prefix("| `--"))
        .filter_map(|rest| rest.split(" | ").next())
        .flat_map(|cell| {
            format!("--{cell}")
                .split(['`', ' '])
                .filter_map(|word| word.strip_prefix("--"))
                .filter(|name| !name.is_empty())
                .map(|name| format!("--{name}"))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn every_option_of_the_binary_has_a_row_in_the_readme() -> Result<(), Box<dyn std::error::Error>> {
    let out = Command::new(env!("CARGO_BIN_EXE_sessiondb"))
        .arg("--help")
        .output()?;
    assert!(out.status.success(), "sessiondb --help failed");
    let options = help_options(&String::from_utf8(out.stdout)?);
    assert!(
        options.len() > 10,
        "too few options read from --help: {options:?}"
    );
    let documented = readme_options(README);
    let missing: Vec<&String> = options
        .iter()
        .filter(|o| !matches!(o.as_str(), "--help" | "--version"))
        .filter(|o| !documented.contains(o))
        .collect();
    assert!(
        missing.is_empty(),
        "README.md has no option table row for: {missing:?}"
    );
    Ok(())
}

#[test]
fn the_readers_find_what_they_look_for() {
    let help = "Options:\n      --ip <ADDR>  Address\n  -V, --version  Print version\n\
                \n          (continued --not-an-option)\n      --no-persist  Off\n";
    assert_eq!(help_options(help), ["--ip", "--version", "--no-persist"]);
    let readme =
        "| Option | Meaning |\n|---|---|\n| `--port N` | Port |\n| `--fsync always\\|no` | x |\n\
                  | `--tls-cert FILE --tls-key FILE` | `--not-this` |\ntext `--nope`\n";
    assert_eq!(
        readme_options(readme),
        ["--port", "--fsync", "--tls-cert", "--tls-key"]
    );
}
