"""A raw ASGI app for the server tests: handlers that sleep, echo, stream and hang.

`app` implements the server's `ServedApp` contract by hand (title, admin app, logger,
lifespan, refusals), as a Bastion App does; `plain_app` is the same handlers as a bare
ASGI app, served with the server's defaults. Both lifespans write marker files into
$BASTION_TEST_MARKERS so a test can see that the startup and the shutdown ran in each
process. Run it as `python -m tests.server.app` to serve `app` with
`bastion.server.run(app)` from the main module, as a service would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from bastion.log import Logger
from bastion.server._app import default_refusal
from bastion.types import Receive, Refusal, Scope, Send


async def _respond(send: Send, status: int, body: bytes, headers: list[Any] | None = None) -> None:
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode()),
                    *(headers or [])],
    })
    await send({"type": "http.response.body", "body": body})


def _mark(kind: str) -> None:
    folder = os.environ.get("BASTION_TEST_MARKERS")
    if folder:
        Path(folder, f"{kind}-{os.getpid()}").write_text(kind)


# A worker whose import is slow (SAMPLE_SLOW_IMPORT seconds), as a big service's is: it
# marks "importing" first, so a test can signal the server while every worker imports.
if os.environ.get("SAMPLE_SLOW_IMPORT") and os.environ.get("BASTION_WORKER_ID"):
    _mark("importing")
    time.sleep(float(os.environ["SAMPLE_SLOW_IMPORT"]))


class AdminApp:
    """The admin listener's app: readiness that turns 503 when shutdown begins."""

    def __init__(self, owner: SampleApp) -> None:
        self.owner = owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/readyz":
            status = 503 if self.owner.shutting_down else 200
            await _respond(send, status, b"shutting down" if status == 503 else b"ready")
        elif scope["path"] == "/active":
            await _respond(send, 200, str(self.owner.active).encode())
        else:
            await _respond(send, 404, b"not found")


class SampleApp:
    """The API app; it implements the server's `ServedApp` contract."""

    title = "Sample API"
    config = None  # `run` reads the environment

    def __init__(self) -> None:
        self.shutting_down = False
        self.active = 0
        self.admin_app: Any = AdminApp(self)
        self.logger = Logger.from_env()
        self.refused: list[Refusal] = []

    def links(self) -> dict[str, str]:
        return {"docs": "/docs"}

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        if os.environ.get("SAMPLE_FAIL_STARTUP"):
            raise RuntimeError("database down")
        _mark("startup")
        try:
            yield
        finally:
            await asyncio.sleep(0.05)  # stands in for closing resources, flushing telemetry
            _mark("shutdown")

    def begin_shutdown(self) -> None:
        self.shutting_down = True

    def grpc_transport(self) -> None:
        return None  # HTTP only

    def refusal(self, refusal: Refusal) -> tuple[list[tuple[bytes, bytes]], bytes]:
        self.logger.write_line("info", "refused", {"status": refusal.status,
                                                    "name": refusal.name,
                                                    "client": refusal.client or ""})
        return default_refusal(refusal)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        self.active += 1
        try:
            await self._http(scope, receive, send)
        finally:
            self.active -= 1

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if os.environ.get("SAMPLE_FAIL_STARTUP"):
                    await send({"type": "lifespan.startup.failed", "message": "database down"})
                    return
                _mark("startup")
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # Stands in for closing user resources and flushing telemetry.
                await asyncio.sleep(0.05)
                _mark("shutdown")
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert (await receive())["type"] == "websocket.connect"
        path = scope["path"]
        if path == "/ws-refuse":
            await send({"type": "websocket.close", "code": 1008})
            return
        if path == "/ws-deny":
            await send({"type": "websocket.http.response.start", "status": 401,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "websocket.http.response.body", "body": b"no entry"})
            return
        offered = scope.get("subprotocols", [])
        await send({"type": "websocket.accept",
                    "subprotocol": "chat" if "chat" in offered else None})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") == "close please":
                await send({"type": "websocket.close", "code": 4000, "reason": "asked"})
                return
            await send({"type": "websocket.send", **{k: v for k, v in message.items()
                                                       if k in ("text", "bytes")}})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        if "request_id" in query:
            # As Bastion's request-log middleware does, inside the server's middlewares.
            scope["bastion.request_id"] = query["request_id"]
        if path == "/":
            await _respond(send, 200, b"ok")
        elif path == "/pid":
            await _respond(send, 200, str(os.getpid()).encode())
        elif path == "/sleep":
            await asyncio.sleep(float(query.get("s", "1")))
            await _respond(send, 200, b"slept")
        elif path == "/echo":
            body = bytearray()
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body += message.get("body", b"")
                if not message.get("more_body", False):
                    break
            await _respond(send, 200, json.dumps({"length": len(body)}).encode())
        elif path == "/stream-then-hang":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"partial", "more_body": True})
            await asyncio.sleep(3600)
        else:
            await _respond(send, 404, b"not found")


app = SampleApp()


async def plain_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The same handlers as a bare ASGI app (its own ASGI lifespan, no admin listener)."""
    await _PLAIN(scope, receive, send)


_PLAIN = SampleApp()


if __name__ == "__main__":
    from bastion.server import run

    run(app)
