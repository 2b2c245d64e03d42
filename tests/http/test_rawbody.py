"""Raw bodies: a request body read as a stream, a response body returned as one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import bastion
from bastion.dsl import *
from bastion.testing import LogCapture, TestClient
from tests.support.asgi import Wire, call


def design() -> APIExpr:
    with API("raw") as api:
        pass
    with Service("raw"):
        with Method("put"):
            with Payload():
                Attribute("id", String)
                Attribute("kind", String, enum=["a", "b"])
                Required("id")
            Result(Int)
            with HTTP():
                PUT("/{id}")
                Header("kind:X-Kind")
                SkipRequestBodyEncodeDecode()
                BodyLimits(max_bytes=1000)
        with Method("count"):
            Result(Int)
            with HTTP():
                POST("/count")
                SkipRequestBodyEncodeDecode()
        with Method("get"):
            with Payload():
                Attribute("size", Int)
                Required("size")
            with Result():
                Attribute("length", Int)
                Attribute("name", String)
            with HTTP():
                GET("/get/{size}")
                SkipResponseBodyEncodeDecode()
                with Response(StatusOK):
                    Header("length:Content-Length")
                    Header("name:X-Name")
                    ContentType("text/csv")
        with Method("bad"):
            with HTTP():
                GET("/bad")
                SkipResponseBodyEncodeDecode()
    return api


async def pieces(size: int) -> AsyncIterator[bytes]:
    for i in range(size):
        yield b"%d" % (i % 10)


class Raw:
    def __init__(self) -> None:
        self.calls = 0

    async def put(self, p: Any, body: bastion.RequestBody) -> int:
        self.calls += 1
        total = 0
        async for chunk in body:
            total += len(chunk)
        return total if p.kind != "b" else -1

    async def count(self, body: bastion.RequestBody) -> int:
        return len(await body.read())

    async def get(self, p: Any) -> tuple[dict[str, Any], AsyncIterator[bytes]]:
        return {"length": p.size, "name": "digits"}, pieces(p.size)

    async def bad(self) -> bytes:
        return b"not a stream"


@pytest.fixture
def raw() -> Raw:
    return Raw()


@pytest.fixture
def app(raw: Raw) -> bastion.App:
    return bastion.App(design(), {"raw": raw})


async def test_the_method_reads_the_body_as_it_arrives(app: bastion.App) -> None:
    async with TestClient(app):
        reply = await call(app, "PUT", "/x", wire=Wire([b"ab", b"cde", b"f"]),
                           headers=[("x-kind", "a")])
        assert reply.status == 200 and reply.body == b"6"
        counted = await call(app, "POST", "/count", wire=Wire([b"12", b"345"]))
        assert counted.body == b"5"


async def test_parameters_are_validated_before_the_method_reads_a_byte(
        app: bastion.App, raw: Raw) -> None:
    async with TestClient(app) as c:
        r = await c.put("/x", content=b"abc", headers={"x-kind": "z"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "X-Kind"
    assert raw.calls == 0


async def test_the_body_limit_holds_announced_or_streamed(app: bastion.App, raw: Raw) -> None:
    async with TestClient(app) as c:
        announced = await c.put("/x", content=b"x" * 1001)
        assert announced.status_code == 413 and raw.calls == 0

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(30):
                yield b"x" * 100

        streamed = await c.put("/x", content=chunks())
    assert streamed.status_code == 413
    assert "1000 byte limit" in streamed.json()["message"]


async def test_a_streamed_response_has_the_length_and_headers_its_result_maps(
        app: bastion.App) -> None:
    async with TestClient(app) as c:
        r = await c.get("/get/25")
        head = await c.head("/get/25")
    assert r.status_code == 200 and r.content == b"0123456789" * 2 + b"01234"
    assert r.headers["content-length"] == "25" and r.headers["x-name"] == "digits"
    assert r.headers["content-type"] == "text/csv"
    assert head.status_code == 200 and head.content == b""


async def test_a_stream_the_method_does_not_return_is_a_500(app: bastion.App) -> None:
    async with TestClient(app) as c:
        r = await c.get("/bad")
    assert r.status_code == 500 and r.json()["name"] == "internal"


def test_a_method_reading_its_body_must_be_async() -> None:
    class Sync(Raw):
        def count(self, body: Any) -> int:  # type: ignore[override]
            return 0

    with pytest.raises(bastion.ImplementationError, match="reads its raw body"):
        bastion.App(design(), {"raw": Sync()})


async def test_debug_logs_of_raw_bodies_log_the_result_beside_the_stream(raw: Raw) -> None:
    logs = LogCapture()
    logs.logger.debug_enabled = True
    app = bastion.App(design(), {"raw": raw}, logger=logs.logger)
    async with TestClient(app) as c:
        r = await c.get("/get/3")
    assert r.content == b"012"
    result = next(line for line in logs.lines if line["msg"] == "result")["result"]
    assert result == {"length": 3, "name": "digits"}
