"""`bastion.testing.TestClient`: httpx over ASGI, with the app's lifespan around requests."""

from __future__ import annotations

import contextlib
import typing
from collections.abc import AsyncIterator

import httpx
import pytest

import bastion
from bastion.dsl import *
from bastion.testing import LifespanError, TestClient
from bastion.types import Message, Receive, Scope, Send
from tests.support.apps import quiet_app


def ping_app(events: list[str], **kw: typing.Any) -> bastion.App:
    with API("t") as api:
        pass
    with Service("s"), Method("ping"):
        Result(String)
        with HTTP():
            GET("/ping")

    class Impl:
        async def ping(self) -> str:
            events.append("request")
            return "pong"

    return quiet_app(api, {"s": Impl()}, **kw)


async def test_lifespan_wraps_the_requests() -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: bastion.App) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    app = ping_app(events, lifespan=lifespan)
    async with TestClient(app) as c:
        assert isinstance(c, httpx.AsyncClient)
        assert events == ["startup"]
        r = await c.get("/ping")
        assert r.status_code == 200 and r.json() == "pong"
        assert str(r.url) == "http://testserver/ping"
    assert events == ["startup", "request", "shutdown"]


async def test_startup_failure_raises_lifespan_error() -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: bastion.App) -> AsyncIterator[None]:
        raise RuntimeError("cannot reach the database")
        yield

    app = ping_app([], lifespan=lifespan)
    with pytest.raises(LifespanError, match="RuntimeError: cannot reach the database"):
        async with TestClient(app):
            pass


async def test_shutdown_failure_raises_lifespan_error() -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: bastion.App) -> AsyncIterator[None]:
        yield
        raise RuntimeError("flush failed")

    app = ping_app([], lifespan=lifespan)
    with pytest.raises(LifespanError, match="RuntimeError: flush failed"):
        async with TestClient(app) as c:
            assert (await c.get("/ping")).status_code == 200


async def test_works_with_any_asgi_app_and_passes_the_client_address() -> None:
    lifespan: list[str] = []
    clients: list[typing.Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message: Message = await receive()
                lifespan.append(message["type"])
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        clients.append(scope["client"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"hi"})

    async with TestClient(app, client=("10.1.2.3", 4321), base_url="http://api.test") as c:
        r = await c.get("/anything")
    assert r.text == "hi"
    assert clients == [("10.1.2.3", 4321)]
    assert lifespan == ["lifespan.startup", "lifespan.shutdown"]


def test_test_client_is_not_collected_by_pytest() -> None:
    assert TestClient.__test__ is False
