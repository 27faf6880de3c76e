#!/usr/bin/env bash
# Side-by-side benchmark of sessiondb against Redis and a WebSocket echo floor.
#
# Builds in release, starts `sessiondb --no-persist`, `redis-server` (installed from Debian when
# missing) and `sessiondb-echo` (sessiondb's own transport with the dispatcher replaced by an echo,
# one connection thread) on loopback, each pinned to one CPU, runs `sessiondb-bench` pinned
# to the other CPU over every workload at pipeline 1 and 16, targets interleaved round by round
# (A B C A B C ...), and prints a markdown table of medians. Also measures memory per session
# (1,000,000 sessions of 2 keys with 20-byte values) and, optionally, sessiondb unpinned.
# Everything it starts is stopped on exit.
#
# Usage: scripts/bench.sh [--quick] [--no-build] [--no-memory] [--no-scaling]
# Settings (environment): DURATION (s, default 5), ROUNDS (3), CONNS (50), SESSIONS (10000),
# VALUE_SIZE (20), WORKLOADS ("lifecycle get set mixed kv-get kv-set"), PIPELINES ("1 16"),
# GEN_THREADS (1), MEMORY_SESSIONS (1000000), SERVER_CPU (0), GEN_CPU (1), OUT (results folder).
set -euo pipefail

cd "$(dirname "$0")/.."

QUICK=0 BUILD=1 MEMORY=1 SCALING=1
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        --no-build) BUILD=0 ;;
        --no-memory) MEMORY=0 ;;
        --no-scaling) SCALING=0 ;;
        -h | --help)
            # The comment block at the top of this file is the help text.
            awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
            exit 0
            ;;
        *)
            echo "bench.sh: unknown argument $arg (see --help)" >&2
            exit 2
            ;;
    esac
done

if [ "$QUICK" = 1 ]; then
    # For iterating on the server: one short round, a smaller memory fill.
    DURATION=${DURATION:-1} ROUNDS=${ROUNDS:-1} MEMORY_SESSIONS=${MEMORY_SESSIONS:-100000}
