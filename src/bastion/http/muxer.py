"""The HTTP muxer: an ASGI app that routes requests to compiled method handlers.

Every route's handler is a closure built at startup from the design: decoder, endpoint,
encoder and the status of each design error are bound once, so a request does a router
lookup and a few calls, and nothing else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from bastion._asgi import TEMPORARY_STATUSES
from bastion._ids import new_id
from bastion.clientaddr import ClientAddress
from bastion.endpoint import bodies as request_body
from bastion.errors import ClientDisconnected, ServiceError
from bastion.http._body import too_large
from bastion.http.bodyroute import RouteBodies
from bastion.http.codecs import Codec
from bastion.http.decoder import Decoder
from bastion.http.encoder import ResultEncoder, ResultMismatch
from bastion.http.errorenc import ErrorEncoder
from bastion.http.errors import (
    JSON_HEADERS,
    HTTPError,
    error_body,
    internal_error,
    note_error,
)
from bastion.http.ratelimit import rate_limit_header_pairs
from bastion.http.rawbody import RequestBody, stream_body
from bastion.http.router import Router
from bastion.operations import Operation
from bastion.redact import DEFAULT_REDACTOR, Redactor
from bastion.schema.formats import enc_hook
from bastion.security.principal import set_client_address
from bastion.security.ratelimit import rate_limit_decision
from bastion.types import ErrorNote, Receive, Scope, Send

__all__ = ["ErrorHook", "Handler", "Muxer", "RouteBodies", "SecurityMapper", "send_error",
           "send_response"]

Handler = Callable[[Scope, Receive, Send, dict[str, str]], Awaitable[None]]
#: Called with (scope, exception, error id) for every request that ends in a 500.
ErrorHook = Callable[[Scope, BaseException, str], None]
#: Maps security exceptions to (status, name, message, extra headers); set by the app.
SecurityMapper = Callable[[BaseException], tuple[int, str, str, list[tuple[bytes, bytes]]] | None]

#: Statuses whose responses never have a body, nor a Content-Length (RFC 9110 §8.6).
_NO_BODY = frozenset({204, 304})


# A negotiated answer depends on the request's Accept.
_VARY_ACCEPT = (b"vary", b"accept")

class Muxer:
    """Routes HTTP requests; `add_method` and `mount` routes, then `compile`.

    `on_internal_error` logs every 500 (the App's logger); `security_mapper` turns the
    security layer's refusals into answers (the App's `SecurityResponses`); `redactor`
    names the fields whose values error bodies never echo.
    """

    def __init__(
        self,
        *,
        on_internal_error: ErrorHook,
        security_mapper: SecurityMapper,
        redactor: Redactor = DEFAULT_REDACTOR,
        client_address: ClientAddress | None = None,
        streams: Any = None,
    ) -> None:
        self.router: Router[Handler] = Router()
        #: What streaming routes share (`bastion.http.streams.Streams`); None: no streams.
        self.streams = streams
        # Routes that upgrade to a WebSocket; other WebSocket requests are closed (1003).
        self._sockets: Router[Handler] | None = None
        self.client_address = client_address or ClientAddress()
        self._prebuilt = self.router.prebuilt
        self.redactor = redactor
        self.on_internal_error = on_internal_error
        self.security_mapper = security_mapper
        self.routes: list[tuple[str, str, str]] = []  # (verb, template, service.method)

    def mount(self, verb: str, path: str, handler: Handler, name: str = "") -> None:
        """Serve a raw handler at `verb path` (docs, health, debug)."""
        self.router.add(verb, path, handler)
        self.routes.append((verb, path, name or path))

    def add_operation(
        self,
        operation: Operation,
        decoder: Decoder | None,
        encoder: ResultEncoder,
        errors: ErrorEncoder | None = None,
        bodies: RouteBodies | None = None,
    ) -> None:
        """Serve an operation on each route its design maps; its chain must be built.

        `bodies` is what its route does beyond JSON bodies (see `RouteBodies`).
        """
        method = operation.expr
        if method.http is None:
            return
        if errors is None:
            errors = ErrorEncoder(operation, msgspec.json.Encoder(enc_hook=enc_hook))
        if method.stream_kind is not None:
            self._add_stream(operation, decoder, errors)
            return
        for route in method.http.routes:
            handler = self._handler(operation, route.full_path, decoder, encoder, errors, bodies)
            self.router.add(route.verb, route.full_path, handler)
            self.routes.append((route.verb, route.full_path, operation.qualified))

    def _add_stream(self, operation: Operation, decoder: Decoder | None,
                    errors: ErrorEncoder) -> None:
        # A streaming method: a WebSocket (bastion.http.websocket), or server-sent events.
        from bastion.dsl._streams import sse_of
        from bastion.http.sse import SSEHandler
        from bastion.http.streams import Answer, Streams
        from bastion.http.websocket import WebSocketHandler

        shared = self.streams if self.streams is not None else Streams(logger=_quiet())
        self.streams = shared
        answer = Answer(errors, self.security_mapper, self.redactor, self.on_internal_error)
        sse = sse_of(operation.expr)
        for route in operation.expr.http.routes if operation.expr.http else ():
            handler: Handler
            if sse is not None:
                handler = SSEHandler(operation, route.full_path, decoder, answer, shared,
                                     self.client_address, sse)
            else:
                handler = WebSocketHandler(operation, route.full_path, decoder, answer, shared,
                                           self.client_address)
                if self._sockets is None:
                    self._sockets = Router()
                self._sockets.add(route.verb, route.full_path, handler)
            self.router.add(route.verb, route.full_path, handler)
            self.routes.append((route.verb, route.full_path, operation.qualified))

    def compile(self) -> None:
        """Finish the route table; call once after adding every route."""
        self.router.compile()
        if self._sockets is not None:
            self._sockets.compile()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route one request to its handler, or answer 404 or 405."""
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                sockets = self._sockets
                match = sockets.lookup("GET", scope["path"], scope.get("raw_path")) \
                    if sockets is not None else None
                if match is not None and match.handler is not None:
                    await match.handler(scope, receive, send, match.params)
                    return
                await send({"type": "websocket.close", "code": 1003})
            return
        path: str = scope["path"]
        raw = scope.get("raw_path")
        # A static route whose raw path had nothing to decode: one dict lookup, inlined.
        static = self._prebuilt.get(path) if raw is None or len(raw) == len(path) else None
        match = static.get(scope["method"]) if static is not None else None
        if match is None:
            match = self.router.lookup(scope["method"], path, raw)
        handler = match.handler
        if handler is not None:
            await handler(scope, receive, send, match.params)
            return
        if match.allow is not None:
            err = HTTPError(
                405,
                "method_not_allowed",
                f"{scope['method']} is not allowed on {scope['path']}",
                headers=[(b"allow", match.allow.encode("latin-1"))],
            )
        else:
            err = HTTPError(404, "not_found", f"no route for {scope['path']}")
        await send_error(send, err.status, err.body(), err.headers, scope,
                         error=ErrorNote(err.name, err.id))

    def _handler(
        self,
        operation: Operation,
        template: str,
        decoder: Decoder | None,
        encoder: ResultEncoder,
        errors: ErrorEncoder,
        bodies: RouteBodies | None = None,
    ) -> Handler:
        if bodies is not None and bodies.special:
            return self._body_handler(operation, template, decoder, encoder, errors, bodies)
        encode = encoder.encode  # chosen once: the plain path unless the design needs more
        decode = decoder.decode if decoder is not None else None
        negotiate = bodies.negotiator.pick if bodies is not None and bodies.negotiator else None
        call = operation.call
        secured = operation.secured
        answer = self._answer_error
        client_of = self.client_address

        async def handle(
            scope: Scope, receive: Receive, send: Send, params: dict[str, str]
        ) -> None:
            scope["bastion.route"] = template
            if secured:
                # The security layer reads these; each request starts from a clean slate.
                set_client_address(client_of(scope) or None)
                rate_limit_decision.set(None)
            enc, errs, codec = encode, errors, None
            try:
                if negotiate is not None:
                    # Chosen before the call: a 406 must not follow a call's effects.
                    accept = None
                    for name, value in scope["headers"]:
                        if name == b"accept":
                            accept = value
                            break
                    enc, errs, codec = negotiate(accept)
                payload = await decode(scope, receive, params) if decode is not None else None
                result = await call(payload)
                status, headers, body = enc(result)
                if negotiate is not None:
                    headers.append(_VARY_ACCEPT)  # caches keep one answer per Accept
                if secured:
                    decision = rate_limit_decision.get()
                    if decision is not None:
                        headers.extend(rate_limit_header_pairs(decision))
            except (asyncio.CancelledError, ClientDisconnected):
                raise  # nothing can be answered; the server ends the exchange
            except Exception as exc:
                await answer(exc, scope, send, errs, codec)
                return
            # send_response, inlined: the success path awaits nothing it need not.
            if status in _NO_BODY:
                body = b""
            else:
                headers.append((b"content-length", b"%d" % len(body)))
                if scope["method"] == "HEAD":
                    body = b""
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        return handle

    def _body_handler(
        self,
        operation: Operation,
        template: str,
        decoder: Decoder | None,
        encoder: ResultEncoder,
        errors: ErrorEncoder,
        bodies: RouteBodies,
    ) -> Handler:
        """The handler of a route with raw or multipart bodies, or its own deadlines."""
        decode = decoder.decode if decoder is not None else None
        negotiate = bodies.negotiator.pick if bodies.negotiator else None
        call = operation.call
        secured = operation.secured
        answer = self._answer_error
        client_of = self.client_address
        raw_limit = bodies.raw_request
        streamed = bodies.stream_response
        timeouts = bodies.timeouts

        async def handle(
            scope: Scope, receive: Receive, send: Send, params: dict[str, str]
        ) -> None:
            scope["bastion.route"] = template
            if timeouts is not None:
                extensions = scope.get("extensions") or {}
                exchange = extensions.get("bastion.exchange")
                extend = getattr(exchange, "extend_deadlines", None)
                if extend is not None:
                    extend(*timeouts)
            if secured:
                set_client_address(client_of(scope) or None)
                rate_limit_decision.set(None)
            enc, errs, codec = encoder.encode, errors, None
            token = None
            try:
                if negotiate is not None:
                    accept = next((v for n, v in scope["headers"] if n == b"accept"), None)
                    enc, errs, codec = negotiate(accept)
                if raw_limit is not None:
                    token = request_body.use(_raw_body(scope, receive, raw_limit))
                payload = await decode(scope, receive, params) if decode is not None else None
                result = await call(payload)
                if streamed is not None:
                    status, headers, stream = streamed.start(result, scope)
                else:
                    status, headers, body = enc(result)
                if negotiate is not None:
                    headers.append(_VARY_ACCEPT)
                if secured:
                    decision = rate_limit_decision.get()
                    if decision is not None:
                        headers.extend(rate_limit_header_pairs(decision))
            except (asyncio.CancelledError, ClientDisconnected):
                raise
            except Exception as exc:
                await answer(exc, scope, send, errs, codec)
                return
            finally:
                if token is not None:
                    request_body.reset(token)
                for upload in scope.pop("bastion.uploads", ()):
                    upload.close()
            if streamed is not None:
                await stream_body(send, status, headers, stream,
                                  scope["method"] == "HEAD" or status in _NO_BODY)
                return
            await send_response(send, status, headers, body, scope)

        return handle

    async def _answer_error(self, exc: Exception, scope: Scope, send: Send,
                            errors: ErrorEncoder, codec: Codec | None) -> None:
        """Answer a request whose decoding, call or encoding raised `exc`."""
        if isinstance(exc, HTTPError):
            await _send_error_in(codec, send, exc.status, exc.body(self.redactor), exc.headers,
                                 scope, ErrorNote(exc.name, exc.id))
            return
        if isinstance(exc, ServiceError):
            try:
                answer = errors(exc)
            except ResultMismatch as mismatch:
                await _internal(scope, send, mismatch, self.on_internal_error)
                return
            if answer is None:
                # An error the design does not declare is a bug in the service.
                await _internal(scope, send, exc, self.on_internal_error)
                return
            name, (status, headers, body) = answer
            # The tracing middleware records the raised error on the span, the request
            # log its name and id on the end line.
            note_error(scope, ErrorNote(name, exc.id, exc))
            await send_response(send, status, headers, body, scope)
            return
        mapped = self.security_mapper(exc)
        if mapped is None:
            await _internal(scope, send, exc, self.on_internal_error)
            return
        status, name, message, extra = mapped
        error_id = new_id()
        body = error_body(name, error_id, message,
                          temporary=status in TEMPORARY_STATUSES, fault=status >= 500)
        await _send_error_in(codec, send, status, body, extra, scope,
                             ErrorNote(name, error_id, exc))


