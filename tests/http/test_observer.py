"""The request observer: one layer that does what the request log and the tracing did stacked.

The App runs one `RequestObserver` for a request's log scope and lines, its span and its
metrics. Each test runs the same requests through that one layer and through its two
parts stacked (`TracingMiddleware(RequestLog(app))`), and holds them to the same lines,
spans and metrics, whatever differs only by nature (times, ids) set aside: what the
fused path does differently (one scan, the span handed to the lines) changes nothing.
What each part writes and records is held to its spec in tests/http/test_requestlog.py
and tests/otel/test_tracing.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import bastion
from bastion.http.observer import RequestObserver
from bastion.http.requestlog import RequestLog
from bastion.otel import Telemetry
from bastion.otel._tracing import ServerTracing, TracingMiddleware
from bastion.types import ERROR_SCOPE_KEY, ASGIApp, ErrorNote, Message, Receive, Scope, Send
from tests.support.logs import json_lines, memory_logger
from tests.support.telemetry import traced

TRACEPARENT = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
# What differs between two runs of the same request by nature.
_VARYING = {"time", "http.time_ms", "request_id", "trace_id", "span_id"}


def scope(path: str = "/orders/7", headers: list[tuple[bytes, bytes]] | None = None,
          query: bytes = b"") -> Scope:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": query, "root_path": "",
            "headers": [(b"host", b"shop.example:8080"), (b"user-agent", b"pytest"),
                        *(headers or [])],
            "client": ("203.0.113.9", 40000), "server": ("127.0.0.1", 8080)}


async def handler(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads a chunked body, logs inside the span, answers by the path."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    scope["bastion.route"] = "/orders/{id}"
    bastion.log.bind(service="shop", method="update")
    bastion.log.info("handling", size=len(body))
    if scope["path"].endswith("/boom"):
        raise RuntimeError("the database is gone")
    status = 409 if scope["path"].endswith("/taken") else 200
    if status == 409:
        scope[ERROR_SCOPE_KEY] = ErrorNote("taken", "err-1")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"ok":true}'})


async def call(app: ASGIApp, request: Scope) -> list[Message]:
    sent: list[Message] = []
    chunks = [b'{"qty":', b"3}"]

    async def receive() -> Message:
        chunk = chunks.pop(0) if chunks else b""
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: Message) -> None:
        sent.append(message)

    with contextlib.suppress(RuntimeError):  # the /boom request's error, raised through
        await app(request, receive, send)
    return sent


@pytest.fixture
def pair() -> Iterator[tuple[tuple[Telemetry, InMemorySpanExporter],
                             tuple[Telemetry, InMemorySpanExporter]]]:
    with traced("shop") as fused, traced("shop") as stacked:
        yield fused, stacked


def observers(fused: Telemetry, stacked: Telemetry,
              **options: Any) -> tuple[tuple[ASGIApp, io.StringIO], tuple[ASGIApp, io.StringIO]]:
    """The one layer on `fused` and the two stacked on `stacked`, each with its log stream."""
    one_logger, one_stream = memory_logger(format="json", service="shop")
    two_logger, two_stream = memory_logger(format="json", service="shop")
    one = RequestObserver(handler, logger=one_logger,
                          tracing=ServerTracing(fused, credential_params=["token"]),
                          credential_params=["token"], **options)
    two = TracingMiddleware(RequestLog(handler, two_logger, credential_params=["token"]),
                            stacked, credential_params=["token"])
    return (one, one_stream), (two, two_stream)


async def both(pair: Any, request_scope: Scope) -> tuple[
        tuple[list[Message], io.StringIO], tuple[list[Message], io.StringIO]]:
    """`request_scope` through the one layer, then through the two stacked."""
    (fused, _), (stacked, _) = pair
    (one, one_stream), (two, two_stream) = observers(fused, stacked)
    return (await call(one, dict(request_scope)), one_stream), (
        await call(two, dict(request_scope)), two_stream)


def recorded(telemetry: Telemetry) -> list[tuple[Any, ...]]:
    """The HTTP metrics as (name, attributes, count, sizes): all but the durations' values."""
    rows = []
    for metric in telemetry.metrics.metrics():
        for point in metric.data.data_points:
            sizes = () if metric.name.endswith("duration") or not hasattr(point, "sum") else (
                point.sum, tuple(point.bucket_counts))
            count = getattr(point, "count", getattr(point, "value", None))
            rows.append((metric.name, sorted((point.attributes or {}).items()), count, sizes))
    return sorted(rows, key=repr)


