"""Request decoding: path, query, headers, cookies and body into one validated payload."""

from __future__ import annotations

import typing

import msgspec
import pytest

from bastion.config import Config, load
from bastion.dsl import *
from bastion.dsl import Any as AnyType
from bastion.testing import TestClient
from bastion.types import Message
from tests.support.apps import quiet_app
from tests.support.asgi import Wire, call

STORE = "123e4567-e89b-12d3-a456-426614174000"


class Shop:
    """Records every payload it gets."""

    def __init__(self) -> None:
        self.seen: list[typing.Any] = []

    async def put_item(self, p: typing.Any) -> None:
        self.seen.append(p)

    async def add_note(self, p: typing.Any) -> None:
        self.seen.append(p)

    async def create(self, p: typing.Any) -> typing.Any:
        self.seen.append(p)
        return {"n": 1}

    async def batch(self, p: typing.Any) -> None:
        self.seen.append(p)

    async def show(self, p: typing.Any) -> None:
        self.seen.append(p)

    async def echo(self, p: typing.Any) -> typing.Any:
        return msgspec.to_builtins(p)


def shop_design(max_body_bytes: int | None = None) -> tuple[typing.Any, Shop]:
    with API("shop") as api:
        pass
    with Type("Item"):
        Attribute("sku", String, pattern="^[A-Z]{3}-[0-9]+$")
        Attribute("qty", Int32, minimum=1, maximum=100)
        Attribute("children", ArrayOf("Item"))
        Required("sku", "qty")
    with Service("shop"):
        with Method("put_item"):
            with Payload():
                Attribute("store", String, format=UUID)
                Attribute("id", Int, minimum=1)
                Attribute("page", Int, minimum=1, default=1)
                Attribute("tags", ArrayOf(String, max_length=5))
                Attribute("dry_run", Boolean)
                Attribute("request_id", String, min_length=4)
                Attribute("limit", Int, maximum=10)
                Attribute("session", String, enum=["alpha", "beta"])
                Attribute("item", "Item")
                Required("store", "id", "request_id", "session", "item")
            with HTTP():
                PUT("/stores/{store}/items/{id}")
                Param("page")
                Param("tags:tag")
                Param("dry_run:dry-run")
                Header("request_id:X-Request-ID")
                Header("limit:X-Limit")
                Cookie("session:sid")
                Body("item")
        with Method("add_note"):
            with Payload():
                Attribute("store", String, format=UUID)
                Attribute("text", String, min_length=1)
                Attribute("priority", Int, enum=[1, 2, 3])
                Required("store", "text")
            with HTTP():
                POST("/stores/{store}/notes")
        with Method("create"):
            Payload("Item")
            with Result():
                Attribute("n", Int)
            with HTTP():
                POST("/items")
                Response(StatusCreated)
        with Method("batch"):
            Payload(ArrayOf("Item"))
            with HTTP():
                POST("/batch")
        with Method("show"):
            with Payload():
                Attribute("id", Int)
                Required("id")
            with HTTP():
                GET("/items/{id}")
        with Method("echo"):
            with Payload():
                Attribute("q", String)
                Attribute("n", Int)
            Result(AnyType)
            with HTTP():
                GET("/echo")
                Param("q")
                Param("n")
    shop = Shop()
    kw = {}
    if max_body_bytes is not None:  # the limit's one home is the configuration
        kw["config"] = load(Config, {"MAX_BODY_BYTES": str(max_body_bytes)})
    return quiet_app(api, {"shop": shop}, **kw), shop


def errors_of(body: dict[str, typing.Any]) -> set[tuple[str, str, str]]:
    return {(e["field"], e["in"], e["message"]) for e in body["errors"]}


# ---------------------------------------------------------------------------- every source


async def test_every_source_decodes_into_one_typed_payload() -> None:
    app, shop = shop_design()
    async with TestClient(app) as c:
        r = await c.put(
            f"/stores/{STORE}/items/42?tag=a&tag=bb&dry-run=true&ignored=1",
            json={"sku": "ABC-1", "qty": 3, "children": [{"sku": "XYZ-2", "qty": 1}]},
            headers={"X-Request-ID": "req-1", "x-limit": "7", "Cookie": "other=x; sid=beta"},
        )
    assert r.status_code == 204, r.text
    (p,) = shop.seen
    assert p.store == STORE
    assert p.id == 42 and type(p.id) is int
    assert p.page == 1  # the default
    assert p.tags == ["a", "bb"]
    assert p.dry_run is True
    assert p.request_id == "req-1"
    assert p.limit == 7
    assert p.session == "beta"
    assert (p.item.sku, p.item.qty) == ("ABC-1", 3)
    assert p.item.children[0].sku == "XYZ-2"
    assert isinstance(p.item, msgspec.Struct)
    assert isinstance(p, msgspec.Struct)


