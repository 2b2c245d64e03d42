"""A raw ASGI app that runs with the cycle collector off, to count what refcounting frees.

`GET /live` answers how many of the server's `Exchange`, `Connection` and
`WebSocketSession` objects are still in memory (reachable or not: `gc.get_objects` lists
every tracked object), as `{"exchanges": n, "connections": m, "sessions": k}`; any other
path answers a small body, and a WebSocket session echoes one message and closes. With the
collector off, only refcounting frees objects, so a reference cycle left behind by each
request or connection shows as a count that grows with the requests served.
"""

from __future__ import annotations

import gc
import json

from bastion.server._http1 import Connection, Exchange
from bastion.server._websocket import WebSocketSession
from bastion.types import Receive, Scope, Send

gc.disable()


def _live() -> dict[str, int]:
    objects = gc.get_objects()
    return {
        "exchanges": sum(1 for o in objects if type(o) is Exchange),
        "connections": sum(1 for o in objects if type(o) is Connection),
        "sessions": sum(1 for o in objects if type(o) is WebSocketSession),
    }


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Count live server objects on `GET /live`; answer `ok` elsewhere."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] == "websocket":
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        message = await receive()
        if message["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message.get("text") or ""})
        return  # the server closes the session (1000)
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    body = json.dumps(_live()).encode() if scope["path"] == "/live" else b"ok"
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
