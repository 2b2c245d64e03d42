"""The DSL functions record the design the user's `with` blocks describe."""

from __future__ import annotations

import pytest

from bastion.dsl import *
from bastion.dsl import Any as AnyType
from bastion.dsl.expr import (
    ArrayExpr,
    MapExpr,
    ObjectExpr,
    Primitive,
    TypeRef,
    UserTypeExpr,
)
from tests.support.lines import this_line


def test_api_records_title_description_version_and_servers() -> None:
    with API("orders") as api:
        Title("Orders API")
        Description("Takes orders.")
        Version("2.1.0")
        Server("https://api.example.com", "production")
        Server("http://localhost:8000")
    assert api.name == "orders"
    assert api.title == "Orders API"
    assert api.description == "Takes orders."
    assert api.version == "2.1.0"
    assert api.servers == [
        ("https://api.example.com", "production"),
        ("http://localhost:8000", None),
    ]
    assert current_design() is api


def test_each_api_starts_a_new_design() -> None:
    with API("first") as first:
        pass
    with Service("one"):
        pass
    with API("second") as second:
        pass
    with Service("two"):
        pass
    assert list(first.services) == ["one"]
    assert list(second.services) == ["two"]
    assert current_design() is second


def test_service_and_method_record_descriptions_and_order() -> None:
    with API("a") as api:
        pass
    with Service("orders", description="Order service") as svc:
        with Method("create", description="Create an order"):
            pass
        with Method("show"):
            Description("Show one order")
    with Service("billing"):
        Description("Billing service")
    assert api.services["orders"] is svc
    assert svc.description == "Order service"
    assert api.services["billing"].description == "Billing service"
    assert list(svc.methods) == ["create", "show"]
    assert svc.methods["create"].description == "Create an order"
    assert svc.methods["show"].description == "Show one order"
    assert [m.name for m in api.methods()] == ["create", "show"]
    assert svc.methods["show"].service is svc
    assert svc.api is api


def test_inline_payload_and_result_are_objects() -> None:
    with API("a") as api:
        pass
    with Service("s"):
        with Method("m") as m:
            with Payload():
                Attribute("id", Int)
                Attribute("name", String)
                Required("id")
            with Result():
                Attribute("ok", Boolean)
    api.finalize()
    assert m.payload is not None and m.result is not None
    payload = m.payload.object
    assert payload is not None
    assert list(payload.attributes) == ["id", "name"]
    assert payload.required == ["id"]
    assert payload.attributes["id"].type is Int
    result = m.result.object
    assert result is not None
    assert result.attributes["ok"].type is Boolean


def test_payload_and_result_from_named_types() -> None:
    with API("a") as api:
        pass
    with Type("Order") as order_t:
        Attribute("id", String)
    with Service("s"):
        with Method("create") as create:
            Payload(order_t)
            Result("Order")  # by name: resolved by finalize
    assert create.result is not None
    assert isinstance(create.result.type, TypeRef)
    api.finalize()
    assert create.payload is not None
    assert create.payload.type is order_t
    resolved: object = create.result.type
    assert resolved is order_t
    assert create.result.object is order_t.object


def test_payload_and_result_of_primitive_and_collection_types() -> None:
    with API("a") as api:
        pass
    with Service("s"):
        with Method("m") as m:
            Payload(ArrayOf(String))
            Result(Int64)
    api.finalize()
    assert m.payload is not None and m.result is not None
    assert isinstance(m.payload.type, ArrayExpr)
    assert m.payload.object is None
    assert m.result.type is Int64


def test_errors_at_api_service_and_method_levels_with_flags() -> None:
    with API("a") as api:
        Error("unavailable", description="try later", temporary=True)
        Error("conflict", description="API-level conflict")
    with Type("NotFound"):
        Attribute("what", String)
    with Service("s") as svc:
        Error("not_found", "NotFound", description="no such thing")
        Error("conflict", description="service-level conflict")
        with Method("m") as m:
            Error("slow", timeout=True)
            Error("broken", fault=True)
    api.finalize()
    assert [e.name for e in api.errors] == ["unavailable", "conflict"]
    assert api.errors[0].temporary and not api.errors[0].timeout and not api.errors[0].fault
    assert api.errors[0].description == "try later"
    assert svc.errors[0].type is api.types["NotFound"]
    assert svc.errors[0].description == "no such thing"
    slow, broken = m.errors
    assert slow.timeout and not slow.temporary and not slow.fault
    assert broken.fault and not broken.temporary and not broken.timeout
    # The method sees its own errors first, then its service's, then the API's; the
    # nearest declaration of a name wins.
    names = [e.name for e in m.all_errors()]
    assert names == ["slow", "broken", "not_found", "conflict", "unavailable"]
    conflict = next(e for e in m.all_errors() if e.name == "conflict")
    assert conflict.description == "service-level conflict"


