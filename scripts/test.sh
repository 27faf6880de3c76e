#!/usr/bin/env bash
# Runs every check and test of the repository; CI (.ci/run) calls exactly this.
# Extension scripts named scripts/test-*.sh (e.g. the Python client's) run last, in sorted order.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

if cargo nextest --version >/dev/null 2>&1; then
    step "cargo nextest run --workspace"
    cargo nextest run --workspace
    # nextest does not run doctests.
    step "cargo test --doc --workspace"
    cargo test --doc --workspace
else
    step "cargo test --workspace (cargo-nextest not installed)"
    cargo test --workspace
fi

shopt -s nullglob
for ext in scripts/test-*.sh; do
    step "$ext"
    bash "$ext"
done

step "all checks and tests passed"
