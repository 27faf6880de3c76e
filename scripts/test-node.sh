#!/usr/bin/env bash
# Runs the Node client's tests (node --test, supertest) against the real server binary. The npm
# packages are installed by this script from the committed package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    if command -v apt-get >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
    else
        echo "test-node.sh: node and npm are needed (Node 20 or newer)" >&2
        exit 1
    fi
fi

cargo build --quiet -p sessiondb-server --bin sessiondb
export SESSIONDB_BIN="${SESSIONDB_BIN:-$PWD/target/debug/sessiondb}"

cd clients/node
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
exec npm test --silent -- "$@"
