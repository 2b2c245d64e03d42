"""otel.configure: resource, exporters and sampler from OTEL_* variables, API globals routing."""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Iterable

import pytest
from opentelemetry import _logs, metrics, propagate, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, TraceIdRatioBased

from bastion.errors import ConfigError
from bastion.otel._prometheus import PrometheusReader
from bastion.otel._sampler import AdaptiveSampler, ParentBasedSampler
from bastion.otel._telemetry import Telemetry, configure


def span_names(exporter: InMemorySpanExporter) -> list[str]:
    return [s.name for s in exporter.get_finished_spans()]


def test_resource_names_the_service_version_environment_and_host() -> None:
    t = configure("orders", "1.4.0", environment="staging", env={})
    try:
        attrs = t.resource.attributes
        assert attrs["service.name"] == "orders"
        assert attrs["service.version"] == "1.4.0"
        assert attrs["deployment.environment"] == "staging"
        assert attrs["deployment.environment.name"] == "staging"
        assert attrs["host.name"]
        assert attrs["telemetry.sdk.language"] == "python"
    finally:
        t.shutdown()


def test_otel_service_name_and_resource_attributes_from_env() -> None:
    env = {
        "OTEL_SERVICE_NAME": "orders-eu",
        "OTEL_RESOURCE_ATTRIBUTES": "team=payments,deployment.environment=prod,note=a%20b",
    }
    t = configure("orders", "1.0", env=env)
    try:
        attrs = t.resource.attributes
        assert attrs["service.name"] == "orders-eu"  # the operator's override wins
        assert attrs["team"] == "payments"
        assert attrs["note"] == "a b"
        assert attrs["deployment.environment.name"] == "prod"
    finally:
        t.shutdown()


def test_no_endpoint_means_no_exporter() -> None:
    t = configure("orders", "1.0", env={})
    try:
        assert t.span_processors == ()
        assert isinstance(t.prometheus, PrometheusReader)
        assert list(t.metric_readers) == [t.prometheus.reader]
        assert not t.logs_exported
    finally:
        t.shutdown()


def test_endpoint_selects_otlp_http_exporters_with_signal_paths() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1/",
        "OTEL_METRIC_EXPORT_INTERVAL": "3600000",
    }
    t = configure("orders", "1.0", env=env)
    try:
        (processor,) = t.span_processors
        assert isinstance(processor, BatchSpanProcessor)
        exporter = processor.span_exporter
        assert type(exporter).__module__.endswith("http.trace_exporter")
        assert any(isinstance(r, PeriodicExportingMetricReader) for r in t.metric_readers)
        assert t.logs_exported
    finally:
        t.shutdown(timeout_millis=1000)


def test_grpc_protocol_and_signal_endpoint_and_console() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:1",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
    }
    t = configure("orders", "1.0", env=env)
    try:
        (processor,) = t.span_processors
        assert type(processor.span_exporter).__module__.endswith("grpc.trace_exporter")  # type: ignore[attr-defined]
        assert t.prometheus is not None
        assert list(t.metric_readers) == [t.prometheus.reader]
    finally:
        t.shutdown(timeout_millis=1000)


def test_every_bad_variable_is_listed_in_one_error() -> None:
    env = {
        "OTEL_TRACES_SAMPLER": "sometimes",
        "OTEL_TRACES_EXPORTER": "zipkin",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1",
        "OTEL_METRIC_EXPORT_INTERVAL": "soon",
        "OTEL_PROPAGATORS": "tracecontext,nonesuch",
        "OTEL_EXPORTER_OTLP_HEADERS": "authorization-Bearer-s3cr3t",
    }
    with pytest.raises(ConfigError) as info:
        configure("orders", "1.0", env=env)
    text = str(info.value)
    for name in (
        "OTEL_TRACES_SAMPLER",
        "OTEL_TRACES_EXPORTER",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_METRIC_EXPORT_INTERVAL",
        "OTEL_PROPAGATORS",
        "OTEL_EXPORTER_OTLP_HEADERS",
    ):
        assert name in text
    assert "s3cr3t" not in text  # header values carry credentials: never echoed


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, (ParentBasedSampler, AdaptiveSampler, 2.0)),
        ({"OTEL_TRACES_SAMPLER_ARG": "5"}, (ParentBasedSampler, AdaptiveSampler, 5.0)),
        (
            {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"},
            (ParentBasedSampler, TraceIdRatioBased, 0.25),
        ),
    ],
)
def test_sampler_from_env(env: dict[str, str], expected: tuple[type, type, float]) -> None:
    t = configure("orders", "1.0", env=env)
    try:
        outer, root_type, value = expected
        assert isinstance(t.sampler, outer)
        root = t.sampler.root  # type: ignore[attr-defined]
        assert isinstance(root, root_type)
        if isinstance(root, AdaptiveSampler):
            assert root.max_per_second == value
        else:
            assert root.rate == value  # type: ignore[attr-defined]
    finally:
        t.shutdown()