async def test_every_bad_field_of_every_source_is_named() -> None:
    app, _ = shop_design()
    async with TestClient(app) as c:
        r = await c.put(
            "/stores/not-a-uuid/items/abc?page=0&tag=toolong&dry-run=maybe",
            json={"sku": "abc", "qty": 0, "children": [{"qty": 1000}]},
            headers={"X-Request-ID": "r", "X-Limit": "11", "Cookie": "sid=gamma"},
        )
    body = r.json()
    assert errors_of(body) == {
        ("store", "path", "Expected `str` formatted as a UUID"),
        ("id", "path", "Expected `int`, got `str`"),
        ("page", "query", "Expected `int` >= 1"),
        ("tag[0]", "query", "Expected `str` of length <= 5"),
        ("dry-run", "query", "Expected `bool`, got `str`"),
        ("X-Request-ID", "header", "Expected `str` of length >= 4"),
        ("X-Limit", "header", "Expected `int` <= 10"),
        ("sid", "cookie", "Invalid enum value 'gamma'"),
        # Body("item"): the client's JSON is the item, so its fields are named as written.
        ("sku", "body", "Expected `str` matching regex '^[A-Z]{3}-[0-9]+$'"),
        ("qty", "body", "Expected `int` >= 1"),
        ("children[0].sku", "body", "missing required field"),
        ("children[0].qty", "body", "Expected `int` <= 100"),
    }
    assert body["message"].startswith("12 invalid fields: ")
    for name in ("store", "id", "page", "tag", "dry-run", "X-Request-ID", "X-Limit", "sid",
                 "sku", "qty", "children[0].sku", "children[0].qty"):
        assert name in body["message"]


async def test_missing_required_values_name_where_they_were_expected() -> None:
    app, _ = shop_design()
    async with TestClient(app) as c:
        r = await c.put(f"/stores/{STORE}/items/1")
    assert r.status_code == 400
    # No body where one is expected is Goa's `missing_payload`; every other bad field is
    # named beside it.
    assert r.json()["name"] == "missing_payload"
    assert errors_of(r.json()) == {
        ("X-Request-ID", "header", "missing required field"),
        ("sid", "cookie", "missing required field"),
        ("body", "body", "missing required payload"),
    }


async def test_body_rest_of_the_payload_and_its_errors() -> None:
    app, shop = shop_design()
    async with TestClient(app) as c:
        ok = await c.post(f"/stores/{STORE}/notes", json={"text": "hi", "priority": 2})
        bad = await c.post("/stores/x/notes", json={"text": "", "priority": 9, "store": STORE})
        missing = await c.post(f"/stores/{STORE}/notes", json={})
        empty = await c.post(f"/stores/{STORE}/notes")
    assert ok.status_code == 204, ok.text
    p = shop.seen[0]
    assert (p.store, p.text, p.priority) == (STORE, "hi", 2)
    assert bad.status_code == 400
    assert errors_of(bad.json()) == {
        ("store", "path", "Expected `str` formatted as a UUID"),
        ("text", "body", "Expected `str` of length >= 1"),
        ("priority", "body", "Invalid enum value 9"),
    }
    assert errors_of(missing.json()) == {("text", "body", "missing required field")}
    assert empty.status_code == 400 and empty.json()["name"] == "missing_payload"
    assert errors_of(empty.json()) == {("body", "body", "missing required payload")}


async def test_body_is_the_whole_payload() -> None:
    app, shop = shop_design()
    async with TestClient(app) as c:
        ok = await c.post("/items", json={"sku": "ABC-1", "qty": 1})
        bad = await c.post("/items", json={"sku": 5, "children": [{"sku": "ABC-1", "qty": 0}]})
        not_object = await c.post("/items", json=[1, 2])
    assert ok.status_code == 201 and ok.json() == {"n": 1}
    assert type(shop.seen[0]).__name__ == "Item"
    assert errors_of(bad.json()) == {
        ("sku", "body", "Expected `str`, got `int`"),
        ("qty", "body", "missing required field"),
        ("children[0].qty", "body", "Expected `int` >= 1"),
    }
    assert errors_of(not_object.json()) == {("body", "body", "Expected `object`, got `array`")}


