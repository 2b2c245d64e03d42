"""The muxer on its own: handlers built from the design, error mapping, the 500 hook."""

from __future__ import annotations

import typing

import msgspec

import bastion
from bastion.dsl import *
from bastion.errors import ServiceError
from bastion.http.autherrors import SecurityResponses
from bastion.http.decoder import Decoder
from bastion.http.encoder import ResultEncoder
from bastion.http.muxer import Muxer
from bastion.schema.compile import TypeCompiler
from bastion.schema.formats import enc_hook
from bastion.schema.validate import Collector
from bastion.security import RateLimited
from bastion.security.ratelimit import Decision
from bastion.types import Endpoint, Message, Receive, Scope, Send
from tests.http.support import operation_for
from tests.support.asgi import Wire, call


def ignore(scope: Scope, exc: BaseException, error_id: str) -> None:
    """A 500 hook that logs nothing."""


def build(impls: dict[str, Endpoint], **kw: typing.Any) -> Muxer:
    """A muxer serving service 's' of the current design with raw endpoints."""
    api = current_design()
    assert api is not None
    api.finalize()
    compiler = TypeCompiler(api)
    collector = Collector(compiler)
    encoder = msgspec.json.Encoder(enc_hook=enc_hook)
    kw.setdefault("on_internal_error", ignore)
    kw.setdefault("security_mapper", SecurityResponses("mux"))
    mux = Muxer(**kw)
    for m in api.services["s"].methods.values():
        op = operation_for(m, compiler, impls[m.name])
        decoder = None
        if m.payload is not None:
            decoder = Decoder(op, compiler, collector, max_body_bytes=1024)
        mux.add_operation(op, decoder, ResultEncoder(op, encoder))
    mux.compile()
    return mux


def design() -> None:
    with API("mux"):
        pass
    with Service("s"):
        Error("not_found")
        with Method("boom"):
            with HTTP():
                GET("/boom")
        with Method("find"):
            with Payload():
                Attribute("id", Int)
                Required("id")
            Result(String)
            with HTTP():
                GET("/find/{id}")
                Response("not_found", StatusNotFound)


async def boom(payload: typing.Any) -> typing.Any:
    raise ValueError("secret connection string postgres://u:pw@db")


async def find(payload: typing.Any) -> typing.Any:
    if payload.id == 0:
        raise bastion.make_error("not_found", "nothing with id 0", field="id")
    return f"found {payload.id}"


async def test_the_500_body_names_no_exception_and_its_id_reaches_the_hook() -> None:
    design()
    seen: list[tuple[BaseException, str]] = []

    def hook(scope: Scope, exc: BaseException, error_id: str) -> None:
        seen.append((exc, error_id))

    mux = build({"boom": boom, "find": find}, on_internal_error=hook)
    r = await call(mux, "GET", "/boom")
    assert r.status == 500
    body = r.json()
    assert body["name"] == "internal" and body["fault"] is True
    assert "secret" not in r.body.decode() and "ValueError" not in r.body.decode()
    ((exc, error_id),) = seen
    assert isinstance(exc, ValueError) and error_id == body["id"]


async def test_each_500_gets_its_own_id() -> None:
    design()
    ids: list[str] = []

    def hook(scope: Scope, exc: BaseException, error_id: str) -> None:
        ids.append(error_id)
        assert scope["bastion.exception"] is exc

    mux = build({"boom": boom, "find": find}, on_internal_error=hook)
    first = await call(mux, "GET", "/boom")
    second = await call(mux, "GET", "/boom")
    assert [first.json()["id"], second.json()["id"]] == ids
    assert ids[0] != ids[1]


async def test_design_error_and_result() -> None:
    design()
    mux = build({"boom": boom, "find": find})
    ok = await call(mux, "GET", "/find/5")
    missing = await call(mux, "GET", "/find/0")
    assert ok.status == 200 and ok.json() == "found 5"
    assert ok.headers["content-type"] == "application/json"
    assert missing.status == 404
    assert missing.json()["field"] == "id"
    assert missing.json()["message"] == "nothing with id 0"
    # The design error is named in `Goa-Error`; the router's own 404 is not a design error.
    assert missing.headers["goa-error"] == "not_found"
    assert "goa-error" not in ok.headers
    assert "goa-error" not in (await call(mux, "GET", "/nowhere")).headers


async def test_route_template_is_recorded_in_the_scope() -> None:
    design()
    seen: list[str] = []

    async def spy(payload: typing.Any) -> typing.Any:
        return "x"

    mux = build({"boom": boom, "find": spy})

    async def outer(scope: Scope, receive: Receive, send: Send) -> None:
        await mux(scope, receive, send)
        seen.append(scope["bastion.route"])

    await call(outer, "GET", "/find/7")
    assert seen == ["/find/{id}"]


async def test_security_exceptions_map_to_401_and_403() -> None:
    design()

    async def unauthorized(payload: typing.Any) -> typing.Any:
        raise bastion.Unauthorized("token expired")

    async def forbidden(payload: typing.Any) -> typing.Any:
        raise bastion.Forbidden("missing scope api:write")

    mux = build({"boom": unauthorized, "find": forbidden})
    r401 = await call(mux, "GET", "/boom")
    r403 = await call(mux, "GET", "/find/1")
    assert r401.status == 401 and r401.json()["name"] == "unauthorized"
    assert r401.json()["message"] == "token expired"
    assert "www-authenticate" in r401.headers
    assert r403.status == 403 and r403.json()["message"] == "missing scope api:write"
    assert r401.json()["temporary"] is False and r403.json()["temporary"] is False


async def test_a_rate_limit_refusal_is_429_and_temporary() -> None:
    design()

    async def limited(payload: typing.Any) -> typing.Any:
        raise RateLimited("rate limit exceeded", Decision(False, 10, 0, 30.0, 60))

    mux = build({"boom": limited, "find": find})
    r = await call(mux, "GET", "/boom")
    assert r.status == 429
    body = r.json()
    assert body["name"] == "too_many_requests"
    assert (body["temporary"], body["timeout"], body["fault"]) == (True, False, False)
    assert r.headers["retry-after"] == "30"


async def test_design_flags_reach_the_body_and_the_raised_error_is_left_alone() -> None:
    with API("mux"):
        pass
    with Service("s"):
        Error("busy", temporary=True)
        with Method("boom"):
            with HTTP():
                GET("/boom")
                Response("busy", StatusServiceUnavailable)
        with Method("find"), HTTP():
            GET("/find")
    raised = ServiceError("busy", "try later")

    async def busy(payload: typing.Any) -> typing.Any:
        raise raised

    mux = build({"boom": busy, "find": find})
    r = await call(mux, "GET", "/boom")
    assert r.status == 503
    assert r.json()["temporary"] is True and r.json()["id"] == raised.id
    # The design's flags are written to the wire; the exception the method raised (which
    # may be shared, or raised again) keeps its own.
    assert (raised.temporary, raised.timeout, raised.fault) == (False, False, False)


async def test_mounted_raw_handlers_and_lifespan_scopes() -> None:
    design()
    mux = build({"boom": boom, "find": find})

    async def hello(scope: Scope, receive: Receive, send: Send, params: dict[str, str]) -> None:
        body = msgspec.json.encode({"hello": params})
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    mux.mount("GET", "/hello/{name}", hello, "hello")
    mux.compile()
    r = await call(mux, "GET", "/hello/ada")
    assert r.json() == {"hello": {"name": "ada"}}
    assert ("GET", "/hello/{name}", "hello") in mux.routes
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await mux({"type": "lifespan"}, Wire().receive, send)
    assert sent == []  # the muxer leaves lifespan to the App
