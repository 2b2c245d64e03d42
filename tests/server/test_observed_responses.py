"""The request observer on Bastion's own server: the exchange, not a `send` wrapper.

The observer reads the status and the body bytes from the server's exchange, and the
server writes the request's id in the response head. Raw sockets see what a client
sees: exactly one `X-Request-ID`, the same as the `end` line's `request_id`, the app's
own id when it sets one, and the `end` line's body size counting the body without its
chunked framing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.server.observed_app import PARTS
from tests.server.support import Running, running_server
from tests.support.rawhttp import request_bytes

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with running_server(tmp_path_factory.mktemp("observed"), {"ADMIN_ADDR": ""},
                        app_ref="tests.server.observed_app:app") as running:
        yield running


def _get(server: Running, path: str, headers: dict[str, str] | None = None,
         ) -> tuple[str, list[tuple[str, str]], bytes]:
    """One request on its own connection: the status line, the head's pairs, the body."""
    with server.connect() as sock:
        sock.sendall(request_bytes("GET", path, {"Connection": "close", **(headers or {})}))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, *fields = head.decode("latin-1").split("\r\n")
    pairs = [(k.strip().lower(), v.strip()) for k, v in (f.split(":", 1) for f in fields)]
    return status, pairs, body


def _dechunk(body: bytes) -> bytes:
    out = b""
    while True:
        size, _, rest = body.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            return out
        out, body = out + rest[:n], rest[n + 2:]


def _ids(pairs: list[tuple[str, str]]) -> list[str]:
    return [v for k, v in pairs if k == "x-request-id"]


def _end_line(server: Running, request_id: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for raw in server.log.splitlines():
            if raw.startswith("{"):
                line = json.loads(raw)
                if line.get("msg") == "end" and line.get("request_id") == request_id:
                    return line
        time.sleep(0.05)
    raise AssertionError(f"no end line for {request_id}:\n{server.log[-2000:]}")


def test_a_response_carries_one_request_id_the_end_line_names(server: Running) -> None:
    status, pairs, body = _get(server, "/made")
    assert status.startswith("HTTP/1.1 201") and body == b"made"
    [rid] = _ids(pairs)
    end = _end_line(server, rid)
    assert end["http.response.status_code"] == 201
    assert end["http.response.body.size"] == len(b"made")


def test_the_clients_request_id_is_echoed_once(server: Running) -> None:
    _, pairs, _ = _get(server, "/made", {"X-Request-ID": "from-the-client-42"})
    assert _ids(pairs) == ["from-the-client-42"]
    assert _end_line(server, "from-the-client-42")["http.response.status_code"] == 201


def test_an_apps_own_request_id_is_not_doubled(server: Running) -> None:
    _, pairs, _ = _get(server, "/own-id", {"X-Request-ID": "from-the-client-43"})
    assert _ids(pairs) == ["chosen-by-the-app"]
    # The request's log scope keeps the id it was given; the app chose the response's.
    assert _end_line(server, "from-the-client-43")["http.response.status_code"] == 201


def test_a_body_in_parts_counts_its_bytes_not_its_framing(server: Running) -> None:
    _, pairs, body = _get(server, "/parts", {"X-Request-ID": "parts-44"})
    assert ("transfer-encoding", "chunked") in pairs and _ids(pairs) == ["parts-44"]
    assert _dechunk(body) == b"".join(PARTS)
    end = _end_line(server, "parts-44")
    assert end["http.response.body.size"] == len(b"".join(PARTS))


def test_a_failed_handler_is_the_servers_500_with_the_requests_id(server: Running) -> None:
    status, pairs, body = _get(server, "/fails", {"X-Request-ID": "fails-45"})
    assert status.startswith("HTTP/1.1 500") and _ids(pairs) == ["fails-45"]
    assert b"Traceback" not in body and b"the handler broke" not in body
    end = _end_line(server, "fails-45")
    # The app sent nothing: its end line says so (status 0), as on any server.
    assert end["http.response.status_code"] == 0 and end["http.response.body.size"] == 0



@pytest.fixture(scope="module")
def wrapped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with running_server(tmp_path_factory.mktemp("wrapped"), {"ADMIN_ADDR": ""},
                        app_ref="tests.server.observed_app:wrapped") as running:
        yield running


@pytest.mark.parametrize(("path", "status", "size"), [("/made", 201, 4), ("/parts", 200, 18)])
def test_behind_a_layer_that_wraps_send_the_observer_counts_what_it_hands_over(
    wrapped: Running, path: str, status: int, size: int,
) -> None:
    rid = f"wrapped-{path.strip('/')}"
    _, pairs, _ = _get(wrapped, path, {"X-Request-ID": rid})
    assert _ids(pairs) == [rid] and ("x-outer", "1") in pairs
    end = _end_line(wrapped, rid)
    assert (end["http.response.status_code"], end["http.response.body.size"]) == (status, size)
