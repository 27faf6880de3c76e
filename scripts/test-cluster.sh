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

export SESSIONDB_TEST_BACKEND="$url"
suites=(--test protocol_examples --test expiry)
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run -p sessiondb-server "${suites[@]}" -j 1 --success-output final "$@"
else
    cargo test -p sessiondb-server "${suites[@]}" -- --test-threads 1 --nocapture "$@"
fi
