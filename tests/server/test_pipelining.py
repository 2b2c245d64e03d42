"""Pipelined requests each get a fresh context (issue 10, item 7), on the orders example.

Three requests sent in one write on one connection, the first with a client
`traceparent`: the second and third have request ids and trace ids of their own, never
the first's. Lines logged outside any request (startup, shutdown) carry no request id.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from examples.orders.main import DEMO_API_KEY

from tests.support.orders import Orders, orders_example
from tests.support.rawhttp import read_response, request_bytes

pytestmark = pytest.mark.integration

LIMITS = {"READ_HEADER_TIMEOUT": "1s", "READ_TIMEOUT": "1s", "WRITE_TIMEOUT": "1.5s",
          "IDLE_TIMEOUT": "1.5s", "SHUTDOWN_TIMEOUT": "2s"}
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture(scope="module")
def orders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orders]:
    with orders_example(tmp_path_factory.mktemp("pipelining"), LIMITS) as running:
        yield running


def _pipeline_three(orders: Orders, first_id: str | None) -> list[dict[str, Any]]:
    """Send three requests in one write; return their `end` lines, in order."""
    first = {"traceparent": TRACEPARENT}
    if first_id is not None:
        first["X-Request-ID"] = first_id
    data = (request_bytes("GET", "/ping", first)
            + request_bytes("GET", "/orders", {"X-API-Key": DEMO_API_KEY})
            + request_bytes("GET", "/ping"))
    with orders.connect() as sock:
        sock.sendall(data)
        responses = [read_response(sock) for _ in range(3)]
    assert [r.status for r in responses] == [200, 200, 200]
    ids = [r.headers["x-request-id"] for r in responses]
    return [orders.end_line(rid) for rid in ids]


@pytest.mark.parametrize("first_id", [None, "client-chosen-id"], ids=["new-id", "client-id"])
def test_pipelined_requests_never_inherit_the_first_ones_ids(
    orders: Orders, first_id: str | None
) -> None:
    if first_id is not None:
        first_id = f"{first_id}-{uuid.uuid4().hex[:8]}"
    ends = _pipeline_three(orders, first_id)
    request_ids = [line["request_id"] for line in ends]
    trace_ids = [line.get("trace_id") for line in ends]
    if first_id is not None:
        assert request_ids[0] == first_id
    assert len(set(request_ids)) == 3, request_ids
    assert trace_ids[0] == TRACE_ID
    assert None not in trace_ids, ends
    assert len(set(trace_ids)) == 3, f"a later request carried an earlier trace: {trace_ids}"


def test_lines_outside_any_request_carry_no_request_id(tmp_path: Path) -> None:
    with orders_example(tmp_path, LIMITS) as orders:
        _pipeline_three(orders, "before-shutdown")
        assert orders.stop() == 0
        lines = orders.lines()
    outside = [line for line in lines if line.get("msg") not in ("start", "end")]
    messages = [str(line.get("msg")) for line in outside]
    assert "Orders API: serving" in messages
    assert "shutdown complete" in messages
    assert any(m.startswith("received SIGTERM") for m in messages)
    carrying = [line for line in outside if "request_id" in line]
    assert not carrying, carrying
