"""The HTTP server span: a lean `Span` that ends as the SDK's `ReadableSpan`.

The SDK's span validates every attribute and takes a lock per call; for a span whose
attributes Bastion builds itself from ASGI values of known types, that is most of the
cost of tracing a request. This span stores Bastion's attributes in a plain dict and,
when it ends, hands span processors a `ReadableSpan` made with its public constructor
(what exporters read). Anything user code adds through the OpenTelemetry API
(attributes, events, links) goes through the SDK's bounded, validating containers, so
limits and rules are the same as for any SDK span. While the span is open, processors
(`on_start`) see the read properties of a `ReadableSpan` on it.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from time import time_ns
from types import MappingProxyType
from typing import cast

from opentelemetry import trace as trace_api
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits, SpanProcessor
from opentelemetry.sdk.trace import Span as SDKSpan
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.util import types

from bastion import log

__all__ = ["ServerSpan", "exception_attributes"]

_UNSET = Status(StatusCode.UNSET)


def exception_attributes(exc: BaseException) -> dict[str, types.AnyValue]:
    """Return the `exception.*` event attributes of the semantic conventions."""
    cls = type(exc)
    module = cls.__module__
    name = cls.__qualname__ if module in ("builtins", "") else f"{module}.{cls.__qualname__}"
    return {
        "exception.type": name,
        "exception.message": str(exc),
        "exception.stacktrace": "".join(traceback.format_exception(exc)),
    }


class ServerSpan(trace_api.Span):
    """A recording span created by `TracingMiddleware`; exported as any SDK span."""

    def __init__(
        self,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        attributes: dict[str, types.AnyValue],
        start_time: int,
        *,
        resource: Resource,
        scope: InstrumentationScope,
        processors: tuple[SpanProcessor, ...],
        limits: SpanLimits,
        kind: SpanKind = SpanKind.SERVER,
    ) -> None:
        self._name = name
        self._context = context
        self._parent = parent
        self._kind = kind
        self._resource = resource
        self._scope = scope
        self._attributes: dict[str, types.AnyValue] | BoundedAttributes = attributes
        self._events: BoundedList[Event] | tuple[()] = ()
        self._links: BoundedList[Link] | tuple[()] = ()
        self._status = _UNSET
        self._start_time = start_time
        self._end_time: int | None = None
        self._processors = processors
        self._limits = limits

    def __repr__(self) -> str:
        return f"ServerSpan(name={self._name!r}, context={self._context!r})"

    # -- what a ReadableSpan shows, for span processors' on_start ----------------------------

    @property
    def name(self) -> str:
        """The span's name."""
        return self._name

    @property
    def context(self) -> SpanContext:
        """The span's context (trace id, span id, flags)."""
        return self._context

    @property
    def parent(self) -> SpanContext | None:
        """The remote or local parent's context, if any."""
        return self._parent

    @property
    def kind(self) -> SpanKind:
        """SERVER."""
        return self._kind

    @property
    def attributes(self) -> Mapping[str, types.AnyValue]:
        """The attributes so far (read-only view)."""
        return MappingProxyType(self._attributes)

    @property
    def events(self) -> tuple[Event, ...]:
        """The events so far."""
        return tuple(self._events)

    @property
    def links(self) -> tuple[Link, ...]:
        """The links so far."""
        return tuple(self._links)

    @property
    def status(self) -> Status:
        """The status so far."""
        return self._status

    @property
    def start_time(self) -> int:
        """Start, in nanoseconds since the epoch."""
        return self._start_time

    @property
    def end_time(self) -> int | None:
        """End, in nanoseconds since the epoch, once ended."""
        return self._end_time

    @property
    def resource(self) -> Resource:
        """The telemetry's resource."""
        return self._resource

    @property
    def instrumentation_scope(self) -> InstrumentationScope:
        """Bastion's instrumentation scope."""
        return self._scope

    # -- used by the middleware ------------------------------------------------------------

    def start(self, parent_context: Context | None) -> None:
        """Tell the span processors the span started."""
        for processor in self._processors:
            # Processors type `on_start` for the SDK span; they only use the Span API.
            processor.on_start(cast(SDKSpan, self), parent_context=parent_context)

    def add_attributes(self, attributes: dict[str, types.AnyValue]) -> None:
        """Add attributes Bastion built from ASGI values (already valid)."""
        if isinstance(self._attributes, dict):
            self._attributes.update(attributes)
        else:
            self.set_attributes(attributes)

    def set_error(self, description: str | None = None) -> None:
        """Mark the span failed unless user code already set a status."""
        if self._status.status_code is StatusCode.UNSET:
            self._status = Status(StatusCode.ERROR, description)

    # -- the OpenTelemetry Span API ----------------------------------------------------------

    def get_span_context(self) -> SpanContext:
        """Return the span's immutable context (trace id, span id, flags)."""
        return self._context

    def is_recording(self) -> bool:
        """True until the span ends."""
        return self._end_time is None

    def _bounded(self) -> BoundedAttributes:
        attrs = self._attributes
        if not isinstance(attrs, BoundedAttributes):
            attrs = BoundedAttributes(
                self._limits.max_span_attributes,
                attrs,
                immutable=False,
                max_value_len=self._limits.max_span_attribute_length,
            )
            self._attributes = attrs
        return attrs

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        """Set one attribute; validated and bounded as the SDK does."""
        if self._end_time is not None:
            log.warn("setting an attribute on an ended span", span=self._name)
            return
        self._bounded()[key] = value

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        """Set several attributes; validated and bounded as the SDK does."""
        if self._end_time is not None:
            log.warn("setting an attribute on an ended span", span=self._name)
            return
        bounded = self._bounded()
        for key, value in attributes.items():
            bounded[key] = value

    def add_event(
        self, name: str, attributes: types.Attributes = None, timestamp: int | None = None
    ) -> None:
        """Add an event with bounded attributes."""
        if self._end_time is not None:
            log.warn("adding an event to an ended span", span=self._name)
            return
        if not isinstance(self._events, BoundedList):
            self._events = BoundedList(self._limits.max_events)
        bounded = BoundedAttributes(
            self._limits.max_event_attributes,
            attributes,
            max_value_len=self._limits.max_attribute_length,
            immutable=True,
        )
        self._events.append(Event(name=name, attributes=bounded, timestamp=timestamp))

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        """Link another span context to this span."""
        if self._end_time is not None or not context.is_valid:
            return
        if not isinstance(self._links, BoundedList):
            self._links = BoundedList(self._limits.max_links)
        bounded = BoundedAttributes(
            self._limits.max_link_attributes,
            attributes,
            max_value_len=self._limits.max_attribute_length,
            immutable=True,
        )
        self._links.append(Link(context, bounded))

    def update_name(self, name: str) -> None:
        """Rename the span (the middleware names it by route once routing is done)."""
        if self._end_time is None:
            self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        """Set the status; OK is final and UNSET is ignored, as in the SDK."""
        if self._end_time is not None or self._status.status_code is StatusCode.OK:
            return
        if isinstance(status, Status):
            if status.status_code is not StatusCode.UNSET:
                self._status = status
        elif status is not StatusCode.UNSET:
            self._status = Status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        """Add an `exception` event with type, message and stack trace."""
        attrs = exception_attributes(exception)
        if attributes:
            attrs.update(attributes)
        self.add_event("exception", attrs, timestamp)

    def end(self, end_time: int | None = None) -> None:
        """End the span and hand what it recorded to the span processors (once)."""
        if self._end_time is not None:
            return
        end = self._end_time = time_ns() if end_time is None else end_time
        readable = ReadableSpan(
            name=self._name,
            context=self._context,
            parent=self._parent,
            resource=self._resource,
            attributes=self._attributes,
            events=tuple(self._events),
            links=tuple(self._links),
            kind=self._kind,
            status=self._status,
            start_time=self._start_time,
            end_time=end,
            instrumentation_scope=self._scope,
        )
        for processor in self._processors:
            processor.on_end(readable)
