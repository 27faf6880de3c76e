#!/usr/bin/env bash
# Starts or stops a Redis Cluster on loopback for sessiondb's backend mode: 3 masters, and with
# `--replicas 1` one replica each, from Debian's redis-server (installed when missing).
#
#   scripts/redis-cluster.sh start [--replicas 1]   # prints the seed URL, redis://127.0.0.1:PORT
#   scripts/redis-cluster.sh stop
#
# Ports: REDIS_CLUSTER_PORT (default 7100) and the next 5. Data and pid files live in
# REDIS_CLUSTER_DIR (default a fixed directory under /tmp), so `stop` kills exactly the servers
# that `start` recorded there. Both are idempotent; every wait is bounded.
set -euo pipefail

base_port="${REDIS_CLUSTER_PORT:-7100}"
dir="${REDIS_CLUSTER_DIR:-${TMPDIR:-/tmp}/sessiondb-redis-cluster-$base_port}"
replicas=0

usage() {
    echo "usage: $0 start|stop [--replicas 0|1]" >&2
    exit 2
}

[ $# -ge 1 ] || usage
action="$1"
shift
while [ $# -gt 0 ]; do
    case "$1" in
    --replicas)
        [ $# -ge 2 ] || usage
        replicas="$2"
        shift 2
        ;;
    *) usage ;;
    esac
done
case "$replicas" in 0 | 1) ;; *) usage ;; esac

ensure_redis() {
    if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
        return
    fi
    echo "redis-server not found: installing Debian's redis-server" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq redis-server >/dev/null
}

# Waits up to about 10 s for `cmd` to succeed.
wait_for() {
    local what="$1"
    shift
    for _ in $(seq 1 100); do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    echo "timed out waiting for $what" >&2
    return 1
}

cluster_ok() {
    redis-cli -p "$base_port" cluster info 2>/dev/null | grep -q '^cluster_state:ok'
}

start() {
    ensure_redis
    local count=$((3 * (1 + replicas)))
    if [ -f "$dir/nodes" ] && cluster_ok; then
        echo "redis://127.0.0.1:$base_port"
        return
    fi
    # A half-started cluster from before is cleared, not reused.
    stop >/dev/null
    mkdir -p "$dir"
    local addrs=()
    for i in $(seq 0 $((count - 1))); do
        local port=$((base_port + i))
        mkdir -p "$dir/$port"
        redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes \
            --cluster-config-file "$dir/$port/nodes.conf" --cluster-node-timeout 2000 \
            --dir "$dir/$port" --appendonly no --save '' --daemonize yes \
            --pidfile "$dir/$port/redis.pid" --logfile "$dir/$port/redis.log"
        addrs+=("127.0.0.1:$port")
    done
    for i in $(seq 0 $((count - 1))); do
        wait_for "redis-server on port $((base_port + i))" redis-cli -p $((base_port + i)) ping
    done
    echo "$count" >"$dir/nodes"
    redis-cli --cluster create "${addrs[@]}" --cluster-replicas "$replicas" --cluster-yes >"$dir/create.log"
    wait_for "cluster_state:ok" cluster_ok
    # Every node must agree before clients see a stable slot map.
    for i in $(seq 0 $((count - 1))); do
        wait_for "cluster_state:ok on $((base_port + i))" \
            sh -c "redis-cli -p $((base_port + i)) cluster info | grep -q '^cluster_state:ok'"
    done
    # Replicas are attached after the slots are assigned: wait until every node knows them.
    if [ "$replicas" -gt 0 ]; then
        for i in $(seq 0 $((count - 1))); do
            wait_for "3 replicas known to $((base_port + i))" \
                sh -c "[ \$(redis-cli -p $((base_port + i)) cluster nodes | grep -cE '[ ,]slave ') -eq 3 ]"
        done
        # A replica that has not finished its first sync cannot take over from its master.
        for i in $(seq 0 $((count - 1))); do
            local port=$((base_port + i))
            if redis-cli -p "$port" info replication | grep -q '^role:slave'; then
                wait_for "replica $port to sync" \
                    sh -c "redis-cli -p $port info replication | grep -q '^master_link_status:up'"
            fi
        done
    fi
    echo "redis://127.0.0.1:$base_port"
}

stop() {
    [ -d "$dir" ] || return 0
    local pidfile pid
    for pidfile in "$dir"/*/redis.pid; do
        [ -f "$pidfile" ] || continue
        pid="$(cat "$pidfile")"
        # Only a redis-server we started: the pid file could be stale after a reboot.
        if kill -0 "$pid" 2>/dev/null && grep -q redis-server "/proc/$pid/cmdline" 2>/dev/null; then
            kill "$pid"
            wait_for "redis-server $pid to exit" sh -c "! kill -0 $pid"
        fi
    done
    rm -rf "$dir"
}

case "$action" in
start) start ;;
stop) stop ;;
*) usage ;;
esac
