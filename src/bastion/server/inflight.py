"""The requests a server is running now, so a shutdown can wait for them or cancel them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from bastion.server._responses import request_id
from bastion.types import Scope

__all__ = ["InFlight"]


class _Request:
    __slots__ = ("deadline", "reason", "scope")

    def __init__(self, scope: Scope, deadline: asyncio.Timeout) -> None:
        self.scope = scope
        self.deadline = deadline
        self.reason = ""


class InFlight:
    """The set of HTTP requests running in one server, owned by that server.

    `WriteTimeout` registers each request with the deadline that cancels it; the server's
    shutdown waits for the set to empty and, past its own deadline, cancels what is left.
    """

    def __init__(self) -> None:
        self._requests: set[_Request] = set()
        self._empty = asyncio.Event()
        self._empty.set()

    def __len__(self) -> int:
        """Return the number of requests running now."""
        return len(self._requests)

    @contextmanager
    def track(self, scope: Scope, deadline: asyncio.Timeout) -> Iterator[_Request]:
        """Count the request as running until the block exits; yield its record."""
        request = _Request(scope, deadline)
        self._requests.add(request)
        self._empty.clear()
        try:
            yield request
        finally:
            self._requests.discard(request)
            if not self._requests:
                self._empty.set()

    async def wait_empty(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for every request to finish; return whether they did."""
        try:
            async with asyncio.timeout(timeout):
                await self._empty.wait()
        except TimeoutError:
            return False
        return True

    def cancel_all(self, reason: str) -> list[str]:
        """Cancel every running request now, noting `reason`; return their request ids.

        Each request ends through its own deadline, so its client gets the same 503 (or a
        closed connection, when the response had started) as on a write timeout.
        """
        ids = []
        now = asyncio.get_running_loop().time()
        for request in list(self._requests):
            request.reason = reason
            request.deadline.reschedule(now)
            ids.append(request_id(request.scope))
        return ids
