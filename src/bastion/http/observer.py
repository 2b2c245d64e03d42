"""The request observer: one HTTP layer for the request's logs, span and metrics.

A production request is observed three ways: it gets a log scope (a request id bound to
every line, the App's Logger, the request's debug switch) with a `start` and an `end`
line, a SERVER span continuing the caller's trace, and the RED metrics. Each needs the
same few facts — some request headers, the response's status and size, the time taken,
the route, the error the response carries — so one layer gathers them once and gives
each its share: one scan of the headers, one wrapper of `send`, one clock, one frame on
the stack. Two middlewares stacked would each scan, wrap and time the request again, and
the log lines would look up the span the layer above had just made.

The parts are switched on by what the observer is given: a `Logger` (the log scope),
`lines=True` (its `start` and `end` lines, outside the excluded paths), a
`ServerTracing` (the span and the metrics, outside its excluded paths). The App gives it
all three; `RequestLog` (log only) and `bastion.otel.TracingMiddleware` (tracing only)
are the same observer with one part, for ASGI apps of their own.

The lines: each request's id is a valid incoming `X-Request-ID`, or a new one, returned
in the response's `X-Request-ID`; probe paths (`/livez`, `/readyz`, `/healthz`) get no
lines by default; URLs are logged with the values of sensitive query parameters replaced
by `REDACTED`, as in spans; an error response's name and id are on its `end` line.
"""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING, Any, Final, Protocol

from opentelemetry.context import detach

from bastion import log
from bastion._ids import ID_BITS, id_bits, is_valid_request_id
from bastion.clientaddr import ClientAddress
from bastion.debug._switch import Authorize, debug_header_enabled
from bastion.log._context import enter_request, leave_request
from bastion.log._state import span_context
from bastion.redact import Redactor, redactor_with
from bastion.types import ERROR_SCOPE_KEY, ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from bastion.otel._tracing import ServerTracing

__all__ = ["DEFAULT_EXCLUDE_PATHS", "CountedSend", "RequestObserver"]

_HTTP1: Final = frozenset({"1.0", "1.1"})

#: Paths whose requests get no start and end lines unless told otherwise: probes.
DEFAULT_EXCLUDE_PATHS: Final = ("/livez", "/readyz", "/healthz")

# What a request header is to the observer (the one scan's table).
_REQUEST_ID, _DEBUG, _HOST, _USER_AGENT, _CONTENT_LENGTH = 1, 2, 3, 4, 5
_TRACEPARENT, _TRACESTATE, _BAGGAGE, _PROPAGATION, _TRANSFER_ENCODING = 6, 7, 8, 9, 10

# The keys of the `start` and `end` lines, in the standard order the log writes them: a
# few fixed shapes, kept as tuples so that a line builds no dict of its own.
_METHOD, _PATH, _QUERY, _ROUTE = "http.request.method", "url.path", "url.query", "http.route"
_CLIENT = "client.address"
_START_KEYS: Final = ((_METHOD, _PATH, _CLIENT), (_METHOD, _PATH, _QUERY, _CLIENT))


def _end_keys(query: bool, route: bool, error: bool, aborted: bool) -> tuple[str, ...]:
    return ((_METHOD, _PATH) + ((_QUERY,) if query else ()) + ((_ROUTE,) if route else ())
            + ("http.response.status_code", "http.time_ms", "http.response.body.size",
               _CLIENT)
            + (("error.type", "error.id") if error else ()) + (("aborted",) if aborted else ()))


_END_KEYS: Final = {(q, r, e, a): _end_keys(q, r, e, a)
                    for q in (False, True) for r in (False, True)
                    for e in (False, True) for a in (False, True)}
_END_ROUTED: Final = _END_KEYS[False, True, False, False]  # the usual end line