def test_bad_sampler_argument_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="OTEL_TRACES_SAMPLER_ARG"):
        configure("orders", "1.0", env={"OTEL_TRACES_SAMPLER_ARG": "-1"})


def test_w3c_propagators_are_installed_globally() -> None:
    t = configure("orders", "1.0", env={})
    try:
        assert propagate.get_global_textmap().fields == {"traceparent", "tracestate", "baggage"}
    finally:
        t.shutdown()


def test_each_app_keeps_its_own_propagators() -> None:
    # Configuring b used to replace the global propagator: a then injected b's headers.
    a = configure("a", "1", env={"OTEL_PROPAGATORS": "tracecontext"}, sampler=ALWAYS_ON)
    b = configure("b", "1", env={"OTEL_PROPAGATORS": "baggage"}, sampler=ALWAYS_ON)
    try:
        for telemetry, expected in ((a, {"traceparent"}), (b, set())):
            headers: dict[str, str] = {}
            with telemetry.activate(), telemetry.tracer.start_as_current_span("call"):
                propagate.inject(headers)
            assert set(headers) == expected, telemetry
            with telemetry.activate():
                assert propagate.get_global_textmap().fields == telemetry.propagator.fields
        incoming = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
        with a.activate():
            parent = trace.get_current_span(propagate.extract(incoming)).get_span_context()
            assert parent.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
        with b.activate():
            ignored = trace.get_current_span(propagate.extract(incoming)).get_span_context()
            assert not ignored.is_valid
    finally:
        a.shutdown()
        b.shutdown()


def test_the_global_tracer_decorates_functions_and_coroutines_lazily() -> None:
    tracer = trace.get_tracer("orders.jobs")

    # Decorated before any app exists, as module-level code does.
    @tracer.start_as_current_span("sync-job")
    def sync_job() -> int:
        return trace.get_current_span().get_span_context().span_id

    @tracer.start_as_current_span("async-job")
    async def async_job() -> int:
        await asyncio.sleep(0)
        return trace.get_current_span().get_span_context().span_id

    exporter = InMemorySpanExporter()
    t = configure("jobs", "1", env={}, span_exporter=exporter, sampler=ALWAYS_ON)
    try:
        with t.activate():
            inside_sync = sync_job()
            inside_async = asyncio.run(async_job())
        spans = {s.name: s for s in exporter.get_finished_spans()}
        assert set(spans) == {"sync-job", "async-job"}
        assert spans["sync-job"].context.span_id == inside_sync  # type: ignore[union-attr]
        # The span covers the awaited body, not just the creation of the coroutine.
        assert spans["async-job"].context.span_id == inside_async  # type: ignore[union-attr]
    finally:
        t.shutdown()


