"""Test helpers for users' own suites: an in-process client for an `App`.

    async with bastion.testing.TestClient(app) as client:
        r = await client.post("/orders", json={...})

The client runs the app's lifespan (startup before the first request, shutdown on
exit) and sends requests through ASGI, with no socket, using httpx.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any

import httpx

from bastion.types import ASGIApp, Message

__all__ = ["LifespanError", "TestClient"]


class LifespanError(RuntimeError):
    """The app's lifespan startup or shutdown failed."""


class TestClient(httpx.AsyncClient):
    """An httpx `AsyncClient` bound to an ASGI app, running its lifespan."""

    __test__ = False  # not a pytest test class

    def __init__(self, app: ASGIApp, *, base_url: str = "http://testserver",
                 client: tuple[str, int] = ("127.0.0.1", 50000), **kwargs: Any) -> None:
        transport = httpx.ASGITransport(app=app, client=client)
        super().__init__(transport=transport, base_url=base_url, **kwargs)
        self.app = app
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> TestClient:
        await super().__aenter__()
        self._task = asyncio.ensure_future(
            self.app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                     self._to_app.get, self._from_app.put)
        )
        await self._to_app.put({"type": "lifespan.startup"})
        reply = await self._from_app.get()
        if reply["type"] != "lifespan.startup.complete":
            raise LifespanError(reply.get("message", "startup failed"))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        try:
            if self._task is not None:
                await self._to_app.put({"type": "lifespan.shutdown"})
                reply = await self._from_app.get()
                await self._task
                if reply["type"] != "lifespan.shutdown.complete":
                    raise LifespanError(reply.get("message", "shutdown failed"))
        finally:
            await super().__aexit__(exc_type, exc, tb)