class RequestObserver:
    """Observe each HTTP request: its log scope and lines, its span and metrics (see module).

    `logger` (None: no log scope), `lines` (the `start` and `end` lines), `tracing` (None:
    no span, no metrics). `exclude_paths` are the paths with no lines (exact paths, globs
    or compiled regular expressions, searched); the paths with no span are the tracing's.
    `buffered=True` lets request buffering hold the lines, as `log.info`.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        logger: log.Logger | None = None,
        tracing: ServerTracing | None = None,
        lines: bool = True,
        exclude_paths: Iterable[str | re.Pattern[str]] = DEFAULT_EXCLUDE_PATHS,
        credential_params: Iterable[str] = (),
        redactor: Redactor | None = None,
        debug_authorizer: Authorize | None = None,
        buffered: bool = False,
        client_address: ClientAddress | None = None,
    ) -> None:
        self.app = app
        self.logger = logger
        self.tracing = tracing if tracing is not None and tracing.enabled else None
        self.exact, self.patterns = _compile_exclude(exclude_paths)
        # The same names and marker as the spans: logs and spans agree.
        self.redactor = (redactor or redactor_with()).with_names(credential_params)
        self.debug_authorizer = debug_authorizer
        self.lines = lines and logger is not None
        self.buffered = buffered
        self.client_address = client_address or ClientAddress()
        kinds: dict[bytes, int] = {}
        if logger is not None:
            kinds |= {b"x-request-id": _REQUEST_ID, b"x-debug-logs": _DEBUG}
        if self.tracing is not None:
            kinds |= {b"host": _HOST, b"user-agent": _USER_AGENT,
                      b"content-length": _CONTENT_LENGTH,
                      b"transfer-encoding": _TRANSFER_ENCODING}
            fields = self.tracing.propagation_fields
            if fields is None:
                kinds |= {b"traceparent": _TRACEPARENT, b"tracestate": _TRACESTATE,
                          b"baggage": _BAGGAGE}
            else:
                kinds |= {f.lower().encode("latin-1"): _PROPAGATION for f in fields}
        self._kinds = kinds
        self._trace_exclude = self.tracing.exclude if self.tracing is not None else frozenset()

    def excluded(self, path: str) -> bool:
        """Return whether requests for `path` get no start and end lines."""
        if path in self.exact:
            return True
        return self.patterns is not None and self.patterns.search(path) is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request inside its log scope and span, between its lines."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        logger = self.logger
        tracing = self.tracing
        if tracing is not None and path in self._trace_exclude:
            tracing = None
        if logger is None and tracing is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        # -- one scan of the headers, for the log scope and the trace ------------------
        request_id = b""
        debug_header = False
        host = user_agent = traceparent = tracestate = baggage = None
        request_bytes = -1
        chunked = False
        carrier: dict[str, str] | None = None
        kinds = self._kinds
        for name, value in scope["headers"]:
            kind = kinds.get(name)
            if kind is None:
                continue
            if kind == _REQUEST_ID:
                if is_valid_request_id(value):
                    request_id = value
            elif kind == _DEBUG:
                debug_header = debug_header or value.lower() == b"on"
            elif kind == _HOST:
                host = value
            elif kind == _USER_AGENT:
                user_agent = value
            elif kind == _CONTENT_LENGTH:
                if value.isdigit():
                    request_bytes = int(value)
            elif kind == _TRACEPARENT:
                traceparent = value
            elif kind == _TRACESTATE:
                tracestate = value if tracestate is None else tracestate + b"," + value
            elif kind == _BAGGAGE:
                baggage = value if baggage is None else baggage + b"," + value
            elif kind == _TRANSFER_ENCODING:
                chunked = True
            else:  # another propagator's header; repeated ones are joined (RFC 9110)
                key, text = name.decode("latin-1"), value.decode("latin-1")
                if carrier is None:
                    carrier = {key: text}
                else:
                    carrier[key] = f"{carrier[key]},{text}" if key in carrier else text

        # -- the span, current for everything below ------------------------------------
        method = scope["method"]
        span = None
        if tracing is not None:
            label = method if method in tracing.known_methods else "_OTHER"
            scheme = scope.get("scheme", "http")
            w3c = None if traceparent is None and baggage is None else (
                traceparent, tracestate, baggage)
            span_token, span, recording, active = tracing.start(
                scope, label, scheme, started, w3c, carrier, host, user_agent)
        loud = self.lines and not self.excluded(path)
        if loud and span is None:
            span = span_context()  # the span a layer outside made, if any
        log_token = None
        held = None

        # The response's status, body size and X-Request-ID: Bastion's server keeps the
        # first two on its exchange and writes the third in the head; on another server,
        # or behind a layer outside that wraps `send` (and may answer later, or for the
        # app), a wrapper of `send` does all three.
        extensions = scope.get("extensions")
        exchange = extensions.get("bastion.exchange") if extensions else None
        sent: Sent
        inner_send: Send
        if exchange is not None and exchange is getattr(send, "__self__", None):
            # The exchange is a Sent; its type is the server's, which this layer does not import.
            sent, inner_send = exchange, send  # type: ignore[assignment]
        else:
            sent = inner_send = CountedSend(send)

        inner_receive = receive
        if tracing is not None and request_bytes < 0:
            # No Content-Length. Without Transfer-Encoding either, an HTTP/1 request has
            # no body (RFC 9112, 6.3); otherwise count what the app reads.
            request_bytes = 0
            if chunked or scope.get("http_version") not in _HTTP1:

                async def counted_receive() -> Message:
                    nonlocal request_bytes
                    message = await receive()
                    if message["type"] == "http.request":
                        request_bytes += len(message.get("body", b""))
                    return message

                inner_receive = counted_receive

        error: BaseException | None = None
        query: str | None = None
        client = ""
        begun = False  # the start line was written: the end line follows it
        try:
            # Inside the `try`: a request cancelled while its debug switch is decided
            # still detaches its span and leaves the in-flight count.
            if logger is not None:
                # -- the log scope: the request id and the request's debug switch ------
                # `new_id()` inlined: on this path the call would cost as much as the id.
                rid = (request_id.decode("latin-1") if request_id
                       else "%016x" % id_bits(ID_BITS))  # noqa: UP031
                sent.request_id = request_id or rid.encode("latin-1")
                scope["bastion.request_id"] = rid
                debug = False
                if debug_header:
                    # The debug module's rule: a refusal (False, Unauthorized, Forbidden)
                    # only means no debug logs, never a failed request.
                    debug = await debug_header_enabled(scope, self.debug_authorizer)
                log_token, held = enter_request(logger, {"request_id": rid}, debug, flat=True)
            if loud:
                assert logger is not None
                qs = scope.get("query_string", b"")
                client = self.client_address(scope)
                if qs:
                    query = self.redactor.query(qs.decode("latin-1"))
                    logger.request_line("start", _START_KEYS[1], (method, path, query, client),
                                        span, hold=self.buffered)
                else:
                    logger.request_line("start", _START_KEYS[0], (method, path, client), span,
                                        hold=self.buffered)
                begun = True
            await self.app(scope, inner_receive, inner_send)
        except BaseException as exc:
            error = exc
            raise
        finally:
            duration = time.perf_counter() - started
            status, response_bytes = sent.status, sent.body_bytes
            if log_token is not None:
                assert logger is not None
                if begun:
                    self._end_line(logger, scope, exchange, method, path, query, client,
                                   status, duration, response_bytes, span)
                leave_request(log_token, held, logger, error)
            if tracing is not None:
                try:
                    tracing.detach(span_token)
                except (ValueError, RuntimeError):
                    # A token of another context, or reset twice: the API's detach logs
                    # that (it fails the same way) instead of raising over the request.
                    detach(span_token)
                tracing.finish(scope, recording, active, label, scheme, status, error,
                               duration, request_bytes, response_bytes)

    def _end_line(
        self,
        logger: log.Logger,
        scope: Scope,
        exchange: Any,  # Bastion's server's exchange, or None
        method: str,
        path: str,
        query: str | None,
        client: str,
        status: int,
        duration: float,
        size: int,
        span: object,
    ) -> None:
        route = scope.get("bastion.route")
        note = scope.get(ERROR_SCOPE_KEY)
        # Cut short (a write deadline, a client gone): say so, with the body bytes the
        # kernel really took, not those handed over.
        aborted = False
        if exchange is not None and (exchange.aborted or not exchange.complete):
            aborted = True
            size = exchange.body_bytes_written
        ms = round(duration * 1e6) / 1000  # ms to the µs; round(x, 3) is 4x slower
        if route is not None and query is None and note is None and not aborted:
            logger.request_line("end", _END_ROUTED, (method, path, route, status, ms, size,
                                                     client),
                                span, hold=self.buffered)  # type: ignore[arg-type]
            return
        values: list[object] = [method, path]
        if query is not None:
            values.append(query)
        if route is not None:
            values.append(route)
        values += (status, ms, size, client)
        if note is not None:
            values += (note.name, note.id)
        if aborted:
            values.append(True)
        keys = _END_KEYS[query is not None, route is not None, note is not None, aborted]
        logger.request_line("end", keys, tuple(values), span,  # type: ignore[arg-type]
                            hold=self.buffered)


class Sent(Protocol):
    """What the observer knows of a response: Bastion's exchange, or a `CountedSend`."""

    status: int
    body_bytes: int
    request_id: bytes


