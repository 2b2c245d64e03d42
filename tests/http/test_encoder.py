"""Result encoding: status, headers and JSON body, as the design maps them."""

from __future__ import annotations

import dataclasses
import json
import typing

import msgspec
import pytest

from bastion import OneOfValue
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


# ---------------------------------------------------------------- Goa: views, tags, cookies


def cellar_design() -> typing.Any:
    """A result type with two views, a nested one in view `tiny`, and methods using them."""
    with API("views") as api:
        pass
    with ResultType("application/vnd.winery", "Winery") as winery:
        with Attributes():
            Attribute("name", String)
            Attribute("region", String)
        with View("default"):
            Attribute("name")
            Attribute("region")
        with View("tiny"):
            Attribute("name")
        Required("name", "region")
    with ResultType("application/vnd.bottle", "Bottle") as bottle:
        with Attributes():
            Attribute("id", String)
            Attribute("name", String)
            Attribute("winery", winery)
            Attribute("vintage", UInt32, minimum=1900)
            Attribute("etag", String)
        with View("default"):
            Attribute("id")
            Attribute("name")
            with Attribute("winery"):
                View("tiny")
            Attribute("vintage")
            Attribute("etag")
        with View("tiny"):
            Attribute("id")
            Attribute("name")
        Required("id", "name", "vintage")
    with Service("s"):
        with Method("show"):
            with Payload():
                Attribute("id", String)
                Attribute("view", String, enum=["default", "tiny"])
                Required("id")
            Result(bottle)
            with HTTP():
                GET("/bottles/{id}")
                Param("view")
                with Response(StatusOK):
                    Header("etag:ETag")
        with Method("pick"):
            Result(bottle)
            with HTTP():
                GET("/pick")
        with Method("list"):
            Result(CollectionOf(bottle), view="tiny")
            with HTTP():
                GET("/bottles")
    return api


BOTTLE = {"id": "b1", "name": "Blue's Cuvee", "vintage": 2015, "etag": "v7",
          "winery": {"name": "Longoria", "region": "Central Coast"}}


class Cellar:
    def __init__(self, picked: typing.Any = None) -> None:
        self.picked = picked

    async def show(self, p: typing.Any) -> typing.Any:
        return dict(BOTTLE)

    async def pick(self) -> typing.Any:
        return self.picked

    async def list(self) -> typing.Any:
        # The full bottles, and one that holds only what the tiny view renders.
        return [dict(BOTTLE), {"id": "b2", "name": "Tiny"}]


async def test_the_client_picks_the_view_and_goa_view_names_it() -> None:
    from bastion.testing import TestClient

    app = quiet_app(cellar_design(), {"s": Cellar()})
    async with TestClient(app) as c:
        default = await c.get("/bottles/b1")
        tiny = await c.get("/bottles/b1", params={"view": "tiny"})
        bad = await c.get("/bottles/b1", params={"view": "huge"})
    # As Goa's EncodeShowResponse: goa-view set, the body the view's (nested winery tiny).
    assert default.status_code == 200 and default.headers["goa-view"] == "default"
    assert default.headers["etag"] == "v7"
    assert default.json() == {"id": "b1", "name": "Blue's Cuvee", "vintage": 2015,
                              "winery": {"name": "Longoria"}}
    assert tiny.headers["goa-view"] == "tiny" and tiny.json() == {"id": "b1",
                                                                  "name": "Blue's Cuvee"}
    assert "etag" not in tiny.headers  # not an attribute of the tiny view
    assert bad.status_code == 400


