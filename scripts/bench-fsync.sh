#!/usr/bin/env bash
# Write throughput per journal fsync mode (issue 3): SH_SET over 50 connections against
# `sessiondb --no-persist`, `--fsync no`, `--fsync everysec` and `--fsync always`, modes
# interleaved round by round, each run on a fresh --data-dir. Prints one line per run and a
# markdown table of medians with each mode's ratio to --no-persist.
#
# Usage: scripts/bench-fsync.sh [--no-build]
# Settings (environment): DURATION (s, default 4), ROUNDS (3), CONNS (50), PIPELINE (1),
# WORKLOAD (set), PIN (0: server and generator unpinned on every core; 1: server on CPU 0,
# generator on CPU 1), SESSIONDB (server binary, default target/release/sessiondb), OUT (results
# folder).
set -euo pipefail

cd "$(dirname "$0")/.."

BUILD=1
for arg in "$@"; do
    case "$arg" in
        --no-build) BUILD=0 ;;
        -h | --help)
            awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
            exit 0
            ;;
        *)
            echo "bench-fsync.sh: unknown argument $arg (see --help)" >&2
            exit 2
            ;;
    esac
done

DURATION=${DURATION:-4}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-50}
PIPELINE=${PIPELINE:-1}
WORKLOAD=${WORKLOAD:-set}
PIN=${PIN:-0}
PORT=${PORT:-19931}
SESSIONDB=${SESSIONDB:-target/release/sessiondb}
OUT=${OUT:-target/bench-fsync/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"

if [ "$BUILD" = 1 ]; then
    cargo build --release -p sessiondb-server -p sessiondb-bench
fi
for tool in jq python3; do
    command -v "$tool" >/dev/null || { echo "bench-fsync.sh: $tool is required" >&2; exit 1; }
done

SERVER_PREFIX=() GEN_PREFIX=()
if [ "$PIN" = 1 ]; then
    SERVER_PREFIX=(taskset -c 0) GEN_PREFIX=(taskset -c 1)
fi

SERVER_PID=""
DATA=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    [ -n "$DATA" ] && rm -rf "$DATA"
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

run_mode() { # mode round
    local mode=$1 round=$2 flags json
    case "$mode" in
        no-persist) flags=(--no-persist) ;;
        *) flags=(--fsync "$mode") ;;
    esac
    DATA=$(mktemp -d)
    "${SERVER_PREFIX[@]}" "$SESSIONDB" --ip 127.0.0.1 --port "$PORT" \
        --data-dir "$DATA/data" --log-level warn "${flags[@]}" >"$OUT/server-$mode-$round.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
        sleep 0.1
    done
    json=$("${GEN_PREFIX[@]}" target/release/sessiondb-bench --url "ws://127.0.0.1:$PORT/" \
        --workload "$WORKLOAD" --conns "$CONNS" --pipeline "$PIPELINE" --duration "$DURATION" \
        --server-pid "$SERVER_PID" --json)
    kill "$SERVER_PID"
    wait "$SERVER_PID" || true
    SERVER_PID=""
    rm -rf "$DATA"
    DATA=""
    echo "$json" | jq -c --arg mode "$mode" --argjson rnd "$round" '. + {"mode": $mode, "round": $rnd}' >>"$RESULTS"
    echo "$json" | jq -r --arg mode "$mode" --argjson rnd "$round" \
        '"round \($rnd) \($mode): \(.rps | floor) req/s, p99 \(.latency_us.p99) us, errors \(.errors)"' >&2
}

echo "Load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for round in $(seq "$ROUNDS"); do
    for mode in no-persist no everysec always; do
        run_mode "$mode" "$round"
    done
done
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$RESULTS" <<'PY' | tee "$OUT/table.md"
import json, statistics, sys
from collections import defaultdict
runs = defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs[r["mode"]].append(r["rps"])
base = statistics.median(runs["no-persist"])
print("| mode | req/s per round | median | vs --no-persist |")
print("|---|---|---:|---:|")
for mode in ["no-persist", "no", "everysec", "always"]:
    rps = runs[mode]
    med = statistics.median(rps)
    label = "--no-persist" if mode == "no-persist" else f"--fsync {mode}"
    print(f"| `{label}` | {', '.join(f'{x:,.0f}' for x in rps)} | {med:,.0f} | {med / base:.0%} |")
PY
