"""Raw bodies: the request body a method reads as a stream, the response body it returns as one.

`SkipRequestBodyEncodeDecode()` hands the method a `RequestBody`: the bytes as the client
sent them (no `Content-Encoding` is undone), pulled from the connection only as fast
as the method reads, so an upload of any size costs constant memory. The body limit
holds as the bytes arrive (413), a late body is a 408 (READ_TIMEOUT, or the method's
`BodyLimits(read_timeout=...)`), and a client that goes away cancels the call: the
request's `Lifetime` is cancelled (`bastion.cancelled()` is true) and the read raises
`ClientDisconnected`.

`SkipResponseBodyEncodeDecode()` lets the method return an async iterable of bytes (or
`(result, stream)`): `stream_body` writes it, with the `Content-Length` the result maps
when it has one and chunked otherwise, each part sent only once the connection took
the one before (the server's `send` waits for the transport to drain). A client that
goes away, or a write past WRITE_TIMEOUT, closes the stream (an async generator gets
`GeneratorExit` at its `yield`, so what follows it never runs) with the call cancelled.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from bastion.endpoint import lifetime
from bastion.errors import ClientDisconnected, MalformedBody, RequestTimeout
from bastion.http._body import too_large, unreadable_body
from bastion.types import Receive, Send

__all__ = ["RequestBody", "stream_body"]


def _client_left() -> ClientDisconnected:
    life = lifetime.current()
    if life is not None:
        life.cancel("client")
    return ClientDisconnected("the client went away")


class RequestBody:
    """The request body as it arrives: `async for chunk in body`, or `await body.read()`.

    `size` is the announced `Content-Length` (None for a chunked body); `received` the
    bytes read so far.
    """

    __slots__ = ("_done", "_limit", "_receive", "received", "size")

    def __init__(self, receive: Receive, limit: int, size: int | None) -> None:
        self._receive = receive
        self._limit = limit
        self._done = False
        self.size = size
        self.received = 0

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self.chunk()
        if not chunk and self._done:
            raise StopAsyncIteration
        return chunk

    async def chunk(self) -> bytes:
        """The next piece of the body; b"" once it has all arrived."""
        while not self._done:
            try:
                message = await self._receive()
            except (RequestTimeout, MalformedBody) as exc:
                raise unreadable_body(exc) from None
            if message["type"] == "http.disconnect":
                raise _client_left()
            data: bytes = message.get("body", b"")
            self._done = not message.get("more_body", False)
            self.received += len(data)
            if self.received > self._limit:
                raise too_large(self._limit)
            if data:
                return data
        return b""

    async def read(self) -> bytes:
        """The rest of the body, whole (bounded by the body limit)."""
        parts = []
        while chunk := await self.chunk():
            parts.append(chunk)
        return b"".join(parts)


async def stream_body(send: Send, status: int, headers: list[tuple[bytes, bytes]],
                      stream: AsyncIterable[bytes], head_only: bool) -> None:
    """Write a response whose body is `stream`, part by part, then close the stream."""
    try:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        if not head_only:
            async for chunk in stream:
                if chunk:
                    await send({"type": "http.response.body", "body": bytes(chunk),
                                "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    except ClientDisconnected:
        raise _client_left() from None
    finally:
        close: Any = getattr(stream, "aclose", None)
        if close is not None:
            await close()
