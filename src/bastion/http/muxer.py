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
from bastion.errors import ClientDisconnected, ServiceError
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
from bastion.http.router import Router
from bastion.operations import Operation
from bastion.redact import DEFAULT_REDACTOR, Redactor
from bastion.schema.formats import enc_hook
from bastion.security.principal import set_client_address
from bastion.security.ratelimit import rate_limit_decision
from bastion.types import ErrorNote, Receive, Scope, Send

__all__ = ["ErrorHook", "Handler", "Muxer", "SecurityMapper", "send_error", "send_response"]

Handler = Callable[[Scope, Receive, Send, dict[str, str]], Awaitable[None]]
#: Called with (scope, exception, error id) for every request that ends in a 500.
ErrorHook = Callable[[Scope, BaseException, str], None]
#: Maps security exceptions to (status, name, message, extra headers); set by the app.
SecurityMapper = Callable[[BaseException], tuple[int, str, str, list[tuple[bytes, bytes]]] | None]

#: Statuses whose responses never have a body, nor a Content-Length (RFC 9110 §8.6).
_NO_BODY = frozenset({204, 304})


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
    ) -> None:
        """Serve an operation on each route its design maps; its chain must be built."""
        method = operation.expr
        if method.http is None:
            return
        if errors is None:
            errors = ErrorEncoder(operation, msgspec.json.Encoder(enc_hook=enc_hook))
        if method.stream_kind is not None:
            self._add_stream(operation, decoder, errors)
            return
        for route in method.http.routes:
            handler = self._handler(operation, route.full_path, decoder, encoder, errors)
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
    ) -> Handler:
        encode = encoder.encode  # chosen once: the plain path unless the design needs more
        call = operation.call
        secured = operation.secured
        on_internal = self.on_internal_error
        map_security = self.security_mapper
        redactor = self.redactor
        client_of = self.client_address

        async def handle(
            scope: Scope, receive: Receive, send: Send, params: dict[str, str]
        ) -> None:
            scope["bastion.route"] = template
            if secured:
                # The security layer reads these; each request starts from a clean slate.
                set_client_address(client_of(scope) or None)
                rate_limit_decision.set(None)
            try:
                payload = await decoder(scope, receive, params) if decoder is not None else None
                result = await call(payload)
                status, headers, body = encode(result)
                if secured:
                    decision = rate_limit_decision.get()
                    if decision is not None:
                        headers.extend(rate_limit_header_pairs(decision))
            except HTTPError as exc:
                await send_error(send, exc.status, exc.body(redactor), exc.headers, scope,
                                 error=ErrorNote(exc.name, exc.id))
                return
            except ServiceError as exc:
                try:
                    answer = errors(exc)
                except ResultMismatch as mismatch:
                    await _internal(scope, send, mismatch, on_internal)
                    return
                if answer is None:
                    # An error the design does not declare is a bug in the service.
                    await _internal(scope, send, exc, on_internal)
                    return
                name, (status, headers, body) = answer
                # The tracing middleware records the raised error on the span, the request
                # log its name and id on the end line.
                note_error(scope, ErrorNote(name, exc.id, exc))
                await send_response(send, status, headers, body, scope)
                return
            except (asyncio.CancelledError, ClientDisconnected):
                raise  # nothing can be answered; the server ends the exchange
            except Exception as exc:
                mapped = map_security(exc)
                if mapped is None:
                    await _internal(scope, send, exc, on_internal)
                    return
                status, name, message, extra = mapped
                error_id = new_id()
                body = error_body(name, error_id, message,
                                  temporary=status in TEMPORARY_STATUSES, fault=status >= 500)
                await send_error(send, status, body, extra, scope,
                                 error=ErrorNote(name, error_id, exc))
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
