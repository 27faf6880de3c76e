#!/usr/bin/env bash
# Write throughput per journal fsync mode: SH_SET over 50 connections against
# `sessiondb --no-persist`, `--fsync no`, `--fsync everysec` and `--fsync always`, modes
# interleaved round by round, each run on a fresh --data-dir. Prints one line per run and a
# markdown table of medians with each mode's ratio to --no-persist.
#
# Usage: scripts/bench-fsync.sh [--no-build]
# Settings (environment): DURATION (s, default 4), ROUNDS (3), CONNS (50), PIPELINE (1),
# WORKLOAD (set), PIN (0: server and generator unpinned on every core; 1: server on CPU 0,
# generator on CPU 1), SESSIONDB (server binary, default target/release/sessiondb), BENCH
# (generator binary, default target/release/sessiondb-bench), OUT (results folder).
# Before/after: SESSIONDB_BASE=OLD_BINARY runs every mode of every round with OLD_BINARY too,
# right before SESSIONDB (pairs side by side, so drift of the busy machine hits both alike), and
# the table gets a column per binary.
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
SESSIONDB_BASE=${SESSIONDB_BASE:-}
BENCH=${BENCH:-target/release/sessiondb-bench}
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

run_mode() { # mode round binary label
    local mode=$1 round=$2 binary=$3 label=$4 flags json status
    case "$mode" in
        no-persist) flags=(--no-persist) ;;
        *) flags=(--fsync "$mode") ;;
    esac
    DATA=$(mktemp -d)
    "${SERVER_PREFIX[@]}" "$binary" --ip 127.0.0.1 --port "$PORT" \
        --data-dir "$DATA/data" --log-level warn "${flags[@]}" >"$OUT/server-$label-$mode-$round.log" 2>&1 &
    SERVER_PID=$!
    # Ready once the port accepts and GET /health is not answered 503 (the server binds before
    # it loads; a binary without /health closes the socket, and is ready once it listens).
    for _ in $(seq 100); do
        if status=$( (exec 3<>"/dev/tcp/127.0.0.1/$PORT" &&
            printf 'GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n' >&3 &&
            { head -n 1 <&3 || true; }) 2>/dev/null); then
            case "$status" in *" 503 "*) ;; *) break ;; esac
        fi
        sleep 0.1
    done
    json=$("${GEN_PREFIX[@]}" "$BENCH" --url "ws://127.0.0.1:$PORT/" \
        --workload "$WORKLOAD" --conns "$CONNS" --pipeline "$PIPELINE" --duration "$DURATION" \
        --server-pid "$SERVER_PID" --json)
    kill "$SERVER_PID"
    wait "$SERVER_PID" || true
    SERVER_PID=""
    rm -rf "$DATA"
    DATA=""
    echo "$json" | jq -c --arg mode "$mode" --argjson rnd "$round" --arg bin "$label" \
        '. + {"mode": $mode, "round": $rnd, "binary": $bin}' >>"$RESULTS"
    echo "$json" | jq -r --arg mode "$mode" --argjson rnd "$round" --arg bin "$label" \
        '"round \($rnd) \($bin) \($mode): \(.rps | floor) req/s, p99 \(.latency_us.p99) us, errors \(.errors)"' >&2
}

echo "Load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for round in $(seq "$ROUNDS"); do
    for mode in no-persist no everysec always; do
        if [ -n "$SESSIONDB_BASE" ]; then
            run_mode "$mode" "$round" "$SESSIONDB_BASE" base
        fi
        run_mode "$mode" "$round" "$SESSIONDB" new
    done
done
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$RESULTS" <<'PY' | tee "$OUT/table.md"
import json, statistics, sys
from collections import defaultdict
runs = defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs[(r.get("binary", "new"), r["mode"])].append(r["rps"])
binaries = [b for b in ["base", "new"] if any(k[0] == b for k in runs)]
print("| mode | " + " | ".join(f"{b}: req/s per round | {b}: median, vs --no-persist" for b in binaries) + " |")
print("|---|" + "---|---:|" * len(binaries))
for mode in ["no-persist", "no", "everysec", "always"]:
    label = "--no-persist" if mode == "no-persist" else f"--fsync {mode}"
    cells = []
    for b in binaries:
        rps = runs[(b, mode)]
        med = statistics.median(rps)
        base = statistics.median(runs[(b, "no-persist")])
        cells.append(", ".join(f"{x:,.0f}" for x in rps))
        cells.append(f"{med:,.0f} ({med / base:.0%})")
    print(f"| `{label}` | " + " | ".join(cells) + " |")
PY