def steady(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in line.items() if k not in _VARYING} for line in lines]


REQUESTS = [
    pytest.param(scope(), id="plain"),
    pytest.param(scope(headers=[(b"traceparent", TRACEPARENT),
                                (b"x-request-id", b"req-from-the-client")]), id="traced-caller"),
    pytest.param(scope(query=b"token=s3cret&page=2"), id="secret-query"),
    pytest.param(scope("/orders/taken"), id="design-error"),
    pytest.param(scope("/orders/boom"), id="raised"),
]


@pytest.mark.parametrize("request_scope", REQUESTS)
async def test_one_layer_writes_the_lines_the_stacked_parts_write(
    pair: Any, request_scope: Scope,
) -> None:
    (_, fused_spans), _ = pair
    (one_sent, one_stream), (two_sent, two_stream) = await both(pair, request_scope)

    one_lines, two_lines = json_lines(one_stream), json_lines(two_stream)
    assert steady(one_lines) == steady(two_lines)
    assert [line["msg"] for line in one_lines][:2] == ["start", "handling"]
    # Every line of the request carries the request's span and id, as stacked.
    span = fused_spans.get_finished_spans()[0]
    assert {line["trace_id"] for line in one_lines} == {f"{span.context.trace_id:032x}"}
    assert {line["span_id"] for line in one_lines} == {f"{span.context.span_id:016x}"}
    assert len({line["request_id"] for line in one_lines}) == 1
    assert "s3cret" not in one_stream.getvalue()
    # The answer: the same messages, the request id added once.
    assert [m["type"] for m in one_sent] == [m["type"] for m in two_sent]
    if one_sent:
        ids = [v for k, v in one_sent[0]["headers"] if k == b"x-request-id"]
        assert ids == [one_lines[0]["request_id"].encode()]


@pytest.mark.parametrize("request_scope", REQUESTS)
async def test_one_layer_records_the_span_and_metrics_the_stacked_parts_record(
    pair: Any, request_scope: Scope,
) -> None:
    (fused, fused_spans), (stacked, stacked_spans) = pair
    await both(pair, request_scope)

    (a,) = fused_spans.get_finished_spans()
    (b,) = stacked_spans.get_finished_spans()
    assert (a.name, a.kind, a.status.status_code) == (b.name, b.kind, b.status.status_code)
    assert dict(a.attributes or {}) == dict(b.attributes or {})
    assert [e.name for e in a.events] == [e.name for e in b.events]
    assert (a.parent.span_id if a.parent else None) == (b.parent.span_id if b.parent else None)
    assert recorded(fused) == recorded(stacked)
    assert recorded(fused)  # something was recorded


async def test_a_probe_path_is_neither_logged_nor_traced_yet_keeps_its_request_id(
    pair: Any,
) -> None:
    (fused, fused_spans), (stacked, _) = pair
    (one, one_stream), _ = observers(fused, stacked)
    sent = await call(one, scope("/healthz"))
    lines = json_lines(one_stream)
    assert [line["msg"] for line in lines] == ["handling"]
    assert "trace_id" not in lines[0]
    assert fused_spans.get_finished_spans() == ()
    assert any(k == b"x-request-id" for k, _ in sent[0]["headers"])


async def test_a_request_cancelled_while_its_debug_switch_is_decided_leaves_nothing_behind(
    pair: Any,
) -> None:
    (fused, fused_spans), (stacked, _) = pair
    asked = asyncio.Event()

    async def slow_authorizer(scope: Scope) -> bool:
        asked.set()
        await asyncio.sleep(3600)  # the client leaves before this answers
        return True

    (one, one_stream), _ = observers(fused, stacked, debug_authorizer=slow_authorizer)
    before = bastion.log.current()
    task = asyncio.ensure_future(call(one, scope(headers=[(b"x-debug-logs", b"on")])))
    await asyncio.wait_for(asked.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Counted out of flight, its span ended (as failed), no line of a request never served.
    active = [row for row in recorded(fused) if row[0] == "http.server.active_requests"]
    assert [row[2] for row in active] == [0]
    (span,) = fused_spans.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["error.type"] == "asyncio.exceptions.CancelledError"
    assert json_lines(one_stream) == []
    assert bastion.log.current() is before
