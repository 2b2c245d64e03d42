"""Streaming methods' endpoints: they run the whole stream, with the transport's StreamIO."""

from __future__ import annotations

import typing

import pytest

from bastion.dsl import *
from bastion.dsl.expr import ServiceExpr
from bastion.endpoint import Endpoints, ImplementationError, streams
from bastion.schema.compile import TypeCompiler


def _service() -> tuple[ServiceExpr, TypeCompiler]:
    with API("s") as api:
        pass
    with Service("s") as svc:
        with Method("ticks"):
            NoSecurity()
            Payload(Int)
            StreamingResult(Int)
            with GRPC():
                pass
        with Method("total"):
            NoSecurity()
            StreamingPayload(Int)
            Result(Int)
            with GRPC():
                pass
    api.finalize()
    return svc, TypeCompiler(api)


class Impl:
    async def ticks(self, n: int) -> typing.Any:
        for i in range(n):
            yield i

    async def total(self, stream: streams.Stream[int]) -> int:
        return sum([x async for x in stream])


async def test_a_streamed_result_is_sent_item_by_item_and_a_client_stream_read() -> None:
    svc, compiler = _service()
    eps = Endpoints(svc, Impl(), compiler)
    sent: list[int] = []

    async def send(item: int) -> None:
        sent.append(item)

    token = streams.use(streams.StreamIO(None, send))
    try:
        assert await eps["ticks"](3) is None
    finally:
        streams.reset(token)
    assert sent == [0, 1, 2]

    items = iter([4, 5, 6])

    async def receive() -> typing.Any:
        return next(items, streams.END)

    token = streams.use(streams.StreamIO(streams.Stream(receive), None))
    try:
        assert await eps["total"](None) == 15
    finally:
        streams.reset(token)


async def test_a_stream_ends_once_and_recv_then_says_none() -> None:
    values = iter([1])

    async def receive() -> typing.Any:
        return next(values, streams.END)

    stream: streams.Stream[int] = streams.Stream(receive)
    assert await stream.recv() == 1
    assert await stream.recv() is None
    assert await stream.recv() is None  # the transport is not asked again


def test_sync_streaming_methods_are_refused_naming_the_method() -> None:
    svc, compiler = _service()

    class Sync:
        def ticks(self, n: int) -> typing.Any:
            yield n

        def total(self, stream: typing.Any) -> int:
            return 0

    with pytest.raises(ImplementationError, match="'ticks' of service 's' streams its result"):
        Endpoints(svc, Sync(), compiler)
