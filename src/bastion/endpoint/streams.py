"""Streams of a call: what a streaming method reads from and what it sends to, any transport.

A method whose design has `StreamingResult(T)` is an async generator: each `T` it yields
is checked against the design and sent. One with `StreamingPayload(T)` takes the client's
messages as its last argument, a `Stream`, each message validated before it is handed
over::

    async def watch(self, p):                 # StreamingResult(Order)
        async for order in self.db.changes(p.since):
            yield order

    async def upload(self, p, stream):        # StreamingPayload(Item), Result(Summary)
        count = 0
        async for item in stream:
            count += 1
        return {"count": count}

The transport gives each streaming call its `StreamIO` (`use`), so the endpoint chain —
logging, your middleware, the security layer — runs around the whole stream, and
`bastion.principal()` works inside the generator.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar, Token
from typing import Any, Final, Generic, NamedTuple, TypeVar

__all__ = ["END", "Stream", "StreamIO", "current", "reset", "use"]

T = TypeVar("T")

#: What a transport's receive function returns when the client's stream has ended.
END: Final = object()


class Stream(Generic[T]):
    """The messages a client streams, each validated: `async for message in stream`.

    An invalid message raises `bastion.operations.InvalidPayload` from the iteration,
    naming its bad fields; let it propagate and the transport answers with them.
    """

    __slots__ = ("_done", "_receive")

    def __init__(self, receive: Callable[[], Awaitable[Any]]) -> None:
        self._receive = receive
        self._done = False

    def __aiter__(self) -> AsyncIterator[T]:
        return self

    async def __anext__(self) -> T:
        message = await self.recv()
        if message is None:
            raise StopAsyncIteration
        return message

    async def recv(self) -> T | None:
        """The next message, or None once the client has ended its stream."""
        if self._done:
            return None
        message = await self._receive()
        if message is END:
            self._done = True
            return None
        return message  # type: ignore[no-any-return]


class StreamIO(NamedTuple):
    """One streaming call's two directions: the client's messages and the send function.

    `start`, when a transport gives one, is awaited once the endpoint chain (security
    included) let the call through, just before the method runs: a WebSocket accepts
    its upgrade there, an SSE response sends its head.
    """

    incoming: Stream[Any] | None
    send: Callable[[Any], Awaitable[None]] | None
    start: Callable[[], Awaitable[None]] | None = None


_current: Final[ContextVar[StreamIO | None]] = ContextVar("bastion.stream", default=None)


def current() -> StreamIO | None:
    """The streams of the call in progress, or None (a unary call)."""
    return _current.get()


def use(io: StreamIO | None) -> Token[StreamIO | None]:
    """Make `io` the current call's streams; return the token to pass to `reset`."""
    return _current.set(io)


def reset(token: Token[StreamIO | None]) -> None:
    """Restore the streams that were current before `use`."""
    _current.reset(token)