def test_error_description_block() -> None:
    with API("a"):
        with Error("gone") as gone:
            Description("It went away")
    assert gone.description == "It went away"


def test_attribute_records_every_validation() -> None:
    with API("a") as api:
        pass
    with Type("T") as t:
        Attribute(
            "name", String, "the name", default="bob", example="alice",
            enum=["bob", "alice"], pattern="^[a-z]+$", min_length=1, max_length=10,
        )
        Attribute("n", Int, minimum=1, maximum=9, exclusive_minimum=0, exclusive_maximum=10)
        Attribute("email", String, format=Email)
    api.finalize()
    attrs = t.object.attributes
    name = attrs["name"]
    assert name.description == "the name"
    assert name.has_default and name.default == "bob"
    assert name.example == "alice"
    assert name.enum == ("bob", "alice")
    assert name.pattern == "^[a-z]+$"
    assert (name.min_length, name.max_length) == (1, 10)
    n = attrs["n"]
    assert (n.minimum, n.maximum, n.exclusive_minimum, n.exclusive_maximum) == (1, 9, 0, 10)
    assert not n.has_default
    assert attrs["email"].format == "email"


def test_attribute_description_block_and_field_with_its_number() -> None:
    with API("a"):
        pass
    with Type("T") as t:
        with Attribute("x", Int) as x:
            Description("the x")
        Field(2, "y", String)
    assert x.description == "the x"
    assert list(t.object.attributes) == ["x", "y"]
    assert t.object.attributes["y"].meta["rpc:tag"] == 2


def test_required_accumulates_without_duplicates() -> None:
    with API("a"):
        pass
    with Type("T") as t:
        Attribute("a", String)
        Attribute("b", String)
        Attribute("c", String)
        Required("a")
        Required("b", "a")
    assert t.object.required == ["a", "b"]


@pytest.mark.parametrize(
    ("prim", "kind", "low", "high"),
    [
        (Boolean, "boolean", None, None),
        (Int, "integer", -(2**63), 2**63 - 1),
        (Int32, "integer", -(2**31), 2**31 - 1),
        (Int64, "integer", -(2**63), 2**63 - 1),
        (UInt, "integer", 0, 2**64 - 1),
        (UInt32, "integer", 0, 2**32 - 1),
        (UInt64, "integer", 0, 2**64 - 1),
        (Float32, "number", None, None),
        (Float64, "number", None, None),
        (String, "string", None, None),
        (Bytes, "bytes", None, None),
        (AnyType, "any", None, None),
    ],
)
def test_primitives_have_their_kind_and_wire_bounds(
    prim: Primitive, kind: str, low: int | None, high: int | None
) -> None:
    assert isinstance(prim, Primitive)
    assert prim.kind == kind
    assert (prim.low, prim.high) == (low, high)


def test_format_constants_cover_the_required_formats() -> None:
    assert {UUID, Email, Date, DateTime, URI, IPv4, IPv6, Hostname, Regexp} == {
        "uuid", "email", "date", "date-time", "uri", "ipv4", "ipv6", "hostname", "regexp",
    }
    assert FormatUUID == UUID and FormatDateTime == DateTime and FormatRegexp == Regexp
    assert {UUID, Email, Date, DateTime, URI, IPv4, IPv6, Hostname, Regexp} <= FORMATS


