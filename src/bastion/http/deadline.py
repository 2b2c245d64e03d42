"""HTTP middleware: the request's `Lifetime` is current, and a cancelled request answers 503.

Bastion's server gives each request a `Lifetime` whose deadline is `WRITE_TIMEOUT` from
its head, and cancels the app at that deadline or when a shutdown's drain runs out. This
layer, inside the request log and the tracing, makes the lifetime current (so
`bastion.deadline()`, `bastion.cancelled()` and `bastion.committing()` work in async
methods and in the threads of sync ones) and answers a cancelled request with a JSON 503,
so the answer is logged, traced and counted like any other. A response already started
cannot change its status: the server cuts the connection instead.
"""

from __future__ import annotations

import asyncio
from typing import Final

from bastion._ids import new_id
from bastion.endpoint import lifetime
from bastion.http.errors import error_body
from bastion.log import Logger
from bastion.types import ASGIApp, Receive, Scope, Send

__all__ = ["DeadlineLayer"]

_ANSWERS: Final = {
    "write_timeout": ("timeout", "the request was not answered within WRITE_TIMEOUT", True),
    "shutdown": ("unavailable", "the server is shutting down; retry the request", False),
}


class DeadlineLayer:
    """Make each request's lifetime current; answer 503 when the server cancels it."""

    __slots__ = ("app", "logger")

    def __init__(self, app: ASGIApp, logger: Logger) -> None:
        self.app = app
        self.logger = logger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request with its lifetime current."""
        extensions = scope.get("extensions")
        exchange = extensions.get("bastion.exchange") if extensions else None
        if exchange is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = lifetime.use(exchange.lifetime)
        try:
            await self.app(scope, receive, send)
        except asyncio.CancelledError:
            reason = exchange.cancel_reason
            task = asyncio.current_task()
            if not reason or task is None or task.uncancel() > 0:
                raise  # not the server's cancellation, or cancelled twice: let it go
            await self._answer(scope, send, exchange, reason)
        finally:
            lifetime.reset(token)

    async def _answer(self, scope: Scope, send: Send, exchange: object, reason: str) -> None:
        name, message, timed_out = _ANSWERS.get(reason, _ANSWERS["shutdown"])
        describe = getattr(getattr(getattr(exchange, "conn", None), "listener", None),
                           "describe", None)
        why = describe(reason) if callable(describe) else reason
        self.logger.write_line("warn", f"request cancelled: {why}", {"reason": reason})
        if getattr(exchange, "started", True):
            return  # too late for a status: the server cuts the connection
        body = error_body(name, new_id(), message, temporary=True, timeout=timed_out)
        await send({
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode("ascii")),
                (b"connection", b"close"),
            ],
        })
        await send({"type": "http.response.body", "body": body})