def test_configuring_many_times_warns_nowhere(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        telemetries = [configure(f"svc{i}", "1", env={}) for i in range(5)]
        for t in telemetries:
            t.shutdown()
            t.shutdown()  # idempotent
    overriding = [r for r in caplog.records if "Overriding" in r.getMessage()]
    assert overriding == []
    assert all(t.is_shutdown for t in telemetries)


def test_global_tracer_outside_requests_reaches_the_latest_live_telemetry() -> None:
    first, second = InMemorySpanExporter(), InMemorySpanExporter()
    a = configure("a", "1", env={}, span_exporter=first, sampler=ALWAYS_ON)
    b = configure("b", "1", env={}, span_exporter=second, sampler=ALWAYS_ON)
    tracer = trace.get_tracer("background.job")
    try:
        with tracer.start_as_current_span("tick-1"):
            pass
        b.shutdown()
        with tracer.start_as_current_span("tick-2"):
            pass
        with b.activate(), tracer.start_as_current_span("ignored-after-shutdown"):
            pass
        assert span_names(second) == ["tick-1"]
        assert span_names(first) == ["tick-2"]
    finally:
        a.shutdown()
        b.shutdown()


def test_activate_pins_global_calls_to_one_telemetry() -> None:
    first, second = InMemorySpanExporter(), InMemorySpanExporter()
    a = configure("a", "1", env={}, span_exporter=first, sampler=ALWAYS_ON)
    b = configure("b", "1", env={}, span_exporter=second, sampler=ALWAYS_ON)
    try:
        with a.activate(), trace.get_tracer("worker").start_as_current_span("job"):
            pass
        assert span_names(first) == ["job"]
        assert span_names(second) == []
    finally:
        a.shutdown()
        b.shutdown()


def test_global_observable_instruments_reach_every_live_telemetry() -> None:
    readers = [InMemoryMetricReader(), InMemoryMetricReader()]
    a = configure("a", "1", env={}, metric_readers=[readers[0]])

    def queue_depth(options: CallbackOptions) -> Iterable[Observation]:
        yield Observation(7, {"queue": "emails"})

    metrics.get_meter("jobs").create_observable_gauge("jobs.queue.depth", [queue_depth])
    b = configure("b", "1", env={}, metric_readers=[readers[1]])  # configured afterwards
    try:
        for reader in readers:
            data = reader.get_metrics_data()
            assert data is not None
            values = [
                p.value  # type: ignore[union-attr]
                for rm in data.resource_metrics
                for sm in rm.scope_metrics
                for m in sm.metrics
                if m.name == "jobs.queue.depth"
                for p in m.data.data_points
            ]
            assert values == [7]
    finally:
        a.shutdown()
        b.shutdown()


def test_global_otel_logger_routes_to_the_telemetry() -> None:
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    t = configure("orders", "1", env={})
    t.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    try:
        _logs.get_logger("orders.audit").emit(body="order shipped")
        (record,) = exporter.get_finished_logs()
        assert record.log_record.body == "order shipped"
        assert record.resource.attributes["service.name"] == "orders"
    finally:
        t.shutdown()


def test_force_flush_exports_buffered_spans() -> None:
    exporter = InMemorySpanExporter()
    t = configure(
        "orders",
        "1",
        env={},
        sampler=ALWAYS_ON,
        span_processors=[BatchSpanProcessor(exporter, schedule_delay_millis=60_000)],
    )
    try:
        with t.tracer.start_as_current_span("buffered"):
            pass
        assert span_names(exporter) == []
        assert t.force_flush()
        assert span_names(exporter) == ["buffered"]
    finally:
        t.shutdown()


def test_shutdown_flushes_exporters() -> None:
    exporter = InMemorySpanExporter()
    t: Telemetry = configure(
        "orders",
        "1",
        env={},
        sampler=ALWAYS_ON,
        span_processors=[BatchSpanProcessor(exporter, schedule_delay_millis=60_000)],
    )
    with t.tracer.start_as_current_span("last-words"):
        pass
    t.shutdown()
    assert span_names(exporter) == ["last-words"]


def test_each_process_has_its_own_service_instance_id() -> None:
    import os
    import socket

    telemetry = configure("svc", "1", env={}, install_globals=False, prometheus=False)
    try:
        assert telemetry.resource.attributes["service.instance.id"] == (
            f"{socket.gethostname()}-{os.getpid()}")
    finally:
        telemetry.shutdown()
    named = configure("svc", "1", env={"OTEL_RESOURCE_ATTRIBUTES": "service.instance.id=pod-7"},
                      install_globals=False, prometheus=False)
    try:
        assert named.resource.attributes["service.instance.id"] == "pod-7"
    finally:
        named.shutdown()
