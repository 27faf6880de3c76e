#!/usr/bin/env bash
# Requests/s of the example axum app (examples/axum-login) with its sessions in sessiondb
# (tower-sessions-sessiondb-store) and in Redis (tower-sessions-redis-store), side by side.
#
# Builds `sessiondb` and the benchmark (crates/tower-sessions-bench, a workspace of its own so
# that fred stays out of the main build), installs redis-server from Debian when missing, starts
# `sessiondb --no-persist --no-probe-guard` (the app's misses are its own traffic) and
# `redis-server` on loopback ports pinned to DB_CPU, and runs the benchmark pinned to APP_CPU: it serves the same app once per store and drives both with the
# same load driver (USERS keep-alive HTTP connections, each its own logged-in user), stores
# interleaved round by round, and prints a markdown table of medians. Everything it starts is
# stopped on exit.
#
# Usage: scripts/bench-tower-sessions.sh [--quick] [--debug]
#   --quick  one 1-second round with 8 users (checks that everything runs)
#   --debug  debug builds (faster to build; figures are meaningless)
# Settings (environment): USERS (50), DURATION (s, 5), ROUNDS (3), WORKLOADS ("counter,login"),
# DB_CPU (0), APP_CPU (1), SDB_PORT (19890), REDIS_PORT (16390), OUT (results folder).
set -euo pipefail

cd "$(dirname "$0")/.."

QUICK=0 PROFILE=release
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        --debug) PROFILE=debug ;;
        -h | --help)
            awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
            exit 0
            ;;
        *)
            echo "bench-tower-sessions.sh: unknown argument $arg (see --help)" >&2
            exit 2
            ;;
    esac
done
if [ "$QUICK" = 1 ]; then
    USERS=${USERS:-8} DURATION=${DURATION:-1} ROUNDS=${ROUNDS:-1}
fi
USERS=${USERS:-50}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
WORKLOADS=${WORKLOADS:-counter,login}
DB_CPU=${DB_CPU:-0}
APP_CPU=${APP_CPU:-1}
SDB_PORT=${SDB_PORT:-19890}
REDIS_PORT=${REDIS_PORT:-16390}
OUT=${OUT:-target/bench-tower-sessions/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"

PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() {
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "bench-tower-sessions.sh: nothing listens on port $1; see $OUT/*.log" >&2
    exit 1
}

# ---- build and prerequisites ------------------------------------------------------------------
profile_flag=()
[ "$PROFILE" = release ] && profile_flag=(--release)
cargo build "${profile_flag[@]}" -p sessiondb-server --bin sessiondb
cargo build "${profile_flag[@]}" --manifest-path crates/tower-sessions-bench/Cargo.toml \
    --target-dir target/tower-sessions-bench
if ! command -v redis-server >/dev/null; then
    echo "bench-tower-sessions.sh: installing redis-server from Debian" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi

# ---- servers ------------------------------------------------------------------------------------
taskset -c "$DB_CPU" "target/$PROFILE/sessiondb" --ip 127.0.0.1 --port "$SDB_PORT" --no-persist --no-probe-guard \
    --log-level warn >"$OUT/sessiondb.log" 2>&1 &
PIDS+=($!)
taskset -c "$DB_CPU" redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' \
    --appendonly no --daemonize no --loglevel warning >"$OUT/redis.log" 2>&1 &
PIDS+=($!)
wait_port "$SDB_PORT"
wait_port "$REDIS_PORT"

# ---- the run ------------------------------------------------------------------------------------
{
    echo "Machine: $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg)," \
        "$(redis-server --version | grep -o 'v=[0-9.]*' | tr -d v=) (Redis), $PROFILE build"
    echo "Command: USERS=$USERS DURATION=$DURATION ROUNDS=$ROUNDS WORKLOADS=$WORKLOADS $0 $*"
    echo
    taskset -c "$APP_CPU" "target/tower-sessions-bench/$PROFILE/tower-sessions-bench" \
        --sessiondb "ws://127.0.0.1:$SDB_PORT" --redis "redis://127.0.0.1:$REDIS_PORT" \
        --users "$USERS" --duration "$DURATION" --rounds "$ROUNDS" --workloads "$WORKLOADS"
    echo
    echo "Load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/results.md"
