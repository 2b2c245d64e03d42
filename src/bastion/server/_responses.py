"""Error responses the server writes itself, in Bastion's error shape, and the request id."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from http import HTTPStatus

import msgspec

from bastion.http.errors import error_body as http_error_body
from bastion.types import Scope, Send

__all__ = ["error_body", "expects_body", "new_id", "raw_error_response", "request_id", "send_error"]

# Ids we accept from a client: short and free of anything that could forge a log line.
_REQUEST_ID_RE = re.compile(rb"[A-Za-z0-9._:+=/-]{1,128}")
_encoder = msgspec.json.Encoder()


def new_id() -> str:
    """Return a short, URL-safe random id for a request or an error."""
    return secrets.token_urlsafe(9)


def request_id(scope: Scope) -> str:
    """Return the request's id: the one Bastion's request log set, a valid X-Request-ID, or new.

    A new id is stored in the scope so every later log line of the request shares it.
    """
    rid = scope.get("bastion.request_id")
    if isinstance(rid, str) and rid:
        return rid
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id" and _REQUEST_ID_RE.fullmatch(value):
            rid = value.decode("ascii")
            break
    else:
        rid = new_id()
    scope["bastion.request_id"] = rid
    return rid


def error_body(
    name: str,
    message: str,
    *,
    error_id: str,
    temporary: bool = False,
    timeout: bool = False,
    fault: bool = False,
) -> bytes:
    """Return the JSON body of a Bastion error: name, id, message and its three flags."""
    return http_error_body(
        name, error_id, message, temporary=temporary, timeout=timeout, fault=fault
    )


async def send_error(
    send: Send,
    status: int,
    name: str,
    message: str,
    *,
    rid: str,
    temporary: bool = False,
    timeout: bool = False,
    close: bool = False,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> str:
    """Send a complete JSON error response through ASGI `send`; return the error's id.

    `close` asks the server to close the connection after it, so an unread body is never
    read: the next bytes on the connection would be the rest of it.
    """
    error_id = new_id()
    body = error_body(name, message, error_id=error_id, temporary=temporary, timeout=timeout)
    response_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode("ascii")),
        (b"x-request-id", rid.encode("ascii")),
        *headers,
    ]
    if close:
        response_headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": response_headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
    return error_id


def raw_error_response(status: int, name: str, message: str) -> bytes:
    """Return a whole HTTP/1.1 error response that closes the connection, for the protocol."""
    body = error_body(name, message, error_id=new_id())
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def expects_body(scope: Scope) -> tuple[int | None, bool]:
    """Return (content length, may have a body of unknown length) from the request headers.

    HTTP/1.1 frames a body with Content-Length or chunked Transfer-Encoding; HTTP/2 may
    send one with neither, so its length is unknown unless declared.
    """
    length: int | None = None
    unknown = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = None
        elif name == b"transfer-encoding":
            unknown = True
    if length is None and scope.get("http_version") == "2":
        unknown = scope.get("method") not in ("GET", "HEAD", "OPTIONS", "DELETE")
    return length, unknown
