"""Refuse request bodies over a size limit with 413, reading no more of them."""

from __future__ import annotations

from bastion.server._responses import expects_body, request_id, send_error
from bastion.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit"]


class BodyLimit:
    """ASGI middleware: a body over `max_bytes` is answered 413 and the connection closed.

    A declared Content-Length over the limit is refused before the handler runs. A body of
    unknown length (chunked) is counted as the handler reads it; at the first chunk past
    the limit the client gets 413, the handler sees `http.disconnect`, and whatever it
    sends afterwards is dropped. Closing the connection is what stops the server from
    reading the rest.
    """

    __slots__ = ("app", "max_bytes")

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError(f"MAX_BODY_BYTES must be at least 1, got {max_bytes}")
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse, watch or pass the request according to how its body is framed."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length, unknown = expects_body(scope)
        if length is not None and length > self.max_bytes:
            await self._refuse(scope, send)
            return
        if not unknown:
            # The server delivers at most Content-Length bytes: nothing to count.
            await self.app(scope, receive, send)
            return

        received = 0
        refused = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    if not started:
                        await self._refuse(scope, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the client already has its 413, or the response is cut short
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counting_receive, guarded_send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        await send_error(
            send,
            413,
            "payload_too_large",
            f"the request body is larger than the limit of {self.max_bytes} bytes",
            rid=request_id(scope),
            close=True,
        )
