"""TracingMiddleware on a tiny raw ASGI app: spans, attributes, propagation, errors, metrics."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    Metric,
    NumberDataPoint,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import SpanKind, StatusCode

from bastion.otel._sampler import ParentBasedSampler
from bastion.otel._telemetry import Telemetry, configure
from bastion.otel._tracing import TracingMiddleware, parse_traceparent
from bastion.redact import redact_query, redact_url, redactor_with
from bastion.types import ASGIApp, Message, Receive, Scope, Send
from tests.support.telemetry import traced

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def telemetry(exporter: InMemorySpanExporter) -> Iterator[Telemetry]:
    with traced("orders", "1.2.3", exporter=exporter) as (t, _):
        yield t


def http_scope(
    method: str = "GET",
    path: str = "/orders/42",
    query: bytes = b"",
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [
            (b"host", b"api.example.com:8443"),
            (b"user-agent", b"pytest-client/1.0"),
            *headers,
        ],
        "client": ("203.0.113.7", 50123),
        "server": ("127.0.0.1", 8000),
    }


async def call(app: ASGIApp, scope: Scope, body: bytes = b"") -> list[Message]:
    sent: list[Message] = []
    chunks = [body]

    async def receive() -> Message:
        chunk = chunks.pop(0) if chunks else b""
        return {"type": "http.request", "body": chunk, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def responder(
    status: int = 200, body: bytes = b"ok", route: str | None = "/orders/{id}"
) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if route is not None:
            scope["bastion.route"] = route
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return app


def histogram_points(metrics: Iterable[Metric], name: str) -> list[HistogramDataPoint]:
    return [
        p
        for m in metrics
        if m.name == name
        for p in m.data.data_points
        if isinstance(p, HistogramDataPoint)
    ]


def number_points(metrics: Iterable[Metric], name: str) -> list[NumberDataPoint]:
    return [
        p
        for m in metrics
        if m.name == name
        for p in m.data.data_points
        if isinstance(p, NumberDataPoint)
    ]


def attr(point: HistogramDataPoint | NumberDataPoint, key: str) -> object:
    return (point.attributes or {})[key]


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    spans = exporter.get_finished_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


async def test_span_is_named_by_route_and_carries_semconv_attributes(
    telemetry: Telemetry, exporter: InMemorySpanExporter
) -> None:
    app = TracingMiddleware(responder(201), telemetry)
    await call(app, http_scope("POST", "/orders/42"), body=b'{"amount": 3}')

    span = only_span(exporter)
    assert span.name == "POST /orders/{id}"
    assert span.kind is SpanKind.SERVER
    assert span.parent is None
    assert span.status.status_code is StatusCode.UNSET
    attrs = dict(span.attributes or {})
    assert attrs["http.request.method"] == "POST"
    assert attrs["url.path"] == "/orders/42"
    assert attrs["url.scheme"] == "https"
    assert attrs["http.route"] == "/orders/{id}"
    assert attrs["http.response.status_code"] == 201
    assert attrs["server.address"] == "api.example.com"
    assert attrs["server.port"] == 8443
    assert attrs["client.address"] == "203.0.113.7"
    assert attrs["user_agent.original"] == "pytest-client/1.0"
    assert attrs["network.protocol.version"] == "1.1"
    assert "error.type" not in attrs
    assert span.resource.attributes["service.name"] == "orders"
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == "bastion"


async def test_span_without_route_is_named_by_method_only(
    telemetry: Telemetry, exporter: InMemorySpanExporter
) -> None:
    app = TracingMiddleware(responder(404, route=None), telemetry)
    await call(app, http_scope("GET", "/nowhere"))

    span = only_span(exporter)
    assert span.name == "GET"
    assert "http.route" not in (span.attributes or {})
    assert span.status.status_code is StatusCode.UNSET  # 4xx is not a server error


async def test_unknown_method_is_recorded_as_other(
    telemetry: Telemetry, exporter: InMemorySpanExporter
) -> None:
    app = TracingMiddleware(responder(405, route=None), telemetry)
    await call(app, http_scope("BREW", "/pot"))

    span = only_span(exporter)
    assert span.name == "HTTP"
    assert span.attributes is not None
    assert span.attributes["http.request.method"] == "_OTHER"
    assert span.attributes["http.request.method_original"] == "BREW"


async def test_incoming_traceparent_is_continued(
    telemetry: Telemetry, exporter: InMemorySpanExporter
) -> None:
    seen: dict[str, Any] = {}

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen["context"] = trace.get_current_span().get_span_context()
        await responder()(scope, receive, send)

    app = TracingMiddleware(inner, telemetry)
    tp = f"00-{TRACE_ID}-{PARENT_ID}-01".encode()
    await call(app, http_scope(headers=[(b"traceparent", tp), (b"tracestate", b"vendor=abc")]))

    span = only_span(exporter)
    assert span.parent is not None
    assert span.parent.is_remote
    assert f"{span.parent.span_id:016x}" == PARENT_ID
    assert f"{span.context.trace_id:032x}" == TRACE_ID
    assert span.context.span_id != span.parent.span_id
    assert span.context.trace_state.get("vendor") == "abc"
    # The handler ran inside the server span.
    assert seen["context"].span_id == span.context.span_id


async def test_under_another_runtime_context_the_span_goes_through_the_api(
    telemetry: Telemetry, exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With a runtime context other than the default ContextVar (OTEL_PYTHON_CONTEXT), the
    # observer uses attach/detach, not the variable (bastion.otel._sdk).
    from opentelemetry import context as api

    from bastion.otel import _tracing

    monkeypatch.setattr(_tracing, "runtime_context_var", lambda: None)
    seen: dict[str, Any] = {}

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen["context"] = trace.get_current_span().get_span_context()
        await responder()(scope, receive, send)

    app = TracingMiddleware(inner, telemetry)
    assert app.tracing is not None
    assert (app.tracing.attach, app.tracing.detach) == (api.attach, api.detach)
    before = api.get_current()
    await call(app, http_scope())
    span = only_span(exporter)
    assert seen["context"] == span.context
    assert api.get_current() is before


async def test_a_failed_context_reset_falls_back_to_the_api_and_the_request_goes_on(
    telemetry: Telemetry, exporter: InMemorySpanExporter
) -> None:
    from opentelemetry import context as api

    app = TracingMiddleware(responder(), telemetry)
    assert app.tracing is not None

    def reset(token: object) -> None:
        raise ValueError("token was created in a different Context")

    app.tracing.detach = reset
    before = api.get_current()
    sent = await call(app, http_scope())
    assert sent[0]["status"] == 200
    assert only_span(exporter).name == "GET /orders/{id}"  # the span still ended
    assert api.get_current() is before  # restored by the API's detach
    (point,) = number_points(telemetry.metrics.metrics(), "http.server.active_requests")
    assert point.value == 0  # and the request left the in-flight count


async def test_a_custom_id_generator_draws_the_ids_and_they_are_checked(
    telemetry: Telemetry, exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry.sdk.trace.id_generator import IdGenerator

    class Fixed(IdGenerator):
        def generate_span_id(self) -> int:
            return 0x1234

        def generate_trace_id(self) -> int:
            return 0xABCD

    monkeypatch.setattr(telemetry.tracer_provider, "id_generator", Fixed())
    app = TracingMiddleware(responder(), telemetry)
    await call(app, http_scope())
    span = only_span(exporter)
    assert (span.context.trace_id, span.context.span_id) == (0xABCD, 0x1234)
    assert span.context.is_valid and not span.context.trace_flags.random_trace_id


async def test_unsampled_parent_is_respected_but_ids_still_flow(
    telemetry: Telemetry, exporter: InMemorySpanExporter
) -> None:
    seen: dict[str, Any] = {}

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        current = trace.get_current_span()
        seen["recording"] = current.is_recording()
        seen["trace_id"] = f"{current.get_span_context().trace_id:032x}"
        await responder()(scope, receive, send)

    app = TracingMiddleware(inner, telemetry)
    tp = f"00-{TRACE_ID}-{PARENT_ID}-00".encode()
    await call(app, http_scope(headers=[(b"traceparent", tp)]))

    assert exporter.get_finished_spans() == ()
    assert seen == {"recording": False, "trace_id": TRACE_ID}


@pytest.mark.parametrize(
    "header",
    [
        f"00-{TRACE_ID}-{PARENT_ID}-01-extra",  # version 00 has exactly four fields
        f"ff-{TRACE_ID}-{PARENT_ID}-01",  # forbidden version
        f"00-{'0' * 32}-{PARENT_ID}-01",  # zero trace id
        f"00-{TRACE_ID}-{'0' * 16}-01",  # zero span id
        f"00-{TRACE_ID.upper()}-{PARENT_ID}-01",  # upper case hex is invalid
        f"00-{TRACE_ID[:-1]}_-{PARENT_ID}-01",  # int() would accept "_"
        "garbage",
    ],
)
def test_invalid_traceparent_is_ignored(header: str) -> None:
    assert parse_traceparent(header) is None


def test_traceparent_of_a_future_version_keeps_known_fields() -> None:
    parsed = parse_traceparent(f" 01-{TRACE_ID}-{PARENT_ID}-03-more\t")
    assert parsed is not None
    assert f"{parsed.trace_id:032x}" == TRACE_ID
    assert parsed.trace_flags.sampled


async def test_exception_raised_by_app_is_recorded_and_reraised(
    telemetry: Telemetry, exporter: InMemorySpanExporter
) -> None:
    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        scope["bastion.route"] = "/orders/{id}"
        raise LookupError("order table unreachable")

    app = TracingMiddleware(inner, telemetry)
    with pytest.raises(LookupError):
        await call(app, http_scope())

    span = only_span(exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "LookupError: order table unreachable"
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 500
    assert span.attributes["error.type"] == "LookupError"
    (event,) = span.events
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "LookupError"
    assert event.attributes["exception.message"] == "order table unreachable"
    assert "raise LookupError" in str(event.attributes["exception.stacktrace"])


async def test_exception_handled_by_router_is_recorded(
    telemetry: Telemetry, exporter: InMemorySpanExporter
) -> None:
    class PaymentGatewayDownError(RuntimeError):
        pass

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        scope["bastion.route"] = "/orders/{id}"
        try:
            raise PaymentGatewayDownError("timeout talking to gateway")
        except PaymentGatewayDownError as exc:
            scope["bastion.exception"] = exc
        await send({"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": b'{"id":"x"}'})

    app = TracingMiddleware(inner, telemetry)
    messages = await call(app, http_scope())

    assert messages[0]["status"] == 500
    span = only_span(exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == "500"
    (event,) = span.events
    assert event.attributes is not None
    assert str(event.attributes["exception.type"]).endswith("PaymentGatewayDownError")
    assert event.attributes["exception.message"] == "timeout talking to gateway"


async def test_5xx_response_marks_the_span_failed(
    telemetry: Telemetry, exporter: InMemorySpanExporter
) -> None:
    app = TracingMiddleware(responder(503), telemetry)
    await call(app, http_scope())

    span = only_span(exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.events == ()
    assert span.attributes is not None
    assert span.attributes["error.type"] == "503"


@pytest.mark.parametrize("path", ["/livez", "/readyz", "/healthz"])
async def test_probe_paths_are_not_traced_or_measured(
    telemetry: Telemetry, exporter: InMemorySpanExporter, path: str
) -> None:
    app = TracingMiddleware(responder(200, route=path), telemetry)
    messages = await call(app, http_scope("GET", path))

    assert messages[0]["status"] == 200
    assert exporter.get_finished_spans() == ()
    assert telemetry.metrics.metrics() == []


async def test_exclude_paths_can_be_replaced(
    telemetry: Telemetry, exporter: InMemorySpanExporter
) -> None:
    app = TracingMiddleware(responder(200, route="/livez"), telemetry, exclude_paths={"/internal"})
    await call(app, http_scope("GET", "/livez"))
    await call(app, http_scope("GET", "/internal"))

    assert [s.name for s in exporter.get_finished_spans()] == ["GET /livez"]


async def test_credential_query_parameters_are_scrubbed(
    telemetry: Telemetry, exporter: InMemorySpanExporter
) -> None:
    app = TracingMiddleware(responder(), telemetry, credential_params=["X-Session"])
    query = b"access_token=tok-s3cr3t&page=2&API_KEY=key-s3cr3t&x-session=sess-s3cr3t&password=pw"
    await call(app, http_scope(query=query))

    span = only_span(exporter)
    assert span.attributes is not None
    assert span.attributes["url.query"] == (
        "access_token=REDACTED&page=2&API_KEY=REDACTED&x-session=REDACTED&password=REDACTED"
    )
    dump = span.to_json()
    for secret in ("tok-s3cr3t", "key-s3cr3t", "sess-s3cr3t"):
        assert secret not in dump


async def test_user_spans_and_metrics_inside_handler_reach_this_app(
    exporter: InMemorySpanExporter,
) -> None:
    reader = InMemoryMetricReader()
    telemetry = configure(
        "orders",
        "1",
        env={},
        span_exporter=exporter,
        sampler=ParentBasedSampler(ALWAYS_ON),
        metric_readers=[reader],
    )
    # Obtained like user modules do, through the API globals only.
    tracer = trace.get_tracer("orders.service")
    created = metrics.get_meter("orders.service").create_counter("orders.created")

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        scope["bastion.route"] = "/orders"
        with tracer.start_as_current_span("db.insert") as span:
            span.set_attribute("db.system", "postgresql")
            created.add(1, {"order.type": "retail"})
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    try:
        await call(TracingMiddleware(inner, telemetry), http_scope("POST", "/orders"))
        child, server = exporter.get_finished_spans()
        assert child.name == "db.insert"
        assert server.name == "POST /orders"
        assert child.parent is not None
        assert child.parent.span_id == server.context.span_id
        assert child.context.trace_id == server.context.trace_id
        data = reader.get_metrics_data()
        assert data is not None
        points = {
            m.name: m.data.data_points
            for rm in data.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
        }
        (point,) = points["orders.created"]
        assert point.attributes == {"order.type": "retail"}
        assert point.value == 1  # type: ignore[union-attr]
        assert "http.server.request.duration" in points
    finally:
        telemetry.shutdown()


async def test_two_apps_in_one_process_do_not_share_spans() -> None:
    exporter_a, exporter_b = InMemorySpanExporter(), InMemorySpanExporter()
    a = configure("a", "1", env={}, span_exporter=exporter_a, sampler=ParentBasedSampler(ALWAYS_ON))
    b = configure("b", "1", env={}, span_exporter=exporter_b, sampler=ParentBasedSampler(ALWAYS_ON))
    tracer = trace.get_tracer("shared.module")

    def handler(route: str) -> ASGIApp:
        async def inner(scope: Scope, receive: Receive, send: Send) -> None:
            with tracer.start_as_current_span("work"):
                pass
            await responder(route=route)(scope, receive, send)

        return inner

    try:
        await call(TracingMiddleware(handler("/a"), a), http_scope(path="/a"))
        await call(TracingMiddleware(handler("/b"), b), http_scope(path="/b"))
        assert [s.name for s in exporter_a.get_finished_spans()] == ["work", "GET /a"]
        assert [s.name for s in exporter_b.get_finished_spans()] == ["work", "GET /b"]
        assert {s.resource.attributes["service.name"] for s in exporter_a.get_finished_spans()} == {
            "a"
        }
    finally:
        a.shutdown()
        b.shutdown()


async def test_user_can_enrich_the_server_span(
    telemetry: Telemetry, exporter: InMemorySpanExporter
) -> None:
    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        span = trace.get_current_span()
        span.set_attribute("order.id", "42")
        span.add_event("validated", {"fields": 3})
        await responder()(scope, receive, send)

    await call(TracingMiddleware(inner, telemetry), http_scope())

    span = only_span(exporter)
    assert span.attributes is not None
    assert span.attributes["order.id"] == "42"
    assert span.attributes["http.route"] == "/orders/{id}"
    assert [e.name for e in span.events] == ["validated"]


async def test_request_metrics_are_recorded_per_route_and_status(telemetry: Telemetry) -> None:
    app = TracingMiddleware(responder(200, body=b"x" * 300), telemetry)

    async def chunked(scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()  # no content-length: the middleware counts what is read
        assert message["body"] == b"y" * 70
        await responder(202, body=b"")(scope, receive, send)

    await call(app, http_scope("GET", "/orders/1"))
    await call(app, http_scope("GET", "/orders/2"))
    await call(TracingMiddleware(chunked, telemetry),
               http_scope("POST", "/orders/3", headers=[(b"transfer-encoding", b"chunked")]),
               b"y" * 70)

    collected = telemetry.metrics.metrics()
    counts = {
        (attr(p, "http.request.method"), attr(p, "http.response.status_code")): p.count
        for p in histogram_points(collected, "http.server.request.duration")
    }
    assert counts == {("GET", 200): 2, ("POST", 202): 1}
    sizes = {
        attr(p, "http.request.method"): p.sum
        for p in histogram_points(collected, "http.server.response.body.size")
    }
    assert sizes == {"GET": 600, "POST": 0}
    requests = {
        attr(p, "http.request.method"): p.sum
        for p in histogram_points(collected, "http.server.request.body.size")
    }
    assert requests == {"GET": 0, "POST": 70}
    active = number_points(collected, "http.server.active_requests")
    assert {p.value for p in active} == {0}


async def test_a_body_without_content_length_is_counted_when_it_can_exist(
    telemetry: Telemetry,
) -> None:
    # HTTP/1 without Content-Length or Transfer-Encoding has no body: nothing to count. A
    # chunked body, or an HTTP/2 one without Content-Length, is counted as the app reads it.
    async def reader(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await responder(202, body=b"")(scope, receive, send)

    app = TracingMiddleware(reader, telemetry)
    h2 = http_scope("POST", "/h2")
    h2["http_version"] = "2"
    await call(app, h2, b"z" * 30)
    await call(app, http_scope("POST", "/chunked",
                               headers=[(b"transfer-encoding", b"chunked")]), b"z" * 20)
    await call(app, http_scope("POST", "/sized", headers=[(b"content-length", b"5")]), b"z" * 5)
    points = histogram_points(telemetry.metrics.metrics(), "http.server.request.body.size")
    assert sorted((attr(p, "network.protocol.version"), p.count, p.sum) for p in points) == [
        ("1.1", 2, 25), ("2", 1, 30)]


async def test_active_requests_count_in_flight_requests(telemetry: Telemetry) -> None:
    seen: list[float] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        (active,) = number_points(telemetry.metrics.metrics(), "http.server.active_requests")
        seen.append(active.value)
        await responder()(scope, receive, send)

    await call(TracingMiddleware(inner, telemetry), http_scope())
    assert seen == [1]


async def test_non_http_scopes_pass_through(
    telemetry: Telemetry, exporter: InMemorySpanExporter
) -> None:
    called: list[str] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        called.append(scope["type"])

    app = TracingMiddleware(inner, telemetry)
    await app({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    await app({"type": "websocket", "path": "/ws", "headers": []}, None, None)  # type: ignore[arg-type]
    assert called == ["lifespan", "websocket"]
    assert exporter.get_finished_spans() == ()


async def test_disabled_sdk_passes_requests_through(exporter: InMemorySpanExporter) -> None:
    telemetry = configure("orders", "1", env={"OTEL_SDK_DISABLED": "true"}, span_exporter=exporter)
    try:
        messages = await call(TracingMiddleware(responder(), telemetry), http_scope())
        assert messages[0]["status"] == 200
        assert exporter.get_finished_spans() == ()
        assert telemetry.metrics.metrics() == []
    finally:
        telemetry.shutdown()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.test/a?page=2", "https://api.test/a?page=2"),
        ("https://api.test/a?Token=t1&page=2#top", "https://api.test/a?Token=REDACTED&page=2#top"),
        ("https://bob:hunter2@api.test:8443/a", "https://REDACTED:REDACTED@api.test:8443/a"),
        ("https://api.test/a?key=&x", "https://api.test/a?key=REDACTED&x"),
        ("http://[::1", "REDACTED"),  # unparsable: never echoed
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_query_keeps_unrelated_text_untouched() -> None:
    query = "q=a%20b&tokenizer=x&shard=s1"
    assert redact_query(query) is query
    assert redact_query(query, redactor_with(["SHARD"])) == (
        "q=a%20b&tokenizer=x&shard=REDACTED"
    )


# -- design errors on the server span -------------------------------------------------------


def _failing_app(telemetry: Telemetry) -> ASGIApp:
    import bastion
    from bastion.dsl import (
        API,
        GET,
        HTTP,
        Attribute,
        Error,
        Method,
        Param,
        Payload,
        Response,
        Service,
        StatusConflict,
        StatusNotFound,
        String,
    )

    with API("shop") as api:
        pass
    with Service("items"):
        Error("not_found")
        Error("conflict")
        Error("broken", fault=True)
        with Method("fail"):
            with Payload():
                Attribute("how", String)
            with HTTP():
                GET("/fail")
                Param("how")
                Response("not_found", StatusNotFound)
                Response("conflict", StatusConflict)

    class Items:
        async def fail(self, p: Any) -> None:
            if p.how == "fine":
                return
            raise bastion.make_error(p.how, f"failed with {p.how}")

    return bastion.App(api, {"items": Items()}, telemetry=telemetry,
                       observe=bastion.Observe(request_log=False), docs=False)


@pytest.mark.parametrize(
    ("how", "status", "failed"),
    [("not_found", 404, False), ("conflict", 409, False), ("broken", 500, True)],
)
async def test_a_design_error_is_recorded_on_the_span_whatever_its_status(
    telemetry: Telemetry, exporter: InMemorySpanExporter, how: str, status: int, failed: bool
) -> None:
    from bastion.testing import TestClient

    async with TestClient(_failing_app(telemetry)) as client:
        response = await client.get("/fail", params={"how": how})
    assert response.status_code == status
    span = only_span(exporter)
    assert span.attributes is not None
    assert span.attributes["error.type"] == how
    assert span.attributes["http.response.status_code"] == status
    (event,) = span.events
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.message"] == f"failed with {how}"
    # A 4xx is the client's error: the server span is not marked failed (HTTP conventions).
    expected = StatusCode.ERROR if failed else StatusCode.UNSET
    assert span.status.status_code is expected
    if failed:
        assert span.status.description == f"broken: failed with {how}"


async def test_a_successful_call_records_no_error(
    telemetry: Telemetry, exporter: InMemorySpanExporter
) -> None:
    from bastion.testing import TestClient

    async with TestClient(_failing_app(telemetry)) as client:
        response = await client.get("/fail", params={"how": "fine"})
    assert response.status_code == 204
    span = only_span(exporter)
    assert span.attributes is not None
    assert "error.type" not in span.attributes
    assert not span.events
    assert span.status.status_code is StatusCode.UNSET


async def test_span_processors_see_the_open_span_and_export_an_sdk_readable_span(
    exporter: InMemorySpanExporter,
) -> None:
    from opentelemetry.sdk.trace import SpanProcessor

    seen: dict[str, Any] = {}

    class Enricher(SpanProcessor):
        def on_start(self, span: Any, parent_context: Any = None) -> None:
            seen["name"], seen["kind"] = span.name, span.kind
            seen["method"] = span.attributes["http.request.method"]
            span.set_attribute("tenant", "acme")  # a common processor pattern

        def on_end(self, span: ReadableSpan) -> None:
            seen["ended"] = span

    t = configure("orders", "1", env={}, span_exporter=exporter,
                  sampler=ParentBasedSampler(ALWAYS_ON), span_processors=[Enricher()])
    try:
        await call(TracingMiddleware(responder(200), t), http_scope("GET", "/orders/1"))
    finally:
        t.shutdown()
    assert (seen["name"], seen["kind"], seen["method"]) == ("GET", SpanKind.SERVER, "GET")
    span = only_span(exporter)
    assert type(span) is ReadableSpan
    assert seen["ended"] is span
    assert span.attributes is not None
    assert span.attributes["tenant"] == "acme"
    assert span.end_time is not None
    assert span.start_time is not None
    assert span.end_time >= span.start_time
    exported = json.loads(span.to_json())
    assert exported["name"] == "GET /orders/{id}"
    assert exported["attributes"]["http.route"] == "/orders/{id}"