fi
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-50}
SESSIONS=${SESSIONS:-10000}
VALUE_SIZE=${VALUE_SIZE:-20}
WORKLOADS=${WORKLOADS:-lifecycle get set mixed kv-get kv-set}
PIPELINES=${PIPELINES:-1 16}
GEN_THREADS=${GEN_THREADS:-1}
MEMORY_SESSIONS=${MEMORY_SESSIONS:-1000000}
SERVER_CPU=${SERVER_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
SDB_PORT=${SDB_PORT:-19870}
SDB_FREE_PORT=${SDB_FREE_PORT:-19871}
REDIS_PORT=${REDIS_PORT:-16379}
ECHO_PORT=${ECHO_PORT:-19880}
OUT=${OUT:-target/bench/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"

BIN=target/release
SESSIONDB=$BIN/sessiondb
BENCH=$BIN/sessiondb-bench
ECHO=$BIN/sessiondb-echo

# ---- processes we start, stopped on exit --------------------------------------------------------
# shellcheck source=lib/services.sh
. scripts/lib/services.sh

# Starts "$@" in the background, logging to $OUT/<name>.log; sets STARTED_PID.
start() {
    local name=$1
    shift
    "$@" >"$OUT/$name.log" 2>&1 &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
}

stop() {
    local pid=$1 kept=()
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for p in "${PIDS[@]}"; do
        [ "$p" = "$pid" ] || kept+=("$p")
    done
    PIDS=("${kept[@]+"${kept[@]}"}")
}

start_sessiondb() { # name port [pinned|free]
    local cmd=("$SESSIONDB" --ip 127.0.0.1 --port "$2" --no-persist --log-level warn)
    if [ "${3:-pinned}" = pinned ]; then
        cmd=(taskset -c "$SERVER_CPU" "${cmd[@]}")
    fi
    start "$1" "${cmd[@]}"
    wait_port "$2" "$OUT/*.log"
}

start_redis() {
    start redis taskset -c "$SERVER_CPU" redis-server --bind 127.0.0.1 --port "$REDIS_PORT" \
        --save '' --appendonly no --daemonize no --loglevel warning
    wait_port "$REDIS_PORT" "$OUT/*.log"
}

# ---- build and prerequisites ------------------------------------------------------------------
if [ "$BUILD" = 1 ]; then
    cargo build --release -p sessiondb-server -p sessiondb-bench
fi
ensure_redis_server

{
    echo "Machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores," \
        "$(free -g | awk '/^Mem:/ {print $2}') GiB, kernel $(uname -r)"
    echo "sessiondb $(git rev-parse --short HEAD 2>/dev/null || echo unknown)," \
        "$(redis-server --version | grep -o 'v=[0-9.]*' | tr -d v=) (Redis)," \
        "$(date -u +%Y-%m-%dT%H:%MZ)"
    echo "Servers pinned to CPU $SERVER_CPU, generator to CPU $GEN_CPU ($GEN_THREADS thread);" \
        "$CONNS connections, ${DURATION}s per run, $ROUNDS interleaved rounds," \
        "$SESSIONS sessions, ${VALUE_SIZE}-byte values"
    echo "Load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/machine.txt" >&2

# ---- memory: bytes per session -----------------------------------------------------------------
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
redis_mem() { redis-cli -p "$REDIS_PORT" info memory | tr -d '\r' | awk -F: -v k="$1" '$1 == k {print $2}'; }
fill() { # target url
    taskset -c "$GEN_CPU" "$BENCH" --target "$1" --url "$2" --workload get --sessions "$MEMORY_SESSIONS" \
        --value-size 20 --conns 16 --setup-only --json >/dev/null
}

if [ "$MEMORY" = 1 ]; then
    echo "Memory: $MEMORY_SESSIONS sessions of 2 keys with 20-byte values" >&2
    start_sessiondb sessiondb-memory "$SDB_PORT"
    pid=$STARTED_PID
    before=$(rss_kib "$pid")
    fill ws "ws://127.0.0.1:$SDB_PORT/"
    sleep 1
    after=$(rss_kib "$pid")
    stop "$pid"
    sdb_bytes=$(((after - before) * 1024 / MEMORY_SESSIONS))

    start_redis
    pid=$STARTED_PID
    used0=$(redis_mem used_memory)
    rss0=$(redis_mem used_memory_rss)
    fill resp "redis://127.0.0.1:$REDIS_PORT"
    used1=$(redis_mem used_memory)
    rss1=$(redis_mem used_memory_rss)
    stop "$pid"
    redis_used=$(((used1 - used0) / MEMORY_SESSIONS))
    redis_rss=$(((rss1 - rss0) / MEMORY_SESSIONS))
    {
        echo
        echo "| memory, $MEMORY_SESSIONS sessions × 2 keys × 20 B | bytes per session |"
        echo "|---|---:|"
        echo "| sessiondb, RSS delta | $sdb_bytes |"
        echo "| Redis, used_memory delta | $redis_used |"
        echo "| Redis, used_memory_rss delta | $redis_rss |"
        echo "| ratio sessiondb RSS / Redis used_memory | $(awk -v a="$sdb_bytes" -v b="$redis_used" 'BEGIN {printf "%.2f", a / b}') |"
    } >"$OUT/memory.md"
fi

# ---- throughput and latency, interleaved ------------------------------------------------------
start_sessiondb sessiondb "$SDB_PORT"
SDB_PID=$STARTED_PID
start_redis
REDIS_PID=$STARTED_PID
# The floor: same upgrade, framing, batching and runtime model as sessiondb, no request work.
start echo taskset -c "$SERVER_CPU" "$ECHO" --ip 127.0.0.1 --port "$ECHO_PORT"
ECHO_PID=$STARTED_PID
wait_port "$ECHO_PORT" "$OUT/*.log"

run_one() { # label target url pid workload pipeline round
    local json rc=0
    json=$(taskset -c "$GEN_CPU" "$BENCH" --target "$2" --url "$3" --server-pid "$4" \
        --workload "$5" --pipeline "$6" --conns "$CONNS" --threads "$GEN_THREADS" \
        --duration "$DURATION" --sessions "$SESSIONS" --value-size "$VALUE_SIZE" --json) || rc=$?
    if [ -z "$json" ]; then
        echo "bench.sh: $1 $5 pipeline $6 failed (exit $rc)" >&2
        return
    fi
    echo "$json" | jq -c --arg lab "$1" --argjson rnd "$7" '. + {"label": $lab, "round": $rnd}' >>"$RESULTS"
    echo "$json" | jq -r --arg lab "$1" --argjson rnd "$7" \
        '"round \($rnd) \($lab) \(.workload) p\(.pipeline): \(.rps | floor) req/s, p99 \(.latency_us.p99) us, errors \(.errors)"' >&2
}

for round in $(seq "$ROUNDS"); do
    for wl in $WORKLOADS; do
        for p in $PIPELINES; do
            run_one sessiondb ws "ws://127.0.0.1:$SDB_PORT/" "$SDB_PID" "$wl" "$p" "$round"
            run_one redis resp "redis://127.0.0.1:$REDIS_PORT" "$REDIS_PID" "$wl" "$p" "$round"
            run_one echo echo "ws://127.0.0.1:$ECHO_PORT/" "$ECHO_PID" "$wl" "$p" "$round"
        done
    done
done

# ---- scaling: the same server on both cores ----------------------------------------------------
if [ "$SCALING" = 1 ]; then
    start_sessiondb sessiondb-free "$SDB_FREE_PORT" free
    FREE_PID=$STARTED_PID
    for round in $(seq "$ROUNDS"); do
        for p in $PIPELINES; do
            run_one sessiondb-pinned ws "ws://127.0.0.1:$SDB_PORT/" "$SDB_PID" get "$p" "$round"
            run_one sessiondb-unpinned ws "ws://127.0.0.1:$SDB_FREE_PORT/" "$FREE_PID" get "$p" "$round"
        done
    done
    stop "$FREE_PID"
fi

# ---- medians ----------------------------------------------------------------------------------
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other processes share these cores)" \
    | tee -a "$OUT/machine.txt" >&2
python3 - "$RESULTS" >"$OUT/table.md" <<'PY'
import json, statistics, sys
from collections import defaultdict

runs = defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs[(r["label"], r["workload"], r["pipeline"])].append(r)

def med(label, wl, p, get):
    rs = runs.get((label, wl, p), [])
    vals = [get(r) for r in rs if get(r) is not None]
    return statistics.median(vals) if vals else None

def errors(label, wl, p):
    return sum(r["errors"] for r in runs.get((label, wl, p), []))

def num(x, fmt="{:,.0f}"):
    return "–" if x is None else fmt.format(x)

def ratio(a, b, fmt="{:.2f}×"):
    return "–" if a is None or not b else fmt.format(a / b)

rps = lambda r: r["rps"]
p99 = lambda r: r["latency_us"]["p99"]
cpu = lambda r: r["server_cpu_us_per_req"]
gen = lambda r: r["client_cpu_util_per_thread"]
gen_us = lambda r: r.get("client_cpu_us_per_req")
order = ["lifecycle", "get", "set", "mixed", "kv-get", "kv-set"]
keys = sorted({(w, p) for (l, w, p) in runs if l in ("sessiondb", "redis")},
              key=lambda k: (order.index(k[0]) if k[0] in order else 99, k[1]))
n = max((len(v) for v in runs.values()), default=0)
print(f"Medians of {n} interleaved runs each.\n")
print("| workload | pipeline | sessiondb req/s | Redis req/s | sessiondb/Redis | echo req/s | sessiondb/echo "
      "| sessiondb p99 µs | Redis p99 µs | sessiondb CPU µs/req | Redis CPU µs/req | generator µs/req, CPU (sdb) | errors |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for wl, p in keys:
    s, r, e = (med(l, wl, p, rps) for l in ("sessiondb", "redis", "echo"))
    print(f"| {wl} | {p} | {num(s)} | {num(r)} | {ratio(s, r)} | {num(e)} | {ratio(s, e, '{:.0%}')} "
          f"| {num(med('sessiondb', wl, p, p99), '{:,.0f}')} | {num(med('redis', wl, p, p99), '{:,.0f}')} "
          f"| {num(med('sessiondb', wl, p, cpu), '{:.2f}')} | {num(med('redis', wl, p, cpu), '{:.2f}')} "
          f"| {num(med('sessiondb', wl, p, gen_us), '{:.2f}')}, {num(med('sessiondb', wl, p, gen), '{:.0%}')} "
          f"| {sum(errors(l, wl, p) for l in ('sessiondb', 'redis', 'echo'))} |")
scaling = sorted({p for (l, w, p) in runs if l == "sessiondb-unpinned"})
if scaling:
    print("\n| get | pipeline | pinned (1 core) req/s | unpinned (2 cores) req/s | unpinned/pinned | CPU util unpinned |")
    print("|---|---:|---:|---:|---:|---:|")
    for p in scaling:
        a = med("sessiondb-pinned", "get", p, rps)
        b = med("sessiondb-unpinned", "get", p, rps)
        u = med("sessiondb-unpinned", "get", p, lambda r: r["server_cpu_util"])
        print(f"| get | {p} | {num(a)} | {num(b)} | {ratio(b, a)} | {num(u, '{:.0%}')} |")
PY
{
    cat "$OUT/machine.txt"
    echo
    cat "$OUT/table.md"
    # (An `if`: a bare `[ -f ] && cat` would fail the script under pipefail with --no-memory.)
    if [ -f "$OUT/memory.md" ]; then cat "$OUT/memory.md"; fi
} | tee "$OUT/report.md"
echo "Results in $OUT" >&2
