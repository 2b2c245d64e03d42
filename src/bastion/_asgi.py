"""Tiny ASGI response helpers shared by the health, debug and profiling apps.

It is also the one home of Bastion's error body, so that every listener (the API, the
admin apps, the server's own answers) writes errors in the same shape: Goa's `name`,
`id`, `message`, `temporary`, `timeout`, `fault`, with `field`, `errors` (every invalid
field of a 400) and `details` when there is something to say.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from bastion._ids import new_id
from bastion.types import Receive, Scope, Send

__all__ = [
    "TEMPORARY_STATUSES",
    "drain_body",
    "error_body",
    "error_name",
    "header",
    "local_path",
    "method_not_allowed",
    "query",
    "respond",
    "respond_error",
    "respond_json",
    "serve_lifespan",
]

_JSON = msgspec.json.Encoder()

#: Statuses that say "try again later": their error bodies carry `temporary: true`.
TEMPORARY_STATUSES = frozenset({408, 429, 503})

_NAMES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 408: "request_timeout", 409: "conflict",
    413: "payload_too_large", 415: "unsupported_media_type", 429: "too_many_requests",
    500: "internal", 503: "unavailable",
}


def error_name(status: int) -> str:
    """The error name Bastion gives a status it answers itself (`404` -> `not_found`)."""
    name = _NAMES.get(status)
    if name is not None:
        return name
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def error_body(
    name: str,
    id: str,
    message: str,
    *,
    temporary: bool = False,
    timeout: bool = False,
    fault: bool = False,
    field: str | None = None,
    errors: list[dict[str, str]] | None = None,
    details: Any = None,
) -> bytes:
    """Encode Bastion's error body, the shape of every error any listener answers."""
    body: dict[str, Any] = {
        "name": name,
        "id": id,
        "message": message,
        "temporary": temporary,
        "timeout": timeout,
        "fault": fault,
    }
    if field is not None:
        body["field"] = field
    if errors:
        body["errors"] = errors
    if details is not None:
        body["details"] = details
    return _JSON.encode(body)


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


async def respond_error(
    scope: Scope,
    send: Send,
    status: int,
    message: str,
    *,
    name: str | None = None,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Send Bastion's error body; the name defaults to the status's (`not_found`)."""
    body = error_body(
        name or error_name(status), new_id(), message,
        temporary=status in TEMPORARY_STATUSES, fault=status >= 500,
    )
    await respond(scope, send, status, body, b"application/json", headers=headers)


async def method_not_allowed(scope: Scope, send: Send, allow: str) -> None:
    """Send 405 naming the allowed methods."""
    await respond_error(
        scope, send, 405, f"method {scope.get('method')} not allowed; use {allow}",
        headers=[(b"allow", allow.encode())],
    )


async def serve_lifespan(
    receive: Receive,
    send: Send,
    lifespan: Callable[[], contextlib.AbstractAsyncContextManager[Any]] | None = None,
) -> None:
    """Speak the ASGI lifespan protocol for `lifespan` (an async context manager factory).

    Startup enters it and shutdown leaves it; a failure of either is reported to the
    server as the protocol says. Without `lifespan` both simply succeed (an app with no
    startup, such as an admin app served by another server).
    """
    message = await receive()
    if message["type"] != "lifespan.startup":
        return
    stack = contextlib.AsyncExitStack()
    try:
        if lifespan is not None:
            await stack.enter_async_context(lifespan())
    except Exception as exc:
        await send({"type": "lifespan.startup.failed", "message": f"{type(exc).__name__}: {exc}"})
        return
    await send({"type": "lifespan.startup.complete"})
    await receive()
    try:
        await stack.aclose()
    except Exception as exc:
        await send({"type": "lifespan.shutdown.failed",
                    "message": f"{type(exc).__name__}: {exc}"})
        return
    await send({"type": "lifespan.shutdown.complete"})