def test_array_and_map_types_carry_element_validations() -> None:
    with API("a") as api:
        pass
    with Type("Item"):
        Attribute("sku", String)
    with Type("T") as t:
        Attribute("tags", ArrayOf(String, min_length=2), max_length=3)
        Attribute("counts", MapOf(String, Int, minimum=0))
        Attribute("items", ArrayOf("Item"))
        Attribute("matrix", ArrayOf(ArrayOf(Float64)))
    api.finalize()
    attrs = t.object.attributes
    tags = attrs["tags"]
    assert isinstance(tags.type, ArrayExpr)
    assert tags.type.elem.type is String and tags.type.elem.min_length == 2
    assert tags.max_length == 3
    counts = attrs["counts"].type
    assert isinstance(counts, MapExpr)
    assert counts.key.type is String and counts.elem.type is Int and counts.elem.minimum == 0
    items = attrs["items"].type
    assert isinstance(items, ArrayExpr) and items.elem.type is api.types["Item"]
    matrix = attrs["matrix"].type
    assert isinstance(matrix, ArrayExpr) and isinstance(matrix.elem.type, ArrayExpr)
    assert tags.type_name() == "ArrayOf(String)"
    assert attrs["counts"].type_name() == "MapOf(String, Int)"


def test_nested_inline_objects() -> None:
    with API("a") as api:
        pass
    with Type("Customer") as customer:
        with Attribute("address"):
            Attribute("street", String)
            with Attribute("geo"):
                Attribute("lat", Float64)
            Required("street")
        Attribute("untyped")  # no type: a String
    api.finalize()
    address = customer.object.attributes["address"]
    assert isinstance(address.type, ObjectExpr)
    assert address.type.required == ["street"]
    geo = address.type.attributes["geo"]
    assert isinstance(geo.type, ObjectExpr)
    assert geo.type.attributes["lat"].type is Float64
    assert customer.object.attributes["untyped"].type is String


def test_recursive_and_forward_referenced_types_resolve() -> None:
    with API("a") as api:
        pass
    with Type("Tree") as tree:
        Attribute("value", Int)
        Attribute("children", ArrayOf("Tree"))
        Attribute("owner", "Person")  # declared below
    with Type("Person") as person:
        Attribute("name", String)
        Attribute("best_friend", "Person")
        Attribute("trees", MapOf(String, tree))
    api.finalize()
    children = tree.object.attributes["children"].type
    assert isinstance(children, ArrayExpr)
    assert children.elem.type is tree
    assert tree.object.attributes["owner"].type is person
    assert person.object.attributes["best_friend"].type is person
    trees = person.object.attributes["trees"].type
    assert isinstance(trees, MapExpr) and trees.elem.type is tree
    assert isinstance(tree, UserTypeExpr) and tree.name == "Tree"


def test_http_verbs_routes_and_mappings() -> None:
    with API("a") as api:
        pass
    with Service("s"):
        with Method("m") as m:
            with Payload():
                Attribute("id", Int)
                Attribute("path", String)
                Attribute("page", Int)
                Attribute("request_id", String)
                Attribute("session", String)
                Attribute("data", String)
            with HTTP():
                first = this_line() + 1
                PUT("/items/{id}")
                PATCH("/items/{id}/files/{*path}")
                Param("page:p")
                Header("request_id:X-Request-ID")
                Cookie("session:sid")
                Body("data")
                Response(StatusAccepted)
    api.finalize()
    http = m.http
    assert http is not None
    assert [(r.verb, r.path) for r in http.routes] == [
        ("PUT", "/items/{id}"),
        ("PATCH", "/items/{id}/files/{*path}"),
    ]
    assert http.routes[0].location.line == first
    assert http.routes[1].params == ["id", "path"]
    assert http.params == {"page": "p"}
    assert http.headers == {"request_id": "X-Request-ID"}
    assert http.cookies == {"session": "sid"}
    assert http.body == "data"
    assert http.response is not None and http.response.status == 202


@pytest.mark.parametrize(
    ("verb", "name"),
    [(GET, "GET"), (POST, "POST"), (PUT, "PUT"), (PATCH, "PATCH"), (DELETE, "DELETE"),
     (HEAD, "HEAD"), (OPTIONS, "OPTIONS")],
)
def test_every_verb_records_a_route(verb: object, name: str) -> None:
    with API("a") as api:
        pass
    with Service("s"):
        with Method("m") as m:
            with HTTP():
                verb("/x")  # type: ignore[operator]
    api.finalize()
    assert m.http is not None
    assert [(r.verb, r.full_path) for r in m.http.routes] == [(name, "/x")]


def test_param_without_mapping_uses_the_attribute_name() -> None:
    with API("a") as api:
        pass
    with Service("s"):
        with Method("m") as m:
            with Payload():
                Attribute("page", Int)
                Attribute("token", String)
            with HTTP():
                GET("/x")
                Param("page")
                Header("token")
    api.finalize()
    assert m.http is not None
    assert m.http.params == {"page": "page"}
    assert m.http.headers == {"token": "token"}


