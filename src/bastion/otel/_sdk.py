"""The one place Bastion reaches past OpenTelemetry's public API (the SDK's and the API's).

Metrics. Bastion aggregates the HTTP server metrics itself (`bastion.otel._metrics`: a
measurement through the SDK's instruments costs 9-14 µs, four of them per request), and
those aggregates must appear in every collection any metric reader makes, as if they
were SDK instruments. The SDK has no public hook for adding data to a collection (the
specification's `MetricProducer` is not in the Python SDK), so this module wraps the
callback the `MeterProvider` installs on each reader when it registers it:
`MetricReader._collect`, replaced through `MetricReader._set_collect_callback`.

The request path. Every request makes its span current and ends it: through the API
that is `get_current`, `set_span_in_context`, `set_value`, `attach` and `detach`, five
layers of calls and two copies of the context, about a hundred bytecodes of each
request (a twentieth of the whole stack's). With the default runtime context (a `ContextVar`
holding the current `Context`) the same result is one `Context` built from the parent's
items and one `ContextVar.set`: `runtime_context_var` returns that variable, or None
when another runtime context is configured (`OTEL_PYTHON_CONTEXT`), and the caller then
keeps to the public functions. `SPAN_KEY` is the key the API stores the current span
under, read through the public API (the one key of `set_span_in_context` on an empty
context). `local_span_context` builds the `SpanContext` of a span the observer started
itself, whose ids it has just drawn and knows to be valid, without the constructor's
range checks (a `SpanContext` is a tuple of its six fields).

The supported versions are the range pinned in pyproject.toml;
`tests/otel/test_sdk_contract.py` checks this module against the oldest and the newest
of them (`.ci/otel-contract`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Final

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.sdk.metrics.export import MetricReader, MetricsData
from opentelemetry.trace import (
    INVALID_SPAN,
    SpanContext,
    TraceFlags,
    TraceState,
    set_span_in_context,
)

__all__ = ["SPAN_KEY", "Extra", "extend_collections", "local_span_context", "runtime_context_var"]

#: The key under which the API keeps the current span in a Context.
SPAN_KEY: Final[str] = next(iter(set_span_in_context(INVALID_SPAN, Context())))

_new_tuple = tuple.__new__

#: Given one collection of the SDK (None when it has no data), return it with more data.
Extra = Callable[[MetricsData | None], MetricsData | None]


def extend_collections(reader: MetricReader, extra: Extra) -> None:
    """Pass every collection `reader` makes through `extra` before the reader gets it.

    `reader` must already be registered with a `MeterProvider` (the provider's
    constructor registers the readers it is given).
    """
    original = getattr(reader, "_collect", None)
    if not callable(original):
        raise RuntimeError(
            f"{type(reader).__name__} has no collect callback: register it with a "
            "MeterProvider first (or this OpenTelemetry SDK version is not supported)"
        )

    def collect(r: MetricReader, timeout_millis: float = 10_000) -> MetricsData | None:
        data: MetricsData | None = original(r, timeout_millis=timeout_millis)
        return extra(data)

    reader._set_collect_callback(collect)  # type: ignore[arg-type]


def runtime_context_var() -> ContextVar[Context] | None:
    """The ContextVar holding the current Context, or None under another runtime context."""
    runtime = getattr(otel_context, "_RUNTIME_CONTEXT", None)
    if type(runtime) is not ContextVarsRuntimeContext:
        return None
    var = getattr(runtime, "_current_context", None)
    return var if isinstance(var, ContextVar) else None


def local_span_context(
    trace_id: int, span_id: int, flags: TraceFlags, state: TraceState
) -> SpanContext:
    """The SpanContext of a span started here: ids drawn here, both valid (non-zero, in range).

    What `SpanContext(trace_id, span_id, is_remote=False, trace_flags=flags,
    trace_state=state)` returns, without its checks.
    """
    return _new_tuple(SpanContext, (trace_id, span_id, False, flags, state, True))
