#!/usr/bin/env bash
# Runs the protocol suites against a sessiondb in backend mode on a real 3-master Redis Cluster
# (scripts/redis-cluster.sh, which installs redis-server when missing), then stops the cluster.
# The same tests run in embedded mode in the workspace's nextest run; here
# SESSIONDB_TEST_BACKEND points their servers at the cluster. One test at a time: each test
# starts from an emptied cluster.
set -euo pipefail
cd "$(dirname "$0")/.."

export REDIS_CLUSTER_PORT="${REDIS_CLUSTER_PORT:-7300}"
cluster=scripts/redis-cluster.sh
trap 'bash "$cluster" stop' EXIT
url="$(bash "$cluster" start)"

suites=(--test protocol_examples --test expiry --test backend)
run_suites() {
    echo "==> protocol suites on the backend $SESSIONDB_TEST_BACKEND"
    if cargo nextest --version >/dev/null 2>&1; then
        cargo nextest run -p sessiondb-server "${suites[@]}" -j 1 --success-output final "$@"
    else
        cargo test -p sessiondb-server "${suites[@]}" -- --test-threads 1 --nocapture "$@"
    fi
}

SESSIONDB_TEST_BACKEND="$url" run_suites "$@"

# A single Redis (cluster support disabled) is a backend too.
single_port=$((REDIS_CLUSTER_PORT + 10))
single_dir="$(mktemp -d)"
trap 'bash "$cluster" stop; [ -f "$single_dir/redis.pid" ] && kill "$(cat "$single_dir/redis.pid")"; rm -rf "$single_dir"' EXIT
redis-server --port "$single_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --dir "$single_dir" --pidfile "$single_dir/redis.pid" --logfile "$single_dir/redis.log"
for _ in $(seq 1 100); do
    redis-cli -p "$single_port" ping >/dev/null 2>&1 && break
    sleep 0.1
done
SESSIONDB_TEST_BACKEND="redis://127.0.0.1:$single_port" run_suites "$@"
