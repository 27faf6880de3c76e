#!/usr/bin/env bash
# Drives the admin console in a real headless Chromium (through chromedriver's WebDriver API):
# installs Debian's chromium and chromium-driver when missing, builds the server and the CLI,
# then runs the browser test with Node's test runner. ADMIN_SCREENSHOT=FILE also saves a
# screenshot of the dashboard (how docs/admin-console.png was made).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
if ! command -v node >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs
fi

cargo build --quiet -p sessiondb-server --bin sessiondb -p sessiondb-cli --bin sessiondb-cli
export SESSIONDB_BIN="${SESSIONDB_BIN:-$PWD/target/debug/sessiondb}"
export SESSIONDB_CLI="${SESSIONDB_CLI:-$PWD/target/debug/sessiondb-cli}"

exec node --test crates/sessiondb-server/tests/admin-browser/console.test.mjs
