"""Starts the real sessiondb binary on a free port for the tests."""

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

import sessiondb

REPO = Path(__file__).resolve().parents[3]


def server_binary() -> Path:
    path = Path(os.environ.get("SESSIONDB_BIN") or REPO / "target" / "debug" / "sessiondb")
    if not path.is_file():
        pytest.exit(f"sessiondb binary not found at {path}: run "
                    "`cargo build -p sessiondb-server --bin sessiondb` or set SESSIONDB_BIN", 2)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_listening(proc: subprocess.Popen, port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sessiondb exited with {proc.returncode}: {proc.stderr.read()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"sessiondb did not listen on port {port} within {timeout} s")


def serve(args: list, env_extra: dict):
    """Runs the server with `args` (and `env_extra` on a clean SESSIONDB_* environment) until
    the caller is done, yielding its ws:// URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONDB_")}
    env.update(env_extra)
    proc = subprocess.Popen(
        [str(server_binary()), "--ip", "127.0.0.1", "--port", str(port), *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        wait_until_listening(proc, port)
        yield f"ws://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def server_url(tmp_path_factory):
    """URL of a server with persistence in a temporary directory, for the whole test session."""
    yield from serve(["--data-dir", str(tmp_path_factory.mktemp("data"))], {})


@pytest.fixture
def db(server_url):
    """A sync client on an empty store."""
    with sessiondb.Client(server_url) as client:
        client.kv_clear()
        client.sh_end_all()
        yield client


@pytest.fixture(scope="session")
def auth_server_url():
    """URL (without credentials) of a server that requires the secret ``s3cr@t``."""
    # The environment keeps the secret off the command line.
    yield from serve(["--no-persist"], {"SESSIONDB_AUTH_SECRET": "s3cr@t"})
