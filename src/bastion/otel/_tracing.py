"""HTTP tracing and metrics: one server span and the HTTP metrics per request.

`ServerTracing` is the request observer's tracing part (`bastion.http.observer`);
`TracingMiddleware` is the observer with that part alone. For every HTTP request (probe
paths excepted) it continues the caller's trace from the
W3C `traceparent`/`tracestate`/`baggage` headers, makes one SERVER span current for the
inner app, and records `http.server.*` metrics. The router tells it the matched route
template by setting `scope["bastion.route"]` (e.g. "/orders/{id}"), an exception it
turned into a 500 response by setting `scope["bastion.exception"]`, and the error any
error response carries (a `bastion.types.ErrorNote`: a design error the method raised, a
validation failure, a refusal) under `ERROR_SCOPE_KEY`; the span is then named
"POST /orders/{id}" and carries the semantic-convention attributes. `error.type` is the
error's name, and a raised design error is recorded on the span, whatever the status;
the span is marked failed only for a 5xx, as the HTTP conventions say for servers (a 4xx
is the client's error).

Cost is kept to a few microseconds per request: the sampling decision is taken before
anything is built, spans that are not sampled are the API's `NonRecordingSpan`, the
sampled span is Bastion's `ServerSpan` (no per-attribute validation of values Bastion
produced itself), and metrics go to pre-bound cells (see `bastion.otel._metrics`).
"""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import Token
from random import getrandbits
from time import perf_counter, time_ns
from typing import Final

from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context, attach, detach, get_current
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import Decision, SamplingResult
from opentelemetry.trace import (
    DEFAULT_TRACE_STATE,
    INVALID_SPAN_CONTEXT,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    TraceFlags,
    TraceState,
    set_span_in_context,
)
from opentelemetry.util.types import AnyValue

from bastion.clientaddr import ClientAddress
from bastion.http.observer import RequestObserver
from bastion.otel._env import W3CPropagator
from bastion.otel._global import TELEMETRY_KEY
from bastion.otel._metrics import KNOWN_METHODS, ActiveCount
from bastion.otel._sampler import AdaptiveSampler, ParentBasedSampler
from bastion.otel._sdk import SPAN_KEY, local_span_context, runtime_context_var
from bastion.otel._span import ServerSpan
from bastion.otel._telemetry import Telemetry
from bastion.redact import redact_query, redactor_with
from bastion.types import ERROR_SCOPE_KEY, ASGIApp, Scope

__all__ = ["DEFAULT_EXCLUDE_PATHS", "ServerTracing", "TracingMiddleware", "parse_traceparent"]

#: Probe and scrape paths: frequent, uninteresting, and they would skew latency metrics.
DEFAULT_EXCLUDE_PATHS: Final = frozenset({"/livez", "/readyz", "/healthz", "/metrics"})

_HEX: Final = "0123456789abcdef"
_TRACE_FLAGS: Final = tuple(TraceFlags(i) for i in range(256))
# The W3C limits the SDK's propagators apply.
_MAX_TRACEPARENT = 512
_MAX_TRACESTATE = 512
_SAMPLED = Decision.RECORD_AND_SAMPLE
_RECORD_ONLY = Decision.RECORD_ONLY
_SAMPLE_RESULT = SamplingResult(_SAMPLED)
_DROP_RESULT = SamplingResult(Decision.DROP)


def _random_trace_id() -> int:
    trace_id = getrandbits(128)
    while not trace_id:  # pragma: no cover - one chance in 2**128
        trace_id = getrandbits(128)
    return trace_id


def _random_span_id() -> int:
    span_id = getrandbits(64)
    while not span_id:  # pragma: no cover - one chance in 2**64
        span_id = getrandbits(64)
    return span_id


def _error_type(exc: BaseException) -> str:
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module in ("builtins", "") else f"{module}.{cls.__qualname__}"


