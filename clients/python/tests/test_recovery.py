"""Recovery: request timeouts, a server killed and restarted mid-use, and URL mistakes."""

import asyncio
import os
import signal
import socket
import subprocess
import threading
import time

import pytest
from websockets.sync.server import serve as ws_serve

import sessiondb
from conftest import free_port, server_binary, wait_until_listening


# ----- URLs -----

@pytest.mark.parametrize("url, advice", [
    ("redis://localhost:6379", "use ws://localhost:6379"),
    ("rediss://cache.example:6380/0", "use wss://cache.example:6380/0"),
    ("http://127.0.0.1:1987", "use ws://127.0.0.1:1987"),
    ("https://db.example", "use wss://db.example"),
    ("127.0.0.1:1987", "use ws://127.0.0.1:1987"),
])
def test_non_websocket_urls_say_what_to_use(url, advice):
    for make in (sessiondb.Client, sessiondb.AsyncClient, sessiondb.ClientPool):
        with pytest.raises(sessiondb.InvalidURLError) as e:
            make(url)
        assert advice in str(e.value)
    assert isinstance(e.value, ValueError)


def test_websocket_urls_pass_the_check():
    for url in ("ws://h:1", "WSS://h/x?y=1", "ws://user:p%40ss@h:1987"):
        assert sessiondb.check_url(url) == url


# ----- timeouts -----

@pytest.fixture
def silent_server():
    """A WebSocket server that completes the handshake, reads every request and never replies."""
    def swallow(ws):
        for _ in ws:
            pass

    with ws_serve(swallow, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}"
        server.shutdown()
    thread.join(timeout=10)


def test_a_request_without_reply_times_out(silent_server):
    db = sessiondb.Client(silent_server, timeout=0.3, reconnect=False)
    with pytest.raises(sessiondb.RequestTimeoutError) as e:
        db.kv_count()
    assert isinstance(e.value, TimeoutError)
    assert "KV_COUNT" in str(e.value)
    # A late reply would be taken for the next request's, so the connection is given up.
    assert not db.connected
    with pytest.raises(sessiondb.DisconnectedError):
        db.kv_count()


def test_the_default_timeout_is_ten_seconds():
    assert sessiondb.DEFAULT_TIMEOUT == 10.0
    assert sessiondb.Client.__init__.__kwdefaults__["timeout"] == 10.0
    assert sessiondb.AsyncClient.__init__.__kwdefaults__["timeout"] == 10.0


def test_async_requests_time_out(silent_server):
    async def main():
        async with sessiondb.AsyncClient(silent_server, timeout=0.3) as db:
            with pytest.raises(sessiondb.RequestTimeoutError):
                await db.kv_count()
            with pytest.raises(sessiondb.RequestTimeoutError):
                await db.sh_get(1, ["a"])
    asyncio.run(main())


def test_a_listener_that_never_upgrades_bounds_the_connect():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()  # the kernel accepts; nobody ever answers the upgrade
        url = f"ws://127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(sessiondb.DisconnectedError):
            sessiondb.Client(url, open_timeout=0.3)


# ----- a server killed and restarted -----

