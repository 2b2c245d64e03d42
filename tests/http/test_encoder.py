"""Result encoding: status, headers and JSON body, as the design maps them."""

from __future__ import annotations

import dataclasses
import json
import typing

import msgspec
import pytest

from bastion.dsl import *
from bastion.dsl.expr import MethodExpr
from bastion.errors import DesignError
from bastion.http.encoder import ResultEncoder, ResultMismatch
from bastion.schema.compile import TypeCompiler
from bastion.schema.formats import enc_hook
from tests.http.support import operation_for
from tests.support.apps import quiet_app
from tests.support.asgi import call
from tests.support.lines import next_line


def encoder_for(method: str) -> ResultEncoder:
    api = current_design()
    assert api is not None
    compiler = TypeCompiler(api)
    m: MethodExpr = api.services["s"].methods[method]
    return ResultEncoder(operation_for(m, compiler), msgspec.json.Encoder(enc_hook=enc_hook))


def design() -> None:
    with API("enc"):
        pass
    with Type("Order"):
        Attribute("id", String)
        Attribute("amount", Float64, minimum=0)
        Required("id", "amount")
    with Service("s"):
        with Method("nothing"), HTTP():
            POST("/nothing")
        with Method("accepted"), HTTP():
            POST("/accepted")
            Response(StatusAccepted)
        with Method("show"):
            Result("Order")
            with HTTP():
                GET("/show")
        with Method("create"):
            with Result():
                Attribute("order", "Order")
                Attribute("etag", String)
                Attribute("count", Int)
                Attribute("cached", Boolean)
            with HTTP():
                POST("/create")
                with Response(StatusCreated):
                    Header("etag:ETag")
                    Header("count:X-Count")
                    Header("cached:X-Cached")
                    Body("order")
        with Method("split"):
            with Result():
                Attribute("etag", String)
                Attribute("name", String)
                Attribute("size", Int)
            with HTTP():
                GET("/split")
                with Response(StatusOK):
                    Header("etag:ETag")
        with Method("many"):
            Result(ArrayOf("Order"))
            with HTTP():
                GET("/many")


@dataclasses.dataclass
class Row:
    id: str
    amount: float


def test_no_result_is_204_with_no_body() -> None:
    design()
    assert encoder_for("nothing")(None) == (204, [], b"")
    assert encoder_for("nothing")({"ignored": True}) == (204, [], b"")
    assert encoder_for("accepted")(None) == (202, [], b"")


def test_result_without_response_is_200_json() -> None:
    design()
    enc = encoder_for("show")
    status, headers, body = enc({"id": "a", "amount": 1})
    assert status == 200
    assert headers == [(b"content-type", b"application/json")]
    assert json.loads(body) == {"id": "a", "amount": 1.0}


def test_results_of_many_shapes_are_converted() -> None:
    design()
    enc = encoder_for("show")
    struct = enc.convert({"id": "a", "amount": 2})
    assert type(struct) is enc.result_type
    assert enc.convert(struct) is struct  # already the result type: used as it is
    assert enc.convert(Row("b", 3.0)).id == "b"  # attributes of any object

    class Obj:
        def __init__(self) -> None:
            self.id = "c"
            self.amount = 4

    assert enc.convert(Obj()).amount == 4.0
    many = encoder_for("many")
    status, _, body = many([Row("x", 1), {"id": "y", "amount": 2}])
    assert status == 200
    assert json.loads(body) == [{"id": "x", "amount": 1.0}, {"id": "y", "amount": 2.0}]


@pytest.mark.parametrize(
    "bad",
    [None, {"id": "a"}, {"id": "a", "amount": -1}, {"id": 5, "amount": 1}, "text"],
)
def test_a_result_that_breaks_the_design_raises(bad: typing.Any) -> None:
    design()
    with pytest.raises(ResultMismatch, match="method 'show' of service 's' returned a result "
                       "that does not match the design"):
        encoder_for("show")(bad)


def test_result_attributes_mapped_to_headers_and_body() -> None:
    design()
    enc = encoder_for("create")
    status, headers, body = enc({"order": {"id": "a", "amount": 1}, "etag": '"v1"', "count": 7,
                                 "cached": False})
    assert status == 201
    assert headers == [
        (b"content-type", b"application/json"),
        (b"etag", b'"v1"'),
        (b"x-count", b"7"),
        (b"x-cached", b"false"),
    ]
    assert json.loads(body) == {"id": "a", "amount": 1.0}


def test_missing_header_attributes_send_no_header() -> None:
    design()
    status, headers, _ = encoder_for("create")({"order": {"id": "a", "amount": 1}})
    assert status == 201
    assert headers == [(b"content-type", b"application/json")]


def test_header_attributes_are_left_out_of_the_body() -> None:
    design()
    status, headers, body = encoder_for("split")({"etag": "e1", "name": "n", "size": 3})
    assert status == 200
    assert (b"etag", b"e1") in headers
    assert json.loads(body) == {"name": "n", "size": 3}


