"""OpenTelemetry for one Bastion app: providers, resource, sampling, propagation, exporters.

`configure(service_name, version)` builds a `Telemetry`: a tracer, meter and logger
provider sharing one resource (`service.name`, `service.version`,
`deployment.environment`, host and process), W3C TraceContext + Baggage propagation,
Clue's adaptive sampler (parent-based, at most 2 new traces per second) unless
configured otherwise, and the exporters the standard `OTEL_*` variables choose. With no
OTLP endpoint set nothing is exported and no connection is attempted; the Prometheus
reader behind `/metrics` is always there.

User code keeps to the plain OpenTelemetry API (`trace.get_tracer(__name__)`,
`metrics.get_meter(__name__).create_counter(...)`): the API globals are routing
providers (see `bastion.otel._global`) that reach the telemetry of the app serving
the request, so several apps — and many test apps — live in one process.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _dist_version
from typing import Any, Final

from opentelemetry._logs import Logger
from opentelemetry.context import attach, detach, get_current, set_value
from opentelemetry.metrics import Meter
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricReader,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, Sampler
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.sdk.version import __version__ as _sdk_version
from opentelemetry.trace import Tracer
from opentelemetry.util.types import Attributes

from bastion import log
from bastion.otel import _global
from bastion.otel._env import Settings, console_exporter, otlp_exporter, read_settings
from bastion.otel._metrics import BuiltinMetrics
from bastion.otel._prometheus import PrometheusReader
from bastion.otel._sdk import extend_collections

__all__ = ["INSTRUMENTATION_NAME", "Telemetry", "configure"]


#: Instrumentation scope of the spans and metrics Bastion itself records.
INSTRUMENTATION_NAME: Final = "bastion"


def _bastion_version() -> str:
    try:
        return _dist_version("bastion")
    except PackageNotFoundError:  # running from a source tree
        return "0"


class Telemetry:
    """The OpenTelemetry pipeline of one app; build it with `configure`.

    Owns the three SDK providers, the Prometheus reader and the built-in metrics.
    `shutdown()` flushes and stops everything; it is idempotent and the app's lifespan
    calls it.
    """

    def __init__(
        self,
        *,
        resource: Resource,
        sampler: Sampler,
        propagator: TextMapPropagator,
        enabled: bool = True,
        logs_exported: bool = False,
    ) -> None:
        self.resource = resource
        self.sampler = sampler
        self.propagator = propagator
        #: False when OTEL_SDK_DISABLED=true: the middleware then only passes requests on.
        self.enabled = enabled
        #: True when a logs exporter is configured, so an OTel logging bridge is worth adding.
        self.logs_exported = logs_exported
        self.span_limits = SpanLimits()
        self.scope = InstrumentationScope(INSTRUMENTATION_NAME, _bastion_version())
        self.tracer_provider = TracerProvider(
            sampler=sampler,
            resource=resource,
            shutdown_on_exit=False,
            span_limits=self.span_limits,
        )
        self.meter_provider: MeterProvider
        self.logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
        self.prometheus: PrometheusReader | None = None
        #: Every metric reader: the given ones, periodic OTLP/console ones, Prometheus.
        self.metric_readers: tuple[MetricReader, ...] = ()
        self.metrics: BuiltinMetrics
        self.span_processors: tuple[SpanProcessor, ...] = ()
        self._lock = threading.Lock()
        self._closed = False
        self._router: _global.Router | None = None
        self._tracers: dict[tuple[object, ...], Tracer] = {}
        self._instruments: dict[tuple[object, ...], Any] = {}
        self._loggers: dict[tuple[object, ...], Logger] = {}

    # -- set up by configure ---------------------------------------------------------------

    def _set_metric_readers(self, readers: Sequence[MetricReader], prometheus: bool) -> None:
        all_readers = list(readers)
        if prometheus:
            self.prometheus = PrometheusReader()
            all_readers.append(self.prometheus.reader)
        self.meter_provider = MeterProvider(
            metric_readers=all_readers, resource=self.resource, shutdown_on_exit=False
        )
        self.metric_readers = tuple(all_readers)
        self.metrics = BuiltinMetrics(
            self.meter_provider.get_meter(self.scope.name, self.scope.version)
        )
        for reader in all_readers:
            self._merge_builtin_metrics(reader)

    def _merge_builtin_metrics(self, reader: MetricReader) -> None:
        # The HTTP server metrics are aggregated by BuiltinMetrics, not by the SDK (see
        # bastion.otel._metrics for why); every collection of every reader carries them.
        builtin = self.metrics
        resource = self.resource

        def merge(data: MetricsData | None) -> MetricsData | None:
            return builtin.merge(data, resource)

        extend_collections(reader, merge)

    # -- public API --------------------------------------------------------------------------

    @property
    def tracer(self) -> Tracer:
        """Bastion's own tracer (scope "bastion") on this telemetry's provider."""
        return self._tracer_for((self.scope.name, self.scope.version, None), None)

    @property
    def meter(self) -> Meter:
        """Bastion's own meter (scope "bastion") on this telemetry's provider."""
        return self.meter_provider.get_meter(self.scope.name, self.scope.version)

    @property
    def is_shutdown(self) -> bool:
        """True once `shutdown()` ran."""
        return self._closed

    def add_span_processor(self, processor: SpanProcessor) -> None:
        """Add a span processor for every span: Bastion's server spans and user spans."""
        self.tracer_provider.add_span_processor(processor)
        self.span_processors = (*self.span_processors, processor)

    @contextmanager
    def activate(self) -> Iterator[None]:
        """Route global-API calls to this telemetry inside the block (background tasks)."""
        token = attach(set_value(_global.TELEMETRY_KEY, self, get_current()))
        try:
            yield
        finally:
            detach(token)

    def force_flush(self, timeout_millis: int = 10_000) -> bool:
        """Export everything buffered now; True when every pipeline reported success."""
        if self._closed:
            return True
        ok = self.tracer_provider.force_flush(timeout_millis)
        try:
            self.meter_provider.force_flush(timeout_millis)
        except Exception:  # the SDK raises one aggregate error for failed readers
            log.error(sys.exc_info()[1], "flushing metrics failed")
            ok = False
        return self.logger_provider.force_flush(timeout_millis) and ok

    def shutdown(self, timeout_millis: int = 30_000) -> None:
        """Flush and stop every exporter and reader; later calls do nothing."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._router is not None:
            self._router.remove(self)
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown(timeout_millis=timeout_millis)
        self.logger_provider.shutdown()

    # -- used by the global routing providers ------------------------------------------------

    def _tracer_for(self, scope: _global.ScopeKey, attributes: Attributes) -> Tracer:
        if attributes:
            return self.tracer_provider.get_tracer(*scope, attributes)
        tracer = self._tracers.get(scope)
        if tracer is None:
            tracer = self._tracers.setdefault(scope, self.tracer_provider.get_tracer(*scope))
        return tracer

    def _instrument_for(self, scope: _global.ScopeKey, spec: _global.InstrumentSpec) -> Any:
        key = (scope, spec)
        instrument = self._instruments.get(key)
        if instrument is None:
            with self._lock:
                instrument = self._instruments.get(key)
                if instrument is None:
                    meter = self.meter_provider.get_meter(*scope)
                    instrument = self._instruments[key] = _global.create_instrument(meter, spec)
        return instrument

    def _observe(self, observable: _global.Observable) -> None:
        meter = self.meter_provider.get_meter(*observable[0])
        _global.create_observable(meter, observable)

    def _logger_for(self, scope: _global.ScopeKey, attributes: Attributes) -> Logger:
        if attributes:
            return self.logger_provider.get_logger(*scope, attributes=attributes)
        logger = self._loggers.get(scope)
        if logger is None:
            logger = self._loggers.setdefault(scope, self.logger_provider.get_logger(*scope))
        return logger

    def __repr__(self) -> str:
        name = self.resource.attributes.get("service.name")
        return f"Telemetry(service={name!r}, shutdown={self._closed})"


def _resource(
    service_name: str,
    version: str,
    environment: str | None,
    settings: Settings,
    extra: Mapping[str, str] | None,
) -> Resource:
    # Lowest to highest precedence: SDK and host facts, OTEL_RESOURCE_ATTRIBUTES, what
    # the app configured, OTEL_SERVICE_NAME (the operator's explicit override).
    attrs: dict[str, Any] = {
        "telemetry.sdk.language": "python",
        "telemetry.sdk.name": "opentelemetry",
        "telemetry.sdk.version": _sdk_version,
        "host.name": socket.gethostname(),
        "host.arch": platform.machine().lower(),
        "process.pid": os.getpid(),
        "process.runtime.name": platform.python_implementation().lower(),
        "process.runtime.version": platform.python_version(),
        # One per process, so a fleet's instances (and a process's workers) are told
        # apart in traces and in target_info; OTEL_RESOURCE_ATTRIBUTES may name it instead
        # (a pod's name). In a container the host name is the pod's or the container's.
        "service.instance.id": f"{socket.gethostname()}-{os.getpid()}",
    }
    attrs.update(settings.resource_attributes)
    attrs["service.name"] = service_name
    attrs["service.version"] = version
    if environment is None:
        given = settings.resource_attributes
        environment = given.get("deployment.environment.name", given.get("deployment.environment"))
    if environment:
        # `deployment.environment` was renamed `.name` in semconv 1.27; backends still
        # read either, so both are set.
        attrs["deployment.environment.name"] = environment
        attrs["deployment.environment"] = environment
    if extra:
        attrs.update(extra)
    if settings.service_name:
        attrs["service.name"] = settings.service_name
    return Resource(attrs)


def configure(
    service_name: str,
    version: str,
    *,
    environment: str | None = None,
    env: Mapping[str, str] = os.environ,
    span_exporter: SpanExporter | None = None,
    span_processors: Sequence[SpanProcessor] = (),
    metric_readers: Sequence[MetricReader] = (),
    sampler: Sampler | None = None,
    prometheus: bool = True,
    resource_attributes: Mapping[str, str] | None = None,
    install_globals: bool = True,
) -> Telemetry:
    """Build the OpenTelemetry pipeline of one app from arguments and `OTEL_*` variables.

    - `env`: where `OTEL_*` variables are read (the process environment by default);
      every bad variable is listed in one `ConfigError`.
    - `span_exporter`: exported synchronously, span by span (`SimpleSpanProcessor`):
      meant for tests (`InMemorySpanExporter`) and debugging. For a production exporter
      of your own pass `span_processors=[BatchSpanProcessor(exporter)]`.
    - `metric_readers`: extra readers (e.g. `InMemoryMetricReader` in tests); they see
      the built-in HTTP metrics too.
    - `sampler`: overrides OTEL_TRACES_SAMPLER (default: parent-based adaptive, 2/s).
    - `prometheus`: keep a Prometheus reader for `metrics_app` (default True).
    - `install_globals`: route the OpenTelemetry API globals (providers and the global
      propagator) to the configured telemetries (default True). Each telemetry keeps
      its own propagator: configuring another app never changes this one's.
    """
    settings = read_settings(env)
    if sampler is None:
        sampler = ALWAYS_OFF if settings.disabled else settings.sampler
    resource = _resource(service_name, version, environment, settings, resource_attributes)
    telemetry = Telemetry(
        resource=resource,
        sampler=sampler,
        propagator=settings.propagator,
        enabled=not settings.disabled,
        logs_exported=bool(settings.exporters.get("logs")) and not settings.disabled,
    )

    processors: list[SpanProcessor] = list(span_processors)
    if span_exporter is not None:
        processors.append(SimpleSpanProcessor(span_exporter))
    readers: list[MetricReader] = list(metric_readers)
    if not settings.disabled:
        bsp = settings.batch["traces"]
        for name in settings.exporters["traces"]:
            exporter = (
                otlp_exporter("traces", settings.otlp["traces"])
                if name == "otlp"
                else console_exporter("traces")
            )
            processors.append(
                BatchSpanProcessor(
                    exporter,
                    max_queue_size=int(bsp["max_queue_size"]),
                    schedule_delay_millis=bsp["schedule_delay_millis"],
                    max_export_batch_size=int(bsp["max_export_batch_size"]),
                    export_timeout_millis=bsp["export_timeout_millis"],
                )
            )
        for name in settings.exporters["metrics"]:
            exporter = (
                otlp_exporter("metrics", settings.otlp["metrics"])
                if name == "otlp"
                else console_exporter("metrics")
            )
            readers.append(
                PeriodicExportingMetricReader(
                    exporter,
                    export_interval_millis=settings.metric_export_interval_ms,
                    export_timeout_millis=settings.metric_export_timeout_ms,
                )
            )
        blrp = settings.batch["logs"]
        for name in settings.exporters["logs"]:
            exporter = (
                otlp_exporter("logs", settings.otlp["logs"])
                if name == "otlp"
                else console_exporter("logs")
            )
            telemetry.logger_provider.add_log_record_processor(
                BatchLogRecordProcessor(
                    exporter,
                    schedule_delay_millis=blrp["schedule_delay_millis"],
                    max_export_batch_size=int(blrp["max_export_batch_size"]),
                    export_timeout_millis=blrp["export_timeout_millis"],
                    max_queue_size=int(blrp["max_queue_size"]),
                )
            )
    for processor in processors:
        telemetry.add_span_processor(processor)
    telemetry._set_metric_readers(readers, prometheus)

    if install_globals:
        router = _global.install()
        if router is not None:
            telemetry._router = router
            router.add(telemetry)
    return telemetry