async def test_a_method_returns_viewed_to_pick_the_view() -> None:
    import bastion
    from bastion.testing import TestClient

    api = cellar_design()
    async with TestClient(quiet_app(api, {"s": Cellar(bastion.Viewed(
            {"id": "b3", "name": "Only this"}, "tiny"))})) as c:
        picked = await c.get("/pick")
    # A subset result valid for its view is no 500: it is checked against the view only.
    assert picked.status_code == 200 and picked.headers["goa-view"] == "tiny"
    assert picked.json() == {"id": "b3", "name": "Only this"}
    app = quiet_app(api, {"s": Cellar({"id": "b3", "name": "Only this"})})
    async with TestClient(app) as c:
        partial = await c.get("/pick")
    assert partial.status_code == 500  # the default view needs `vintage`
    async with TestClient(quiet_app(api, {"s": Cellar(bastion.Viewed(BOTTLE, "x"))})) as c:
        unknown = await c.get("/pick")
    assert unknown.status_code == 500


async def test_a_fixed_view_renders_collections_without_goa_view() -> None:
    from bastion.testing import TestClient

    async with TestClient(quiet_app(cellar_design(), {"s": Cellar()})) as c:
        listed = await c.get("/bottles")
    # Goa's EncodeListResponse: the view is the design's, so no goa-view header.
    assert listed.status_code == 200 and "goa-view" not in listed.headers
    assert listed.json() == [{"id": "b1", "name": "Blue's Cuvee"}, {"id": "b2", "name": "Tiny"}]


def tagged_design() -> typing.Any:
    with API("tags") as api:
        pass
    with Service("s"), Method("create"):
        with Payload():
            Attribute("outcome", String)
        with Result():
            Attribute("id", String)
            Attribute("outcome", String)
            Attribute("location", String)
        with HTTP():
            POST("/things")
            Response(StatusOK)
            with Response(StatusCreated):
                Tag("outcome", "created")
                Header("location:Location")
            with Response(StatusAccepted):
                Tag("outcome", "accepted")
    return api


class Things:
    async def create(self, p: typing.Any) -> typing.Any:
        return {"id": "t1", "outcome": p.outcome, "location": "/things/t1"}


async def test_tags_pick_the_response_of_a_result() -> None:
    from bastion.testing import TestClient

    async with TestClient(quiet_app(tagged_design(), {"s": Things()})) as c:
        created = await c.post("/things", json={"outcome": "created"})
        accepted = await c.post("/things", json={"outcome": "accepted"})
        other = await c.post("/things", json={"outcome": "unknown"})
    assert created.status_code == 201 and created.headers["location"] == "/things/t1"
    assert created.json() == {"id": "t1", "outcome": "created"}
    assert accepted.status_code == 202 and "location" not in accepted.headers
    assert accepted.json() == {"id": "t1", "outcome": "accepted", "location": "/things/t1"}
    assert other.status_code == 200


def cookie_design() -> typing.Any:
    with API("cookies") as api:
        pass
    with Service("s"):
        with Method("login"):
            with Result():
                Attribute("session_id", String)
                Attribute("message", String)
                Required("session_id", "message")
            with HTTP():
                POST("/login")
                with Response(StatusOK):
                    Cookie("session_id:SID")
                    CookieMaxAge(3600)
                    CookieDomain(".goa.design")
                    CookiePath("/session")
                    CookieSecure()
                    CookieHTTPOnly()
                    CookieSameSite(CookieSameSiteLax)
        with Method("plain"):
            with Result():
                Attribute("sid", String)
                Attribute("n", Int)
            with HTTP():
                POST("/plain")
                with Response(StatusOK):
                    Cookie("sid")
                    Cookie("n:count")
    return api


class Sessions:
    def __init__(self, sid: str = "x1") -> None:
        self.sid = sid

    async def login(self) -> typing.Any:
        return {"session_id": self.sid, "message": "new session created"}

    async def plain(self) -> typing.Any:
        return {"sid": self.sid}


async def test_result_attributes_are_written_as_cookies_as_go_writes_them() -> None:
    app = quiet_app(cookie_design(), {"s": Sessions()})
    status, headers, body = await raw_headers(app, "POST", "/login")
    assert status == 200 and json.loads(body) == {"message": "new session created"}
    # The attributes in the order Go's http.Cookie writes them; the leading dot dropped.
    assert (b"set-cookie", b"SID=x1; Path=/session; Domain=goa.design; Max-Age=3600; "
            b"HttpOnly; Secure; SameSite=Lax") in headers
    # Values with a space or comma are quoted, bytes a cookie cannot hold dropped; an
    # absent attribute writes no cookie; every attribute in a cookie means no body.
    status, headers, body = await raw_headers(quiet_app(cookie_design(), {
        "s": Sessions('a b;"c')}), "POST", "/plain")
    assert [v for k, v in headers if k == b"set-cookie"] == [b'sid="a bc"']
    assert body == b""


