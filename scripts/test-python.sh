#!/usr/bin/env bash
# Runs the Python client's tests against the real server binary, in a virtual environment that
# this script creates and fills itself (nothing is installed by hand).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=clients/python/.venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "clients/python[test]"

cargo build --quiet -p sessiondb-server --bin sessiondb
export SESSIONDB_BIN="${SESSIONDB_BIN:-$PWD/target/debug/sessiondb}"

cd clients/python
exec .venv/bin/python -m pytest -q "$@"