def _raw_body(scope: Scope, receive: Receive, limit: int) -> RequestBody:
    length = next((v for n, v in scope["headers"] if n == b"content-length"), None)
    size = int(length) if length is not None and length.isdigit() else None
    if size is not None and size > limit:
        raise too_large(limit)
    return RequestBody(receive, limit, size)


async def _send_error_in(codec: Codec | None, send: Send, status: int, body: bytes,
                         extra: Any, scope: Scope, error: ErrorNote) -> None:
    """Send an error body (JSON) in the codec the request negotiated, when not JSON."""
    if codec is None or codec.media_type == "application/json":
        await send_error(send, status, body, extra, scope, error=error)
        return
    note_error(scope, error)
    headers = [(b"content-type", codec.media_type.encode("latin-1")), *extra]
    await send_response(send, status, headers, codec.encode(msgspec.json.decode(body)), scope)


async def send_response(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes, scope: Scope
) -> None:
    """Send a whole response; HEAD requests get the headers only, 204 and 304 no body."""
    if status in _NO_BODY:
        body = b""
    else:
        headers.append((b"content-length", b"%d" % len(body)))
        if scope["method"] == "HEAD":
            body = b""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_error(
    send: Send,
    status: int,
    body: bytes,
    extra: Any,
    scope: Scope,
    *,
    error: ErrorNote | None = None,
) -> None:
    """Send an error response with Bastion's JSON error body.

    `error` is what the body says (name, id, and the exception behind it, if any): left
    in the scope for the request's `end` line and the server span.
    """
    if error is not None:
        note_error(scope, error)
    headers = [*JSON_HEADERS, *extra]
    await send_response(send, status, headers, body, scope)


def _quiet() -> Any:
    # Streams served by a Muxer built without an App's (tests): log nowhere.
    from bastion.log import Logger

    return Logger(level="error")


async def _internal(scope: Scope, send: Send, exc: BaseException, hook: ErrorHook) -> None:
    error_id = new_id()
    scope["bastion.exception"] = exc
    hook(scope, exc, error_id)
    await send_error(send, 500, internal_error(error_id), (), scope,
                     error=ErrorNote("internal", error_id))
