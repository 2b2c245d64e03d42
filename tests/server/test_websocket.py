"""WebSocket upgrades: a stock `websockets` client and raw sockets against a real server."""

from __future__ import annotations

import base64
import os
import signal
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.server.support import Running, running_server
from tests.support.rawhttp import read_response

pytestmark = pytest.mark.integration

LIMITS = {"WS_MAX_MESSAGE_BYTES": "1KiB", "WS_PING_INTERVAL": "1s", "WS_IDLE_TIMEOUT": "3s"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with running_server(tmp_path_factory.mktemp("ws"), LIMITS) as running:
        yield running


def url(server: Running, path: str = "/ws") -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


def test_text_and_binary_messages_are_echoed(server: Running) -> None:
    with connect(url(server)) as ws:
        ws.send("hello")
        assert ws.recv(timeout=5) == "hello"
        ws.send(b"\x00\x01binary")
        assert ws.recv(timeout=5) == b"\x00\x01binary"


def test_a_fragmented_message_arrives_whole(server: Running) -> None:
    with connect(url(server)) as ws:
        ws.send(["frag", "ment", "ed"])
        assert ws.recv(timeout=5) == "fragmented"


def test_the_app_picks_a_subprotocol_the_client_offered(server: Running) -> None:
    with connect(url(server), subprotocols=["other", "chat"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "chat"


def test_a_message_over_the_limit_closes_with_1009(server: Running) -> None:
    with connect(url(server), max_size=None) as ws:
        ws.send("x" * 2048)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def test_the_app_closing_sends_its_code_and_reason(server: Running) -> None:
    with connect(url(server)) as ws:
        ws.send("close please")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4000, "asked")


def test_an_app_that_refuses_before_accepting_answers_403(server: Running) -> None:
    with pytest.raises(InvalidStatus) as refused, connect(url(server, "/ws-refuse")):
        pass
    assert refused.value.response.status_code == 403


def test_the_denial_response_extension_sends_the_apps_response(server: Running) -> None:
    with pytest.raises(InvalidStatus) as refused, connect(url(server, "/ws-deny")):
        pass
    assert refused.value.response.status_code == 401
    assert refused.value.response.body == b"no entry"


def _handshake(server: Running) -> socket.socket:
    sock = server.connect()
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101")
    return sock


def _frames_until_close(sock: socket.socket, limit: float) -> tuple[list[int], int | None]:
    """Read server frames (unmasked) until a close frame or EOF; return opcodes and the code."""
    opcodes: list[int] = []
    sock.settimeout(limit)
    data = b""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        while len(data) >= 2:
            length = data[1] & 0x7F
            start = 2 + (2 if length == 126 else 8 if length == 127 else 0)
            if length == 126 and len(data) >= 4:
                length = struct.unpack("!H", data[2:4])[0]
            if len(data) < start + length:
                break
            opcode, payload = data[0] & 0x0F, data[start:start + length]
            data = data[start + length:]
            opcodes.append(opcode)
            if opcode == 8:
                return opcodes, struct.unpack("!H", payload[:2])[0] if payload else None
        chunk = sock.recv(4096)
        if not chunk:
            return opcodes, None
        data += chunk
    raise TimeoutError(f"no close within {limit}s; frames {opcodes}")


def test_a_client_that_never_answers_pings_is_closed_1011(server: Running) -> None:
    with _handshake(server) as sock:
        start = time.monotonic()
        opcodes, code = _frames_until_close(sock, limit=6.0)
    assert 9 in opcodes  # it was pinged first
    assert code == 1011
    assert time.monotonic() - start < 1.0 * 2 + 2.0


def test_a_session_without_messages_is_closed_1001_at_the_idle_timeout(server: Running) -> None:
    with connect(url(server)) as ws:  # answers pings, sends nothing
        start = time.monotonic()
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert 2.5 <= time.monotonic() - start < 3.0 + 2.0


def test_a_bad_handshake_is_answered_400_without_the_app(server: Running) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n")
        response = read_response(sock)
    assert response.status == 400


def test_a_shutdown_closes_streams_with_1001(tmp_path: Path) -> None:
    with running_server(tmp_path, LIMITS) as running, connect(url(running)) as ws:
        ws.send("still here")
        assert ws.recv(timeout=5) == "still here"
        running.signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        assert running.wait(timeout=15) == 0