async def test_body_is_a_non_object_payload() -> None:
    app, shop = shop_design()
    async with TestClient(app) as c:
        ok = await c.post("/batch", json=[{"sku": "ABC-1", "qty": 1}])
        empty = await c.post("/batch", json=[])
        not_array = await c.post("/batch", json={"sku": "ABC-1", "qty": 1})
        bad = await c.post("/batch", json=[{"sku": "ABC-1", "qty": 1}, {"qty": "x"}])
    assert ok.status_code == 204
    assert shop.seen[0][0].sku == "ABC-1"
    assert empty.status_code == 204
    assert shop.seen[1] == []
    assert errors_of(not_array.json()) == {("body", "body", "Expected `array`, got `object`")}
    assert errors_of(bad.json()) == {
        ("body[1].sku", "body", "missing required field"),
        ("body[1].qty", "body", "Expected `int`, got `str`"),
    }


async def test_query_values_are_percent_decoded() -> None:
    app, _ = shop_design()
    async with TestClient(app) as c:
        r = await c.get("/echo", params={"q": "caf\u00e9 & cr\u00e8me", "n": "3"})
    assert r.status_code == 200
    assert r.json() == {"q": "caf\u00e9 & cr\u00e8me", "n": 3}


# ---------------------------------------------------------------------------- malformed bodies


