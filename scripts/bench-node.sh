#!/usr/bin/env bash
# Requests/s of an express app with SessiondbStore vs the same app with connect-redis, side by
# side in one run (clients/node/bench/bench.mjs). Builds sessiondb in release, installs
# redis-server from Debian when missing and the bench's npm packages from its lockfile.
#   scripts/bench-node.sh                      # 3 rounds of 10 s per request kind
#   scripts/bench-node.sh --amount 500 --users 20 --rounds 1   # a quick check that it runs
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null; then
    echo "bench-node.sh: installing redis-server from Debian" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
cargo build --release --quiet -p sessiondb-server --bin sessiondb
export SESSIONDB_BIN="${SESSIONDB_BIN:-$PWD/target/release/sessiondb}"

(cd clients/node && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
cd clients/node/bench
npm ci --no-audit --no-fund --loglevel=error
exec node bench.mjs "$@"
