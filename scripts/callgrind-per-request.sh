#!/usr/bin/env bash
# User-space instructions per request of a server binary, counted by callgrind (independent of
# machine load, unlike wall-clock figures): the server runs under callgrind on CPU 0, the
# generator on CPU 1; for each case the counters are zeroed and dumped around a run with
# --requests 0 (setup only) and around one with --requests N, and
# per request = (Ir(N) - Ir(0)) / N.
#
# usage: scripts/callgrind-per-request.sh SERVER GENERATOR KIND CASE...
#   SERVER     the `sessiondb` (KIND=ws) or `sessiondb-echo` (KIND=echo) binary
#   GENERATOR  a `sessiondb-bench` binary (keep the same one when comparing servers)
#   CASE       WORKLOAD:PIPELINE, e.g. get:16 set:1 (for echo, the workload only shapes requests)
# env: REQUESTS_P16 (default 20000), REQUESTS_P1 (default 10000), PORT (default 19911),
#      OUT (a directory for the dumps, default a new temporary one)
# prints one line per case: WORKLOAD PIPELINE IR_PER_REQUEST IR_PER_REQUEST_WITHOUT_THE_SWEEP
# (the expiry sweep runs every 100 ms of wall time on tokio's blocking pool, so how much of it a
# run counts depends on how long the run takes, i.e. on machine load; the second figure leaves
# the blocking pool out and is the request path alone)
set -euo pipefail
# A failed generator run inside $(measure ...) must stop the script, not yield a figure.
shopt -s inherit_errexit

server=$1 generator=$2 kind=$3
shift 3
port=${PORT:-19911}
out=${OUT:-$(mktemp -d)}
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }

case $kind in
ws) args=(--port "$port" --no-persist --log-level warn) ;;
echo) args=(--port "$port") ;;
*) echo "KIND is ws or echo" >&2; exit 2 ;;
esac

taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$out/cg.%p" \
    "$server" --ip 127.0.0.1 "${args[@]}" >"$out/server.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT
# Ready when it accepts connections; the server listens while it loads (answering 503), so
# for it, when GET /health answers 200.
ready() {
    exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
    if [[ $kind == ws ]]; then
        printf 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
        local status
        read -r -t 5 _ status _ <&3 || status=
        exec 3<&-
        [[ $status == 200 ]]
    else
        exec 3<&-
    fi
}
for _ in $(seq 600); do
    if ready 2>/dev/null; then break; fi
    sleep 0.1
done

# Zeroes the counters, runs the generator with $3 requests, dumps, prints the dump's total Ir and
# that total less the blocking pool's inclusive Ir.
measure() {
    local before
    before=$(find "$out" -name "cg.$pid.*" | wc -l)
    callgrind_control -z "$pid" >/dev/null 2>&1
    taskset -c 1 "$generator" --url "ws://127.0.0.1:$port/" --target "$kind" --workload "$1" \
        --pipeline "$2" --conns 20 --sessions 1000 --value-size 20 --threads 1 \
        --requests "$3" >/dev/null
    callgrind_control -d "$pid" >/dev/null 2>&1
    # Dumps are numbered cg.PID.1, .2, ...; the zeroing itself writes none.
    local file="$out/cg.$pid.$((before + 1))"
    for _ in $(seq 100); do [[ -s $file ]] && grep -q '^totals:' "$file" && break; sleep 0.1; done
    local total pool
    total=$(awk '/^totals:/ { print $2; exit }' "$file")
    pool=$(callgrind_annotate --inclusive=yes --threshold=100 --auto=no "$file" |
        awk '/blocking::pool::Inner::run/ { gsub(",", "", $1); if ($1 + 0 > m) m = $1 + 0 }
             END { print m + 0 }')
    echo "$total $((total - pool))"
}

for case in "$@"; do
    workload=${case%%:*} pipeline=${case##*:}
    if [[ $pipeline == 1 ]]; then n=${REQUESTS_P1:-10000}; else n=${REQUESTS_P16:-20000}; fi
    read -r base base_alone < <(measure "$workload" "$pipeline" 0)
    read -r full full_alone < <(measure "$workload" "$pipeline" "$n")
    echo "$workload $pipeline $(( (full - base) / n )) $(( (full_alone - base_alone) / n ))"
done
