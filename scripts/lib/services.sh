# Helpers shared by the benchmark scripts, which start servers on loopback and must stop them
# whatever happens. Source it after `cd` to the repository root; it sets the EXIT trap.

# Every process started for the run; cleanup stops them all on exit.
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_port PORT [HINT]: returns once something accepts connections on 127.0.0.1:PORT (10 s at
# most), else exits, naming HINT (where to look) in the message.
wait_port() {
    local port=$1
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "$(basename "$0"): nothing listens on port $port${2:+; see $2}" >&2
    exit 1
}

# Installs Debian's redis-server when it is missing (the scripts run as root, as CI does).
ensure_redis_server() {
    if ! command -v redis-server >/dev/null; then
        echo "$(basename "$0"): installing redis-server from Debian" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    fi
}
