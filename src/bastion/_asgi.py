"""Tiny ASGI response helpers shared by the health, debug and profiling apps."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from bastion.types import Receive, Scope, Send

_JSON = msgspec.json.Encoder()


def local_path(scope: Scope) -> str:
    """Return the request path without the mount prefix (`root_path`), if any."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    return path


def query(scope: Scope) -> dict[str, str]:
    """Return the query string as a dict; the last value of a repeated name wins."""
    raw: bytes = scope.get("query_string", b"")
    return dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))


def header(scope: Scope, name: bytes) -> bytes | None:
    """Return the first value of header `name` (lower case), or None."""
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


async def drain_body(receive: Receive) -> None:
    """Read and drop the request body, so the server can reuse the connection."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def respond(
    scope: Scope,
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes,
    *,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Send a complete response; HEAD requests get the headers only."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *headers,
            ],
        }
    )
    await send(
        {"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body}
    )


async def respond_json(
    scope: Scope,
    send: Send,
    status: int,
    data: Any,
    *,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Send `data` encoded as JSON."""
    await respond(scope, send, status, _JSON.encode(data), b"application/json", headers=headers)


async def respond_error(scope: Scope, send: Send, status: int, message: str) -> None:
    """Send a JSON error body `{"error": message}`."""
    await respond_json(scope, send, status, {"error": message})


async def method_not_allowed(scope: Scope, send: Send, allow: str) -> None:
    """Send 405 naming the allowed methods."""
    await respond_json(
        scope,
        send,
        405,
        {"error": f"method {scope.get('method')} not allowed; use {allow}"},
        headers=[(b"allow", allow.encode())],
    )


async def ack_lifespan(receive: Receive, send: Send) -> None:
    """Answer an ASGI lifespan with success and do nothing: for apps with no startup."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
