"""Answer 408 when a request body stalls past a deadline."""

from __future__ import annotations

import asyncio

from bastion.server._responses import expects_body, request_id, send_error
from bastion.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ReadTimeout"]


class ReadTimeout:
    """ASGI middleware: the whole body must arrive within `timeout` seconds of the headers.

    When the handler waits on a body that stalls past the deadline, the client gets 408
    and the connection is closed; the handler sees `http.disconnect` and whatever it sends
    afterwards is dropped. Requests without a body pass untouched.
    """

    __slots__ = ("app", "timeout")

    def __init__(self, app: ASGIApp, timeout: float) -> None:
        if timeout <= 0:
            raise ValueError(f"READ_TIMEOUT must be positive, got {timeout}")
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request with a deadline on reading its body."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length, unknown = expects_body(scope)
        if not length and not unknown:
            await self.app(scope, receive, send)
            return

        deadline = asyncio.get_running_loop().time() + self.timeout
        complete = False
        timed_out = False
        started = False

        async def timed_receive() -> Message:
            nonlocal complete, timed_out
            if timed_out:
                return {"type": "http.disconnect"}
            if complete:
                # After the body only a disconnect can come: waiting for it is no read.
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                timed_out = True
                if not started:
                    await send_error(
                        send,
                        408,
                        "request_timeout",
                        f"the request body was not received within {self.timeout:g}s",
                        rid=request_id(scope),
                        temporary=True,
                        timeout=True,
                        close=True,
                    )
                return {"type": "http.disconnect"}
            if message["type"] != "http.request" or not message.get("more_body", False):
                complete = True
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if timed_out:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, timed_receive, guarded_send)
