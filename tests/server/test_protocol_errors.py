"""Errors the server answers itself (issue 10, items 5 and 6), on raw sockets.

A request target over MAX_URL_BYTES gets 414, a garbage request line 400, a head over
MAX_HEADER_BYTES 431, a chunked body with a bad chunk size 400, and an HTTP/1.1 request
without exactly one Host header 400 (RFC 9112 §3.2). Each answer has Bastion's JSON
error body and an X-Request-ID (the client's, when it sent a valid one); on the orders
example each also has an `end` log line with the client's address, the status and the
error's name, and a count in `/metrics` on the admin port.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from examples.orders.mint import mint

from tests.server.support import Running, running_server
from tests.support.orders import Orders, metric_count, orders_example
from tests.support.rawhttp import Response, exchange

pytestmark = pytest.mark.integration

LIMITS = {
    "READ_HEADER_TIMEOUT": "1s",
    "READ_TIMEOUT": "1s",
    "WRITE_TIMEOUT": "1.5s",
    "IDLE_TIMEOUT": "1.5s",
    # Above the URL limit (16 KiB by default), so a long target is a 414, not a 431.
    "MAX_HEADER_BYTES": "32KiB",
    "SHUTDOWN_TIMEOUT": "2s",
}
ERROR_KEYS = {"name", "id", "message", "temporary", "timeout", "fault"}
METRIC = "http_server_request_duration_seconds_count"


@dataclass(frozen=True)
class Case:
    """A broken request, and what the server must answer."""

    id: str
    status: int
    name: str
    #: Whether the request carries an X-Request-ID the answer must echo.
    sends_id: bool

    def request(self, rid: str, *, post_path: str, post_headers: str = "") -> bytes:
        """The raw bytes of the request, with X-Request-ID `rid` where it can have one."""
        host = "Host: 127.0.0.1\r\n"
        rid_line = f"X-Request-ID: {rid}\r\n"
        if self.id == "target-over-max-url-bytes":
            return f"GET /{'a' * 17_000} HTTP/1.1\r\n{host}{rid_line}\r\n".encode()
        if self.id == "garbage-request-line":
            return b"NOT A REQUEST LINE\r\n\r\n"
        if self.id == "head-over-max-header-bytes":
            return f"GET / HTTP/1.1\r\n{host}{rid_line}X-Big: {'b' * 40_000}\r\n\r\n".encode()
        if self.id == "bad-chunk-size":
            return (f"POST {post_path} HTTP/1.1\r\n{host}{rid_line}{post_headers}"
                    "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "zz\r\n{}\r\n0\r\n\r\n").encode()
        if self.id == "http11-without-host":
            return f"GET / HTTP/1.1\r\n{rid_line}\r\n".encode()
        if self.id == "http11-with-two-hosts":
            return f"GET / HTTP/1.1\r\n{host}Host: other.example\r\n{rid_line}\r\n".encode()
        raise ValueError(self.id)


CASES = [
    Case("target-over-max-url-bytes", 414, "uri_too_long", sends_id=True),
    Case("garbage-request-line", 400, "bad_request", sends_id=False),
    Case("head-over-max-header-bytes", 431, "request_header_fields_too_large", sends_id=True),
    Case("bad-chunk-size", 400, "bad_request", sends_id=True),
    Case("http11-without-host", 400, "bad_request", sends_id=True),
    Case("http11-with-two-hosts", 400, "bad_request", sends_id=True),
]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with running_server(tmp_path_factory.mktemp("protocol"), LIMITS) as running:
        yield running


@pytest.fixture(scope="module")
def orders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orders]:
    with orders_example(tmp_path_factory.mktemp("protocol-orders"), LIMITS) as running:
        yield running


def _assert_error_answer(response: Response, case: Case, rid: str) -> None:
    assert response.status == case.status, (response.status, response.body)
    assert response.headers.get("content-type") == "application/json"
    body = json.loads(response.body)
    assert set(body) == ERROR_KEYS, body
    assert body["name"] == case.name
    assert body["id"] and body["message"]
    assert body["fault"] is False
    assert response.headers.get("x-request-id"), "no X-Request-ID"


def _assert_keeps_the_client_id(response: Response, case: Case, rid: str) -> None:
    if case.sends_id:
        assert response.headers["x-request-id"] == rid, "the client's X-Request-ID was not kept"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_the_sample_app_answers_protocol_errors_in_bastions_error_shape(
    sample: Running, case: Case
) -> None:
    rid = f"proto-{uuid.uuid4().hex[:12]}"
    response = exchange(sample.port, case.request(rid, post_path="/echo"))
    _assert_error_answer(response, case, rid)
    _assert_keeps_the_client_id(response, case, rid)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_the_example_answers_logs_and_counts_protocol_errors(
    orders: Orders, case: Case
) -> None:
    rid = f"proto-{uuid.uuid4().hex[:12]}"
    labels = {"http_response_status_code": str(case.status), "error_type": case.name}
    before = metric_count(orders.metrics(), METRIC, **labels)
    token = mint(["orders:write", "orders:read"])
    response = exchange(orders.port, case.request(
        rid, post_path="/orders", post_headers=f"Authorization: Bearer {token}\r\n"))
    _assert_error_answer(response, case, rid)

    end = orders.end_line(response.headers["x-request-id"])
    assert end["http.response.status_code"] == case.status
    assert end["client.address"] == "127.0.0.1"
    assert end["error.type"] == case.name
    assert metric_count(orders.metrics(), METRIC, **labels) == before + 1
    _assert_keeps_the_client_id(response, case, rid)


def test_http10_without_host_is_served(sample: Running, orders: Orders) -> None:
    plain = exchange(sample.port, b"GET / HTTP/1.0\r\n\r\n")
    assert (plain.status, plain.body) == (200, b"ok")
    example = exchange(orders.port, b"GET /ping HTTP/1.0\r\n\r\n")
    assert example.status == 200
    assert json.loads(example.body) == {"status": "ok"}


def test_a_well_formed_chunked_body_is_served(sample: Running, orders: Orders) -> None:
    # The control for `bad-chunk-size`: the same requests with a valid chunk size.
    echo = exchange(sample.port, b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
    assert (echo.status, json.loads(echo.body)) == (200, {"length": 2})
    order = json.dumps({"amount": 1.5, "type": "retail", "customer": "ada@example.com"})
    token = mint(["orders:write", "orders:read"])
    created = exchange(orders.port, (
        f"POST /orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        f"{len(order):x}\r\n{order}\r\n0\r\n\r\n").encode())
    assert created.status == 201, created.body