@pytest.mark.parametrize("body", [b"{", b"not json", b"\xff\xfe\x00", b'{"sku": "A"} extra'])
async def test_a_body_that_is_not_json_is_400(body: bytes) -> None:
    app, shop = shop_design()
    async with TestClient(app) as c:
        r = await c.post("/items", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400
    data = r.json()
    assert data["name"] == "bad_request"
    assert data["message"].startswith("request body is not valid JSON")
    assert shop.seen == []


@pytest.mark.parametrize("path", ["/items", "/batch", f"/stores/{STORE}/notes"])
async def test_deeply_nested_json_is_400_not_500(path: str) -> None:
    app, _ = shop_design()
    async with TestClient(app) as c:
        arrays = await c.post(path, content=b"[" * 50_000,
                              headers={"content-type": "application/json"})
        objects = await c.post(path, content=b'{"sku":' * 20_000,
                               headers={"content-type": "application/json"})
    assert arrays.status_code == 400, arrays.text
    assert objects.status_code == 400, objects.text


async def test_deep_but_valid_json_structure_with_an_error_is_400() -> None:
    # A recursive type nested deeper than Python's recursion limit allows a naive walk.
    app, _ = shop_design()
    # Written as text: json.dumps would itself recurse 800 frames deep.
    body = ('{"sku": "ABC-1", "qty": 1, "children": [' * 400 + '{"sku": "ABC-1", "qty": 0}'
            + "]}" * 400)
    async with TestClient(app) as c:
        r = await c.post("/items", content=body.encode(),
                         headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text[:300]
    assert r.json()["name"] == "bad_request"
    for error in r.json().get("errors", []):  # naming the deep field is welcome, not required
        assert error["field"].endswith(".qty") and error["message"] == "Expected `int` >= 1"


# ---------------------------------------------------------------------------- content type


@pytest.mark.parametrize(
    "ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x",
              "application/xml"],
)
async def test_a_wrong_content_type_is_415(ctype: str) -> None:
    app, shop = shop_design()
    async with TestClient(app) as c:
        r = await c.post("/items", content=b'{"sku": "ABC-1", "qty": 1}',
                         headers={"content-type": ctype})
    assert r.status_code == 415
    assert r.json()["name"] == "unsupported_media_type"
    assert ctype.split(";", maxsplit=1)[0] in r.json()["message"]
    assert shop.seen == []


@pytest.mark.parametrize(
    "ctype", ["application/json", "application/json; charset=utf-8", "Application/JSON",
              "application/merge-patch+json", "application/problem+json"],
)
async def test_json_content_types_are_accepted(ctype: str) -> None:
    app, _ = shop_design()
    async with TestClient(app) as c:
        r = await c.post("/items", content=b'{"sku": "ABC-1", "qty": 1}',
                         headers={"content-type": ctype})
    assert r.status_code == 201, r.text


async def test_a_json_body_without_content_type_is_accepted() -> None:
    app, _ = shop_design()
    r = await call(app, "POST", "/items", wire=Wire([b'{"sku": "ABC-1", "qty": 1}']))
    assert r.status == 201


# ---------------------------------------------------------------------------- body size


async def test_default_limit_is_one_mebibyte() -> None:
    app, _ = shop_design()
    assert app.max_body_bytes == 1 << 20
    async with TestClient(app) as c:
        big = await c.post("/items", content=b" " * ((1 << 20) + 1),
                           headers={"content-type": "application/json"})
        at_limit = await c.post("/items", content=b'{"sku": "ABC-1", "qty": 1}'.ljust(1 << 20),
                                headers={"content-type": "application/json"})
    assert big.status_code == 413
    assert big.json()["name"] == "payload_too_large"
    assert at_limit.status_code == 201


async def test_content_length_over_the_limit_is_413_without_reading_the_body() -> None:
    app, shop = shop_design(max_body_bytes=100)
    wire = Wire([b"x" * 60, b"x" * 60, b"x" * 60])
    r = await call(app, "POST", "/items", wire=wire,
                   headers=[("content-type", "application/json"), ("content-length", "180")])
    assert r.status == 413
    assert r.json()["name"] == "payload_too_large"
    assert "100 byte limit" in r.json()["message"]
    assert wire.pulled == 0
    assert shop.seen == []


async def test_chunked_body_stops_right_after_passing_the_limit() -> None:
    app, _ = shop_design(max_body_bytes=100)
    wire = Wire([b" " * 30] * 10)
    r = await call(app, "POST", "/items", wire=wire,
                   headers=[("content-type", "application/json")])
    assert r.status == 413
    assert wire.pulled == 4  # 30, 60, 90, 120: the fourth chunk passes the limit


async def test_chunked_body_whose_first_chunk_passes_the_limit() -> None:
    app, _ = shop_design(max_body_bytes=100)
    wire = Wire([b" " * 150, b" " * 10, b" " * 10])
    r = await call(app, "POST", "/items", wire=wire,
                   headers=[("content-type", "application/json")])
    assert r.status == 413
    assert wire.pulled == 1


async def test_single_chunk_over_the_limit_without_content_length() -> None:
    app, _ = shop_design(max_body_bytes=100)
    wire = Wire([b" " * 101])
    r = await call(app, "POST", "/items", wire=wire)
    assert r.status == 413
    assert wire.pulled == 1


async def test_chunked_body_at_the_limit_is_read_whole() -> None:
    app, shop = shop_design(max_body_bytes=100)
    body = b'{"sku": "ABC-1", "qty": 1}'.ljust(100)
    wire = Wire([body[:40], body[40:80], body[80:]])
    r = await call(app, "POST", "/items", wire=wire,
                   headers=[("content-type", "application/json")])
    assert r.status == 201
    assert wire.pulled == 3
    assert shop.seen[0].sku == "ABC-1"


async def test_invalid_content_length_is_400() -> None:
    app, _ = shop_design()
    r = await call(app, "POST", "/items", wire=Wire([b"{}"]),
                   headers=[("content-type", "application/json"), ("content-length", "ten")])
    assert r.status == 400
    assert r.json()["message"] == "invalid Content-Length"


async def test_a_method_without_body_does_not_read_one() -> None:
    app, shop = shop_design(max_body_bytes=10)
    wire = Wire([b"x" * 100])
    r = await call(app, "GET", "/items/5", wire=wire, headers=[("content-length", "100")])
    assert r.status == 204
    assert wire.pulled == 0
    assert shop.seen[0].id == 5


async def test_a_client_that_disconnects_mid_body_is_not_served() -> None:
    app, shop = shop_design()

    class Disconnecting(Wire):
        """Sends a body that looks complete, then goes away before its last chunk."""

        async def receive(self) -> Message:
            self.calls += 1
            if self.calls == 1:
                return {"type": "http.request", "body": b'{"sku": "ABC-1", "qty": 1}',
                        "more_body": True}
            return {"type": "http.disconnect"}

    r = await call(app, "POST", "/items", wire=Disconnecting(),
                   headers=[("content-type", "application/json")])
    assert shop.seen == []  # the body never finished: the method must not run
    assert r.status == 400
    assert r.json()["name"] == "client_disconnected"


async def test_array_headers_are_http_lists() -> None:
    # RFC 9110 section 5.3: a list header may be sent as one comma-separated line or as
    # several lines; both carry the same array.
    with API("h") as api:
        pass
    with Service("s"), Method("tags"):
        with Payload():
            Attribute("tags", ArrayOf(String))
            Attribute("ids", ArrayOf(Int, minimum=1))
        Result(AnyType)
        with HTTP():
            GET("/tags")
            Header("tags:X-Tags")
            Header("ids:X-Ids")

    class Impl:
        async def tags(self, p: typing.Any) -> typing.Any:
            return {"tags": p.tags, "ids": p.ids}

    app = quiet_app(api, {"s": Impl()})
    one_line = await call(app, "GET", "/tags", headers=[("X-Tags", "a, b"), ("X-Ids", "1,2")])
    two_lines = await call(app, "GET", "/tags",
                           headers=[("X-Tags", "a"), ("X-Tags", "b"), ("X-Ids", "3")])
    bad = await call(app, "GET", "/tags", headers=[("X-Ids", "1, 0, x")])
    assert one_line.status == 200, one_line.body
    assert one_line.json() == {"tags": ["a", "b"], "ids": [1, 2]}
    assert two_lines.status == 200, two_lines.body
    assert two_lines.json() == {"tags": ["a", "b"], "ids": [3]}
    assert bad.status == 400
    assert {e["field"] for e in bad.json()["errors"]} == {"X-Ids[1]", "X-Ids[2]"}


# ---------------------------------------------------------------------------- duplicate keys

JSON_CT = {"content-type": "application/json"}


async def post_raw(app: typing.Any, path: str, body: bytes,
                   headers: dict[str, str] | None = None) -> typing.Any:
    async with TestClient(app) as c:
        return await c.post(path, content=body, headers={**JSON_CT, **(headers or {})})


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        # The whole payload, each kind of body, and nested at depth.
        ("/items", b'{"sku": "ABC-1", "qty": 50, "qty": 1}', "qty"),
        ("/items", b'{"sku": "ABC-1", "qty" : 5,"qty"\n:\t1}', "qty"),
        ("/items", b'{"sku":"ABC-1","qty":1,"children":[{"sku":"A-1","sku":"ABC-2","qty":1}]}',
         "children[0].sku"),
        ("/batch", b'[{"sku": "ABC-1", "qty": 1}, {"sku": "ABC-2", "qty": 2, "qty": 3}]',
         "body[1].qty"),
        (f"/stores/{STORE}/notes", b'{"text": "a", "text": "b"}', "text"),
        # An escape spells the same key; an unknown key counts too.
        ("/items", b'{"sku": "ABC-1", "q\\u0074y": 7, "qty": 1}', "qty"),
        ("/items", b'{"sku": "ABC-1", "qty": 1, "x": 1, "x": 2}', "x"),
        # One key dropped, one colon hidden in an escape: the counts would tie.
        ("/items", b'{"sku": "ABC-1", "qty": 5, "qty": 1, "note": "\\u003a"}', "qty"),
    ],
)
async def test_a_repeated_key_is_400_naming_it(path: str, body: bytes, field: str) -> None:
    app, shop = shop_design()
    r = await post_raw(app, path, body)
    assert r.status_code == 400, r.text
    data = r.json()
    assert data["name"] == "bad_request"
    assert [(e["field"], e["in"]) for e in data["errors"]] == [(field, "body")]
    assert "duplicate key" in data["errors"][0]["message"]
    assert field in data["message"]
    assert shop.seen == []


