"""The requests a server is running now, each with a deadline that cancels it.

One timer serves every request: it is armed for the earliest deadline and, when it fires,
cancels the requests past theirs and re-arms for the next. A request therefore costs two
dict operations, not a timer of its own, which matters at tens of thousands per second.
"""

from __future__ import annotations

import asyncio

from bastion.server._responses import request_id
from bastion.types import Scope

__all__ = ["InFlight", "Request"]


class Request:
    """One running request: its scope, its task and its deadline on the loop's clock."""

    __slots__ = ("deadline", "expired", "reason", "scope", "task")

    def __init__(self, scope: Scope, task: asyncio.Task[object], deadline: float) -> None:
        self.scope = scope
        self.task = task
        self.deadline = deadline
        self.expired = False
        #: Empty for a deadline, else why the request was cancelled (a shutdown).
        self.reason = ""

    def expire(self, reason: str = "") -> None:
        """Cancel the request's task now; its middleware answers in its place."""
        if not self.expired:
            self.expired = True
            self.reason = reason
            self.task.cancel()


class InFlight:
    """The set of HTTP requests running in one server, owned by that server.

    `WriteTimeout` adds each request with its deadline; the server's shutdown waits for
    the set to empty and, past its own deadline, cancels what is left.
    """

    def __init__(self) -> None:
        self._requests: dict[Request, None] = {}
        self._empty = asyncio.Event()
        self._empty.set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    def __len__(self) -> int:
        """Return the number of requests running now."""
        return len(self._requests)

    def add(self, scope: Scope, task: asyncio.Task[object], timeout: float) -> Request:
        """Count a request as running until `discard`; cancel it after `timeout` seconds."""
        loop = task.get_loop()
        request = Request(scope, task, loop.time() + timeout)
        self._requests[request] = None
        if len(self._requests) == 1:
            self._empty.clear()
        if self._timer is None or request.deadline < self._timer_at:
            self._arm(loop, request.deadline)
        return request

    def discard(self, request: Request) -> None:
        """Stop counting a request (it finished or was answered)."""
        self._requests.pop(request, None)
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

        Each client gets the same 503 (or a closed connection, when its response had
        started) as on a write timeout.
        """
        ids = []
        for request in list(self._requests):
            request.expire(reason)
            ids.append(request_id(request.scope))
        return ids

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(when, self._expire_due, loop)
        self._timer_at = when

    def _expire_due(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        upcoming: float | None = None
        for request in list(self._requests):
            if request.deadline <= now:
                request.expire()
            elif upcoming is None or request.deadline < upcoming:
                upcoming = request.deadline
        if upcoming is not None:
            self._arm(loop, upcoming)