class KillableServer:
    """The real server on a fixed port and data directory, which the test stops, kills and
    starts again. The journal is fsynced before each reply, so data survives a SIGKILL."""

    def __init__(self, data_dir, env_extra=None):
        self.port = free_port()
        self.url = f"ws://127.0.0.1:{self.port}"
        self.data_dir = str(data_dir)
        self.env_extra = env_extra or {}
        self.proc = None
        self.start()

    def start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONDB_")}
        env.update(self.env_extra)
        self.proc = subprocess.Popen(
            [str(server_binary()), "--ip", "127.0.0.1", "--port", str(self.port),
             "--data-dir", self.data_dir, "--fsync", "always"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        wait_until_listening(self.proc, self.port)

    def kill(self):
        # SIGKILL ends a stopped process too, without letting it run (and answer) first.
        self.proc.kill()
        self.proc.wait()

    def freeze_until_request_arrives(self, start_request):
        """Stops the server, runs `start_request` (which sends on a thread), and returns once the
        request's bytes wait unread in the server's socket: the request is then in flight."""
        self.proc.send_signal(signal.SIGSTOP)
        # The signal is delivered asynchronously: a thread still running could read (and answer)
        # the request, which would then never wait in the socket.
        deadline = time.monotonic() + 10
        while not all_threads_stopped(self.proc.pid):
            assert time.monotonic() < deadline, "the server never stopped"
            time.sleep(0.01)
        start_request()
        deadline = time.monotonic() + 10
        while unread_bytes_on_port(self.port) == 0:
            assert time.monotonic() < deadline, "the request never reached the server's socket"
            time.sleep(0.01)

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.kill()


def all_threads_stopped(pid):
    """Whether every thread of process `pid` is in the stopped state (Linux /proc)."""
    task = f"/proc/{pid}/task"
    for tid in os.listdir(task):
        try:
            with open(f"{task}/{tid}/stat") as f:
                # The state follows the parenthesised command name, which may hold spaces.
                state = f.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        if state != "T":
            return False
    return True


def unread_bytes_on_port(port):
    """Bytes received but not yet read by the application on established sockets whose local port
    is `port` (Linux /proc/net/tcp)."""
    total = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, state, queues = fields[1], fields[3], fields[4]
            if state == "01" and int(local.split(":")[1], 16) == port:
                total += int(queues.split(":")[1], 16)
    return total


@pytest.fixture
def killable(tmp_path):
    server = KillableServer(tmp_path)
    yield server
    server.close()


def in_thread(fn):
    """Runs fn on a thread; returns a function that joins it and returns (result, exception)."""
    out = {}

    def run():
        try:
            out["result"] = fn()
        except Exception as e:  # handed to the test, which checks its type
            out["error"] = e
    thread = threading.Thread(target=run)
    thread.start()

    def join():
        thread.join(timeout=60)
        assert not thread.is_alive()
        return out.get("result"), out.get("error")
    return join


def test_a_read_in_flight_is_retried_on_the_restarted_server(killable):
    db = sessiondb.Client(killable.url, reconnect_tries=60, backoff=0.05, max_backoff=0.5)
    db.kv_set({"k": "v"})
    pending = []
    killable.freeze_until_request_arrives(lambda: pending.append(in_thread(
        lambda: db.kv_get(["k"]))))
    killable.kill()
    killable.start()
    result, error = pending[0]()
    assert error is None, error
    assert result == {"k": "v"}
    assert db.reconnects == 1
    db.close()


def test_a_write_in_flight_raises_and_is_not_sent_again(killable):
    db = sessiondb.Client(killable.url, reconnect_tries=60, backoff=0.05, max_backoff=0.5)
    db.kv_set({"before": 1})
    pending = []
    killable.freeze_until_request_arrives(lambda: pending.append(in_thread(
        lambda: db.kv_set({"cut": 1}))))
    killable.kill()
    _, error = pending[0]()
    assert isinstance(error, sessiondb.ConnectionLostError), error
    assert isinstance(error, sessiondb.DisconnectedError)
    assert error.command == "KV_SET"
    assert "not sent again" in str(error)
    killable.start()
    # The next call reconnects; the cut-off write was not replayed on the new connection.
    assert db.kv_get(["before", "cut"]) == {"before": 1}
    db.kv_set({"after": 2})
    assert db.kv_get(["after"]) == {"after": 2}
    assert db.reconnects == 1
    db.close()


def test_a_write_after_an_idle_drop_goes_to_the_new_connection(killable):
    db = sessiondb.Client(killable.url, reconnect_tries=60, backoff=0.05, max_backoff=0.5)
    tkn = db.sh_new()
    killable.kill()
    wait_until_disconnected(db)  # the client sees the close before any request is sent
    killable.start()
    db.sh_set(tkn, {"a": 1})  # never sent on the dead connection, so nothing is replayed
    assert db.sh_get(tkn, ["a"]) == {"a": 1}
    assert db.reconnects == 1
    db.close()


def test_no_reconnect_when_turned_off_or_closed(killable):
    db = sessiondb.Client(killable.url, reconnect=False)
    killable.kill()
    with pytest.raises(sessiondb.DisconnectedError):
        db.kv_count()
    killable.start()
    with pytest.raises(sessiondb.DisconnectedError):
        db.kv_count()
    closed = sessiondb.Client(killable.url)
    closed.close()
    with pytest.raises(sessiondb.DisconnectedError):
        closed.kv_count()


def test_reconnecting_gives_up_after_its_tries(killable):
    db = sessiondb.Client(killable.url, reconnect_tries=3, backoff=0.01)
    killable.kill()
    with pytest.raises(sessiondb.DisconnectedError) as e:
        db.kv_count()
    assert "cannot connect" in str(e.value)


def test_async_read_in_flight_is_retried_and_write_raises(killable):
    async def main():
        db = await sessiondb.AsyncClient.connect(
            killable.url, reconnect_tries=60, backoff=0.05, max_backoff=0.5)
        await db.kv_set({"k": "v"})
        loop = asyncio.get_running_loop()
        read = write = None

        def send_both():
            # The write goes first, so it is surely on the wire once any byte has arrived.
            nonlocal read, write
            write = asyncio.run_coroutine_threadsafe(db.kv_set({"cut": 1}), loop)
            read = asyncio.run_coroutine_threadsafe(db.kv_get(["k"]), loop)
        await loop.run_in_executor(None, killable.freeze_until_request_arrives, send_both)
        await loop.run_in_executor(None, killable.kill)
        await loop.run_in_executor(None, killable.start)
        assert await asyncio.wrap_future(read) == {"k": "v"}
        with pytest.raises(sessiondb.ConnectionLostError):
            await asyncio.wrap_future(write)
        assert await db.kv_get(["cut"]) == {}
        assert db.reconnects == 1
        await db.close()
    asyncio.run(main())


def wait_until_disconnected(db):
    deadline = time.monotonic() + 10
    while db.connected:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_the_secret_given_to_sv_auth_is_sent_again_after_a_reconnect(tmp_path):
    server = KillableServer(tmp_path, {"SESSIONDB_AUTH_SECRET": "s3cr@t"})
    try:
        db = sessiondb.Client(server.url, reconnect_tries=60, backoff=0.05, max_backoff=0.5)
        db.sv_auth("s3cr@t")
        server.kill()
        wait_until_disconnected(db)
        server.start()
        assert db.kv_count() == 0  # 200 NotAuthenticated without the repeated SV_AUTH
        assert db.reconnects == 1
        db.close()
    finally:
        server.close()


def test_async_write_not_yet_sent_goes_to_the_new_connection(killable):
    async def main():
        db = await sessiondb.AsyncClient.connect(
            killable.url, reconnect_tries=60, backoff=0.05, max_backoff=0.5)
        killable.kill()
        while not db._closed:  # the reader task sees the close
            await asyncio.sleep(0.01)
        await loop_run(killable.start)
        await db.kv_set({"a": 1})
        assert await db.kv_get(["a"]) == {"a": 1}
        assert db.reconnects == 1
        await db.close()

    async def loop_run(fn):
        await asyncio.get_running_loop().run_in_executor(None, fn)
    asyncio.run(main())