async def test_a_repeated_key_in_the_body_of_a_mapped_attribute_names_it_as_sent() -> None:
    app, shop = shop_design()
    r = await put_item(app, b'{"sku": "ABC-1", "qty": 1, "qty": 2}')
    assert r.status_code == 400
    assert [(e["field"], e["in"]) for e in r.json()["errors"]] == [("qty", "body")]
    assert shop.seen == []


async def put_item(app: typing.Any, body: bytes) -> typing.Any:
    async with TestClient(app) as c:
        return await c.put(f"/stores/{STORE}/items/1", content=body,
                           headers={**JSON_CT, "X-Request-ID": "req-1", "Cookie": "sid=beta"})


async def test_duplicates_are_listed_with_the_other_invalid_fields() -> None:
    app, _ = shop_design()
    r = await post_raw(app, "/items", b'{"sku": "abc", "qty": 1, "qty": 0, "sku": "ABC-1"}')
    assert r.status_code == 400
    assert errors_of(r.json()) >= {
        ("qty", "body", "duplicate key: an object must not repeat a key"),
        ("sku", "body", "duplicate key: an object must not repeat a key"),
        ("qty", "body", "Expected `int` >= 1"),
    }


@pytest.mark.parametrize(
    "body",
    [
        b'{"sku": "ABC-1", "qty": 1}',
        # Colons inside strings, escapes, nulls and unknown keys: no duplicate, accepted.
        b'{"sku": "ABC-1", "qty": 1, "note": "at 10:30: \\"done\\""}',
        b'{"sku": "ABC-1", "qty": 1, "children": null, "extra": {"a": 1}}',
        # The same key in sibling objects is no duplicate.
        b'{"sku": "ABC-1", "qty": 1, "children": [{"sku": "ABC-2", "qty": 1},'
        b' {"sku": "ABC-3", "qty": 2, "children": [{"sku": "ABC-4", "qty": 3}]}]}',
    ],
)
async def test_bodies_without_repeated_keys_are_accepted(body: bytes) -> None:
    app, shop = shop_design()
    r = await post_raw(app, "/items", body)
    assert r.status_code == 201, r.text
    assert shop.seen[0].sku == "ABC-1"


