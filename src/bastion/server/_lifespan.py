"""Run an ASGI app's lifespan: startup before the listener opens, shutdown after the drain.

The server runs it itself, not the embedded server, so both adapters order startup,
drain and shutdown the same way.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bastion.errors import LifespanError
from bastion.log import Logger
from bastion.types import ASGIApp, Message

__all__ = ["Lifespan", "LifespanError"]


class Lifespan:
    """One app's lifespan protocol: `startup()`, later `shutdown()`, sharing `state`."""

    def __init__(self, app: ASGIApp, logger: Logger | None = None) -> None:
        self.app = app
        self.logger = logger or Logger.from_env()
        self.state: dict[str, Any] = {}
        self.supported = True
        self.failed = False
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._received_startup = False
        self._started: asyncio.Future[str] | None = None
        self._stopped: asyncio.Future[str] | None = None
        self._task: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        """Send `lifespan.startup` and wait; raise LifespanError if the app reports failure.

        An app that raises before reading the startup event does not speak lifespan; it is
        served without one, as uvicorn and Granian do.
        """
        loop = asyncio.get_running_loop()
        self._started = loop.create_future()
        self._stopped = loop.create_future()
        self._task = loop.create_task(self._run(), name="bastion-lifespan")
        await self._inbox.put({"type": "lifespan.startup"})
        outcome = await self._started
        if outcome:
            raise LifespanError(f"lifespan startup failed: {outcome}")

    async def shutdown(self) -> None:
        """Send `lifespan.shutdown` and wait for the app to finish it; log a failure."""
        if not self.supported or self._stopped is None:
            return
        if self._stopped.done():
            return
        await self._inbox.put({"type": "lifespan.shutdown"})
        outcome = await self._stopped
        if outcome:
            self.failed = True
            self.logger.write_line("error", "lifespan shutdown failed", {"err": outcome})

    async def _run(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.3"},
                 "state": self.state}
        try:
            await self.app(scope, self._receive, self._send)
        except asyncio.CancelledError:
            self._settle("cancelled")
            raise
        except Exception as exc:
            if not self._received_startup:
                self.supported = False
                self.logger.write_line("debug", "the app has no lifespan; serving without",
                                       {"err": repr(exc)})
                self._settle("")
                return
            self.logger.write_line("error", "exception in the app's lifespan", {"err": exc})
            self._settle(f"{type(exc).__name__}: {exc}")
            return
        if self._started is not None and not self._started.done():
            # Returning without a word is how many apps say they have no lifespan.
            self.supported = False
        self._settle("")

    def _settle(self, outcome: str) -> None:
        for future in (self._started, self._stopped):
            if future is not None and not future.done():
                future.set_result(outcome)

    async def _receive(self) -> Message:
        message = await self._inbox.get()
        if message["type"] == "lifespan.startup":
            self._received_startup = True
        return message

    async def _send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "lifespan.startup.complete" and self._started and not self._started.done():
            self._started.set_result("")
        elif kind == "lifespan.startup.failed" and self._started and not self._started.done():
            self._started.set_result(str(message.get("message") or "no message"))
        elif kind == "lifespan.shutdown.complete" and self._stopped and not self._stopped.done():
            self._stopped.set_result("")
        elif kind == "lifespan.shutdown.failed" and self._stopped and not self._stopped.done():
            self._stopped.set_result(str(message.get("message") or "no message"))
