"""Calling ASGI apps in the test process: a raw driver, and an httpx client for bare apps.

`call` sends one request through raw ASGI and collects the answer, with a `Wire` that
serves the body in chunks and counts what the app pulled. `asgi_client` is httpx over
ASGI for apps that speak no lifespan (the debug, health and metrics apps); an App is
tested through `bastion.testing.TestClient`, which runs its lifespan too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from bastion.types import ASGIApp, Message


@dataclass
class Wire:
    """An ASGI `receive` that serves a request body in chunks and counts what was pulled."""

    chunks: Sequence[bytes] = ()
    pulled: int = 0  # body chunks (http.request messages) handed to the app
    calls: int = 0

    async def receive(self) -> Message:
        """The next body chunk, then `http.disconnect`."""
        self.calls += 1
        if not self.chunks and self.calls == 1:
            return {"type": "http.request", "body": b"", "more_body": False}
        if self.pulled < len(self.chunks):
            i = self.pulled
            self.pulled += 1
            return {
                "type": "http.request",
                "body": self.chunks[i],
                "more_body": i < len(self.chunks) - 1,
            }
        return {"type": "http.disconnect"}


@dataclass
class Reply:
    """What an app sent back through a raw ASGI call."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


async def call(
    app: ASGIApp,
    method: str,
    path: str,
    *,
    wire: Wire | None = None,
    headers: Sequence[tuple[str, str]] = (),
    query: str = "",
) -> Reply:
    """Call `app` once over raw ASGI and collect its response."""
    reply = Reply()
    wire = wire if wire is not None else Wire()
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            reply.status = message["status"]
            reply.headers = {
                k.decode("latin-1"): v.decode("latin-1") for k, v in message.get("headers", [])
            }
        elif message["type"] == "http.response.body":
            reply.body += message.get("body", b"")

    await app(scope, wire.receive, send)
    return reply


def asgi_client(app: ASGIApp, *, base_url: str = "http://test",
                raise_app_exceptions: bool = True, **kwargs: Any) -> httpx.AsyncClient:
    """An httpx client sending its requests to `app` over ASGI (no lifespan, no socket)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    return httpx.AsyncClient(transport=transport, base_url=base_url, **kwargs)