def unchecked_design(validate: bool) -> typing.Any:
    with API("unchecked") as api:
        ValidateResults(validate)
    with Service("s"), Method("show"):
        with Result():
            Attribute("id", String)
            Required("id")
        with HTTP():
            GET("/show")
    return api


class Loose:
    async def show(self) -> typing.Any:
        return {"id": "1", "extra": "not in the design"}


async def test_results_are_checked_unless_the_design_says_not() -> None:
    from bastion.testing import TestClient

    async with TestClient(quiet_app(unchecked_design(True), {"s": Loose()})) as c:
        checked = await c.get("/show")
    async with TestClient(quiet_app(unchecked_design(False), {"s": Loose()})) as c:
        unchecked = await c.get("/show")
    assert checked.json() == {"id": "1"}  # converted to the design's result
    # ValidateResults(False): written as returned, as Goa does (extra keys and all).
    assert unchecked.json() == {"id": "1", "extra": "not in the design"}


async def test_a_method_whose_view_is_fixed_may_name_the_same_view_only() -> None:
    import bastion
    from bastion.testing import TestClient

    class Fixed(Cellar):
        def __init__(self, view: str) -> None:
            super().__init__()
            self.view = view

        async def list(self) -> typing.Any:
            return bastion.Viewed([{"id": "b1", "name": "n"}], self.view)

    async with TestClient(quiet_app(cellar_design(), {"s": Fixed("tiny")})) as c:
        same = await c.get("/bottles")
    async with TestClient(quiet_app(cellar_design(), {"s": Fixed("default")})) as c:
        other = await c.get("/bottles")
    assert same.status_code == 200 and same.json() == [{"id": "b1", "name": "n"}]
    assert other.status_code == 500  # the design renders `list` in view tiny


def _union_design() -> None:
    with API("enc"):
        pass
    with Type("Cat") as cat:
        Attribute("name", String, min_length=1)
        Required("name")
    with Service("s"), Method("pet"):
        with Result():
            Attribute("id", Int)
            with OneOf("pet"):
                Attribute("cat", cat)
                Attribute("tag", Int)
            Required("id", "pet")
        with HTTP():
            GET("/pet")


@dataclasses.dataclass
class Cat:
    name: str


def test_a_oneof_value_in_a_result_is_written_as_goa_writes_it() -> None:
    _union_design()
    enc = encoder_for("pet")
    # The value of the alternative is JSON text inside the object, as Goa's encoder writes it.
    for value in ({"name": "Tom"}, Cat("Tom")):
        status, headers, body = enc({"id": 1, "pet": OneOfValue("cat", value)})
        assert (status, headers) == (200, [(b"content-type", b"application/json")])
        assert json.loads(body) == {"id": 1, "pet": {"Type": "cat", "Value": '{"name":"Tom"}'}}
    _, _, body = enc({"id": 2, "pet": OneOfValue("tag", 7)})
    assert json.loads(body) == {"id": 2, "pet": {"Type": "tag", "Value": "7"}}


@pytest.mark.parametrize("pet", [
    OneOfValue("dog", {"name": "Rex"}),   # no such alternative
    OneOfValue("cat", {"name": ""}),      # breaks the alternative's type
    OneOfValue("tag", "seven"),
    {"Type": "cat", "Value": {"name": "Tom"}},    # the wire form wants JSON text
])
def test_a_oneof_value_that_breaks_the_union_is_a_mismatch(pet: typing.Any) -> None:
    _union_design()
    with pytest.raises(ResultMismatch):
        encoder_for("pet")({"id": 1, "pet": pet})