async def test_duplicates_are_found_when_a_default_writes_colons_the_client_never_sent() -> None:
    with API("d") as api:
        pass
    with Service("s"), Method("m"):
        with Payload():
            Attribute("times", ArrayOf(String), default=["10:00", "11:00"])
            Attribute("n", Int)
        with HTTP():
            POST("/m")

    class Impl:
        async def m(self, p: typing.Any) -> None:
            return None

    app = quiet_app(api, {"s": Impl()})
    assert (await post_raw(app, "/m", b'{"n": 1, "n": 2}')).status_code == 400
    assert (await post_raw(app, "/m", b'{"n": 1}')).status_code == 204


async def test_a_field_its_default_filled_is_not_counted_as_a_key_sent() -> None:
    with API("d") as api:
        pass
    with Service("s"), Method("m"):
        with Payload():
            Attribute("n", Int)
            Attribute("limit", Int, default=5)
            Attribute("on", Boolean, default=True)
        with HTTP():
            POST("/m")

    class Impl:
        async def m(self, p: typing.Any) -> None:
            return None

    app = quiet_app(api, {"s": Impl()})
    # Three fields are set, two by their defaults: only one key was sent, twice.
    assert (await post_raw(app, "/m", b'{"n": 1, "n": 2}')).status_code == 400
    assert (await post_raw(app, "/m", b'{"n": 1, "n": 2, "n": 3}')).status_code == 400
    assert (await post_raw(app, "/m", b'{"n": 1, "limit": 2, "on": false}')).status_code == 204


def test_duplicate_keys_names_deep_paths_and_refuses_what_it_cannot_check() -> None:
    from bastion.schema.duplicates import duplicate_keys

    deep = b'{"a":' * 500 + b'{"k": 1, "k": 2}' + b"}" * 500
    assert duplicate_keys(deep) == [".".join(["a"] * 500) + ".k"]
    with pytest.raises(RecursionError):  # too deep to check is never "no duplicate"
        duplicate_keys(b'{"a":' * 5000 + b"1" + b"}" * 5000)
    assert duplicate_keys(b'[1, {"x": [1, 2]}]', "body") == []
    assert duplicate_keys(b"not json") == []
    assert duplicate_keys(b'{"n": 1' + b"0" * 5000 + b', "n": 2}') == ["n"]


# ---------------------------------------------------------------------------- content encoding


def gzipped(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data)


async def test_gzip_and_deflate_bodies_are_decoded() -> None:
    import zlib

    app, shop = shop_design()
    plain = b'{"sku": "ABC-1", "qty": 1}'
    raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    raw_body = raw_deflate.compress(plain) + raw_deflate.flush()
    cases = [("gzip", gzipped(plain)), ("GZIP", gzipped(plain)), ("x-gzip", gzipped(plain)),
             ("deflate", zlib.compress(plain)), ("deflate", raw_body), ("identity", plain),
             ("gzip", gzipped(plain[:10]) + gzipped(plain[10:]))]  # two gzip members
    for coding, body in cases:
        r = await post_raw(app, "/items", body, {"content-encoding": coding})
        assert r.status_code == 201, (coding, r.text)
    assert [p.sku for p in shop.seen] == ["ABC-1"] * len(cases)


async def test_a_gzip_body_in_chunks_is_decoded_as_it_arrives() -> None:
    app, shop = shop_design()
    body = gzipped(b'{"sku": "ABC-1", "qty": 1, "note": "' + b"n" * 5000 + b'"}')
    chunks = [body[i:i + 7] for i in range(0, len(body), 7)]
    r = await call(app, "POST", "/items", wire=Wire(chunks),
                   headers=[("content-type", "application/json"), ("content-encoding", "gzip")])
    assert r.status == 201, r.body
    assert shop.seen[0].sku == "ABC-1"


@pytest.mark.parametrize(
    ("coding", "body", "status", "said"),
    [
        ("br", b"\x0b\x02\x80{}\x03", 415, "'br'"),
        ("gzip, br", b"{}", 415, "'gzip, br'"),
        ("compress", b"{}", 415, "'compress'"),
        ("gzip", b'{"sku": "ABC-1", "qty": 1}', 400, "gzip"),  # a plain body claiming gzip
        ("deflate", b'{"sku": "ABC-1", "qty": 1}', 400, "deflate"),
        ("gzip", gzipped(b'{"sku": "ABC-1", "qty": 1}')[:-12], 400, "gzip"),  # cut short
    ],
)
async def test_an_encoding_that_cannot_be_decoded_is_refused_naming_it(
    coding: str, body: bytes, status: int, said: str
) -> None:
    app, shop = shop_design()
    r = await post_raw(app, "/items", body, {"content-encoding": coding})
    assert r.status_code == status, r.text
    assert said in r.json()["message"]
    assert shop.seen == []


