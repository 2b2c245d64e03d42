"""The server's ASGI middlewares, driven directly: no sockets, exact messages."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bastion.server import (
    HSTS,
    BodyLimit,
    ConcurrencyLimit,
    InFlight,
    LifespanError,
    ReadTimeout,
    WriteTimeout,
)
from bastion.server._lifespan import Lifespan
from bastion.server._responses import request_id
from bastion.types import Message, Receive, Scope, Send

App = Callable[[Scope, Receive, Send], Awaitable[None]]


def http_scope(headers: list[tuple[bytes, bytes]] | None = None, *, method: str = "POST",
               scheme: str = "http") -> Scope:
    return {"type": "http", "method": method, "path": "/x", "scheme": scheme,
            "http_version": "1.1", "headers": headers or []}


class Client:
    """Plays the server side of ASGI: queued request messages in, sent messages out."""

    def __init__(self, *messages: Message, stall: bool = False) -> None:
        self.inbox = list(messages)
        self.stall = stall
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        if self.inbox:
            return self.inbox.pop(0)
        if self.stall:
            await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.sent[0]["headers"])

    @property
    def json(self) -> Any:
        return json.loads(b"".join(m.get("body", b"") for m in self.sent[1:]))


async def ok(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


# -- ConcurrencyLimit ---------------------------------------------------------------

async def test_concurrency_limit_answers_503_at_once_when_full() -> None:
    gate = asyncio.Event()

    async def held(scope: Scope, receive: Receive, send: Send) -> None:
        await gate.wait()
        await ok(scope, receive, send)

    limit = ConcurrencyLimit(held, 1)
    first = Client()
    task = asyncio.create_task(limit(http_scope(method="GET"), first.receive, first.send))
    await asyncio.sleep(0)
    assert limit.active == 1
    second = Client()
    await limit(http_scope(method="GET"), second.receive, second.send)
    assert second.status == 503
    assert second.headers[b"retry-after"] == b"1"
    assert b"connection" not in second.headers  # no body to skip: keep the connection
    assert second.json["name"] == "unavailable"
    gate.set()
    await task
    assert first.status == 200
    assert limit.active == 0


async def test_concurrency_limit_closes_when_it_leaves_a_body_unread() -> None:
    gate = asyncio.Event()

    async def held(scope: Scope, receive: Receive, send: Send) -> None:
        await gate.wait()

    limit = ConcurrencyLimit(held, 1)
    task = asyncio.create_task(limit(http_scope(), Client().receive, Client().send))
    await asyncio.sleep(0)
    client = Client()
    await limit(http_scope([(b"content-length", b"10")]), client.receive, client.send)
    assert client.headers[b"connection"] == b"close"
    gate.set()
    await task


def test_concurrency_limit_refuses_a_limit_below_one() -> None:
    with pytest.raises(ValueError, match="MAX_CONCURRENCY"):
        ConcurrencyLimit(ok, 0)


# -- BodyLimit ------------------------------------------------------------------------

async def test_a_declared_length_over_the_limit_never_reaches_the_app() -> None:
    called = False

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal called
        called = True

    client = Client()
    await BodyLimit(app, 10)(http_scope([(b"content-length", b"11")]), client.receive,
                             client.send)
    assert not called
    assert client.status == 413
    assert client.headers[b"connection"] == b"close"
    assert client.json["name"] == "payload_too_large"


async def test_a_chunked_body_is_cut_at_the_first_chunk_past_the_limit() -> None:
    chunks = [{"type": "http.request", "body": b"x" * 6, "more_body": True} for _ in range(5)]
    client = Client(*chunks)
    await BodyLimit(echo, 10)(http_scope([(b"transfer-encoding", b"chunked")]), client.receive,
                              client.send)
    assert client.status == 413
    assert len(client.sent) == 2  # the app's own response after the disconnect was dropped
    assert len(client.inbox) == 3  # nothing read past the chunk that crossed the limit


async def test_a_body_within_the_limit_passes() -> None:
    client = Client({"type": "http.request", "body": b"x" * 10, "more_body": False})
    await BodyLimit(echo, 10)(http_scope([(b"transfer-encoding", b"chunked")]), client.receive,
                              client.send)
    assert client.status == 200
    assert client.sent[1]["body"] == b"10"


# -- ReadTimeout ----------------------------------------------------------------------

async def test_a_stalled_body_gets_408_and_the_app_a_disconnect() -> None:
    client = Client({"type": "http.request", "body": b"abc", "more_body": True}, stall=True)
    await ReadTimeout(echo, 0.1)(http_scope([(b"content-length", b"100")]), client.receive,
                                 client.send)
    assert client.status == 408
    assert client.headers[b"connection"] == b"close"
    body = client.json
    assert body["name"] == "request_timeout"
    assert body["timeout"] is True
    assert len(client.sent) == 2


async def test_a_request_without_a_body_has_no_read_deadline() -> None:
    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(0.2)
        await ok(scope, receive, send)

    client = Client()
    await ReadTimeout(slow, 0.05)(http_scope(method="GET"), client.receive, client.send)
    assert client.status == 200


# -- WriteTimeout and InFlight --------------------------------------------------------

async def sleeper(scope: Scope, receive: Receive, send: Send) -> None:
    await asyncio.sleep(10)


async def test_write_timeout_cancels_and_logs_the_scope_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scope["bastion.request_id"] = "from-the-log-middleware"
        await sleeper(scope, receive, send)

    client = Client()
    scope = http_scope([(b"x-request-id", b"from-the-client")], method="GET")
    with caplog.at_level(logging.WARNING, logger="bastion.server"):
        await WriteTimeout(app, 0.05)(scope, client.receive, client.send)
    assert client.status == 503
    assert client.headers[b"x-request-id"] == b"from-the-log-middleware"
    assert client.json["name"] == "timeout"
    (record,) = caplog.records
    assert record.request_id == "from-the-log-middleware"  # type: ignore[attr-defined]
    assert "from-the-log-middleware" in record.getMessage()


async def test_write_timeout_leaves_the_apps_own_timeout_alone() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise TimeoutError("the database was slow")

    with pytest.raises(TimeoutError, match="database"):
        await WriteTimeout(app, 5)(http_scope(method="GET"), Client().receive, Client().send)


async def test_inflight_cancel_all_answers_503_unavailable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    inflight = InFlight()
    guard = WriteTimeout(sleeper, 30, inflight)
    clients = [Client() for _ in range(3)]
    scopes = [http_scope([(b"x-request-id", f"r{i}".encode())], method="GET") for i in range(3)]
    tasks = [asyncio.create_task(guard(s, c.receive, c.send)) for s, c in zip(scopes, clients,
                                                                              strict=True)]
    await asyncio.sleep(0.01)
    assert len(inflight) == 3
    assert not await inflight.wait_empty(0.01)
    with caplog.at_level(logging.WARNING, logger="bastion.server"):
        assert sorted(inflight.cancel_all("shutting down")) == ["r0", "r1", "r2"]
        await asyncio.gather(*tasks)
    assert await inflight.wait_empty(0.01)
    assert [c.json["name"] for c in clients] == ["unavailable"] * 3
    assert all("shutting down" in r.getMessage() for r in caplog.records)


def test_request_id_rejects_a_client_id_that_could_forge_a_log_line() -> None:
    good = http_scope([(b"x-request-id", b"abc-123")])
    bad = http_scope([(b"x-request-id", b"abc\n2024 ERROR forged")])
    assert request_id(good) == "abc-123"
    generated = request_id(bad)
    assert "\n" not in generated
    assert generated != "abc"
    assert bad["bastion.request_id"] == generated  # later lines of the request share it


# -- HSTS -----------------------------------------------------------------------------

@pytest.mark.parametrize(("scheme", "expected"), [("https", b"max-age=60"), ("http", None)])
async def test_hsts_only_on_https(scheme: str, expected: bytes | None) -> None:
    client = Client()
    await HSTS(ok, 60)(http_scope(method="GET", scheme=scheme), client.receive, client.send)
    assert client.headers.get(b"strict-transport-security") == expected


# -- Lifespan -------------------------------------------------------------------------

async def test_lifespan_state_startup_and_shutdown() -> None:
    events: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            events.append(message["type"])
            if message["type"] == "lifespan.startup":
                scope["state"]["db"] = "open"
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return

    lifespan = Lifespan(app)
    await lifespan.startup()
    assert lifespan.state == {"db": "open"}
    await lifespan.shutdown()
    assert events == ["lifespan.startup", "lifespan.shutdown"]
    assert not lifespan.failed


async def test_an_app_without_lifespan_is_served_anyway() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("only http")

    lifespan = Lifespan(app)
    await lifespan.startup()
    assert not lifespan.supported
    await lifespan.shutdown()


async def test_a_failed_startup_raises_lifespan_error() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    with pytest.raises(LifespanError, match="no database"):
        await Lifespan(app).startup()


async def test_a_cancellation_from_elsewhere_is_not_swallowed() -> None:
    inflight = InFlight()
    client = Client()
    task = asyncio.create_task(WriteTimeout(sleeper, 30, inflight)(
        http_scope(method="GET"), client.receive, client.send))
    await asyncio.sleep(0.01)
    inflight.cancel_all("shutdown")
    task.cancel()  # e.g. the server cancelling its tasks in the same tick
    with pytest.raises(asyncio.CancelledError):
        await task
    assert client.sent == []


async def test_a_handler_that_swallows_the_cancellation_keeps_a_clean_task() -> None:
    async def stubborn(scope: Scope, receive: Receive, send: Send) -> None:
        with contextlib.suppress(asyncio.CancelledError):  # a handler that misbehaves
            await asyncio.sleep(10)
        await ok(scope, receive, send)

    client = Client()
    await WriteTimeout(stubborn, 0.05)(http_scope(method="GET"), client.receive, client.send)
    assert client.status == 200
    current = asyncio.current_task()
    assert current is not None
    assert current.cancelling() == 0