def parse_traceparent(header: str, tracestate: str | None = None) -> SpanContext | None:
    """Parse a W3C `traceparent` (and `tracestate`) as the SDK propagator does, or None."""
    value = header.strip(" \t")
    size = len(value)
    if size < 55 or size > _MAX_TRACEPARENT:
        return None
    if value[2] != "-" or value[35] != "-" or value[52] != "-":
        return None
    version = value[:2]
    if version == "ff" or (size > 55 and (version == "00" or value[55] != "-")):
        return None
    # strip() with the hex digits leaves something behind iff a non-hex character is there
    # (int(..., 16) alone would accept upper case, "_" and signs).
    if (value[:2] + value[3:35] + value[36:52] + value[53:55]).strip(_HEX):
        return None
    trace_id = int(value[3:35], 16)
    span_id = int(value[36:52], 16)
    if not trace_id or not span_id:
        return None
    state = None
    if tracestate and len(tracestate) <= _MAX_TRACESTATE:
        state = TraceState.from_header([tracestate])
    return SpanContext(
        trace_id,
        span_id,
        is_remote=True,
        trace_flags=_TRACE_FLAGS[int(value[53:55], 16)],
        trace_state=state,
    )


def _split_host(host: str) -> tuple[str, int | None]:
    # "example.com", "example.com:8443", "[::1]:8080"
    if host.startswith("["):
        end = host.find("]")
        if end > 0:
            port = host[end + 2 :] if host[end + 1 : end + 2] == ":" else ""
            return host[1:end], int(port) if port.isdigit() else None
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit():
        return name, int(port)
    return host, None


