"""What a request and a connection leave behind is freed by refcounting alone.

A reference cycle per request (the scope's extensions naming the exchange that holds the
scope) leaves every finished request to the cycle collector; under load its oldest
generation then gathers thousands of them between full collections, and a long-running
worker's heap grows to hold them. The served app here turns the collector off, so any
such cycle shows as objects that stay in memory.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from tests.server.support import Running, running_server
from tests.support.rawhttp import read_response, request_bytes

pytestmark = pytest.mark.integration

REQUESTS = 200
CONNECTIONS = 50


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with running_server(tmp_path_factory.mktemp("refcounting"),
                        app_ref="tests.server.refcount_app:app") as running:
        yield running


def _live(sock: socket.socket) -> dict[str, int]:
    sock.sendall(request_bytes("GET", "/live"))
    response = read_response(sock)
    assert response.status == 200
    counts: dict[str, int] = json.loads(response.body)
    return counts


def _settled(probe: socket.socket, before: dict[str, int], *kinds: str) -> dict[str, int]:
    """The live counts once each of `kinds` is back to `before`, or after CONNECTIONS asks.

    The server may see the last close a moment after the client: ask until it has,
    bounded by the number of connections (no clock involved).
    """
    after = _live(probe)
    for _ in range(CONNECTIONS):
        if all(after[kind] <= before[kind] for kind in kinds):
            break
        after = _live(probe)
    return after


def test_finished_requests_are_freed_without_the_cycle_collector(server: Running) -> None:
    with server.connect() as sock:
        before = _live(sock)
        for i in range(REQUESTS):
            # GETs and POSTs with a body, on one keep-alive connection.
            body = b'{"n": %d}' % i if i % 2 else b""
            sock.sendall(request_bytes("POST" if body else "GET", "/any", body=body))
            assert read_response(sock).status == 200
        after = _live(sock)
    # The exchange answering /live is alive; the REQUESTS before it are not.
    assert after["exchanges"] <= before["exchanges"] + 1, (before, after)


def test_closed_connections_are_freed_without_the_cycle_collector(server: Running) -> None:
    with server.connect() as probe:
        before = _live(probe)
        for _ in range(CONNECTIONS):
            with server.connect() as sock:
                sock.sendall(request_bytes("GET", "/any", {"Connection": "close"}))
                assert read_response(sock).status == 200
                assert sock.recv(1) == b""  # the server closed it
        after = _settled(probe, before, "connections")
    assert after["connections"] <= before["connections"], (before, after)


def test_requests_cut_by_the_client_are_freed_without_the_cycle_collector(
    server: Running,
) -> None:
    with server.connect() as probe:
        before = _live(probe)
        for _ in range(CONNECTIONS):
            with server.connect() as sock:
                # A body announced and never sent whole: the app waits for it, then the
                # client leaves in the middle of the request.
                sock.sendall(request_bytes("POST", "/any", {"Content-Length": "100"})
                             + b"0123456789")
        after = _settled(probe, before, "connections", "exchanges")
    assert after["connections"] <= before["connections"], (before, after)
    assert after["exchanges"] <= before["exchanges"], (before, after)


def test_websocket_sessions_are_freed_without_the_cycle_collector(server: Running) -> None:
    from websockets.sync.client import connect

    with server.connect() as probe:
        before = _live(probe)
        for i in range(CONNECTIONS):
            with connect(f"ws://127.0.0.1:{server.port}/ws", open_timeout=10) as ws:
                ws.send(f"hello {i}")
                assert ws.recv(timeout=10) == f"hello {i}"
        after = _settled(probe, before, "sessions", "connections")
    assert after["sessions"] <= before["sessions"], (before, after)
    assert after["connections"] <= before["connections"], (before, after)
