"""SIGTERM while connections wait in the listen backlog (issue 10, item 4).

A connection the kernel accepted before the signal is read and served within the drain,
as Go's Shutdown does for new connections; only one that sends nothing within
READ_HEADER_TIMEOUT is closed without an answer.
"""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.server.support import running_server
from tests.support.rawhttp import read_response, request_bytes

pytestmark = pytest.mark.integration

READ_HEADER_TIMEOUT = 1.0
LIMITS = {
    "READ_HEADER_TIMEOUT": "1s",
    "READ_TIMEOUT": "1s",
    "WRITE_TIMEOUT": "5s",
    "IDLE_TIMEOUT": "1.5s",
    "SHUTDOWN_TIMEOUT": "10s",
}
MARGIN = 1.0


def _outcome(sock: socket.socket) -> str:
    try:
        response = read_response(sock, timeout=15.0)
    except (ConnectionError, TimeoutError) as exc:
        return type(exc).__name__
    if response.status != 200:
        return str(response.status)
    return "ok" if json.loads(response.body) == {"length": 100} else f"body {response.body!r}"


def test_sigterm_20ms_into_100_new_connections_serves_all_of_them(tmp_path: Path) -> None:
    request = request_bytes("POST", "/echo", body=b"x" * 100)
    with running_server(tmp_path, LIMITS) as server:
        socks: list[socket.socket] = []
        first = 0.0
        try:
            for _ in range(100):
                socks.append(server.connect())
                if len(socks) == 1:
                    first = time.monotonic()
            # Half of them send their request before the signal, half only after it: the
            # kernel accepted all of them before it, so all of them are served.
            for sock in socks[::2]:
                sock.sendall(request)
            time.sleep(max(0.0, first + 0.02 - time.monotonic()))
            server.signal(signal.SIGTERM)
            for sock in socks[1::2]:
                sock.sendall(request)
            outcomes = [_outcome(sock) for sock in socks]
        finally:
            for sock in socks:
                sock.close()
        status = server.wait(timeout=20)
    _assert_all_served(outcomes)
    assert status == 0
    assert "Traceback" not in server.log


def test_connections_still_in_the_listen_backlog_at_sigterm_are_served(tmp_path: Path) -> None:
    request = request_bytes("POST", "/echo", body=b"x" * 100)
    with running_server(tmp_path, LIMITS) as server:
        socks: list[socket.socket] = []
        # Stopped, the process accepts nothing: the kernel completes the handshakes and
        # keeps the connections and their requests in the listen backlog.
        server.signal(signal.SIGSTOP)
        try:
            for _ in range(100):
                sock = server.connect()
                sock.sendall(request)
                socks.append(sock)
            server.signal(signal.SIGTERM)  # pending until the process runs again
        finally:
            server.signal(signal.SIGCONT)
        try:
            outcomes = [_outcome(sock) for sock in socks]
        finally:
            for sock in socks:
                sock.close()
        status = server.wait(timeout=20)
    _assert_all_served(outcomes)
    assert status == 0


def _assert_all_served(outcomes: list[str]) -> None:
    missing = {i: o for i, o in enumerate(outcomes) if o != "ok"}
    assert not missing, f"{100 - len(missing)} of 100 answered; the others: {missing}"


def test_a_silent_connection_is_closed_at_its_header_deadline_during_the_drain(
    tmp_path: Path,
) -> None:
    with running_server(tmp_path, LIMITS) as server:
        with server.connect() as busy:
            busy.sendall(request_bytes("GET", "/sleep?s=3"))
            _until_active(server.admin_port, 1)
            silent = server.connect()
            connected = time.monotonic()
            server.signal(signal.SIGTERM)
            received, closed_after = _until_closed(silent, connected, READ_HEADER_TIMEOUT + 4.0)
            silent.close()
            response = read_response(busy, timeout=10.0)
            answered_after = time.monotonic() - connected
        status = server.wait(timeout=20)
    assert received == b"", "a connection that sent nothing got an answer"
    assert closed_after is not None, "the silent connection outlived the drain"
    assert closed_after < READ_HEADER_TIMEOUT + MARGIN
    # Closed by its own deadline while the drain still served the busy request.
    assert closed_after < answered_after
    assert (response.status, response.body) == (200, b"slept")
    assert status == 0


def _until_closed(sock: socket.socket, start: float, limit: float) -> tuple[bytes, float | None]:
    """What `sock` received and when (s after `start`) the server closed it, or None."""
    received = b""
    try:
        while time.monotonic() - start < limit:
            sock.settimeout(max(0.01, start + limit - time.monotonic()))
            chunk = sock.recv(65536)
            if not chunk:
                return received, time.monotonic() - start
            received += chunk
    except (ConnectionResetError, BrokenPipeError):
        return received, time.monotonic() - start
    except TimeoutError:
        pass
    return received, None


def _until_active(admin_port: int, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(f"http://127.0.0.1:{admin_port}/active", timeout=5).text == str(count):
            return
        time.sleep(0.02)
    raise TimeoutError(f"{count} requests never ran at once")
