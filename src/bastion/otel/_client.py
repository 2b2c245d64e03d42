"""Outgoing HTTP calls with tracing and logging: an `httpx` client factory.

`client()` returns an `httpx.AsyncClient` (and `sync_client()` an `httpx.Client`) whose
every `send` — `get`, `post`, `request`, `stream` all go through it — runs in a CLIENT
span that is a child of the current span, injects `traceparent`/`tracestate`/`baggage`
so the callee continues the trace, and logs one line through the current `bastion.log`
Logger (the request's, with its fields) with the method, the URL with its secrets
redacted, the status and the duration, as Clue's `log.Client`: a failed call (a 5xx by
default, or a transport error) is an error line, which also writes what the request's
buffering held. httpx's own `HTTP Request: …` line for the call is not written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from contextvars import ContextVar, Token
from time import perf_counter
from typing import Any, Final

import httpx
from opentelemetry import propagate, trace
from opentelemetry.context import Context, attach, detach
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer
from opentelemetry.util.types import AnyValue

from bastion import log
from bastion.otel._telemetry import INSTRUMENTATION_NAME, Telemetry
from bastion.redact import Redactor, redactor_with

__all__ = ["TracedAsyncClient", "TracedClient", "client", "server_error", "sync_client"]

#: httpx's stdlib logger, whose per-request line duplicates (unredacted) the client's.
HTTPX_LOGGER: Final = "httpx"
# Set while a Bastion client sends: httpx's line for that call is left out.
_SENDING: ContextVar[bool] = ContextVar("bastion.client.sending", default=False)


def server_error(status: int) -> bool:
    """The default test of a failed call: a 5xx (4xx are the caller's own mistakes)."""
    return status >= 500


class _SkipLoggedCalls(logging.Filter):
    """Drops httpx's own request line for calls a Bastion client logs itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_SENDING.get() and str(record.msg).startswith("HTTP Request:"))


def _quiet_httpx() -> None:
    # Installed once on httpx's logger; it only acts inside a Bastion client's send.
    target = logging.getLogger(HTTPX_LOGGER)
    if not any(isinstance(f, _SkipLoggedCalls) for f in target.filters):
        target.addFilter(_SkipLoggedCalls())


# (span, context token, scrubbed URL, start time, token of _SENDING)
_State = tuple[Span, "Token[Context]", str, float, "Token[bool]"]


def _error_type(exc: BaseException) -> str:
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module in ("builtins", "") else f"{module}.{cls.__qualname__}"


class _Instrumentation:
    """The tracing and logging shared by the sync and async clients."""

    def __init__(
        self,
        telemetry: Telemetry | None,
        credential_params: Iterable[str],
        error_status: Callable[[int], bool],
    ) -> None:
        self.telemetry = telemetry
        self.credentials = redactor_with(credential_params)
        self.error_status = error_status
        # The current Logger's redaction (the App's: design names, LOG_REDACT) plus ours.
        self._redactors: dict[int, tuple[Redactor, Redactor]] = {}
        _quiet_httpx()

    def redactor(self) -> Redactor:
        base = log.current().redactor
        known = self._redactors.get(id(base))
        if known is None or known[0] is not base:
            known = (base, base.with_names(self.credentials.names))
            self._redactors[id(base)] = known
        return known[1]

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
        url = self.redactor().url(str(request.url))
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
        return span, token, url, perf_counter(), _SENDING.set(True)

    def finish(
        self,
        request: httpx.Request,
        state: _State,
        response: httpx.Response | None,
        error: BaseException | None,
    ) -> None:
        span, token, url, start, sending = state
        duration_ms = (perf_counter() - start) * 1000
        _SENDING.reset(sending)
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
        fields: dict[str, object] = {"http.request.method": request.method, "url.full": url}
        if status is not None:
            fields["http.response.status_code"] = status
        fields["http.time_ms"] = round(duration_ms, 3)
        logger = log.current()
        if error is not None:
            fields["error.type"] = _error_type(error)
            fields["err"] = error
            # Cancelling a call is not the upstream failing.
            level = "error" if isinstance(error, Exception) else "warn"
            logger.write_line(level, "client request failed", fields)
        elif response is not None and self.error_status(response.status_code):
            fields["error.type"] = str(response.status_code)
            fields["err"] = f"{response.status_code} {response.reason_phrase}".strip()
            logger.write_line("error", "client request failed", fields)
        else:
            # Written whatever the request's buffering, as Clue's client does (log.Print).
            logger.write_line("info", "client request", fields)


class TracedAsyncClient(httpx.AsyncClient):
    """An `httpx.AsyncClient` that traces, propagates and logs every request it sends."""

    def __init__(
        self,
        *,
        telemetry: Telemetry | None = None,
        credential_params: Iterable[str] = (),
        error_status: Callable[[int], bool] = server_error,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._bastion = _Instrumentation(telemetry, credential_params, error_status)

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
        error_status: Callable[[int], bool] = server_error,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._bastion = _Instrumentation(telemetry, credential_params, error_status)

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
    error_status: Callable[[int], bool] = server_error,
    **kwargs: Any,
) -> httpx.AsyncClient:
    """Return an `httpx.AsyncClient` with tracing, trace propagation and call logging.

    `telemetry` pins the spans to one app's telemetry; by default they go through the
    OpenTelemetry API globals, i.e. to the app serving the current request.
    `credential_params` adds query parameter names to scrub from logged and traced
    URLs. `error_status(status)` says which responses are failed calls, logged as errors
    (5xx by default; `lambda s: s >= 400` is Clue's). Other keyword arguments go to
    `httpx.AsyncClient` (base_url, timeout, ...).
    """
    return TracedAsyncClient(
        telemetry=telemetry,
        credential_params=credential_params,
        error_status=error_status,
        **kwargs,
    )


def sync_client(
    *,
    telemetry: Telemetry | None = None,
    credential_params: Iterable[str] = (),
    error_status: Callable[[int], bool] = server_error,
    **kwargs: Any,
) -> httpx.Client:
    """Return an `httpx.Client` with tracing, trace propagation and call logging."""
    return TracedClient(
        telemetry=telemetry,
        credential_params=credential_params,
        error_status=error_status,
        **kwargs,
    )
