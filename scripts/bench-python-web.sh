#!/usr/bin/env bash
# Requests/s of the Python web session backends side by side in one run: a small Django app with
# sessions in sessiondb and in Django's cache backend on Redis, and a small Starlette app with
# sessiondb's middleware, a Redis-backed twin of it and Starlette's own cookie middleware
# (clients/python/bench/web_sessions.py says what each variant does).
#
# Builds the server in release, installs redis-server from Debian when missing, makes the Python
# venv with the package's `bench` extra, starts `sessiondb --no-persist` and `redis-server` on
# loopback (both pinned to SERVER_CPU, the Python apps to APP_CPU), runs every variant round by
# round and prints a markdown table of medians. Everything it starts is stopped on exit.
#
# Usage: scripts/bench-python-web.sh [--quick] [--no-build]
# Settings (environment): REQUESTS (2000), ROUNDS (3), BROWSERS (8), SERVER_CPU (0), APP_CPU (1),
# SDB_PORT (19890), METRICS_PORT (19891), REDIS_PORT (16390), SESSIONDB_BIN (target/release/sessiondb).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=1
for arg in "$@"; do
    case "$arg" in
        --quick) REQUESTS=${REQUESTS:-200} ROUNDS=${ROUNDS:-1} ;;
        --no-build) BUILD=0 ;;
        -h | --help)
            awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
            exit 0
            ;;
        *)
            echo "bench-python-web.sh: unknown argument $arg (see --help)" >&2
            exit 2
            ;;
    esac
done
REQUESTS=${REQUESTS:-2000}
ROUNDS=${ROUNDS:-3}
BROWSERS=${BROWSERS:-8}
SERVER_CPU=${SERVER_CPU:-0}
APP_CPU=${APP_CPU:-1}
SDB_PORT=${SDB_PORT:-19890}
METRICS_PORT=${METRICS_PORT:-19891}
REDIS_PORT=${REDIS_PORT:-16390}
SESSIONDB=${SESSIONDB_BIN:-target/release/sessiondb}

# shellcheck source=lib/services.sh
. scripts/lib/services.sh

if [ "$BUILD" = 1 ]; then
    cargo build --release --quiet -p sessiondb-server --bin sessiondb
fi
ensure_redis_server
venv=clients/python/.venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "clients/python[bench]"

taskset -c "$SERVER_CPU" "$SESSIONDB" --ip 127.0.0.1 --port "$SDB_PORT" --no-persist \
    --metrics-addr "127.0.0.1:$METRICS_PORT" --log-level warn &
PIDS+=($!)
taskset -c "$SERVER_CPU" redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' \
    --appendonly no --daemonize no --loglevel warning >/dev/null &
PIDS+=($!)
wait_port "$SDB_PORT"
wait_port "$REDIS_PORT"
wait_port "$METRICS_PORT"

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(redis-server --version | cut -d' ' -f1-3)" >&2
taskset -c "$APP_CPU" "$venv/bin/python" clients/python/bench/web_sessions.py run \
    --sessiondb-url "ws://127.0.0.1:$SDB_PORT" \
    --sessiondb-metrics "http://127.0.0.1:$METRICS_PORT/metrics" --redis-url "redis://127.0.0.1:$REDIS_PORT" \
    --requests "$REQUESTS" --rounds "$ROUNDS" --browsers "$BROWSERS"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
