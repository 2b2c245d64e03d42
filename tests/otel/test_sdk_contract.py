"""The contract between Bastion and the OpenTelemetry SDK versions pyproject.toml allows.

`.ci/otel-contract` runs this file alone against the oldest and the newest SDK of the
pinned range (each in a throwaway virtualenv); the whole suite runs it against the
installed one. It covers the one private hook (`bastion.otel._sdk`) and the public
behaviours Bastion builds on where versions could differ: the `ReadableSpan`
constructor, the API's set-once globals, and a traced request end to end.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import version
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    InMemoryMetricReader,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode

from bastion.otel._sdk import (
    SPAN_KEY,
    extend_collections,
    local_span_context,
    runtime_context_var,
)
from bastion.otel._telemetry import configure


def _metric_names(data: MetricsData | None) -> set[str]:
    return {
        m.name
        for rm in (data.resource_metrics if data else ())
        for sm in rm.scope_metrics
        for m in sm.metrics
    }


def test_the_installed_sdk_is_the_one_under_test() -> None:
    expected = os.environ.get("BASTION_OTEL_CONTRACT_VERSION")
    if expected is not None:  # set by .ci/otel-contract
        assert version("opentelemetry-sdk") == expected


def test_extend_collections_sees_and_replaces_every_collection_of_a_reader() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    provider.get_meter("contract").create_counter("contract.calls").add(3)
    seen: list[set[str]] = []

    def extra(data: MetricsData | None) -> MetricsData | None:
        seen.append(_metric_names(data))
        return MetricsData(resource_metrics=[]) if len(seen) == 2 else data

    extend_collections(reader, extra)
    first = reader.get_metrics_data()
    second = reader.get_metrics_data()
    provider.shutdown()
    assert seen == [{"contract.calls"}, {"contract.calls"}]
    assert _metric_names(first) == {"contract.calls"}
    assert second is not None
    assert list(second.resource_metrics) == []


def test_extend_collections_reaches_what_a_periodic_reader_exports() -> None:
    exported: list[MetricsData] = []

    class Keep(MetricExporter):
        def export(
            self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
        ) -> MetricExportResult:
            exported.append(metrics_data)
            return MetricExportResult.SUCCESS

        def force_flush(self, timeout_millis: float = 10_000) -> bool:
            return True

        def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
            pass

    reader = PeriodicExportingMetricReader(Keep(), export_interval_millis=3_600_000)
    provider = MeterProvider(metric_readers=[reader])
    provider.get_meter("contract").create_counter("contract.calls").add(1)
    marks: list[int] = []
    extend_collections(reader, lambda data: marks.append(1) or data)  # type: ignore[func-returns-value]
    provider.force_flush()
    provider.shutdown()
    assert marks
    assert any("contract.calls" in _metric_names(d) for d in exported)


def test_extend_collections_refuses_an_unregistered_reader() -> None:
    with pytest.raises(RuntimeError, match="register it with a MeterProvider"):
        extend_collections(InMemoryMetricReader(), lambda data: data)


def test_the_span_key_is_where_the_api_keeps_and_finds_the_current_span() -> None:
    from opentelemetry.context import Context
    from opentelemetry.trace import NonRecordingSpan, get_current_span, set_span_in_context

    span = NonRecordingSpan(SpanContext(1, 2, is_remote=False))
    assert set_span_in_context(span, Context()) == {SPAN_KEY: span}
    assert get_current_span(Context({SPAN_KEY: span})) is span


def test_the_runtime_context_var_is_what_attach_and_get_current_use() -> None:
    from opentelemetry import context as api

    var = runtime_context_var()
    assert var is not None  # the default runtime context
    mine = api.Context({"contract": 1})
    token = api.attach(mine)
    try:
        assert var.get() is mine
        inner = var.set(api.Context({"contract": 2}))
        assert api.get_current() == {"contract": 2}
        var.reset(inner)
        assert api.get_current() is mine
    finally:
        api.detach(token)
    assert api.get_current() is not mine


def test_a_local_span_context_is_the_one_the_constructor_makes() -> None:
    from opentelemetry.trace import DEFAULT_TRACE_STATE, TraceFlags, TraceState

    for flags, state in ((TraceFlags(0), DEFAULT_TRACE_STATE),
                         (TraceFlags(1), TraceState([("k", "v")]))):
        made = local_span_context(2**128 - 1, 2**64 - 1, flags, state)
        built = SpanContext(2**128 - 1, 2**64 - 1, is_remote=False, trace_flags=flags,
                            trace_state=state)
        assert made == built
        assert type(made) is SpanContext
        assert (made.trace_id, made.span_id, made.is_remote, made.trace_flags,
                made.trace_state, made.is_valid) == (
            built.trace_id, built.span_id, False, flags, state, True)


def test_readable_span_is_built_from_its_public_constructor() -> None:
    context = SpanContext(1, 2, is_remote=False)
    span = ReadableSpan(
        name="GET /x",
        context=context,
        parent=None,
        resource=Resource({"service.name": "contract"}),
        attributes={"http.route": "/x"},
        events=(),
        links=(),
        kind=SpanKind.SERVER,
        status=Status(StatusCode.ERROR, "boom"),
        start_time=10,
        end_time=20,
    )
    assert (span.name, span.context, span.kind, span.start_time, span.end_time) == (
        "GET /x",
        context,
        SpanKind.SERVER,
        10,
        20,
    )
    assert dict(span.attributes or {}) == {"http.route": "/x"}
    assert span.status.status_code is StatusCode.ERROR
    assert json.loads(span.to_json())["name"] == "GET /x"


def test_a_traced_request_and_its_metrics_with_this_sdk() -> None:
    from bastion.otel._tracing import TracingMiddleware

    exporter = InMemorySpanExporter()
    telemetry = configure("contract", "1", env={}, span_exporter=exporter, sampler=ALWAYS_ON)

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        scope["bastion.route"] = "/items/{id}"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        pass

    scope = {"type": "http", "method": "GET", "path": "/items/1", "headers": [],
             "query_string": b"", "http_version": "1.1", "scheme": "http"}
    try:
        asyncio.run(TracingMiddleware(inner, telemetry)(scope, receive, send))
        (span,) = exporter.get_finished_spans()
        assert span.name == "GET /items/{id}"
        assert telemetry.prometheus is not None
        text = telemetry.prometheus.render().decode()
        assert 'http_server_request_duration_seconds_count{' in text
        assert 'http_route="/items/{id}"' in text
    finally:
        telemetry.shutdown()


_GLOBALS = textwrap.dedent(
    """
    import json, sys
    from opentelemetry import _logs, metrics, propagate, trace
    from opentelemetry.sdk.metrics import MeterProvider
    if sys.argv[1] == "foreign":
        foreign = MeterProvider()
        metrics.set_meter_provider(foreign)
    from bastion.otel import _global
    router = _global.install()
    print(json.dumps({
        "router": router is not None,
        "tracer": type(trace.get_tracer_provider()).__name__,
        "meter": type(metrics.get_meter_provider()).__name__,
        "logger": type(_logs.get_logger_provider()).__name__,
        "propagator": type(propagate.get_global_textmap()).__name__,
    }))
    """
)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("fresh", ("RoutingTracerProvider", "RoutingMeterProvider", "RoutingLoggerProvider")),
        ("foreign", ("RoutingTracerProvider", "MeterProvider", "RoutingLoggerProvider")),
    ],
)
def test_routing_globals_install_through_the_public_set_once_api(
    case: str, expected: tuple[str, str, str]
) -> None:
    # A fresh interpreter: the API's globals can be set once per process.
    done = subprocess.run(
        [sys.executable, "-c", _GLOBALS, case],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["router"] is True
    assert (result["tracer"], result["meter"], result["logger"]) == expected
    assert result["propagator"] == "RoutingPropagator"
