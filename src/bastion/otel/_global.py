"""Route the OpenTelemetry API globals to the `Telemetry` of the app serving the request.

The OpenTelemetry API lets a process set its tracer, meter and logger providers once.
Bastion's rule is that two apps in one process share no runtime state, and test suites
build many apps. So the first `configure` installs routing providers as the globals, once;
they hold no telemetry pipeline themselves. Each call through them (`start_span`,
`counter.add`, `logger.emit`) is sent to:

1. the `Telemetry` stored in the OpenTelemetry context under `TELEMETRY_KEY` — the
   tracing middleware puts it there for every request, and `Telemetry.activate()` does
   it for background work; else
2. the most recently configured `Telemetry` that is not shut down (the usual single app);
3. nowhere (no-op) when none is live.

Instruments and tracers obtained at import time (`tracer = trace.get_tracer(__name__)`)
therefore work in every app. Observable (callback) instruments created through the
global meter observe process-wide state, so they are registered on every live
`Telemetry` and replayed on the ones configured later. The global text-map propagator
is routed the same way (`propagate.inject(headers)` uses the serving app's
propagators), so each app keeps the `OTEL_PROPAGATORS` it was configured with.

The list of live telemetries is the one piece of process state this needs; it belongs
to the installed routing providers (which the OpenTelemetry API holds), not to a module.
Only the API's public functions are used: a global is taken when the API accepts our
provider (`set_*_provider` refuses once another was set), never by inspecting its
private proxy classes.
"""

from __future__ import annotations

import functools
import inspect
import threading
import weakref
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Final, Protocol, cast

from opentelemetry import _logs, metrics, propagate, trace
from opentelemetry._logs import Logger, LoggerProvider, LogRecord, NoOpLogger, SeverityNumber
from opentelemetry.context import Context, create_key, get_value
from opentelemetry.metrics import (
    CallbackT,
    Counter,
    Histogram,
    Meter,
    MeterProvider,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.metrics import _Gauge as Gauge  # listed in the API's __all__
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)
from opentelemetry.trace import Link, NoOpTracer, Span, SpanKind, Tracer, TracerProvider
from opentelemetry.util.types import AnyValue, Attributes

from bastion import log

__all__ = ["TELEMETRY_KEY", "Router", "RoutingPropagator", "install"]


#: Context key under which the serving app's `Telemetry` travels with the request.
TELEMETRY_KEY = create_key("bastion.telemetry")

ScopeKey = tuple[str, str | None, str | None]
#: (kind, name, unit, description, histogram boundaries advice)
InstrumentSpec = tuple[str, str, str, str, tuple[float, ...] | None]
#: (scope, kind, name, callbacks, unit, description) of an observable instrument
Observable = tuple[ScopeKey, str, str, tuple[CallbackT, ...], str, str]


class Target(Protocol):
    """What the router needs from a `Telemetry`."""

    @property
    def propagator(self) -> TextMapPropagator: ...

    def _tracer_for(self, scope: ScopeKey, attributes: Attributes) -> Tracer: ...

    def _instrument_for(self, scope: ScopeKey, spec: InstrumentSpec) -> Any: ...

    def _observe(self, observable: Observable) -> None: ...

    def _logger_for(self, scope: ScopeKey, attributes: Attributes) -> Logger: ...


