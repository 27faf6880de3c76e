//! The repository stands alone: no file in it reads or points at the `shared` directory that
//! sits beside the checkout on the machine it was developed on. Fixtures live in
//! `tests/fixtures/`, the protocol reference in `docs/PROTOCOL.md`.

use std::fs;
use std::path::{Path, PathBuf};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Directories that are build output, local environments or history, not the repository's files.
const SKIPPED_DIRS: [&str; 5] = ["target", ".git", ".venv", "__pycache__", "node_modules"];

/// Files this large are data (the fixture datasets), not sources that could name a path.
const LARGEST_READ: u64 = 1 << 20;

fn text_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            let name = entry.file_name();
            if !SKIPPED_DIRS.iter().any(|skip| name == *skip) {
                text_files(&path, out)?;
            }
        } else if kind.is_file() && entry.metadata()?.len() <= LARGEST_READ {
            out.push(path);
        }
    }
    Ok(())
}

#[test]
fn no_file_points_outside_the_repository() -> TestResult {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    // Built at run time, so this file does not match itself.
    let outside = [
        ["..", "shared", ""].join("/"),
        ["", "work", "shared"].join("/"),
    ];
    let mut files = Vec::new();
    text_files(root, &mut files)?;
    assert!(
        files.iter().any(|f| f.ends_with("docs/PROTOCOL.md")),
        "the walk did not reach docs/PROTOCOL.md"
    );
    let mut offending = Vec::new();
    for file in &files {
        let Ok(text) = fs::read_to_string(file) else {
            continue; // not UTF-8: not a source file
        };
        for (n, line) in text.lines().enumerate() {
            if outside.iter().any(|p| line.contains(p.as_str())) {
                let shown = file.strip_prefix(root).unwrap_or(file).display();
                offending.push(format!("{shown}:{}: {line}", n + 1));
            }
        }
    }
    assert!(
        offending.is_empty(),
        "files that point outside the repository:\n{}",
        offending.join("\n")
    );
    Ok(())
}

#[test]
fn the_fixture_datasets_are_in_the_repository() {
    let fixtures = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/nemesisdb-0.8"
    ));
    for dataset in [
        "kv_basic",
        "sessions_basic",
        "sessions_selected",
        "sessions_large",
    ] {
        assert!(
            fixtures.join(dataset).is_dir(),
            "tests/fixtures/nemesisdb-0.8/{dataset} is missing"
        );
    }
    assert!(fixtures.join("README.md").is_file());
}