def test_result_response_maps_headers_and_body() -> None:
    with API("a") as api:
        pass
    with Service("s"):
        with Method("m") as m:
            with Result():
                Attribute("etag", String)
                Attribute("order", String)
            with HTTP():
                POST("/x")
                with Response(StatusCreated):
                    Header("etag:ETag")
                    Body("order")
    api.finalize()
    assert m.http is not None and m.http.response is not None
    assert m.http.response.status == 201
    assert m.http.response.headers == {"etag": "ETag"}
    assert m.http.response.body == "order"


def test_error_responses_at_every_level_nearest_wins() -> None:
    with API("a") as api:
        Error("unavailable", temporary=True)
        Error("conflict")
        with HTTP():
            Response("unavailable", StatusServiceUnavailable)
            Response("conflict", StatusConflict)
    with Service("s"):
        Error("not_found")
        with HTTP():
            Response("not_found", StatusNotFound)
            Response("conflict", StatusBadRequest)
        with Method("m") as m:
            with HTTP():
                GET("/x")
                Response("not_found", StatusGone)
        with Method("n") as n:
            with HTTP():
                GET("/y")
    api.finalize()
    assert m.error_status("not_found") == 410
    assert n.error_status("not_found") == 404
    assert m.error_status("conflict") == 400
    assert m.error_status("unavailable") == 503
    assert m.error_status("undeclared") is None


def test_service_path_prefixes_every_route() -> None:
    with API("a") as api:
        pass
    with Service("orders"):
        with HTTP():
            Path("/api/v1/")
        with Method("list") as lst:
            with HTTP():
                GET("/orders")
                GET("/")
    api.finalize()
    assert lst.http is not None
    assert [r.full_path for r in lst.http.routes] == ["/api/v1/orders", "/api/v1"]


def test_dsl_records_where_each_element_was_written() -> None:
    line = this_line() + 1
    with API("a") as api:
        pass
    with Type("T") as t:
        Attribute("x", Int)
    with Service("s") as svc:
        with Method("m") as m:
            pass
    assert api.location.file == __file__
    assert api.location.line == line
    assert t.location.line == line + 2
    assert t.object.attributes["x"].location.line == line + 3
    assert svc.location.line == line + 4
    assert m.location.line == line + 5
    assert str(m.location) == f"{__file__}:{line + 5}"


def test_finalize_is_idempotent() -> None:
    with API("a") as api:
        pass
    with Type("T"):
        Attribute("x", "T")
    assert api.finalize() is api
    assert api.finalized
    assert api.finalize() is api


def test_api_and_service_paths_both_prefix_routes() -> None:
    with API("a") as api:
        with HTTP():
            Path("/api")
    with Service("orders"):
        with HTTP():
            Path("/orders")
        with Method("show") as show:
            with Payload():
                Attribute("id", String)
            with HTTP():
                GET("/{id}")
    with Service("health"), Method("ping") as ping, HTTP():
        GET("/ping")
    api.finalize()
    assert api.path_prefix == "/api"
    assert show.http is not None and ping.http is not None
    assert show.http.routes[0].full_path == "/api/orders/{id}"
    assert ping.http.routes[0].full_path == "/api/ping"


def test_meta_marks_an_attribute_sensitive_and_is_checked() -> None:
    from bastion.errors import DesignError
    from tests.support.lines import next_line

    with API("m"):
        pass
    with Type("T") as t:
        Attribute("ssn", String, meta={"sensitive": True, "owner": "hr"})
        APIKey("k", "key", String, meta={"sensitive": False})
        Attribute("name", String)
    attrs = t.object.attributes
    assert attrs["ssn"].meta == {"sensitive": True, "owner": "hr"} and attrs["ssn"].sensitive
    assert attrs["key"].sensitive  # a credential is sensitive whatever its meta says
    assert not attrs["name"].sensitive
    with Type("U"), pytest.raises(DesignError) as caught:
        line = next_line()
        Attribute("pin", String, meta={"sensitive": "yes"})
    assert f":{line}:" in str(caught.value)
    assert "attribute 'pin': meta 'sensitive' must be True or False" in str(caught.value)
    with Type("V"), pytest.raises(DesignError, match="meta must be a dict with string keys"):
        Attribute("pin", String, meta=["sensitive"])