class CountedSend:
    """`send` on a server other than Bastion's: what its exchange would know, counted here.

    The response's status and the body bytes handed over, and the request's id added as
    `X-Request-ID` to a response start that has none (the server's own error answers
    already carry it).
    """

    __slots__ = ("body_bytes", "request_id", "send", "status")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status = 0
        self.body_bytes = 0
        self.request_id = b""

    def __call__(self, message: Message) -> Awaitable[None]:
        """Count `message` and pass it on; a plain method, no coroutine per message."""
        kind = message["type"]
        if kind == "http.response.body":
            self.body_bytes += len(message.get("body", b""))
        elif kind == "http.response.start":
            self.status = message["status"]
            if self.request_id:
                headers = message.get("headers", ())
                # The dict is built in C: a tenth of the cost of a generator over the pairs.
                if b"x-request-id" not in dict(headers):
                    message["headers"] = [*headers, (b"x-request-id", self.request_id)]
        return self.send(message)


def _compile_exclude(
    patterns: Iterable[str | re.Pattern[str]],
) -> tuple[frozenset[str], re.Pattern[str] | None]:
    exact: set[str] = set()
    regexes: list[str] = []
    for pattern in patterns:
        if isinstance(pattern, re.Pattern):
            regexes.append(pattern.pattern)
        elif any(c in pattern for c in "*?["):
            regexes.append("^" + fnmatch.translate(pattern))
        else:
            exact.add(pattern)
    combined = re.compile("|".join(f"(?:{r})" for r in regexes)) if regexes else None
    return frozenset(exact), combined
