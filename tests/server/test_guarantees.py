"""Each server guarantee, played by a real client against a real server process.

The app is a raw ASGI app (tests/server/app.py): every guarantee here is the server's own,
whatever app it serves.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.server.support import Running, running_server
from tests.support.rawhttp import read_response, request_bytes, seconds_until_closed
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

LIMITS = {
    "READ_HEADER_TIMEOUT": "1s",
    "READ_TIMEOUT": "1",
    "WRITE_TIMEOUT": "1500ms",
    "IDLE_TIMEOUT": "1.5s",
    "MAX_HEADER_BYTES": "8KiB",
    "MAX_BODY_BYTES": "1KiB",
    "SHUTDOWN_TIMEOUT": "2s",
}
#: The guarantee is "within the timeout, plus one second".
GRACE = 1.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with running_server(tmp_path_factory.mktemp("server"), LIMITS) as running:
        yield running


def drip(sock: socket.socket, data: bytes, interval: float, limit: float) -> float:
    """Send `data` one byte every `interval` s until the server closes; return the seconds."""
    start = time.monotonic()
    for byte in data:
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - start
        readable, _, _ = select.select([sock], [], [], interval)
        if readable:
            try:
                while sock.recv(65536):
                    pass  # a 408 may come first; wait for the close
            except ConnectionResetError:
                pass
            return time.monotonic() - start
        if time.monotonic() - start > limit:
            break
    raise TimeoutError(f"still open after {time.monotonic() - start:.1f}s of dripping")


SLOW_HEAD = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100


def test_startup_line_names_the_urls_and_the_limits(server: Running) -> None:
    api = f"http://127.0.0.1:{server.port}"
    _wait_for_log(server, '"msg":"Sample API: serving"')
    line = next(json.loads(x) for x in server.log.splitlines() if "Sample API: serving" in x)
    assert line["url.api"] == api
    assert line["url.docs"] == api + "/docs"
    assert line["url.admin"] == f"http://127.0.0.1:{server.admin_port}"
    assert line["limits"].startswith("read_header=1s read=1s write=1.5s idle=1.5s max_header=8KiB")


def test_a_client_that_sends_nothing_is_disconnected(server: Running) -> None:
    with server.connect() as sock:
        elapsed = seconds_until_closed(sock, limit=1.0 + GRACE + 2.0)
    assert 0.9 <= elapsed < 1.0 + GRACE


@pytest.mark.parametrize("interval", [0.3, 2.0])
def test_headers_sent_one_byte_at_a_time_are_cut_off(server: Running, interval: float) -> None:
    with server.connect() as sock:
        elapsed = drip(sock, SLOW_HEAD, interval, limit=6.0)
    # Bytes keep arriving, yet the deadline holds: it is not reset by each byte.
    assert elapsed < 1.0 + GRACE


def test_a_slow_head_on_a_kept_alive_connection_is_cut_off(server: Running) -> None:
    with server.connect() as sock:
        sock.sendall(request_bytes("GET", "/"))
        assert read_response(sock).status == 200
        time.sleep(0.3)
        elapsed = drip(sock, SLOW_HEAD, 0.3, limit=6.0)
    assert elapsed < 1.0 + GRACE


def test_an_idle_keep_alive_connection_is_closed_after_idle_timeout(server: Running) -> None:
    with server.connect() as sock:
        sock.sendall(request_bytes("GET", "/"))
        response = read_response(sock)
        assert response.status == 200
        assert response.headers.get("connection", "keep-alive") != "close"
        elapsed = seconds_until_closed(sock, limit=1.5 + GRACE + 2.0)
    # Closed by the idle timer (1.5 s), not earlier by the header timer (1 s).
    assert 1.3 <= elapsed < 1.5 + GRACE


def test_a_stalled_body_is_answered_408(server: Running) -> None:
    with server.connect() as sock:
        start = time.monotonic()
        sock.sendall(request_bytes("POST", "/echo", {"Content-Length": "100"}) + b"x" * 10)
        response = read_response(sock, timeout=5.0)
        elapsed = time.monotonic() - start
        assert response.status == 408
        body = json.loads(response.body)
        assert body["name"] == "request_timeout"
        assert body["timeout"] is True
        assert elapsed < 1.0 + GRACE
        seconds_until_closed(sock, limit=2.0)


def test_a_handler_past_write_timeout_is_cancelled_with_503(server: Running) -> None:
    rid = f"wt-{uuid.uuid4().hex[:12]}"
    with server.connect() as sock:
        start = time.monotonic()
        sock.sendall(request_bytes("GET", "/sleep?s=30", {"X-Request-ID": rid}))
        response = read_response(sock, timeout=6.0)
        elapsed = time.monotonic() - start
    assert response.status == 503
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"] == rid
    body = json.loads(response.body)
    assert body["name"] == "timeout"
    assert body["timeout"] is True
    assert body["temporary"] is True
    assert body["fault"] is False
    assert body["id"]
    assert 1.4 <= elapsed < 1.5 + GRACE
    _wait_for_log(server, rid)
    assert "WRITE_TIMEOUT=1.5s" in server.log


def test_the_write_timeout_log_uses_the_request_id_the_app_set(server: Running) -> None:
    rid = f"app-{uuid.uuid4().hex[:12]}"
    with server.connect() as sock:
        sock.sendall(request_bytes("GET", f"/sleep?s=30&request_id={rid}"))
        response = read_response(sock, timeout=6.0)
    assert response.status == 503
    assert response.headers["x-request-id"] == rid
    _wait_for_log(server, rid)


def test_a_response_started_before_write_timeout_is_cut_short(server: Running) -> None:
    with server.connect() as sock:
        sock.sendall(request_bytes("GET", "/stream-then-hang"))
        sock.settimeout(5.0)
        received = sock.recv(65536)
        assert received.startswith(b"HTTP/1.1 200")
        start = time.monotonic()
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
        elapsed = time.monotonic() - start
    assert b"partial" in received
    # No terminating chunk: the client can tell the response is incomplete.
    assert not received.endswith(b"0\r\n\r\n")
    assert elapsed < 1.5 + GRACE


def test_headers_over_max_header_bytes_get_431(server: Running) -> None:
    with server.connect() as sock:
        sock.sendall(request_bytes("GET", "/", {"X-Big": "a" * 16 * 1024}))
        response = read_response(sock)
        assert response.status == 431
        assert json.loads(response.body)["name"] == "request_header_fields_too_large"
        seconds_until_closed(sock, limit=2.0)


def test_a_head_that_never_ends_gets_431_before_its_end(server: Running) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Endless: " + b"a" * 32 * 1024)
        response = read_response(sock, timeout=0.9)  # before the header timer could fire
        assert response.status == 431


def test_a_pipelined_head_over_the_limit_gets_431(server: Running) -> None:
    with server.connect() as sock:
        sock.sendall(
            request_bytes("GET", "/") + request_bytes("GET", "/", {"X-Big": "a" * 16 * 1024})
        )
        assert read_response(sock).status == 200
        assert read_response(sock).status == 431


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    env = {"MAX_CONCURRENCY": "2", "WRITE_TIMEOUT": "10s"}
    with running_server(tmp_path_factory.mktemp("limited"), env) as running:
        yield running


def test_requests_over_max_concurrency_get_503_at_once(limited: Running) -> None:
    base = f"http://127.0.0.1:{limited.port}"
    results: list[int] = []

    def slow() -> None:
        results.append(httpx.get(f"{base}/sleep?s=2", timeout=10).status_code)

    threads = [threading.Thread(target=slow) for _ in range(2)]
    for thread in threads:
        thread.start()
    wait_until(lambda: _active(limited) == 2)
    start = time.monotonic()
    response = httpx.get(f"{base}/", timeout=5)
    elapsed = time.monotonic() - start
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["name"] == "unavailable"
    assert response.json()["temporary"] is True
    # Answered at once: well before the two 2 s sleepers could free a slot.
    assert elapsed < 1.5
    for thread in threads:
        thread.join()
    assert results == [200, 200]
    assert httpx.get(f"{base}/", timeout=5).status_code == 200


def _active(running: Running) -> int:
    return int(httpx.get(f"http://127.0.0.1:{running.admin_port}/active", timeout=5).text)


def _wait_for_log(running: Running, text: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in running.log:
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not logged:\n{running.log}")
        time.sleep(0.05)


def test_logs_never_hold_a_traceback(server: Running) -> None:
    assert "Traceback" not in server.log, server.log
