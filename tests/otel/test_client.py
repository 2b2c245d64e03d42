"""The traced httpx client: CLIENT spans, traceparent to a real server, one log line per call."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import SpanKind, StatusCode

from bastion.otel._client import client, sync_client
from bastion.otel._sampler import ParentBasedSampler
from bastion.otel._telemetry import Telemetry, configure
from bastion.otel._tracing import TracingMiddleware
from bastion.types import Receive, Scope, Send
from tests.support.prometheus import asgi_server
from tests.support.servers import free_port

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
    exporter = InMemorySpanExporter()
    t = configure(
        "orders", "1", env={}, span_exporter=exporter, sampler=ParentBasedSampler(ALWAYS_ON)
    )
    yield t, exporter
    t.shutdown()


@pytest.fixture
def callee() -> Iterator[tuple[int, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    t = configure(
        "inventory", "1", env={}, span_exporter=exporter, sampler=ParentBasedSampler(ALWAYS_ON)
    )
    with asgi_server(TracingMiddleware(inventory, t)) as port:
        yield port, exporter
    t.shutdown()


async def test_trace_continues_in_the_called_service(
    caller: tuple[Telemetry, InMemorySpanExporter],
    callee: tuple[int, InMemorySpanExporter],
    caplog: pytest.LogCaptureFixture,
) -> None:
    telemetry, exporter = caller
    port, server_exporter = callee
    caplog.set_level(logging.INFO, logger="bastion.client")

    async with client(telemetry=telemetry, base_url=f"http://127.0.0.1:{port}") as http:
        with telemetry.tracer.start_as_current_span("create order") as parent:
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

    (server_span,) = server_exporter.get_finished_spans()
    assert server_span.name == "GET /stock/{sku}"
    assert server_span.context.trace_id == client_span.context.trace_id
    assert server_span.parent is not None
    assert server_span.parent.span_id == client_span.context.span_id

    (record,) = [r for r in caplog.records if r.name == "bastion.client"]
    message = record.getMessage()
    assert message.startswith(f"GET http://127.0.0.1:{port}/stock/42?api_key=REDACTED&n=2 200 ")
    assert "s3cr3t" not in message
    assert record.http_status == 200  # type: ignore[attr-defined]
    assert record.duration_ms > 0  # type: ignore[attr-defined]


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
    caller: tuple[Telemetry, InMemorySpanExporter], caplog: pytest.LogCaptureFixture
) -> None:
    telemetry, exporter = caller
    caplog.set_level(logging.INFO, logger="bastion.client")
    url = f"http://user:pa55word@127.0.0.1:{free_port()}/stock/1"  # nothing listens there
    async with client(telemetry=telemetry) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(url)

    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == "httpx.ConnectError"
    assert "pa55word" not in str(span.attributes["url.full"])
    assert [e.name for e in span.events] == ["exception"]
    (record,) = [r for r in caplog.records if r.name == "bastion.client"]
    assert record.levelno == logging.WARNING
    assert "pa55word" not in record.getMessage()


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
    (server_span,) = server_exporter.get_finished_spans()
    assert server_span.parent is not None
    assert server_span.parent.span_id == client_span.context.span_id
