"""A raw ASGI app inside Bastion's request observer (`RequestLog`), for served tests.

On Bastion's server the observer reads the response's status and body size from the
server's exchange and the server writes the request's `X-Request-ID` in the head; these
routes are the responses where that could go wrong: a whole body, a body in parts with no
length (chunked), an app that sets its own `X-Request-ID`, and an app that fails.
`wrapped` is the same behind a layer of the user's own that wraps `send` outside the
observer: the observer then counts what it hands that layer, as on any other server.
"""

from __future__ import annotations

from bastion.http.requestlog import RequestLog
from bastion.log import Logger
from bastion.types import Message, Receive, Scope, Send

PARTS = (b"first,", b"second,", b"third")


async def _inner(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    if path == "/parts":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in PARTS[:-1]:
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": PARTS[-1]})
        return
    if path == "/fails":
        raise RuntimeError("the handler broke")
    headers = [(b"content-type", b"text/plain")]
    if path == "/own-id":
        headers.append((b"X-Request-ID", b"chosen-by-the-app"))
    await send({"type": "http.response.start", "status": 201, "headers": headers})
    await send({"type": "http.response.body", "body": b"made"})


app = RequestLog(_inner, Logger(format="json", level="info"))


async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
    """`app` behind a layer outside it that adds a header to every response."""

    async def outer_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), (b"x-outer", b"1")]
        await send(message)

    await app(scope, receive, outer_send)
