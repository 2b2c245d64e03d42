"""Test helpers for users' own suites: an in-process client and a log capture.

    logs = LogCapture()
    app = bastion.App(api, services, logger=logs.logger)
    async with TestClient(app) as client:
        r = await client.post("/orders", json={...})
    assert logs.find(msg="creating order")["order_id"] == r.json()["id"]

The client runs the app's lifespan (startup before the first request, shutdown on
exit) and sends requests through ASGI, with no socket, using httpx.
"""

from __future__ import annotations

import asyncio
import io
import json
from types import TracebackType
from typing import Any

import httpx

from bastion.errors import LifespanError
from bastion.log import Logger
from bastion.types import ASGIApp, Message

__all__ = ["LifespanError", "LogCapture", "TestClient"]


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


class LogCapture:
    """A JSON Logger writing to memory, synchronously, and its lines parsed back."""

    def __init__(self, *, level: str = "debug") -> None:
        self.stream = io.StringIO()
        self.logger = Logger(stream=self.stream, format="json", level=level, sync=True)

    @property
    def lines(self) -> list[dict[str, Any]]:
        """Every line written so far, as dicts, in order."""
        return [json.loads(x) for x in self.stream.getvalue().splitlines() if x]

    @property
    def text(self) -> str:
        """Everything written so far, raw."""
        return self.stream.getvalue()

    def find(self, **fields: Any) -> dict[str, Any]:
        """The first line having every one of `fields`; AssertionError if none does."""
        for line in self.lines:
            if all(line.get(k) == v for k, v in fields.items()):
                return line
        raise AssertionError(f"no log line with {fields}; lines: {self.lines}")