class ServerTracing:
    """What the request observer needs to trace and measure requests: made once per App.

    The per-request flow lives in `bastion.http.observer.RequestObserver`, which scans the
    headers once for the logs and the traces; this class turns what it found into the
    request's span context (`start`) and records the span and metrics (`finish`).
    `credential_params` names extra query parameters whose values are scrubbed from
    `url.query` (the defaults cover `access_token`, `api_key`, `token`, `key`, `password`
    and more).
    """

    def __init__(
        self,
        telemetry: Telemetry,
        *,
        exclude_paths: Iterable[str] = DEFAULT_EXCLUDE_PATHS,
        credential_params: Iterable[str] = (),
        client_address: ClientAddress | None = None,
    ) -> None:
        self._client_of = client_address or ClientAddress()
        self.telemetry = telemetry
        self.enabled = telemetry.enabled
        self.exclude = frozenset(exclude_paths)
        self._credentials = redactor_with(credential_params)
        self.metrics = telemetry.metrics
        #: The methods recorded by name; any other is "_OTHER", so that a client cannot
        #: make unbounded metric series by inventing methods.
        self.known_methods = KNOWN_METHODS
        self._sampler = telemetry.sampler
        sampler = telemetry.sampler
        self._adaptive = (
            sampler.root
            if isinstance(sampler, ParentBasedSampler) and isinstance(sampler.root, AdaptiveSampler)
            else None
        )
        self._propagator = telemetry.propagator
        #: The propagator's own header names, or None for W3C (read by the observer's scan).
        self.propagation_fields: tuple[str, ...] | None = (
            None if isinstance(self._propagator, W3CPropagator)
            else tuple(self._propagator.fields)
        )
        ids = telemetry.tracer_provider.id_generator
        self._new_trace_id = ids.generate_trace_id
        self._new_span_id = ids.generate_span_id
        if type(ids) is RandomIdGenerator:
            # The SDK's default draws from `random`: the same draws, without two calls.
            self._new_trace_id = _random_trace_id
            self._new_span_id = _random_span_id
        self._random_ids = ids.is_trace_id_random()
        #: Our own id draws are always valid: their SpanContext needs no checks.
        self._new_context = local_span_context if type(ids) is RandomIdGenerator else None
        # The request's context is made current and restored through the runtime
        # context's ContextVar when it has one (see bastion.otel._sdk).
        var = runtime_context_var()
        self._current = var.get if var is not None else get_current
        self.attach = var.set if var is not None else attach
        #: Restores the context before `start` (given the token it returned).
        self.detach = var.reset if var is not None else detach
        # TraceFlags built once, indexed [sampled][random trace id].
        self._flags = tuple(
            tuple(
                TraceFlags(
                    (TraceFlags.SAMPLED if s else 0) | (TraceFlags.RANDOM_TRACE_ID if r else 0)
                )
                for r in (False, True)
            )
            for s in (False, True)
        )
        self._baggage = W3CBaggagePropagator()
        self._resource = telemetry.resource
        self._scope = telemetry.scope
        self._limits = telemetry.span_limits

    def start(
        self,
        scope: Scope,
        method: str,
        scheme: str,
        started: float,
        w3c: tuple[bytes | None, bytes | None, bytes | None] | None,
        carrier: dict[str, str] | None,
        host: bytes | None,
        user_agent: bytes | None,
    ) -> tuple[Token[Context], SpanContext, ServerSpan | None, ActiveCount]:
        """Make the request's span current and count it in flight.

        Returns the token that detaches the span, its span context, the span (None when the
        request is not recorded: the context is then a `NonRecordingSpan`'s) and the
        in-flight counter `finish` takes. `w3c` is the (traceparent, tracestate, baggage)
        the request carried, None when it had none; `carrier` the headers of another
        propagator.
        """
        if carrier is not None:
            parent_ctx = self._propagator.extract(carrier)
        elif w3c is None:
            parent_ctx = self._current()
        else:
            parent_ctx = self._extract_w3c(*w3c)
        parent_span = parent_ctx.get(SPAN_KEY)  # what get_current_span(parent_ctx) reads
        parent = (INVALID_SPAN_CONTEXT if parent_span is None or not isinstance(parent_span, Span)
                  else parent_span.get_span_context())
        parent_or_none: SpanContext | None
        if parent is not INVALID_SPAN_CONTEXT and parent.is_valid:
            trace_id = parent.trace_id
            random_id = parent.trace_flags.random_trace_id
            parent_or_none = parent
        else:  # a root span: most requests
            trace_id = self._new_trace_id()
            random_id = self._random_ids
            parent_or_none = None
        adaptive = self._adaptive
        if adaptive is not None and parent_or_none is None:
            # The default sampler on a root span: what ParentBased(Adaptive) decides,
            # without building a SamplingResult.
            result = _SAMPLE_RESULT if adaptive.keep_root() else _DROP_RESULT
        else:
            result = self._sampler.should_sample(parent_ctx, trace_id, method, SpanKind.SERVER)
        decision = result.decision
        flags = self._flags[decision is _SAMPLED][random_id]
        if self._new_context is not None:
            span_context = self._new_context(trace_id, self._new_span_id(), flags,
                                             result.trace_state or DEFAULT_TRACE_STATE)
        else:
            span_context = SpanContext(trace_id, self._new_span_id(), is_remote=False,
                                       trace_flags=flags, trace_state=result.trace_state)
        span: ServerSpan | NonRecordingSpan
        recording: ServerSpan | None = None
        if decision is _SAMPLED or decision is _RECORD_ONLY:
            attributes = self._start_attributes(scope, method, scheme, host, user_agent)
            if result.attributes:
                attributes.update(result.attributes)
            recording = ServerSpan(
                "HTTP" if method == "_OTHER" else method,
                span_context,
                parent_or_none,
                attributes,
                # The wall clock of the start, read only for the few spans recorded.
                time_ns() - int((perf_counter() - started) * 1e9),
                resource=self._resource,
                scope=self._scope,
                processors=self.telemetry.span_processors,
                limits=self._limits,
            )
            recording.start(parent_ctx)
            span = recording
        else:
            span = NonRecordingSpan(span_context)
        # What set_value(TELEMETRY_KEY, ..., set_span_in_context(span, parent_ctx)) returns,
        # in one copy instead of two.
        context = Context({**parent_ctx, SPAN_KEY: span, TELEMETRY_KEY: self.telemetry})
        return (self.attach(context), span_context, recording,
                self.metrics.start(method, scheme))

    def finish(
        self,
        scope: Scope,
        recording: ServerSpan | None,
        active: ActiveCount,
        method: str,
        scheme: str,
        status: int,
        error: BaseException | None,
        duration: float,
        request_bytes: int,
        response_bytes: int,
    ) -> None:
        """Count the request out of flight, record its metrics and end its span (if any)."""
        route = scope.get("bastion.route")
        note = scope.get(ERROR_SCOPE_KEY)
        error_type: str | None = None
        if error is not None and not status:
            # Failed before answering: the type names the error (semantic conventions),
            # and an Exception becomes the 500 the server sends for it.
            error_type = _error_type(error)
            if isinstance(error, Exception):
                status = 500
        elif note is not None:
            error_type = note.name
        elif status >= 500:
            error_type = str(status)
        elif error is not None:
            error_type = _error_type(error)
        self.metrics.record(
            active,
            method,
            route,
            status,
            scheme,
            scope.get("http_version"),
            error_type,
            duration,
            request_bytes,
            response_bytes,
        )
        if recording is not None:
            self._finish(
                recording,
                scope,
                method=method,
                route=route,
                status=status,
                error=error,
                error_type=error_type,
                end_ns=time_ns(),
            )

    def _extract_w3c(
        self, traceparent: bytes | None, tracestate: bytes | None, baggage: bytes | None
    ) -> Context:
        # What W3CPropagator.extract returns, without its generic getter machinery.
        ctx = Context()
        if traceparent is not None:
            state = tracestate.decode("latin-1") if tracestate is not None else None
            parent = parse_traceparent(traceparent.decode("latin-1"), state)
            if parent is not None:
                ctx = set_span_in_context(NonRecordingSpan(parent), ctx)
        if baggage is not None:
            ctx = self._baggage.extract({"baggage": baggage.decode("latin-1")}, ctx)
        return ctx

    def _start_attributes(
        self,
        scope: Scope,
        method: str,
        scheme: str,
        host: bytes | None,
        user_agent: bytes | None,
    ) -> dict[str, AnyValue]:
        # Only sampled requests pay for building the attribute dict.
        attrs: dict[str, AnyValue] = {
            "http.request.method": method,
            "url.scheme": scheme,
            "url.path": scope["path"],
        }
        if method == "_OTHER":
            attrs["http.request.method_original"] = scope["method"]
        query = scope.get("query_string")
        if query:
            attrs["url.query"] = redact_query(query.decode("latin-1"), self._credentials)
        version = scope.get("http_version")
        if version:
            attrs["network.protocol.version"] = version
        if host is not None:
            address, port = _split_host(host.decode("latin-1"))
            attrs["server.address"] = address
            if port is not None:
                attrs["server.port"] = port
        elif scope.get("server"):
            server_host, server_port = scope["server"][0], scope["server"][1]
            attrs["server.address"] = server_host
            if server_port is not None:
                attrs["server.port"] = server_port
        client = scope.get("client")
        if client:
            # The client (behind trusted proxies, the one they forwarded for) and the peer.
            address = self._client_of(scope) or client[0]
            attrs["client.address"] = address
            if address == client[0]:
                attrs["client.port"] = client[1]
            attrs["network.peer.address"] = client[0]
            attrs["network.peer.port"] = client[1]
        if user_agent is not None:
            attrs["user_agent.original"] = user_agent.decode("latin-1")
        return attrs

    @staticmethod
    def _finish(
        span: ServerSpan,
        scope: Scope,
        *,
        method: str,
        route: str | None,
        status: int,
        error: BaseException | None,
        error_type: str | None,
        end_ns: int,
    ) -> None:
        name = "HTTP" if method == "_OTHER" else method
        late: dict[str, AnyValue] = {}
        if route is not None:
            span.update_name(f"{name} {route}")
            late["http.route"] = route
        if status:
            late["http.response.status_code"] = status
        if error_type is not None:
            late["error.type"] = error_type
        span.add_attributes(late)
        handled = scope.get("bastion.exception")
        if isinstance(handled, BaseException):
            span.record_exception(handled)
            span.set_error(f"{type(handled).__name__}: {handled}")
        note = scope.get(ERROR_SCOPE_KEY)
        raised = note.error if note is not None else None
        if raised is not None and raised is not handled:
            # The error a method raised, recorded whatever the status; only a 5xx is a
            # failure of the server's (OpenTelemetry's HTTP conventions).
            span.record_exception(raised)
            if status >= 500:
                span.set_error(f"{error_type}: {raised}")
        if error is not None:
            span.record_exception(error, escaped=True)
            span.set_error(f"{type(error).__name__}: {error}")
        elif status >= 500:
            span.set_error()
        span.end(end_ns)


class TracingMiddleware(RequestObserver):
    """ASGI middleware: a SERVER span and the HTTP server metrics for each HTTP request.

    The request observer with tracing only (no log scope, no lines), for any ASGI app;
    the App runs one observer for both. `credential_params` names extra query parameters
    whose values are scrubbed from `url.query`; pass the design's API-key query parameter
    names here.
    """

    def __init__(
        self,
        app: ASGIApp,
        telemetry: Telemetry,
        *,
        exclude_paths: Iterable[str] = DEFAULT_EXCLUDE_PATHS,
        credential_params: Iterable[str] = (),
        client_address: ClientAddress | None = None,
    ) -> None:
        tracing = ServerTracing(telemetry, exclude_paths=exclude_paths,
                                credential_params=credential_params,
                                client_address=client_address)
        super().__init__(app, tracing=tracing, client_address=client_address)
        self.telemetry = telemetry
