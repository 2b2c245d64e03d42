"""Outgoing HTTP calls with tracing and logging: an `httpx` client factory.

`client()` returns an `httpx.AsyncClient` (and `sync_client()` an `httpx.Client`) whose
every `send` — `get`, `post`, `request`, `stream` all go through it — runs in a CLIENT
span that is a child of the current span, injects `traceparent`/`tracestate`/`baggage`
so the callee continues the trace, and logs one line on `logging.getLogger("bastion.client")`
with the method, the URL without credentials, the status and the duration.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextvars import Token
from time import perf_counter
from typing import Any, Final

import httpx
from opentelemetry import propagate, trace
from opentelemetry.context import Context, attach, detach
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer
from opentelemetry.util.types import AnyValue

from bastion.otel._telemetry import INSTRUMENTATION_NAME, Telemetry
from bastion.redact import credential_names, redact_url

__all__ = ["TracedAsyncClient", "TracedClient", "client", "sync_client"]

#: The logger each outgoing call is logged on.
LOGGER_NAME: Final = "bastion.client"


# (span, context token, scrubbed URL, start time)
_State = tuple[Span, "Token[Context]", str, float]


def _error_type(exc: BaseException) -> str:
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module in ("builtins", "") else f"{module}.{cls.__qualname__}"


class _Instrumentation:
    """The tracing and logging shared by the sync and async clients."""

    def __init__(self, telemetry: Telemetry | None, credential_params: Iterable[str]) -> None:
        self.telemetry = telemetry
        self.credentials = credential_names(credential_params)
        self.log = logging.getLogger(LOGGER_NAME)

    def tracer(self) -> Tracer:
        if self.telemetry is not None:
            return self.telemetry.tracer
        # Through the global API: reaches the telemetry of the app serving the request.
        return trace.get_tracer(INSTRUMENTATION_NAME)

    def propagator(self) -> TextMapPropagator:
        if self.telemetry is not None:
            return self.telemetry.propagator
        return propagate.get_global_textmap()

    def start(self, request: httpx.Request) -> _State:
        url = redact_url(str(request.url), self.credentials)
        method = request.method
        attributes: dict[str, AnyValue] = {
            "http.request.method": method,
            "url.full": url,
            "server.address": request.url.host,
        }
        port = request.url.port
        attributes["server.port"] = (
            port if port is not None else (443 if request.url.scheme == "https" else 80)
        )
        span = self.tracer().start_span(method, kind=SpanKind.CLIENT, attributes=attributes)
        token = attach(trace.set_span_in_context(span))
        # Inject with the span current, so the callee's parent is this CLIENT span.
        self.propagator().inject(request.headers)
        return span, token, url, perf_counter()

    def finish(
        self,
        request: httpx.Request,
        state: _State,
        response: httpx.Response | None,
        error: BaseException | None,
    ) -> None:
        span, token, url, start = state
        duration_ms = (perf_counter() - start) * 1000
        detach(token)
        status = response.status_code if response is not None else None
        if response is not None:
            span.set_attribute("http.response.status_code", response.status_code)
            version = response.http_version.removeprefix("HTTP/")
            if version:
                span.set_attribute("network.protocol.version", version)
        if error is not None:
            span.record_exception(error)
            span.set_attribute("error.type", _error_type(error))
            span.set_status(StatusCode.ERROR, f"{type(error).__name__}: {error}")
        elif status is not None and status >= 400:
            span.set_attribute("error.type", str(status))
            span.set_status(StatusCode.ERROR)
        span.end()
        fields = {
            "http_method": request.method,
            "http_url": url,
            "http_status": status,
            "duration_ms": round(duration_ms, 3),
        }
        if error is not None:
            self.log.warning(
                "%s %s failed: %s", request.method, url, _error_type(error), extra=fields
            )
        else:
            self.log.info("%s %s %s %.1fms", request.method, url, status, duration_ms, extra=fields)


class TracedAsyncClient(httpx.AsyncClient):
    """An `httpx.AsyncClient` that traces, propagates and logs every request it sends."""

    def __init__(
        self,
        *,
        telemetry: Telemetry | None = None,
        credential_params: Iterable[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._bastion = _Instrumentation(telemetry, credential_params)

    async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        """Send `request` inside a CLIENT span, with the trace context injected."""
        instrumentation = self._bastion
        state = instrumentation.start(request)
        try:
            response = await super().send(request, **kwargs)
        except BaseException as exc:
            instrumentation.finish(request, state, None, exc)
            raise
        instrumentation.finish(request, state, response, None)
        return response


class TracedClient(httpx.Client):
    """An `httpx.Client` that traces, propagates and logs every request it sends."""

    def __init__(
        self,
        *,
        telemetry: Telemetry | None = None,
        credential_params: Iterable[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._bastion = _Instrumentation(telemetry, credential_params)

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        """Send `request` inside a CLIENT span, with the trace context injected."""
        instrumentation = self._bastion
        state = instrumentation.start(request)
        try:
            response = super().send(request, **kwargs)
        except BaseException as exc:
            instrumentation.finish(request, state, None, exc)
            raise
        instrumentation.finish(request, state, response, None)
        return response


def client(
    *,
    telemetry: Telemetry | None = None,
    credential_params: Iterable[str] = (),
    **kwargs: Any,
) -> httpx.AsyncClient:
    """Return an `httpx.AsyncClient` with tracing, trace propagation and call logging.

    `telemetry` pins the spans to one app's telemetry; by default they go through the
    OpenTelemetry API globals, i.e. to the app serving the current request.
    `credential_params` adds query parameter names to scrub from logged and traced
    URLs. Other keyword arguments go to `httpx.AsyncClient` (base_url, timeout, ...).
    """
    return TracedAsyncClient(telemetry=telemetry, credential_params=credential_params, **kwargs)


def sync_client(
    *,
    telemetry: Telemetry | None = None,
    credential_params: Iterable[str] = (),
    **kwargs: Any,
) -> httpx.Client:
    """Return an `httpx.Client` with tracing, trace propagation and call logging."""
    return TracedClient(telemetry=telemetry, credential_params=credential_params, **kwargs)
