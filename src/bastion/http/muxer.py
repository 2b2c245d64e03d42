"""The HTTP muxer: an ASGI app that routes requests to compiled method handlers.

Every route's handler is a closure built at startup from the design: decoder, endpoint,
encoder and the status of each design error are bound once, so a request does a router
lookup and a few calls, and nothing else.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bastion.dsl.expr import MethodExpr
from bastion.errors import Forbidden, ServiceError, Unauthorized, _new_id
from bastion.http.decoder import Decoder
from bastion.http.encoder import ResultEncoder
from bastion.http.errors import (
    JSON_HEADERS,
    HTTPError,
    error_body,
    internal_error,
    service_error_body,
)
from bastion.http.router import Router
from bastion.security.principal import client_address
from bastion.security.ratelimit import Decision, rate_limit_decision, rate_limit_headers
from bastion.types import Endpoint, Receive, Scope, Send

__all__ = ["ErrorHook", "Handler", "Muxer"]

Handler = Callable[[Scope, Receive, Send, dict[str, str]], Awaitable[None]]
#: Called with (scope, exception, error id) for every request that ends in a 500.
ErrorHook = Callable[[Scope, BaseException, str], None]
#: Maps security exceptions to (status, name, message, extra headers); set by the app.
SecurityMapper = Callable[[BaseException], tuple[int, str, str, list[tuple[bytes, bytes]]] | None]

_logger = logging.getLogger("bastion.http")


def _log_internal(scope: Scope, exc: BaseException, error_id: str) -> None:
    _logger.error(
        "unexpected error in %s %s (id=%s)",
        scope.get("method"),
        scope.get("path"),
        error_id,
        exc_info=exc,
    )


class Muxer:
    """Routes HTTP requests; `add_method` and `mount` routes, then `compile`."""

    def __init__(
        self,
        *,
        on_internal_error: ErrorHook = _log_internal,
        security_mapper: SecurityMapper | None = None,
    ) -> None:
        self.router: Router[Handler] = Router()
        self.on_internal_error = on_internal_error
        self.security_mapper = security_mapper or _default_security
        self.routes: list[tuple[str, str, str]] = []  # (verb, template, service.method)

    def mount(self, verb: str, path: str, handler: Handler, name: str = "") -> None:
        """Serve a raw handler at `verb path` (docs, health, debug)."""
        self.router.add(verb, path, handler)
        self.routes.append((verb, path, name or path))

    def add_method(
        self,
        method: MethodExpr,
        endpoint: list[Endpoint],
        decoder: Decoder | None,
        encoder: ResultEncoder,
        *,
        secured: bool = False,
    ) -> None:
        """Serve a design method on each of its routes.

        `endpoint` is a one-element cell, so a chain rebuilt later is picked up.
        """
        if method.http is None:
            return
        for route in method.http.routes:
            handler = self._handler(
                method, route.full_path, endpoint, decoder, encoder, secured
            )
            self.router.add(route.verb, route.full_path, handler)
            self.routes.append(
                (route.verb, route.full_path, f"{method.service.name}.{method.name}")
            )

    def compile(self) -> None:
        """Finish the route table; call once after adding every route."""
        self.router.compile()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route one request to its handler, or answer 404 or 405."""
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1003})
            return
        match = self.router.lookup(scope["method"], scope["path"])
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
        await send_error(send, err.status, err.body(), err.headers, scope)

    def _handler(
        self,
        method: MethodExpr,
        template: str,
        cell: list[Endpoint],
        decoder: Decoder | None,
        encoder: ResultEncoder,
        secured: bool,
    ) -> Handler:
        errors = {
            e.name: (
                method.error_status(e.name) or (500 if e.fault else 400),
                e.temporary,
                e.timeout,
                e.fault,
            )
            for e in method.all_errors()
        }
        on_internal = self.on_internal_error
        map_security = self.security_mapper

        async def handle(
            scope: Scope, receive: Receive, send: Send, params: dict[str, str]
        ) -> None:
            scope["bastion.route"] = template
            if secured:
                # The security layer reads these; each request starts from a clean slate.
                client = scope.get("client")
                client_address.set(client[0] if client else None)
                rate_limit_decision.set(None)
            try:
                payload = await decoder(scope, receive, params) if decoder is not None else None
                result = await cell[0](payload)
                status, headers, body = encoder(result)
                if secured:
                    decision = rate_limit_decision.get()
                    if decision is not None:
                        headers.extend(_limit_headers(decision))
            except HTTPError as exc:
                await send_error(send, exc.status, exc.body(), exc.headers, scope)
                return
            except ServiceError as exc:
                known = errors.get(exc.name)
                if known is None:
                    # An error the design does not declare is a bug in the service.
                    await _internal(scope, send, exc, on_internal)
                    return
                status, exc.temporary, exc.timeout, exc.fault = known
                scope["bastion.error"] = exc  # the tracing middleware records it on the span
                await send_error(send, status, service_error_body(exc), (), scope)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                mapped = map_security(exc)
                if mapped is None:
                    await _internal(scope, send, exc, on_internal)
                    return
                status, name, message, extra = mapped
                body = error_body(name, _new_id(), message)
                await send_error(send, status, body, extra, scope)
                return
            await send_response(send, status, headers, body, scope)

        return handle


async def send_response(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes, scope: Scope
) -> None:
    """Send a whole response; HEAD requests get the headers only."""
    headers.append((b"content-length", str(len(body)).encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    if scope["method"] == "HEAD":
        body = b""
    await send({"type": "http.response.body", "body": body})


async def send_error(
    send: Send,
    status: int,
    body: bytes,
    extra: Any,
    scope: Scope,
) -> None:
    """Send an error response with Bastion's JSON error body."""
    headers = [*JSON_HEADERS, *extra]
    await send_response(send, status, headers, body, scope)


async def _internal(scope: Scope, send: Send, exc: BaseException, hook: ErrorHook) -> None:
    error_id = _new_id()
    scope["bastion.exception"] = exc
    hook(scope, exc, error_id)
    await send_error(send, 500, internal_error(error_id), (), scope)


def _default_security(
    exc: BaseException,
) -> tuple[int, str, str, list[tuple[bytes, bytes]]] | None:
    if isinstance(exc, Unauthorized):
        return 401, "unauthorized", exc.message, [(b"www-authenticate", b"Bearer")]
    if isinstance(exc, Forbidden):
        return 403, "forbidden", exc.message, []
    return None


def _limit_headers(decision: Decision) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode(), v.encode()) for k, v in rate_limit_headers(decision).items()]
