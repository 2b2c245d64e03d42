"""Real services for integration tests, started on free loopback ports."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_GIVEN: set[int] = set()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now and not given out before.

    The kernel may hand the same ephemeral port to two binds in a row once the first
    socket is closed, so two calls could name one port for two listeners (an HTTP and a
    gRPC address of one server): each port is given out once per test run.
    """
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port


def wait_for_port(
    port: int,
    host: str = "127.0.0.1",
    timeout: float = 15.0,
    process: subprocess.Popen[bytes] | None = None,
) -> None:
    """Block until something accepts connections on host:port, or raise TimeoutError.

    With `process`, a server that exits first fails at once (RuntimeError) instead of
    after the whole timeout.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before "
                               f"listening on {host}:{port}")
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


@dataclass
class RedisServer:
    """A running `redis-server` bound to 127.0.0.1."""

    port: int
    process: subprocess.Popen[bytes]
    argv: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        """Kill the server (SIGKILL, as a crash would), and wait for it to be gone."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def restart(self) -> None:
        """Start the server again on the same port (empty: nothing is persisted)."""
        self.stop()
        self.process = subprocess.Popen(
            list(self.argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port(self.port)


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    """Start a throwaway `redis-server` on a free loopback port (no persistence)."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not installed: `apt-get install redis-server`")
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        argv = (exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", tmp, "--protected-mode", "yes")
        proc = subprocess.Popen(list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server = RedisServer(port, proc, argv)
        try:
            wait_for_port(port)
            yield server
        finally:
            server.stop()


class RedisMonitor:
    """Every command a `redis-server` executes, read over a raw `MONITOR` connection.

    `commands()` lists the commands clients sent, by name, leaving out those a Lua script
    ran (MONITOR tags them `lua`): what travelled over the network, one per round trip.
    """

    def __init__(self, server: RedisServer) -> None:
        self._sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        self._sock.sendall(b"MONITOR\r\n")
        self._file = self._sock.makefile("rb")
        if self._file.readline().strip() != b"+OK":
            raise RuntimeError("redis-server refused MONITOR")
        self._lines: list[bytes] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            for line in self._file:
                self._lines.append(line)

    def mark(self) -> None:
        """Send a PING on another connection: `commands()` reads up to it, then clears."""
        with socket.create_connection(("127.0.0.1", self._sock.getpeername()[1])) as s:
            s.sendall(b"PING\r\n")
            s.recv(64)

    def commands(self) -> list[str]:
        """The client commands executed since the last call, up to a `mark()`."""
        self.mark()
        deadline = time.monotonic() + 10
        while not any(b'"PING"' in x.upper() for x in self._lines):
            if time.monotonic() > deadline:
                raise TimeoutError("MONITOR did not show the marker PING")
            time.sleep(0.01)
        lines, self._lines = self._lines, []
        out = []
        for line in lines:
            where, _, rest = line.partition(b"] ")
            name = rest.split(b'"')[1].decode().lower() if b'"' in rest else ""
            if where.endswith(b" lua") or name == "ping":
                continue
            out.append(name)
        return out

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=10)
        self._file.close()
        self._sock.close()


class HTTPServerThread:
    """A `http.server` handler class served from a thread on 127.0.0.1.

    `port` 0 binds a free port (read it from `.port` once started); `stop()` then
    `start()` serves again on the same port, as a dependency going down and up would.
    """

    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int = 0, *,
                 daemon_threads: bool = False) -> None:
        self.handler = handler
        self.port = port
        self.daemon_threads = daemon_threads
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Bind and serve in a background thread."""
        server = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler)
        server.daemon_threads = self.daemon_threads
        self.port = int(server.server_address[1])
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket (nothing happens if it is not serving)."""
        if self._server is None or self._thread is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> HTTPServerThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class JWKSServer:
    """A tiny JWKS endpoint on 127.0.0.1 that counts the fetches it serves.

    Set `doc` to the key set it publishes and `status` to what it answers.
    """

    def __init__(self) -> None:
        self.doc: dict[str, Any] = {"keys": []}
        self.status = 200
        self.hits = 0
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with outer._lock:
                    outer.hits += 1
                    body = json.dumps(outer.doc).encode()
                    status = outer.status
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.http = HTTPServerThread(Handler, daemon_threads=True)

    @property
    def url(self) -> str:
        """Where the key set is published."""
        return f"{self.http.url}/.well-known/jwks.json"

    def start(self) -> None:
        """Serve in a background thread."""
        self.http.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.http.stop()


@contextlib.contextmanager
def jwks_server() -> Iterator[JWKSServer]:
    """Serve a JWKS endpoint on a free loopback port until the block ends."""
    server = JWKSServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