async def test_a_zip_bomb_is_413_after_decoding_at_most_the_limit() -> None:
    import tracemalloc

    app, shop = shop_design()  # the default limit: 1 MiB
    bomb = gzipped(b"[" + b" " * (10 * 1024 * 1024) + b"]")
    assert len(bomb) < 20_000
    tracemalloc.start()
    try:
        r = await post_raw(app, "/batch", bomb, {"content-encoding": "gzip"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.status_code == 413
    assert r.json()["name"] == "payload_too_large"
    # Decoding stopped at the limit: far less than the 10 MiB the bomb expands to.
    assert peak < 4 * 1024 * 1024
    assert shop.seen == []


async def test_the_limit_applies_to_the_decoded_size_and_to_the_bytes_received() -> None:
    import os

    app, _ = shop_design(max_body_bytes=1000)
    small_but_large = gzipped(b'{"sku": "ABC-1", "qty": 1, "note": "' + b"x" * 2000 + b'"}')
    assert len(small_but_large) < 1000
    r = await post_raw(app, "/items", small_but_large, {"content-encoding": "gzip"})
    assert r.status_code == 413
    incompressible = gzipped(os.urandom(3000))
    wire = Wire([incompressible[:600], incompressible[600:1200], incompressible[1200:]])
    r2 = await call(app, "POST", "/items", wire=wire,
                    headers=[("content-type", "application/json"),
                             ("content-encoding", "gzip")])
    assert r2.status == 413
    assert wire.pulled == 2  # refused as soon as the received bytes passed the limit


# ---------------------------------------------------------------------------- repeated params


async def test_a_query_parameter_given_twice_for_one_value_is_400() -> None:
    app, _ = shop_design()
    async with TestClient(app) as c:
        twice = await c.get("/echo?q=a&q=b&n=1")
        same = await c.get("/echo?n=1&n=1")
        once = await c.get("/echo?q=a&n=1")
    assert twice.status_code == 400
    assert errors_of(twice.json()) == {("q", "query", "repeated 2 times; expected one value")}
    assert same.status_code == 400
    assert errors_of(same.json()) == {("n", "query", "repeated 2 times; expected one value")}
    assert once.status_code == 200 and once.json() == {"q": "a", "n": 1}


async def test_array_query_parameters_still_repeat() -> None:
    app, _ = shop_design()
    async with TestClient(app) as c:
        r = await c.put(f"/stores/{STORE}/items/1?tag=a&tag=b&page=2&page=3",
                        json={"sku": "ABC-1", "qty": 1},
                        headers={"X-Request-ID": "req-1", "Cookie": "sid=beta"})
    assert r.status_code == 400
    assert errors_of(r.json()) == {("page", "query", "repeated 2 times; expected one value")}


async def test_the_text_null_in_a_parameter_is_a_value_not_an_absence() -> None:
    with API("n") as api:
        pass
    with Service("s"), Method("list"):
        with Payload():
            Attribute("page", Int, minimum=1, default=1)
            Attribute("kind", String, enum=["a", "b"])
            Attribute("q", String)
            Attribute("limit", Int)
        Result(AnyType)
        with HTTP():
            GET("/list")
            Param("page")
            Param("kind")
            Param("q")
            Header("limit:X-Limit")

    class Impl:
        async def list(self, p: typing.Any) -> typing.Any:
            return {"page": p.page, "kind": p.kind, "q": p.q, "limit": p.limit}

    app = quiet_app(api, {"s": Impl()})
    async with TestClient(app) as c:
        # msgspec's lax conversion would read these as None: a default page of None,
        # an enum that was never given. They are text, and not valid.
        page = await c.get("/list?page=null")
        kind = await c.get("/list?kind=null")
        limit = await c.get("/list", headers={"X-Limit": "null"})
        text = await c.get("/list?q=null")  # a string may well say "null"
    assert page.status_code == 400
    assert errors_of(page.json()) == {("page", "query", "Expected `int`, got `str`")}
    assert kind.status_code == 400
    assert errors_of(kind.json()) == {("kind", "query", "Invalid enum value 'null'")}
    assert limit.status_code == 400
    assert errors_of(limit.json()) == {("X-Limit", "header", "Expected `int`, got `str`")}
    assert text.status_code == 200
    assert text.json() == {"page": 1, "kind": None, "q": "null", "limit": None}


# ---------------------------------------------------------------- Goa: maps, refinements


def goa_design() -> typing.Any:
    with API("goa_decoder") as api:
        pass
    with Type("Cat") as cat:
        Attribute("name", String, min_length=2)
        Required("name")
    with Service("s"):
        with Method("rate"):
            Payload(MapOf(UInt32, ArrayOf(String)))
            with HTTP():
                POST("/rate")
                MapParams()
        with Method("filter"):
            with Payload():
                Attribute("id", String)
                Attribute("page", Int)
                Attribute("p", MapOf(String, Int))
            with HTTP():
                GET("/filter/{id}")
                Param("page")
                MapParams("p")
        with Method("refined"):
            with Payload():
                Attribute("page", Int, minimum=0)
                Attribute("version", String)
                Attribute("token", String)
            with HTTP():
                GET("/refined")
                with Params():
                    Param("page", Int, maximum=5)
                    Param("version:v", enum=["1", "2"])
                    Required("version")
                Header("token:X-Token", pattern="^tk_")
        with Method("renamed"):
            with Payload():
                with Attribute("ssn", String, min_length=3):
                    Meta("struct:tag:json", "SSN")
                    Meta("struct:field:name", "social")
                with OneOf("pet"):
                    Attribute("cat", cat)
                    Attribute("id", Int)
                Required("ssn")
            with HTTP():
                POST("/renamed")
    return api


class GoaShop:
    def __init__(self) -> None:
        self.seen: list[typing.Any] = []

    async def rate(self, p: typing.Any) -> None:
        self.seen.append(p)

    async def filter(self, p: typing.Any) -> None:
        self.seen.append(p)

    async def refined(self, p: typing.Any) -> None:
        self.seen.append(p)

    async def renamed(self, p: typing.Any) -> None:
        self.seen.append(p)


async def test_map_params_read_the_query_string_as_goas_server_and_client_write_it() -> None:
    shop = GoaShop()
    app = quiet_app(goa_design(), {"s": shop})
    async with TestClient(app) as c:
        # Goa's generated client sends `5=a&5=b`; its generated server reads `query[5]`.
        client_form = await c.post("/rate?5=a&5=b&4=c")
        server_form = await c.post("/rate?query[5]=a&query[2]=z")
        bad_key = await c.post("/rate?five=a")
        empty = await c.post("/rate")
        mixed = await c.get("/filter/x?page=2&a=1&b=2")
        bad_value = await c.get("/filter/x?a=one")
        twice = await c.get("/filter/x?a=1&a=2")
    assert client_form.status_code == 204 and shop.seen[0] == {5: ["a", "b"], 4: ["c"]}
    assert server_form.status_code == 204 and shop.seen[1] == {5: ["a"], 2: ["z"]}
    assert bad_key.status_code == 400 and empty.status_code == 400
    assert errors_of(empty.json()) == {("query", "query", "missing required field")}
    assert mixed.status_code == 204
    p = shop.seen[2]
    assert (p.id, p.page, p.p) == ("x", 2, {"a": 1, "b": 2})  # `page` is not in the map
    assert bad_value.status_code == 400
    assert twice.status_code == 400


async def test_the_http_block_refines_validations_and_required_names() -> None:
    shop = GoaShop()
    app = quiet_app(goa_design(), {"s": shop})
    async with TestClient(app) as c:
        ok = await c.get("/refined?page=3&v=1", headers={"X-Token": "tk_1"})
        bad = await c.get("/refined?page=9&v=3", headers={"X-Token": "nope"})
        missing = await c.get("/refined?page=1")
    assert ok.status_code == 204 and shop.seen[0].version == "1"
    assert errors_of(bad.json()) == {
        ("page", "query", "Expected `int` <= 5"),
        ("v", "query", "Invalid enum value '3'"),
        ("X-Token", "header", "Expected `str` matching regex '^tk_'"),
    }
    # The payload says optional; the Params block's Required says otherwise over HTTP.
    assert errors_of(missing.json()) == {("v", "query", "missing required field")}


async def test_json_names_and_unions_are_read_as_goa_writes_them() -> None:
    shop = GoaShop()
    app = quiet_app(goa_design(), {"s": shop})
    async with TestClient(app) as c:
        ok = await c.post("/renamed", json={
            "SSN": "123", "pet": {"Type": "cat", "Value": '{"name": "Tom"}'}})
        bad = await c.post("/renamed", json={
            "ssn": "123", "pet": {"Type": "cat", "Value": '{"name": "T"}'}})
        wrong = await c.post("/renamed", json={
            "SSN": "12", "pet": {"Type": "cow", "Value": "1"}})
    assert ok.status_code == 204, ok.text
    p = shop.seen[0]
    assert p.social == "123" and p.pet.type == "cat" and p.pet.value.name == "Tom"
    assert errors_of(bad.json()) == {
        ("SSN", "body", "missing required field"),
        ("pet.Value.name", "body", "Expected `str` of length >= 2"),
    }
    assert errors_of(wrong.json()) == {
        ("SSN", "body", "Expected `str` of length >= 3"),
        ("pet.Type", "body", "Expected one of 'cat', 'id'"),
    }
