"""Starts the real sessiondb binary on a free port for the tests."""

import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Optional

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
    """Returns once the server serves: it listens while it still recovers its journal, and until
    then answers every request, /health included, with 503."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sessiondb exited with {proc.returncode}: {proc.stderr.read()}")
        if health_status(port) == 200:
            return
        time.sleep(0.02)
    raise RuntimeError(f"sessiondb did not serve on port {port} within {timeout} s")


def health_status(port: int) -> Optional[int]:
    """The HTTP status of GET /health, or None when nothing answers yet."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            head = s.recv(64).decode("latin-1")
    except OSError:
        return None
    parts = head.split(" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


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
