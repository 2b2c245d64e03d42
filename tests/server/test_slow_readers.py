"""Clients that never read their responses (issue 10, item 2), against the orders example.

101 connections, each with a 4 KiB receive buffer, pipeline 200 `GET /openapi.json` and
never read. WRITE_TIMEOUT bounds the time from a request's head to the last byte the
kernel accepted, blocked sends included, so each connection is cut at its write deadline
(at the latest once IDLE_TIMEOUT passes after it); the request log says what really
happened; and the memory the queued responses took is given back.

The attack runs once for the module (`attack`); each test checks one promise against
what it observed.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from bastion.server._http1 import MAX_PIPELINED
from tests.support.hostile import non_reading_client
from tests.support.orders import orders_example
from tests.support.procfs import open_connections, rss_bytes
from tests.support.rawhttp import read_response, request_bytes

pytestmark = pytest.mark.integration

WRITE_TIMEOUT, IDLE_TIMEOUT = 1.5, 1.5
LIMITS = {
    "READ_HEADER_TIMEOUT": "1s",
    "READ_TIMEOUT": "1s",
    "WRITE_TIMEOUT": "1.5s",
    "IDLE_TIMEOUT": "1.5s",
    "SHUTDOWN_TIMEOUT": "2s",
}
CLIENTS, PIPELINED = 101, 200
#: The promise: every connection is closed by the server within this many seconds.
CUT_WITHIN = WRITE_TIMEOUT + IDLE_TIMEOUT + 3.0
#: "Within a few MB of its baseline": what one-time allocations may keep.
RSS_TOLERANCE = 10 << 20


@dataclass
class Attack:
    """What the attack observed, for the tests to judge."""

    whole: int = 0  # bytes of one whole response, head and body
    body: int = 0  # bytes of its body alone
    baseline_rss: int = 0
    peak_rss: int = 0
    after_rss: int = 0
    held: list[tuple[float, int]] = field(default_factory=list)  # (s after the attack, count)
    cut_after: float | None = None
    served_after: int = 0
    exit_status: int | None = None
    output: str = ""

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.output.splitlines() if line]


def _payload(client: int) -> bytes:
    return b"".join(
        request_bytes("GET", "/openapi.json", {"X-Request-ID": f"slow-{client}-{n}"})
        for n in range(PIPELINED)
    )


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


@pytest.fixture(scope="module")
def attack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Attack]:
    seen = Attack()
    with orders_example(tmp_path_factory.mktemp("slow-readers"), LIMITS) as orders:
        pid, port = orders.pid, orders.port
        with orders.connect() as sock:
            for _ in range(20):  # warm up: the spec is built and cached, code paths run
                sock.sendall(request_bytes("GET", "/openapi.json"))
                response = read_response(sock)
                assert response.status == 200
                seen.body = len(response.body)
        with orders.connect() as sock:
            sock.sendall(request_bytes("GET", "/openapi.json", {"Connection": "close"}))
            seen.whole = len(_read_all(sock))
        time.sleep(0.5)
        seen.baseline_rss = seen.peak_rss = rss_bytes(pid)

        clients = [non_reading_client(port, _payload(i)) for i in range(CLIENTS)]
        sent = time.monotonic()
        try:
            while time.monotonic() - sent < CUT_WITHIN + 1.0:
                held = open_connections(pid, port)
                seen.held.append((round(time.monotonic() - sent, 2), held))
                seen.peak_rss = max(seen.peak_rss, rss_bytes(pid))
                if held == 0:
                    seen.cut_after = time.monotonic() - sent
                    break
                time.sleep(0.1)
        finally:
            for sock in clients:
                sock.close()
        # Give the allocator a moment once the sockets are gone, then read RSS again.
        settle = time.monotonic()
        while True:
            seen.after_rss = rss_bytes(pid)
            if seen.after_rss <= seen.baseline_rss + RSS_TOLERANCE:
                break
            if time.monotonic() - settle > 5.0:
                break
            time.sleep(0.2)
        with orders.connect() as sock:
            sock.sendall(request_bytes("GET", "/ping"))
            seen.served_after = read_response(sock).status
        seen.exit_status = orders.stop()
        seen.output = orders.output()
    yield seen


def test_every_non_reading_client_is_cut_by_the_write_deadline(attack: Attack) -> None:
    assert attack.cut_after is not None, (
        f"connections the server still held after {CUT_WITHIN}s (s, count): {attack.held}")
    assert attack.cut_after <= CUT_WITHIN


def test_the_server_serves_on_and_exits_0_after_the_attack(attack: Attack) -> None:
    assert attack.served_after == 200
    assert attack.exit_status == 0


def test_memory_returns_to_its_baseline_once_the_sockets_are_gone(attack: Attack) -> None:
    mib = 1 << 20
    assert attack.after_rss - attack.baseline_rss <= RSS_TOLERANCE, (
        f"RSS {attack.baseline_rss / mib:.0f} MiB before, {attack.peak_rss / mib:.0f} during, "
        f"{attack.after_rss / mib:.0f} after")


def test_the_request_log_says_what_each_client_really_got(attack: Attack) -> None:
    # Each client is answered, in order, the request served and the MAX_PIPELINED parsed
    # behind it, at most (the rest is refused
    # with one 503); a response the kernel took whole is logged whole, one it could not take
    # by the write deadline is logged `aborted` with the bytes really written.
    by_client: dict[int, list[dict[str, Any]]] = {}
    for line in attack.lines():
        rid = str(line.get("request_id", ""))
        if line.get("msg") == "end" and rid.startswith("slow-"):
            by_client.setdefault(int(rid.split("-")[1]), []).append(line)
    assert sorted(by_client) == list(range(CLIENTS))
    for client, lines in by_client.items():
        answered = [x for x in lines if _status(x) == 200]
        assert len(answered) <= MAX_PIPELINED + 1, (client, len(answered))
        for line in answered:
            if line.get("aborted") is True:
                assert _size(line) < attack.body, line
            else:
                assert _size(line) == attack.body, line
        refused = [x for x in lines if _status(x) == 503]
        assert len(refused) <= 1
        assert len(answered) + len(refused) == len(lines)


def _status(line: dict[str, Any]) -> int:
    return int(line.get("http.response.status_code", line.get("http.status", 0)))


def _size(line: dict[str, Any]) -> int:
    return int(line.get("http.response.body.size", line.get("http.bytes", -1)))


def test_no_stray_error_lines_follow_the_cut_connections(attack: Attack) -> None:
    for text in ("Task exception was never retrieved",
                 "ASGI callable returned without starting response", "Traceback"):
        assert text not in attack.output


def test_every_line_of_output_is_json(attack: Attack) -> None:
    unformatted = []
    for line in attack.output.splitlines():
        try:
            json.loads(line)
        except ValueError:
            unformatted.append(line)
    assert not unformatted, unformatted[:10]