class Router:
    """The live telemetries and the observable instruments created through the globals."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: list[weakref.ref[Target]] = []
        self._observables: list[Observable] = []

    def add(self, target: Target) -> None:
        """Make `target` live (and the default); register the global observables on it."""
        with self._lock:
            self._live.append(weakref.ref(target))
            observables = list(self._observables)
        for observable in observables:
            target._observe(observable)

    def remove(self, target: Target) -> None:
        """Forget `target` (it shut down)."""
        with self._lock:
            self._live = [ref for ref in self._live if ref() not in (None, target)]

    def default(self) -> Target | None:
        """Return the most recently added live target."""
        for ref in reversed(self._live):
            target = ref()
            if target is not None:
                return target
        return None

    def current(self, context: Context | None = None) -> Target | None:
        """Return the target for a call made in `context` (the current one if None)."""
        target = get_value(TELEMETRY_KEY, context)
        if target is not None:
            return target  # type: ignore[return-value]
        return self.default()

    def observe(self, observable: Observable) -> None:
        """Register an observable instrument on every live target, now and later."""
        with self._lock:
            self._observables.append(observable)
            live = [ref() for ref in self._live]
        for target in live:
            if target is not None:
                target._observe(observable)


# -- traces ------------------------------------------------------------------------------


class RoutingTracerProvider(TracerProvider):
    """Global tracer provider whose tracers route each span to the serving app."""

    def __init__(self, router: Router) -> None:
        self.router = router

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> Tracer:
        """Return a routing tracer for this instrumentation scope."""
        scope = (instrumenting_module_name, instrumenting_library_version, schema_url)
        return _RoutingTracer(self.router, scope, attributes)


class _RoutingTracer(Tracer):
    def __init__(self, router: Router, scope: ScopeKey, attributes: Attributes) -> None:
        self._router = router
        self._scope = scope
        self._attributes = attributes
        self._noop = NoOpTracer()

    def _target(self, context: Context | None) -> Tracer:
        target = self._router.current(context)
        if target is None:
            return self._noop
        return target._tracer_for(self._scope, self._attributes)

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> Span:
        return self._target(context).start_span(
            name,
            context,
            kind,
            attributes,
            links,
            start_time,
            record_exception,
            set_status_on_exception,
        )

    def start_as_current_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Any:
        # The API's return type is its own private context-manager class (an iterator in
        # older versions); what callers use is a context manager that is also a decorator.
        args = (
            name,
            context,
            kind,
            attributes,
            links,
            start_time,
            record_exception,
            set_status_on_exception,
            end_on_exit,
        )
        return _CurrentSpan(lambda: self._target(context), args)


class _CurrentSpan:
    """`start_as_current_span` of a routing tracer: a context manager and a decorator.

    The app's tracer is looked up when the block is entered (or the decorated function
    called), not when the object is made: `@tracer.start_as_current_span("x")` runs at
    import time, before any app exists. Like the API's own, it decorates async
    functions too, with the span around the awaited call.
    """

    def __init__(self, target: Callable[[], Tracer], args: tuple[Any, ...]) -> None:
        self._target = target
        self._args = args
        self._inner: AbstractContextManager[Span] | None = None

    def __enter__(self) -> Span:
        target = self._target()
        inner = cast(AbstractContextManager[Span], target.start_as_current_span(*self._args))
        self._inner = inner
        return inner.__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        inner, self._inner = self._inner, None
        if inner is None:  # pragma: no cover - __exit__ without __enter__
            return None
        return inner.__exit__(exc_type, exc, tb)

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        # A fresh manager per call, so concurrent calls of the function never share one.
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with _CurrentSpan(self._target, self._args):
                    return await fn(*args, **kwargs)

            return run_async

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            with _CurrentSpan(self._target, self._args):
                return fn(*args, **kwargs)

        return run


# -- metrics -----------------------------------------------------------------------------


class RoutingMeterProvider(MeterProvider):
    """Global meter provider whose instruments record into the serving app's meters."""

    def __init__(self, router: Router) -> None:
        self.router = router

    def get_meter(
        self,
        name: str,
        version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> Meter:
        """Return a routing meter for this instrumentation scope."""
        return _RoutingMeter(self.router, name, version, schema_url)


class _Routed:
    def __init__(self, router: Router, scope: ScopeKey, spec: InstrumentSpec) -> None:
        self._router = router
        self._scope = scope
        self._spec = spec

    def _target(self, context: Context | None) -> Any:
        target = self._router.current(context)
        if target is None:
            return None
        return target._instrument_for(self._scope, self._spec)


class _RoutedCounter(_Routed, Counter):
    def add(
        self, amount: float, attributes: Attributes = None, context: Context | None = None
    ) -> None:
        inst = self._target(context)
        if inst is not None:
            inst.add(amount, attributes, context)


class _RoutedUpDownCounter(_Routed, UpDownCounter):
    def add(
        self, amount: float, attributes: Attributes = None, context: Context | None = None
    ) -> None:
        inst = self._target(context)
        if inst is not None:
            inst.add(amount, attributes, context)


class _RoutedHistogram(_Routed, Histogram):
    def record(
        self, amount: float, attributes: Attributes = None, context: Context | None = None
    ) -> None:
        inst = self._target(context)
        if inst is not None:
            inst.record(amount, attributes, context)


class _RoutedGauge(_Routed, Gauge):
    def set(
        self, amount: float, attributes: Attributes = None, context: Context | None = None
    ) -> None:
        inst = self._target(context)
        if inst is not None:
            inst.set(amount, attributes, context)


class _Registered:
    # What the global meter returns for an observable instrument: its callbacks were
    # registered on the telemetries; the object itself has nothing to do.
    def __init__(
        self,
        name: str,
        callbacks: Sequence[CallbackT] | None = None,
        unit: str = "",
        description: str = "",
    ) -> None:
        self.name = name
        self.unit = unit
        self.description = description


class _RegisteredObservableCounter(_Registered, ObservableCounter):
    pass


class _RegisteredObservableUpDownCounter(_Registered, ObservableUpDownCounter):
    pass


class _RegisteredObservableGauge(_Registered, ObservableGauge):
    pass


class _RoutingMeter(Meter):
    def __init__(
        self, router: Router, name: str, version: str | None, schema_url: str | None
    ) -> None:
        super().__init__(name, version, schema_url)
        self._router = router
        self._scope: ScopeKey = (name, version, schema_url)

    def _spec(
        self,
        kind: str,
        name: str,
        unit: str,
        description: str,
        advice: Sequence[float] | None = None,
    ) -> InstrumentSpec:
        return (kind, name, unit, description, tuple(advice) if advice is not None else None)

    def create_counter(self, name: str, unit: str = "", description: str = "") -> Counter:
        spec = self._spec("counter", name, unit, description)
        return _RoutedCounter(self._router, self._scope, spec)

    def create_up_down_counter(
        self, name: str, unit: str = "", description: str = ""
    ) -> UpDownCounter:
        spec = self._spec("up_down_counter", name, unit, description)
        return _RoutedUpDownCounter(self._router, self._scope, spec)

    def create_histogram(
        self,
        name: str,
        unit: str = "",
        description: str = "",
        *,
        explicit_bucket_boundaries_advisory: Sequence[float] | None = None,
    ) -> Histogram:
        spec = self._spec("histogram", name, unit, description, explicit_bucket_boundaries_advisory)
        return _RoutedHistogram(self._router, self._scope, spec)

    def create_gauge(self, name: str, unit: str = "", description: str = "") -> Gauge:
        spec = self._spec("gauge", name, unit, description)
        return _RoutedGauge(self._router, self._scope, spec)

    def _observable(
        self,
        kind: str,
        name: str,
        callbacks: Sequence[CallbackT] | None,
        unit: str,
        description: str,
    ) -> None:
        self._router.observe((self._scope, kind, name, tuple(callbacks or ()), unit, description))

    def create_observable_counter(
        self,
        name: str,
        callbacks: Sequence[CallbackT] | None = None,
        unit: str = "",
        description: str = "",
    ) -> ObservableCounter:
        self._observable("observable_counter", name, callbacks, unit, description)
        return _RegisteredObservableCounter(name, callbacks, unit, description)

    def create_observable_up_down_counter(
        self,
        name: str,
        callbacks: Sequence[CallbackT] | None = None,
        unit: str = "",
        description: str = "",
    ) -> ObservableUpDownCounter:
        self._observable("observable_up_down_counter", name, callbacks, unit, description)
        return _RegisteredObservableUpDownCounter(name, callbacks, unit, description)

    def create_observable_gauge(
        self,
        name: str,
        callbacks: Sequence[CallbackT] | None = None,
        unit: str = "",
        description: str = "",
    ) -> ObservableGauge:
        self._observable("observable_gauge", name, callbacks, unit, description)
        return _RegisteredObservableGauge(name, callbacks, unit, description)


def create_instrument(meter: Meter, spec: InstrumentSpec) -> Any:
    """Create the instrument `spec` describes on a real (SDK) meter."""
    kind, name, unit, description, advice = spec
    if kind == "counter":
        return meter.create_counter(name, unit, description)
    if kind == "up_down_counter":
        return meter.create_up_down_counter(name, unit, description)
    if kind == "histogram":
        return meter.create_histogram(
            name, unit, description, explicit_bucket_boundaries_advisory=advice
        )
    return meter.create_gauge(name, unit, description)


_OBSERVABLE_FACTORIES: dict[str, Callable[[Meter], Callable[..., Any]]] = {
    "observable_counter": lambda m: m.create_observable_counter,
    "observable_up_down_counter": lambda m: m.create_observable_up_down_counter,
    "observable_gauge": lambda m: m.create_observable_gauge,
}


def create_observable(meter: Meter, observable: Observable) -> None:
    """Create an observable instrument on a real (SDK) meter."""
    _, kind, name, callbacks, unit, description = observable
    _OBSERVABLE_FACTORIES[kind](meter)(name, list(callbacks), unit, description)


# -- logs --------------------------------------------------------------------------------


class RoutingLoggerProvider(LoggerProvider):
    """Global logger provider whose loggers emit through the serving app's provider."""

    def __init__(self, router: Router) -> None:
        self.router = router

    def get_logger(
        self,
        name: str,
        version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> Logger:
        """Return a routing logger for this instrumentation scope."""
        return _RoutingLogger(self.router, (name, version, schema_url), attributes)


class _RoutingLogger(Logger):
    def __init__(self, router: Router, scope: ScopeKey, attributes: Attributes) -> None:
        super().__init__(scope[0], scope[1], scope[2], attributes)
        self._router = router
        self._scope = scope
        self._noop = NoOpLogger(scope[0])

    def _target(self, context: Context | None) -> Logger:
        target = self._router.current(context)
        if target is None:
            return self._noop
        return target._logger_for(self._scope, self._attributes)

    def emit(
        self,
        record: LogRecord | None = None,
        *,
        timestamp: int | None = None,
        observed_timestamp: int | None = None,
        context: Context | None = None,
        severity_number: SeverityNumber | None = None,
        severity_text: str | None = None,
        body: AnyValue | None = None,
        attributes: Attributes = None,
        event_name: str | None = None,
        exception: BaseException | None = None,
    ) -> None:
        if record is not None:
            self._target(record.context).emit(record)
            return
        self._target(context).emit(
            timestamp=timestamp,
            observed_timestamp=observed_timestamp,
            context=context,
            severity_number=severity_number,
            severity_text=severity_text,
            body=body,
            attributes=attributes,
            event_name=event_name,
            exception=exception,
        )

    def enabled(
        self,
        *,
        context: Context | None = None,
        severity_number: SeverityNumber | None = None,
        event_name: str | None = None,
    ) -> bool:
        return self._target(context).enabled(
            context=context, severity_number=severity_number, event_name=event_name
        )


# -- propagation -------------------------------------------------------------------------


class RoutingPropagator(TextMapPropagator):
    """Global text-map propagator that uses the propagators of the serving app.

    Outside any app (no live telemetry) it uses `fallback`: the global propagator that
    was in place when Bastion installed this one.
    """

    def __init__(self, router: Router, fallback: TextMapPropagator) -> None:
        self.router = router
        self.fallback = fallback

    def _target(self, context: Context | None) -> TextMapPropagator:
        target = self.router.current(context)
        return self.fallback if target is None else target.propagator

    def extract(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        getter: Getter[CarrierT] = default_getter,
    ) -> Context:
        """Extract with the propagators of the app serving `context` (or the current one)."""
        return self._target(context).extract(carrier, context, getter)

    def inject(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        setter: Setter[CarrierT] = default_setter,
    ) -> None:
        """Inject with the propagators of the app serving `context` (or the current one)."""
        self._target(context).inject(carrier, context, setter)

    @property
    def fields(self) -> set[str]:
        """The header names the current app's propagators use."""
        return self._target(None).fields


# -- installation ------------------------------------------------------------------------


_ROUTING: Final = (RoutingTracerProvider, RoutingMeterProvider, RoutingLoggerProvider)


def install() -> Router | None:
    """Install the routing providers and propagator as the API globals where unset.

    Returns their router, or None when another component already owns all three
    provider globals; Bastion then leaves every global alone and only the telemetry
    objects themselves are usable.
    """
    current = (
        trace.get_tracer_provider(),
        metrics.get_meter_provider(),
        _logs.get_logger_provider(),
    )
    router: Router | None = None
    for provider in current:
        if isinstance(provider, _ROUTING):
            router = provider.router
            break
    fresh = router is None
    router = router or Router()
    owned = not fresh
    # The API accepts the first provider set and refuses (with a warning) any later one;
    # whether ours was taken tells whether the global was still the API's default.
    # (Only the tracer API names its default proxy publicly, so only it is checked first.)
    if isinstance(current[0], trace.ProxyTracerProvider):
        ours_t = RoutingTracerProvider(router)
        trace.set_tracer_provider(ours_t)
        owned = trace.get_tracer_provider() is ours_t or owned
    if not isinstance(current[1], RoutingMeterProvider):
        ours_m = RoutingMeterProvider(router)
        metrics.set_meter_provider(ours_m)
        owned = metrics.get_meter_provider() is ours_m or owned
    if not isinstance(current[2], RoutingLoggerProvider):
        ours_l = RoutingLoggerProvider(router)
        _logs.set_logger_provider(ours_l)
        owned = _logs.get_logger_provider() is ours_l or owned
    if fresh and not owned:
        log.info("OpenTelemetry globals are owned by another component; Bastion leaves them")
        return None
    textmap = propagate.get_global_textmap()
    if not isinstance(textmap, RoutingPropagator):
        propagate.set_global_textmap(RoutingPropagator(router, textmap))
    return router