async def test_no_content_responses_never_carry_a_body() -> None:
    # A 204 with a body breaks HTTP framing (RFC 9110 section 15.3.5): either the design is
    # refused when loaded, or the body is dropped.
    with API("nc") as api:
        pass
    with Service("s"), Method("m"):
        Result(String)
        with HTTP():
            GET("/m")
            line = next_line()
            Response(StatusNoContent)

    class Impl:
        async def m(self) -> str:
            return "hello"

    try:
        app = quiet_app(api, {"s": Impl()})
    except DesignError as exc:
        assert f"{__file__}:{line}" in str(exc)
        assert "204" in str(exc)
        return
    r = await call(app, "GET", "/m")
    assert r.status == 204
    assert r.body == b""
    assert r.headers.get("content-length", "0") == "0"


async def raw_headers(
    app: typing.Any, method: str, path: str
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Call `app` and return its status, the header list as sent (repeats kept) and body."""
    from tests.support.asgi import Wire

    sent: list[typing.Any] = []

    async def send(message: typing.Any) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "headers": [], "client": ("127.0.0.1", 1),
             "server": ("testserver", 80), "state": {}}
    await app(scope, Wire().receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], list(start["headers"]), body


def wire_design() -> typing.Any:
    with API("wire") as api:
        pass
    with Service("s"):
        with Method("unchanged"):
            with Result():
                Attribute("etag", String)
                Required("etag")
            with HTTP():
                GET("/unchanged")
                with Response(StatusNotModified):
                    Header("etag:ETag")
        with Method("stored"):
            with Result():
                Attribute("location", String)
            with HTTP():
                PUT("/stored")
                with Response(StatusNoContent):
                    Header("location:Location")
        with Method("headers_only"):
            with Result():
                Attribute("total", Int)
            with HTTP():
                GET("/headers-only")
                with Response(StatusOK):
                    Header("total:X-Total")
        with Method("body_only"):
            with Result():
                Attribute("order", "Order")
                Attribute("note", String)
            with HTTP():
                GET("/body-only")
                with Response(StatusOK):
                    Body("order")
        with Method("sized"):
            with Result():
                Attribute("size", Int)
                Attribute("data", String)
                Attribute("items", ArrayOf(Int))
            with HTTP():
                GET("/sized")
                with Response(StatusOK):
                    Header("size:Content-Length")
                    Header("data:X-Data")
        with Method("typed"):
            with Result():
                Attribute("kind", String)
                Attribute("text", String)
            with HTTP():
                GET("/typed")
                with Response(StatusOK):
                    Header("kind:Content-Type")
                    Body("text")
    with Type("Order"):
        Attribute("id", String)
        Required("id")
    return api


class WireImpl:
    async def unchanged(self) -> typing.Any:
        return {"etag": '"v1"'}

    async def stored(self) -> typing.Any:
        return {"location": "/things/1"}

    async def headers_only(self) -> typing.Any:
        return {"total": 3}

    async def body_only(self) -> typing.Any:
        return {"order": {"id": "o1"}, "note": "not on the wire"}

    async def sized(self) -> typing.Any:
        return {"size": 999, "data": "d", "items": [1, 2]}

    async def typed(self) -> typing.Any:
        return {"kind": "text/plain; charset=utf-8", "text": "hello"}


async def test_204_and_304_carry_no_body_and_no_content_length() -> None:
    app = quiet_app(wire_design(), {"s": WireImpl()})
    for method, path, status, header in (("GET", "/unchanged", 304, (b"etag", b'"v1"')),
                                         ("PUT", "/stored", 204, (b"location", b"/things/1"))):
        got, headers, body = await raw_headers(app, method, path)
        assert got == status
        assert body == b""
        names = [k for k, _ in headers]
        assert b"content-length" not in names and b"content-type" not in names
        assert header in headers


async def test_a_result_written_only_to_headers_has_no_body() -> None:
    app = quiet_app(wire_design(), {"s": WireImpl()})
    status, headers, body = await raw_headers(app, "GET", "/headers-only")
    assert status == 200 and body == b""
    assert (b"x-total", b"3") in headers
    assert (b"content-length", b"0") in headers
    assert b"content-type" not in [k for k, _ in headers]


async def test_body_in_a_response_block_without_headers_is_the_body() -> None:
    app = quiet_app(wire_design(), {"s": WireImpl()})
    status, headers, body = await raw_headers(app, "GET", "/body-only")
    assert status == 200
    assert json.loads(body) == {"id": "o1"}
    assert (b"content-type", b"application/json") in headers


async def test_content_length_is_the_bodys_whatever_the_result_says() -> None:
    app = quiet_app(wire_design(), {"s": WireImpl()})
    status, headers, body = await raw_headers(app, "GET", "/sized")
    assert status == 200
    # One Content-Length, the body's: the result's `size` would break the framing.
    assert [v for k, v in headers if k == b"content-length"] == [str(len(body)).encode()]
    assert json.loads(body) == {"items": [1, 2]}
    assert (b"x-data", b"d") in headers


async def test_a_result_mapped_to_content_type_replaces_json() -> None:
    app = quiet_app(wire_design(), {"s": WireImpl()})
    status, headers, body = await raw_headers(app, "GET", "/typed")
    assert status == 200
    assert [v for k, v in headers if k == b"content-type"] == [b"text/plain; charset=utf-8"]
    assert body == b'"hello"'
