"""Cancel a handler still running at a deadline, and answer 503 in its place."""

from __future__ import annotations

import asyncio
import logging

from bastion.server._responses import request_id, send_error
from bastion.server.inflight import InFlight
from bastion.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["WriteTimeout"]

_log = logging.getLogger("bastion.server")


class WriteTimeout:
    """ASGI middleware: a request must be answered within `timeout` seconds of its headers.

    At the deadline the handler is cancelled, the cancellation is logged with the request
    id, and the client gets 503 with a JSON `timeout` error; if the response had already
    started, the connection is closed instead so the client sees it cut short. Requests are
    registered in `inflight`, which lets a shutdown cancel them the same way.
    """

    __slots__ = ("app", "inflight", "timeout")

    def __init__(self, app: ASGIApp, timeout: float, inflight: InFlight | None = None) -> None:
        if timeout <= 0:
            raise ValueError(f"WRITE_TIMEOUT must be positive, got {timeout}")
        self.app = app
        self.timeout = timeout
        self.inflight = inflight if inflight is not None else InFlight()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the handler under the deadline."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        task = asyncio.current_task()
        if task is None:  # not in a task: nothing could be cancelled
            await self.app(scope, receive, send)
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        request = self.inflight.add(scope, task, self.timeout)
        try:
            await self.app(scope, receive, watched_send)
        except asyncio.CancelledError:
            if not request.expired:
                raise
            # Our cancellation, unless someone else cancelled the task as well.
            if task.uncancel() > 0:
                raise
        else:
            if request.expired and task.cancelling():
                # The handler swallowed our cancellation and finished: nothing to answer,
                # but the task must not stay marked as being cancelled.
                task.uncancel()
            return
        finally:
            self.inflight.discard(request)
        await self._answer(scope, send, request.reason, started)

    async def _answer(self, scope: Scope, send: Send, reason: str, started: bool) -> None:
        rid = request_id(scope)
        method, path = scope.get("method", ""), scope.get("path", "")
        extra = {"request_id": rid, "http.method": method, "http.path": path}
        if reason:
            _log.warning("request %s %s %s cancelled: %s", rid, method, path, reason, extra=extra)
            name, message, timed_out = "unavailable", "the server is shutting down", False
        else:
            _log.warning(
                "request %s %s %s cancelled: still running after WRITE_TIMEOUT=%gs",
                rid, method, path, self.timeout, extra=extra,
            )
            name, timed_out = "timeout", True
            message = f"the request was not answered within {self.timeout:g}s"
        if started:
            return  # too late for a status: returning unfinished makes the server close
        await send_error(
            send, 503, name, message, rid=rid, temporary=True, timeout=timed_out, close=True
        )
