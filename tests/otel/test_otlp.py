"""End to end over OTLP/HTTP: the exporter's protobuf payload, decoded by a real receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import _logs, trace

from bastion.otel._telemetry import Telemetry, configure
from bastion.otel._tracing import TracingMiddleware
from bastion.types import Receive, Scope, Send
from tests.support.asgi import asgi_client
from tests.support.otlp import OTLPReceiver, otlp_receiver

pytestmark = pytest.mark.integration

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with otlp_receiver() as r:
        yield r


def collector_env(receiver: OTLPReceiver) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_EXPORTER_OTLP_HEADERS": "x-collector-key=k%3D1",
        "OTEL_TRACES_SAMPLER": "parentbased_always_on",
        "OTEL_METRIC_EXPORT_INTERVAL": "3600000",  # exported at shutdown only
        "OTEL_BSP_SCHEDULE_DELAY": "50",
    }


class OrderFailedError(Exception):
    pass


async def orders_app(scope: Scope, receive: Receive, send: Send) -> None:
    """A tiny service: GET /orders/{id} works and calls a child span; /fail raises."""
    path = scope["path"]
    if path.startswith("/orders/"):
        scope["bastion.route"] = "/orders/{id}"
        with trace.get_tracer("orders.repo").start_as_current_span("orders.load"):
            _logs.get_logger("orders.audit").emit(body="order loaded")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b'{"id":"7"}'})
        return
    scope["bastion.route"] = "/fail"
    raise OrderFailedError("inventory service timed out")


async def test_spans_metrics_and_logs_reach_the_collector(receiver: OTLPReceiver) -> None:
    env = collector_env(receiver)
    telemetry: Telemetry = configure("orders", "2.0.1", environment="test", env=env)
    app = TracingMiddleware(telemetry=telemetry, app=orders_app)
    try:
        async with asgi_client(app, base_url="http://orders.test",
                               raise_app_exceptions=False) as client:
            traceparent = f"00-{TRACE_ID}-{PARENT_ID}-01"
            ok = await client.get(
                "/orders/7?access_token=s3cr3t", headers={"traceparent": traceparent}
            )
            assert ok.status_code == 200
            failed = await client.post("/fail")
            assert failed.status_code == 500
    finally:
        telemetry.shutdown()

    spans = receiver.wait_for_spans(lambda s: len(s) >= 3)
    by_name = {s.name: s for s in spans}
    server = by_name["GET /orders/{id}"]
    child = by_name["orders.load"]
    failing = by_name["POST /fail"]

    # The incoming traceparent is continued, and the handler's span is its child.
    assert server.kind == "SERVER"
    assert server.trace_id == TRACE_ID
    assert server.parent_span_id == PARENT_ID
    assert child.trace_id == TRACE_ID
    assert child.parent_span_id == server.span_id
    assert server.attributes["http.route"] == "/orders/{id}"
    assert server.attributes["http.request.method"] == "GET"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["url.path"] == "/orders/7"
    assert server.attributes["url.query"] == "access_token=REDACTED"
    assert server.attributes["server.address"] == "orders.test"
    assert server.resource["service.name"] == "orders"
    assert server.resource["service.version"] == "2.0.1"
    assert server.resource["deployment.environment.name"] == "test"
    assert server.scope == "bastion"

    # A new root trace for the request without traceparent; the exception is recorded.
    assert failing.parent_span_id is None
    assert failing.trace_id != TRACE_ID
    assert failing.status_code == "ERROR"
    assert failing.attributes["http.response.status_code"] == 500
    (name, event) = failing.events[0]
    assert name == "exception"
    assert event["exception.type"].endswith("OrderFailedError")
    assert event["exception.message"] == "inventory service timed out"
    assert "raise OrderFailedError" in event["exception.stacktrace"]

    # Metrics were exported at shutdown with the route and status attributes.
    durations = {
        (p.attributes.get("http.route"), p.attributes.get("http.response.status_code")): p.count
        for p in receiver.points("http.server.request.duration")
    }
    assert durations == {("/orders/{id}", 200): 1, ("/fail", 500): 1}
    (point,) = [
        p
        for p in receiver.points("http.server.request.duration")
        if p.attributes["http.route"] == "/orders/{id}"
    ]
    assert point.unit == "s"
    assert sum(point.bucket_counts) == 1

    # The OTel log record emitted inside the span carries its ids.
    (log,) = [entry for entry in receiver.logs() if entry.body == "order loaded"]
    assert log.trace_id == TRACE_ID
    assert log.span_id == child.span_id

    # Every payload was protobuf, with the configured header; nothing leaked the token.
    paths = {path for path, _ in receiver.requests}
    assert paths == {"/v1/traces", "/v1/metrics", "/v1/logs"}
    for _, headers in receiver.requests:
        assert headers["content-type"] == "application/x-protobuf"
        assert headers["x-collector-key"] == "k=1"
    assert all("s3cr3t" not in repr(s.attributes) for s in spans)
