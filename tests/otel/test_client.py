"""The traced httpx client: CLIENT spans, traceparent to a real server, one log line per call."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from bastion import log
from bastion.otel._client import client, sync_client
from bastion.otel._telemetry import Telemetry
from bastion.otel._tracing import TracingMiddleware
from bastion.testing import LogCapture
from bastion.types import Receive, Scope, Send
from tests.support.servers import free_port
from tests.support.telemetry import traced
from tests.support.threaded import serve_in_thread
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


async def inventory(scope: Scope, receive: Receive, send: Send) -> None:
    """The called service: /stock/{sku} answers 200, /broken 502."""
    if scope["type"] != "http":
        return
    broken = scope["path"] == "/broken"
    scope["bastion.route"] = "/broken" if broken else "/stock/{sku}"
    await send({"type": "http.response.start", "status": 502 if broken else 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


@pytest.fixture
def caller() -> Iterator[tuple[Telemetry, InMemorySpanExporter]]:
    with traced("orders") as pair:
        yield pair


@pytest.fixture
def callee() -> Iterator[tuple[int, InMemorySpanExporter]]:
    with traced("inventory") as (t, exporter), \
            serve_in_thread(TracingMiddleware(inventory, t)) as port:
        yield port, exporter


async def test_trace_continues_in_the_called_service(
    caller: tuple[Telemetry, InMemorySpanExporter],
    callee: tuple[int, InMemorySpanExporter],
) -> None:
    telemetry, exporter = caller
    port, server_exporter = callee
    logs = LogCapture()

    async with client(telemetry=telemetry, base_url=f"http://127.0.0.1:{port}") as http:
        with log.use(logs.logger), telemetry.tracer.start_as_current_span("create order") as parent:
            response = await http.get("/stock/42", params={"api_key": "k-s3cr3t", "n": "2"})
    assert response.status_code == 200

    client_span = next(s for s in exporter.get_finished_spans() if s.kind is SpanKind.CLIENT)
    assert client_span.name == "GET"
    assert client_span.parent is not None
    assert client_span.parent.span_id == parent.get_span_context().span_id
    attrs = dict(client_span.attributes or {})
    assert attrs["url.full"] == f"http://127.0.0.1:{port}/stock/42?api_key=REDACTED&n=2"
    assert attrs["http.response.status_code"] == 200
    assert attrs["server.address"] == "127.0.0.1"
    assert attrs["server.port"] == port
    assert client_span.status.status_code is StatusCode.UNSET

    # The server ends its span after it has sent the response: it may come a moment later.
    wait_until(server_exporter.get_finished_spans, timeout=5)
    (server_span,) = server_exporter.get_finished_spans()
    assert server_span.name == "GET /stock/{sku}"
    assert server_span.context.trace_id == client_span.context.trace_id
    assert server_span.parent is not None
    assert server_span.parent.span_id == client_span.context.span_id

    # One line through the current Logger, inside the caller's span, with OTel's keys.
    (line,) = logs.lines
    assert line["msg"] == "client request" and line["level"] == "info"
    assert line["url.full"] == f"http://127.0.0.1:{port}/stock/42?api_key=REDACTED&n=2"
    assert line["http.request.method"] == "GET"
    assert line["http.response.status_code"] == 200
    assert line["http.time_ms"] > 0
    assert line["span_id"] == f"{parent.get_span_context().span_id:016x}"
    assert "s3cr3t" not in logs.text


async def test_error_status_marks_the_client_span(
    caller: tuple[Telemetry, InMemorySpanExporter], callee: tuple[int, InMemorySpanExporter]
) -> None:
    telemetry, exporter = caller
    port, _ = callee
    async with client(telemetry=telemetry) as http:
        response = await http.post(f"http://127.0.0.1:{port}/broken", json={})
    assert response.status_code == 502
    (span,) = exporter.get_finished_spans()
    assert span.name == "POST"
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == "502"


async def test_connection_failure_is_recorded_logged_and_raised(
    caller: tuple[Telemetry, InMemorySpanExporter],
) -> None:
    telemetry, exporter = caller
    logs = LogCapture()
    url = f"http://user:pa55word@127.0.0.1:{free_port()}/stock/1"  # nothing listens there
    async with client(telemetry=telemetry) as http:
        with log.use(logs.logger), pytest.raises(httpx.ConnectError):
            await http.get(url)

    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == "httpx.ConnectError"
    assert "pa55word" not in str(span.attributes["url.full"])
    assert [e.name for e in span.events] == ["exception"]
    # A transport error is a failed call: an error line (Clue's log.Client).
    (line,) = logs.lines
    assert line["level"] == "error" and line["msg"] == "client request failed"
    assert line["error.type"] == "httpx.ConnectError"
    assert line["url.full"].startswith("http://REDACTED:REDACTED@127.0.0.1:")
    assert "pa55word" not in logs.text


def test_sync_client_inside_an_activated_telemetry(
    caller: tuple[Telemetry, InMemorySpanExporter], callee: tuple[int, InMemorySpanExporter]
) -> None:
    telemetry, exporter = caller
    port, server_exporter = callee
    # No telemetry argument: spans go through the API globals to the active telemetry.
    with telemetry.activate(), sync_client(base_url=f"http://127.0.0.1:{port}") as http:
        assert http.get("/stock/1").status_code == 200

    (client_span,) = exporter.get_finished_spans()
    assert client_span.kind is SpanKind.CLIENT
    # The server ends its span after it has sent the response: it may come a moment later.
    wait_until(server_exporter.get_finished_spans, timeout=5)
    (server_span,) = server_exporter.get_finished_spans()
    assert server_span.parent is not None
    assert server_span.parent.span_id == client_span.context.span_id
