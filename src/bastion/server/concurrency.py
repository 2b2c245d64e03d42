"""Reject requests past a limit of in-flight requests at once, instead of queueing them."""

from __future__ import annotations

import logging
import time

from bastion.server._responses import expects_body, request_id, send_error
from bastion.types import ASGIApp, Receive, Scope, Send

__all__ = ["ConcurrencyLimit"]

_log = logging.getLogger("bastion.server")


class ConcurrencyLimit:
    """ASGI middleware: past `limit` in-flight HTTP requests, answer 503 with Retry-After.

    The answer is immediate, so an overloaded worker sheds load in microseconds rather
    than building an unbounded queue that times out later. The count is per process.
    """

    __slots__ = ("_active", "_rejected", "_warned_at", "app", "limit", "retry_after")

    def __init__(self, app: ASGIApp, limit: int, *, retry_after: int = 1) -> None:
        if limit < 1:
            raise ValueError(f"MAX_CONCURRENCY must be at least 1, got {limit}")
        self.app = app
        self.limit = limit
        self.retry_after = str(retry_after).encode("ascii")
        self._active = 0
        self._rejected = 0
        self._warned_at = 0.0

    @property
    def active(self) -> int:
        """The number of requests in flight now."""
        return self._active

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request if there is room, else answer 503 at once."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._active >= self.limit:
            self._note_rejection()
            length, unknown = expects_body(scope)
            await send_error(
                send,
                503,
                "unavailable",
                "the server is at its limit of concurrent requests; retry later",
                rid=request_id(scope),
                temporary=True,
                # An unread body must not be parsed as the next request: close instead.
                close=bool(length) or unknown,
                headers=[(b"retry-after", self.retry_after)],
            )
            return
        self._active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self._active -= 1

    def _note_rejection(self) -> None:
        # Under overload a line per rejection would add to the load: one every 10 s at most.
        self._rejected += 1
        now = time.monotonic()
        if now - self._warned_at >= 10.0:
            _log.warning(
                "MAX_CONCURRENCY=%d reached: %d request(s) answered 503 since the last warning",
                self.limit,
                self._rejected,
            )
            self._warned_at = now
            self._rejected = 0
